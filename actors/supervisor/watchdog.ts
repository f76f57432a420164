// The supervisor's liveness view of its children: heartbeats over the IPC channel, judged on a clock.
// IPC beats come from the child's own event loop, so a child busy with NATS traffic (or a gate loading
// the shared connection) is never taken for hung, and nobody on NATS can speak for a child.

/** How often an expert actor tells its supervisor it is alive. Env: EAAS_HEARTBEAT_MS. */
export const DEFAULT_HEARTBEAT_MS = 250;
/** A child whose heartbeats stop for this long is killed and restarted. Env: EAAS_HANG_MS. */
export const DEFAULT_HANG_MS = 1500;
/**
 * An expert actor's thread that posts nothing to its process for this long is stuck (in a computation that does not
 * return): the process stops beating, so the bound above restarts it. Far above the longest legitimate run of one
 * expert on one message. Env: EAAS_ACTOR_SILENCE_MS.
 */
export const DEFAULT_ACTOR_SILENCE_MS = 30_000;

export class Watchdog {
  private readonly lastBeat = new Map<string, number>();
  private lastCheck: number;

  constructor(
    readonly hangMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.lastCheck = now();
  }

  /** A child said it is alive (or was just started: it gets a full period to say so). */
  beat(instance: string): void {
    this.lastBeat.set(instance, this.now());
  }

  forget(instance: string): void {
    this.lastBeat.delete(instance);
  }

  /**
   * The children silent for longer than the bound among `watched`. When this check itself comes late
   * (our own event loop was blocked), their beats may be queued rather than missing: nobody is judged.
   */
  overdue(watched: Iterable<string>): string[] {
    const now = this.now();
    const late = now - this.lastCheck > this.hangMs / 2;
    this.lastCheck = now;
    const out: string[] = [];
    for (const instance of watched) {
      const last = this.lastBeat.get(instance);
      if (last === undefined || late) this.lastBeat.set(instance, now);
      else if (now - last > this.hangMs) {
        out.push(instance);
        this.lastBeat.set(instance, now);
      }
    }
    return out;
  }
}
