// Sums over a sliding window, kept in a few buckets: the load signal of gates and expert actors.

/** How often a gate or an expert actor publishes its load report. Env: EAAS_LOAD_REPORT_MS (0: never). */
export const DEFAULT_LOAD_REPORT_MS = 5_000;
/** The window a load report covers. Env: EAAS_LOAD_WINDOW_MS. */
export const DEFAULT_LOAD_WINDOW_MS = 30_000;
/** The window moves in this many steps. */
const BUCKETS = 10;

interface Bucket {
  start: number;
  sums: Map<string, number>;
}

const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

/** Per-key sums of what was added in the last `windowMs` (to a bucket's precision); adding is a map update. */
export class SlidingSums {
  private readonly buckets: Bucket[] = [];
  private readonly bucketMs: number;

  constructor(
    readonly windowMs = DEFAULT_LOAD_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.bucketMs = Math.max(1, Math.floor(windowMs / BUCKETS));
  }

  private current(): Bucket {
    const t = this.now();
    const start = t - (t % this.bucketMs);
    let b = this.buckets[this.buckets.length - 1];
    if (!b || b.start !== start) {
      b = { start, sums: new Map() };
      this.buckets.push(b);
    }
    while (this.buckets.length > 0 && this.buckets[0].start <= t - this.windowMs) this.buckets.shift();
    return b;
  }

  add(key: string, v: number): void {
    add(this.current().sums, key, v);
  }

  /** The window's sum of every key added in it. */
  totals(): Map<string, number> {
    this.current();
    const out = new Map<string, number>();
    for (const b of this.buckets) for (const [k, v] of b.sums) add(out, k, v);
    return out;
  }
}
