// The expert actor's thread: loads its experts into ONNX Runtime sessions, connects to NATS and serves dispatches,
// computing each in this thread, so a dispatch crosses no thread on its way. Its process's main thread
// (expert-process.ts) keeps beating to the supervisor meanwhile, however long a load or a dispatch takes.
import { parentPort } from 'node:worker_threads';
import { DEFAULT_EXPERT_THREADS } from '../../actors/expert/compute.js';
import { ExpertActor } from '../../actors/expert/expert.js';
import { warmUp } from '../../actors/expert/warm-up.js';
import type { ExpertHealth } from '../../actors/protocol/messages.js';
import { Checkpoint } from '../../model/checkpoint.js';
import { parseExpertKey } from '../../model/expert-key.js';
import { ExpertSet } from '../../model/experts.js';
import { quantBitsOf } from '../../model/quantize.js';
import { startTracing } from '../../observability/tracing.js';
import { closeNats, connectNats, newInbox } from '../transport/connection.js';
import { EXPERT_ENV, type ActorAssignment } from './expert-env.js';
import { settingsFromEnv } from './settings.js';

/** What the thread tells its process. */
export type ThreadMessage = { kind: 'health'; health: ExpertHealth } | { kind: 'ready' } | { kind: 'failed'; message: string } | { kind: 'stopped' } | { kind: 'quiet' };
/**
 * What the process tells the thread: stop a spare's warm-up and say when it has (`quiet`: the process is about to
 * change its threads' scheduling class), which actor to be (once), or drain and stop.
 */
export type ProcessMessage = ActorAssignment | { kind: 'quiet' } | { kind: 'stop' };

const port = parentPort!;
const tell = (m: ThreadMessage) => port.postMessage(m);

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: expert actors are started by a supervisor (eaas up / eaas node)`);
  return v;
}

/** Loads and starts the actor the environment names; resolves with its drain-and-stop. */
async function main(): Promise<() => Promise<void>> {
  const settings = settingsFromEnv();
  const instance = env(EXPERT_ENV.instance);
  const tracing = await startTracing('eaas-expert');
  const keys = env(EXPERT_ENV.experts)
    .split(',')
    .map(parseExpertKey);
  const quantize = process.env[EXPERT_ENV.quantize];
  const checkpoint = Checkpoint.open(env(EXPERT_ENV.modelDir));
  let experts: ExpertSet;
  try {
    experts = await ExpertSet.load(checkpoint, keys, settings.ortThreads ?? DEFAULT_EXPERT_THREADS, quantize ? quantBitsOf(quantize) : undefined);
  } finally {
    checkpoint.close();
  }
  // the first connection is retried like any reconnection: a flaky link delays an actor, it does not kill it
  const nc = await connectNats(env(EXPERT_ENV.nats), `eaas-expert-${instance}`, { waitOnFirstConnect: true }, { creds: process.env[EXPERT_ENV.creds], tlsCa: process.env[EXPERT_ENV.tlsCa] });
  const actor = new ExpertActor({
    nc,
    model: env(EXPERT_ENV.model),
    instance,
    node: env(EXPERT_ENV.node),
    keys,
    hidden: checkpoint.config.hiddenSize,
    experts,
    delayMs: settings.expertDelayMs,
    stallMs: settings.expertStallMs,
    loadReportMs: settings.loadReportMs,
    loadWindowMs: settings.loadWindowMs,
  });
  await actor.start();
  tell({ kind: 'ready' });
  tell({ kind: 'health', health: actor.health() });
  const health = setInterval(() => tell({ kind: 'health', health: actor.health() }), settings.heartbeatMs);
  return async () => {
    try {
      await actor.drain().catch(() => undefined);
      clearInterval(health);
      await closeNats(nc);
      await experts.release();
      await tracing.shutdown();
    } finally {
      // whatever failed on the way out, the process exits as stopped
      tell({ kind: 'stopped' });
    }
  };
}

/** Experts of the first layer a spare loads to warm up with: enough to send dispatches of one and two experts. */
const WARM_UP_EXPERTS = 2;

/** A spare's warm-up (warm-up.ts): until it is done or told to stop. Any failure only leaves it cold. */
async function warmSpare(dispatches: number, stopped: () => boolean): Promise<void> {
  const checkpoint = Checkpoint.open(env(EXPERT_ENV.modelDir));
  const keys = Array.from({ length: Math.min(WARM_UP_EXPERTS, checkpoint.config.numLocalExperts) }, (_, expert) => ({ layer: 0, expert }));
  const quantize = process.env[EXPERT_ENV.quantize];
  const hidden = checkpoint.config.hiddenSize;
  let experts: ExpertSet;
  try {
    experts = await ExpertSet.load(checkpoint, keys, DEFAULT_EXPERT_THREADS, quantize ? quantBitsOf(quantize) : undefined);
  } finally {
    checkpoint.close();
  }
  try {
    // an assignment during the load waits for it, not for a connection too
    if (stopped()) return;
    const nc = await connectNats(env(EXPERT_ENV.nats), 'eaas-expert-warm-up');
    try {
      await warmUp({ nc, subject: newInbox(nc), hidden, keys, experts, dispatches, stopped });
    } finally {
      // every warm-up dispatch is answered by now: nothing to drain
      await nc.close().catch(() => undefined);
    }
  } finally {
    await experts.release();
  }
}

// the modules above are loaded by now: the thread waits, booted, to be told which actor it is (a process started
// with the actor's variables in its environment, by hand or by a test, is that actor at once)
let quiet = false;
let assigned = false;
const warmDispatches = Number(process.env[EXPERT_ENV.warmUp] ?? 0);
const warming = !process.env[EXPERT_ENV.instance] && warmDispatches > 0 ? warmSpare(warmDispatches, () => quiet).catch(() => undefined) : Promise.resolve();
let serving: Promise<() => Promise<void>> | undefined;
const serve = () => {
  serving = main();
  serving.catch((err: unknown) => tell({ kind: 'failed', message: err instanceof Error ? err.message : String(err) }));
};
port.on('message', (m: ProcessMessage) => {
  // a warm-up stops before its next dispatch, or after its experts load
  if (m.kind === 'quiet') {
    quiet = true;
    void warming.then(() => tell({ kind: 'quiet' }));
  } else if (m.kind === 'assign' && !serving && !assigned) {
    quiet = assigned = true;
    // a worker's process.env is its own copy: the actor's variables go in before main() reads them
    Object.assign(process.env, m.env);
    void warming.then(serve);
  } else if (m.kind === 'stop') void serving?.then((stop) => stop());
});
if (process.env[EXPERT_ENV.instance]) serve();
