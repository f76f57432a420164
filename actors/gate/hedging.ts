// When to hedge a dispatch: much slower than its peers' recent latency, within an extra-load budget.

export interface HedgeOptions {
  /** Hedge at all (default true). Env: EAAS_HEDGE=0 turns it off. */
  enabled: boolean;
  /** Hedge once a dispatch took factor × the fastest peer's recent latency... */
  factor: number;
  /** ...but never sooner than this. */
  minDelayMs: number;
  /** At most this fraction of dispatches may be hedged (bounded extra load). */
  budget: number;
}

export const DEFAULT_HEDGE: HedgeOptions = { enabled: true, factor: 4, minDelayMs: 20, budget: 0.1 };

/** Weight of the newest latency in an instance's moving average. */
const EWMA_ALPHA = 0.2;
/** An instance's average counts once it has this many samples. */
const MIN_SAMPLES = 4;
/** A latency older than this is forgotten, so an instance that was slow gets tried again. */
const STALE_MS = 2000;
/** Budget tokens never pile up past this many hedges. */
const MAX_BURST = 8;

export class HedgePolicy {
  private readonly latency = new Map<string, { avg: number; n: number; at: number }>();
  private tokens = 1;

  constructor(
    readonly o: HedgeOptions = DEFAULT_HEDGE,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a successful dispatch's latency and earns a fraction of a hedge. */
  observe(instance: string, ms: number): void {
    const now = this.now();
    const l = this.latency.get(instance);
    if (!l) this.latency.set(instance, { avg: ms, n: 1, at: now });
    else if (now - l.at > STALE_MS) Object.assign(l, { avg: ms, at: now });
    else {
      l.avg += EWMA_ALPHA * (ms - l.avg);
      l.n++;
      l.at = now;
    }
    this.tokens = Math.min(MAX_BURST, this.tokens + this.o.budget);
  }

  /** An instance's recent average latency, if it has a fresh one. */
  estimate(instance: string): number | undefined {
    const l = this.latency.get(instance);
    return l && l.n >= MIN_SAMPLES && this.now() - l.at <= STALE_MS ? l.avg : undefined;
  }

  /**
   * How long to wait before hedging a dispatch to one of `peers`; undefined = do not hedge. A peer's
   * last average counts even when stale: after an idle spell the first dispatches must be covered too.
   */
  delayMs(peers: string[]): number | undefined {
    if (!this.o.enabled || peers.length === 0) return undefined;
    let fastest = Infinity;
    for (const p of peers) {
      const l = this.latency.get(p);
      if (l && l.n >= MIN_SAMPLES) fastest = Math.min(fastest, l.avg);
    }
    return Number.isFinite(fastest) ? Math.max(this.o.minDelayMs, this.o.factor * fastest) : undefined;
  }

  /** Takes one hedge from the budget; false when spent. */
  take(): boolean {
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
