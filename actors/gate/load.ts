// What one gate saw of the load over a sliding window: tokens it routed to each (layer, expert), and how long
// each expert instance spent answering it (the time from dispatch to answer, a gate-side busy signal).
import type { LoadReport } from '../protocol/messages.js';

/** How often a gate publishes its load report. Env: EAAS_LOAD_REPORT_MS (0: never). */
export const DEFAULT_LOAD_REPORT_MS = 5_000;
/** The window a load report covers. Env: EAAS_LOAD_WINDOW_MS. */
export const DEFAULT_LOAD_WINDOW_MS = 30_000;
/** The window moves in this many steps. */
const BUCKETS = 10;

interface Bucket {
  start: number;
  tokens: Map<string, number>;
  busyMs: Map<string, number>;
}

const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

export class LoadTracker {
  private readonly buckets: Bucket[] = [];
  private readonly bucketMs: number;

  constructor(
    private readonly windowMs = DEFAULT_LOAD_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.bucketMs = Math.max(1, Math.floor(windowMs / BUCKETS));
  }

  private current(): Bucket {
    const t = this.now();
    const start = t - (t % this.bucketMs);
    let b = this.buckets[this.buckets.length - 1];
    if (!b || b.start !== start) {
      b = { start, tokens: new Map(), busyMs: new Map() };
      this.buckets.push(b);
    }
    while (this.buckets.length > 0 && this.buckets[0].start <= t - this.windowMs) this.buckets.shift();
    return b;
  }

  /** A layer step routed each batch's `rows` tokens to its expert of `layer`. */
  routed(layer: number, batches: readonly { expert: number; rows: number }[]): void {
    const tokens = this.current().tokens;
    for (const b of batches) if (b.rows > 0) add(tokens, `${layer}:${b.expert}`, b.rows);
  }

  /** `instance` answered a dispatch after `ms`. */
  answered(instance: string, ms: number): void {
    add(this.current().busyMs, instance, ms);
  }

  /** The window's totals, in the shape the placement controller reads. */
  report(node: string): LoadReport {
    this.current();
    const tokens = new Map<string, number>();
    const busy = new Map<string, number>();
    for (const b of this.buckets) {
      for (const [k, v] of b.tokens) add(tokens, k, v);
      for (const [k, v] of b.busyMs) add(busy, k, v);
    }
    return {
      node,
      windowMs: this.windowMs,
      experts: [...tokens].map(([id, n]) => {
        const [layer, expert] = id.split(':').map(Number);
        return { layer, expert, tokens: n };
      }).sort((a, b) => a.layer - b.layer || a.expert - b.expert),
      actors: [...busy].map(([instance, ms]) => ({ instance, busy: ms / this.windowMs })).sort((a, b) => a.instance.localeCompare(b.instance)),
    };
  }
}
