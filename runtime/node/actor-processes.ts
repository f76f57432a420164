// Forks a node's expert actor processes, keeping spares booted ahead: a process boots (Node, its thread, the
// modules: about 0.6 s and 0.8 CPU-seconds on a 2-core EPYC) before it is told which actor it is, so a restart or a
// placement change takes a spare and skips all that.
import { fork, type ChildProcess } from 'node:child_process';
import { EXPERT_ENV, type ActorAssignment } from './expert-env.js';

const alive = (p: ChildProcess) => p.connected && p.exitCode === null && p.signalCode === null;

export class ActorProcesses {
  private readonly spares: ChildProcess[] = [];
  private stopped = false;

  /**
   * `entry`: the expert process's script; `env`: what every actor of the node shares (the actor's own variables
   * come with its assignment); `keep`: how many spares to keep booted (0: fork each actor when it is needed).
   */
  constructor(
    private readonly entry: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly keep: number,
  ) {}

  /** A process that becomes the actor `actorEnv` names: a booted spare if there is one, else a fresh fork. */
  start(actorEnv: Record<string, string>): ChildProcess {
    let proc: ChildProcess | undefined;
    while (!proc && this.spares.length > 0) {
      const spare = this.spares.shift()!;
      if (alive(spare)) proc = spare;
    }
    proc ??= this.fork();
    // a channel closed meanwhile is an exit the caller sees: nothing to do here
    proc.send({ kind: 'assign', env: actorEnv } satisfies ActorAssignment, () => undefined);
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
    while (!this.stopped && this.spares.length < this.keep) this.spares.push(this.fork());
  }

  private fork(): ChildProcess {
    // without the actor's own variables: a process that has them is that actor at once
    const env = Object.fromEntries(Object.entries(this.env).filter(([k]) => k !== EXPERT_ENV.instance && k !== EXPERT_ENV.experts));
    const proc = fork(this.entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env });
    // a spare that fails to start is dropped at the next refill; its error must not take the node down
    proc.on('error', () => undefined);
    return proc;
  }
}
