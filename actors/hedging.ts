// When to hedge a dispatch: much slower than the recent latency of its peers, within an extra-load budget.

export interface HedgeOptions {
  /** Hedge at all (default true). Env: EAAS_HEDGE=0 turns it off. */
  enabled: boolean;
  /** Hedge after factor × the recent p95 latency... */
  factor: number;
  /** ...but never sooner than this. */
  minDelayMs: number;
  /** At most this fraction of dispatches may be hedged (bounded extra load). */
  budget: number;
}

export const DEFAULT_HEDGE: HedgeOptions = { enabled: true, factor: 4, minDelayMs: 25, budget: 0.1 };

const WINDOW = 256;
/** Until this many latencies are known, the delay is the minimum times a safety margin. */
const WARMUP = 16;
const WARMUP_DELAY_FACTOR = 20;
/** Budget tokens never pile up past this many hedges. */
const MAX_BURST = 8;

export class HedgePolicy {
  private readonly latencies = new Float64Array(WINDOW);
  private count = 0;
  private tokens = 1;

  constructor(readonly o: HedgeOptions = DEFAULT_HEDGE) {}

  /** Records a successful dispatch's latency and earns a fraction of a hedge. */
  observe(ms: number): void {
    this.latencies[this.count++ % WINDOW] = ms;
    this.tokens = Math.min(MAX_BURST, this.tokens + this.o.budget);
  }

  /** How long to wait before hedging a dispatch started now; undefined = do not hedge. */
  delayMs(): number | undefined {
    if (!this.o.enabled) return undefined;
    const n = Math.min(this.count, WINDOW);
    if (n < WARMUP) return this.o.minDelayMs * WARMUP_DELAY_FACTOR;
    const sorted = Array.from(this.latencies.subarray(0, n)).sort((a, b) => a - b);
    return Math.max(this.o.minDelayMs, this.o.factor * sorted[Math.floor(0.95 * (n - 1))]);
  }

  /** Takes one hedge from the budget; false when spent. */
  take(): boolean {
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
