// Entry point of an expert actor child process. It boots (Node, its thread, the thread's modules) before it knows
// which actor it is, then becomes the one its supervisor names in an `assign` message (expert-env.ts): a spare
// forked ahead takes over a crashed actor without Node's start. The actor runs in a worker thread
// (expert-thread.ts); this main thread only beats to the supervisor over the IPC channel and stops the thread on a
// signal, so a long load or dispatch is never taken for a hang, while a thread that stays silent past EAAS_ACTOR_SILENCE_MS (stuck) stops the beats, and gets its process restarted.
import { execFile } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import type { ChildMessage, ExpertHealth } from '../../actors/protocol/messages.js';
import { isActorAssignment, type ActorAssignment } from './expert-env.js';
import type { ProcessMessage, ThreadMessage } from './expert-thread.js';
import { settingsFromEnv } from './settings.js';

// after an IPC disconnect (the supervisor died) a send would throw while the actor drains
const tell = (m: ChildMessage) => process.connected && process.send?.(m);

function fail(message: string): never {
  process.stderr.write(`eaas expert: ${message}\n`);
  process.exit(1);
}

const settings = settingsFromEnv();
let health: ExpertHealth = { state: 'loading', linked: false, inflight: 0, served: 0, errors: 0 };
let ready = false;
let heardAt = Date.now();
// beats start at once: loading a big checkpoint is not hanging; a serving thread silent for too long is
const beat = setInterval(() => {
  if (!ready || Date.now() - heardAt <= settings.actorSilenceMs) tell({ kind: 'beat', ...health });
}, settings.heartbeatMs);
const thread = new Worker(new URL('./expert-thread.js', import.meta.url));
let stopping = false;
thread.on('message', (m: ThreadMessage) => {
  heardAt = Date.now();
  if (m.kind === 'health') health = m.health;
  else if (m.kind === 'ready') {
    ready = true;
    tell({ kind: 'ready' });
  }
  else if (m.kind === 'quiet') leaveIdleClass();
  else if (m.kind === 'failed') fail(m.message);
  else if (m.kind === 'stopped') {
    clearInterval(beat);
    process.exit(0);
  }
});
thread.on('error', (err) => fail(err.message));
thread.on('exit', (code) => {
  if (!stopping) fail(`the actor's thread exited with code ${code}`);
  process.exit(0);
});

function stop(): void {
  if (stopping) return;
  stopping = true;
  // nothing to drain before the actor serves
  if (!ready) process.exit(0);
  thread.postMessage({ kind: 'stop' } satisfies ProcessMessage);
}
let assignment: ActorAssignment | undefined;
/**
 * Every thread into the normal class, then the assignment to the thread. Asked once the thread's warm-up is over, so
 * threads are no longer being started and stopped; a thread that exits meanwhile can still fail chrt, hence the tries.
 */
function leaveIdleClass(tries = 3): void {
  execFile('chrt', ['--all-tasks', '--other', '--pid', '0', String(process.pid)], (err) => {
    if (!err) thread.postMessage(assignment! satisfies ProcessMessage);
    else if (tries > 1) leaveIdleClass(tries - 1);
    else fail(`could not leave the idle scheduling class the spare booted in: ${err.message}`);
  });
}
// the thread is the one that reads the actor's variables: they go straight to it, or, for a spare booted in the idle
// class (its supervisor says so only where it may give the class back), once the warm-up is quiet and every thread
// is back in the normal class
process.on('message', (m: unknown) => {
  if (!isActorAssignment(m) || assignment) return;
  assignment = m;
  thread.postMessage((m.leaveIdleClass ? { kind: 'quiet' } : m) satisfies ProcessMessage);
});
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// an orphan (its supervisor died) must not serve forever unsupervised
process.on('disconnect', stop);
