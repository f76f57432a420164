// A circuit breaker per expert instance: a dispatch that times out (or stays silent after a hedge answered
// for it) makes its instance suspect, and the
// gate stops sending there at once; after a cool-down one probe dispatch may go (half-open); an answer
// closes the breaker, another timeout opens it for twice as long.

export interface BreakerOptions {
  /** First cool-down after a timeout. */
  openMs: number;
  /** The cool-down doubles on each failed probe up to this. */
  maxOpenMs: number;
  /**
   * A dispatch still unanswered after a hedge brought its rows makes its instance suspect without waiting for its
   * deadline, once it stayed silent as long again as the dispatch had taken, and at least this long: a host lost
   * (its cable out) costs hedges and this, not the dispatch timeout. (Read by the gates, not by Breakers.)
   */
  silentMs: number;
}

export const DEFAULT_BREAKER: BreakerOptions = { openMs: 1_000, maxOpenMs: 8_000, silentMs: 250 };

interface State {
  openUntil: number;
  coolDownMs: number;
  probing: boolean;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export class Breakers {
  private readonly states = new Map<string, State>();

  constructor(
    private readonly o: BreakerOptions = DEFAULT_BREAKER,
    private readonly now: () => number = Date.now,
  ) {}

  state(instance: string): BreakerState {
    const s = this.states.get(instance);
    if (!s) return 'closed';
    return this.now() < s.openUntil ? 'open' : 'half-open';
  }

  /** Whether a dispatch may be planned to `instance` now: closed, or half-open with no probe out. */
  allows(instance: string): boolean {
    const st = this.state(instance);
    return st === 'closed' || (st === 'half-open' && !this.states.get(instance)!.probing);
  }

  /** A dispatch goes to `instance`: in half-open it is the probe. */
  sending(instance: string): void {
    const s = this.states.get(instance);
    if (s && this.state(instance) === 'half-open') s.probing = true;
  }

  /** `instance` answered: the breaker closes. */
  success(instance: string): void {
    this.states.delete(instance);
  }

  /** A dispatch to `instance` ended without a verdict (link lost, announced down): a probe may go again. */
  release(instance: string): void {
    const s = this.states.get(instance);
    if (s) s.probing = false;
  }

  /** A dispatch to `instance` timed out: open, for longer each time a probe fails. */
  timeout(instance: string): void {
    const s = this.states.get(instance);
    const coolDownMs = s ? Math.min(this.o.maxOpenMs, s.coolDownMs * 2) : this.o.openMs;
    this.states.set(instance, { openUntil: this.now() + coolDownMs, coolDownMs, probing: false });
  }

  /** A new process serves under this name: forget what its predecessor did. */
  reset(instance: string): void {
    this.states.delete(instance);
  }
}
