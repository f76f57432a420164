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

/** Bins per decade of latency bins: each bin ~4.7 % wide. */
const BINS_PER_DECADE = 50;

/** Latencies as counts in log-spaced bins, `[bin, count]` in bin order: bin b holds values in [10^(b/50), 10^((b+1)/50)) ms. */
export type LatencyBins = [number, number][];

/** The bins a latency may fall in: 1 µs to 1000 s (a value outside counts in the nearest). */
export const LATENCY_BINS = { min: -3 * BINS_PER_DECADE, max: 6 * BINS_PER_DECADE } as const;

/** Whether `b` is one `[bin, count]` pair of latency bins: an integer bin in range, a non-negative finite count. */
export const isLatencyBin = (b: unknown): b is [number, number] =>
  Array.isArray(b) && b.length === 2 && Number.isInteger(b[0]) && b[0] >= LATENCY_BINS.min && b[0] <= LATENCY_BINS.max && typeof b[1] === 'number' && Number.isFinite(b[1]) && b[1] >= 0;

/**
 * Latencies (ms) added over the last `windowMs`, as counts in log-spaced bins kept as sliding sums: a report costs a
 * few dozen numbers however many values came, and the bins of several gates add up to their common quantiles.
 */
export class SlidingLatencies {
  private readonly counts: SlidingSums;

  constructor(windowMs = DEFAULT_LOAD_WINDOW_MS, now: () => number = Date.now) {
    this.counts = new SlidingSums(windowMs, now);
  }

  /** One latency of `ms`. Non-positive or non-finite values are not latencies and are dropped. */
  add(ms: number): void {
    if (!(ms > 0) || !Number.isFinite(ms)) return;
    const bin = Math.min(LATENCY_BINS.max, Math.max(LATENCY_BINS.min, Math.floor(Math.log10(ms) * BINS_PER_DECADE)));
    this.counts.add(String(bin), 1);
  }

  bins(): LatencyBins {
    return [...this.counts.totals()].map(([bin, n]): [number, number] => [Number(bin), n]).sort((a, b) => a[0] - b[0]);
  }
}

/** Several windows' bins added up, in bin order. */
export function mergeBins(lists: readonly LatencyBins[]): LatencyBins {
  const out = new Map<number, number>();
  for (const list of lists) for (const [bin, n] of list) out.set(bin, (out.get(bin) ?? 0) + n);
  return [...out].sort((a, b) => a[0] - b[0]);
}

/** Latencies the bins count. */
export const binCount = (bins: LatencyBins): number => bins.reduce((sum, [, n]) => sum + n, 0);

/**
 * The q-quantile (0..1) of binned latencies, as its bin's upper edge, or null when there are none. Never below the
 * true quantile and up to a bin (~4.7 %) above it: an objective compared with it is kept with that margin.
 */
export function binQuantile(bins: LatencyBins, q: number): number | null {
  const total = binCount(bins);
  if (total === 0) return null;
  let seen = 0;
  for (const [bin, n] of [...bins].sort((a, b) => a[0] - b[0])) {
    seen += n;
    if (seen >= q * total) return 10 ** ((bin + 1) / BINS_PER_DECADE);
  }
  return null;
}
