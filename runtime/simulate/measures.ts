// What a simulated run measures: latency histograms (log bins, so millions of samples cost a few KB), per-second
// series, and a time integral (actor-seconds).

/** Log-spaced bins from 1 µs to ~1000 s, 100 per decade (quantiles within ~2.3%). */
export class Histogram {
  private static readonly PER_DECADE = 100;
  private static readonly MIN_MS = 1e-3;
  private readonly bins = new Float64Array(9 * Histogram.PER_DECADE + 1);
  count = 0;

  add(ms: number): void {
    const i = Math.max(0, Math.min(this.bins.length - 1, Math.floor(Math.log10(Math.max(ms, Histogram.MIN_MS) / Histogram.MIN_MS) * Histogram.PER_DECADE)));
    this.bins[i]++;
    this.count++;
  }

  /** The q-quantile (0..1), the geometric middle of its bin; NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const want = q * this.count;
    let seen = 0;
    for (let i = 0; i < this.bins.length; i++) {
      seen += this.bins[i];
      if (seen >= want && this.bins[i] > 0) return Histogram.MIN_MS * 10 ** ((i + 0.5) / Histogram.PER_DECADE);
    }
    return NaN;
  }
}

/** Sums per whole second of simulated time. */
export class PerSecond {
  readonly values: number[] = [];

  add(atMs: number, v: number): void {
    const s = Math.floor(atMs / 1000);
    while (this.values.length <= s) this.values.push(0);
    this.values[s] += v;
  }

  /** Mean per second over [fromS, toS). */
  mean(fromS: number, toS: number): number {
    let sum = 0;
    for (let s = fromS; s < toS; s++) sum += this.values[s] ?? 0;
    return sum / Math.max(1, toS - fromS);
  }
}

/** ∫ value dt of a step function (e.g. actors alive), with its value sampled each second for a chart. */
export class Integral {
  private value = 0;
  private since = 0;
  private area = 0;
  readonly samples: [number, number][] = [];

  set(atMs: number, value: number): void {
    this.area += this.value * (atMs - this.since);
    this.value = value;
    this.since = atMs;
    const s = atMs / 1000;
    const last = this.samples.at(-1);
    if (last && last[0] === s) last[1] = value;
    else this.samples.push([s, value]);
  }

  get current(): number {
    return this.value;
  }

  /** The integral up to `atMs`, in value × seconds. */
  total(atMs: number): number {
    return (this.area + this.value * (atMs - this.since)) / 1000;
  }
}
