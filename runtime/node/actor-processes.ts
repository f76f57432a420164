// Forks a node's expert actor processes, keeping spares booted ahead: a process boots (Node, its thread, the
// modules: about 0.6 s and 0.8 CPU-seconds on a 2-core EPYC) before it is told which actor it is, so a restart or a
// placement change takes a spare and skips all that. Where the process may be given the normal scheduling class
// back (CAP_SYS_NICE: root, as a service usually runs; tried once with chrt), a spare boots in the idle class
// (SCHED_IDLE, through chrt(1)), which yields at once to any other process that wakes: its boot fills idle cycles
// instead of delaying the dispatches of the actors serving beside it (nice 19 did not: the kernel lets a running
// task finish its slice).
import { execFile, fork, spawnSync, type ChildProcess } from 'node:child_process';
import { EXPERT_ENV, type ActorAssignment } from './expert-env.js';

const alive = (p: ChildProcess) => p.connected && p.exitCode === null && p.signalCode === null;

/**
 * Whether a child of this process may boot in the idle scheduling class and put itself back in the normal one, as
 * a spare does (CAP_SYS_NICE, or an RLIMIT_NICE that allows it): tried once, the whole way, with chrt(1).
 */
export function mayLeaveIdleClass(): boolean {
  try {
    return spawnSync('chrt', ['--idle', '0', 'sh', '-c', 'exec chrt --all-tasks --other --pid 0 $$'], { stdio: 'ignore', timeout: 5_000 }).status === 0;
  } catch {
    return false;
  }
}

export class ActorProcesses {
  private readonly spares: ChildProcess[] = [];
  private stopped = false;
  private readonly idleBoot = mayLeaveIdleClass();

  /**
   * `entry`: the expert process's script; `env`: what every actor of the node shares (the actor's own variables
   * come with its assignment); `keep`: how many spares to keep booted (0: fork each actor when it is needed).
   */
  constructor(
    private readonly entry: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly keep: number,
    /** Dispatches an idle-class spare warms up with (0: none; it needs a NATS connection without credentials). */
    private readonly warmUp = 0,
  ) {}

  /** A process that becomes the actor `actorEnv` names: a booted spare if there is one, else a fresh fork. */
  start(actorEnv: Record<string, string>): ChildProcess {
    let proc: ChildProcess | undefined;
    let leaveIdle = false;
    while (!proc && this.spares.length > 0) {
      const spare = this.spares.shift()!;
      if (alive(spare)) proc = spare;
    }
    if (proc) leaveIdle = this.idleBoot;
    else proc = this.fork(false);
    // at once from here too: on busy cores an idle-class spare may not run at all, not even to read its assignment
    // (the spare's own pass, once quiet, catches the threads this one misses, and its failure, the thread's exit)
    if (leaveIdle) execFile('chrt', ['--all-tasks', '--other', '--pid', '0', String(proc.pid)], () => undefined);
    // a channel closed meanwhile is an exit the caller sees: nothing to do here
    proc.send({ kind: 'assign', env: actorEnv, ...(leaveIdle ? { leaveIdleClass: true } : {}) } satisfies ActorAssignment, () => undefined);
    // the next spare boots once this actor serves or is gone, so the two do not compete for the cores
    const refill = () => {
      proc.off('message', onReady);
      this.refill();
    };
    const onReady = (m: unknown) => {
      if ((m as { kind?: string } | null)?.kind === 'ready') refill();
    };
    proc.on('message', onReady);
    proc.once('exit', refill);
    return proc;
  }

  /** Stops the spares (the actors are their supervisor's to stop). */
  stop(): void {
    this.stopped = true;
    for (const spare of this.spares.splice(0)) if (alive(spare)) spare.kill('SIGTERM');
  }

  private refill(): void {
    for (let i = this.spares.length - 1; i >= 0; i--) if (!alive(this.spares[i])) this.spares.splice(i, 1);
    while (!this.stopped && this.spares.length < this.keep) this.spares.push(this.fork(this.idleBoot));
  }

  private fork(idle: boolean): ChildProcess {
    // without the actor's own variables: a process that has them is that actor at once
    const env = Object.fromEntries(Object.entries(this.env).filter(([k]) => k !== EXPERT_ENV.instance && k !== EXPERT_ENV.experts && k !== EXPERT_ENV.warmUp));
    // only in the idle class: at normal priority a warm-up would compete with the actors it is meant to spare
    if (idle && this.warmUp > 0) env[EXPERT_ENV.warmUp] = String(this.warmUp);
    // through chrt(1), so that every thread Node starts is born in the idle class
    const viaChrt = idle ? { execPath: 'chrt', execArgv: ['--idle', '0', process.execPath, ...process.execArgv] } : {};
    const proc = fork(this.entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env, ...viaChrt });
    // a spare that fails to start is dropped at the next refill; its error must not take the node down
    proc.on('error', () => undefined);
    return proc;
  }
}
