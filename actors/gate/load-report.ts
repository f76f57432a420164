// What one gate saw of the load over a sliding window: tokens it routed to each (layer, expert), how long each
// expert instance spent answering it (the time from dispatch to answer, a gate-side busy signal), and the time
// between each sequence's tokens (the inter-token latency its clients saw).
import { formatExpertKey, parseExpertKey } from '../../model/expert-key.js';
import { SlidingLatencies, SlidingSums } from '../../observability/load-window.js';
import { countRouted } from '../../observability/metrics.js';
import type { LoadReport } from '../protocol/messages.js';

export class LoadTracker {
  private readonly tokens: SlidingSums;
  private readonly busyMs: SlidingSums;
  private readonly tokenGaps: SlidingLatencies;

  /** `model`: also count the routed tokens in the process's Prometheus registry under this model name. */
  constructor(windowMs?: number, now?: () => number, private readonly model?: string) {
    this.tokens = new SlidingSums(windowMs, now);
    this.busyMs = new SlidingSums(windowMs, now);
    this.tokenGaps = new SlidingLatencies(windowMs, now);
  }

  /** A sequence's token came `ms` after its previous one. */
  interToken(ms: number): void {
    this.tokenGaps.add(ms);
  }

  /** A layer step routed each batch's `rows` tokens to its expert of `layer`. */
  routed(layer: number, batches: readonly { expert: number; rows: number }[]): void {
    for (const b of batches) {
      if (b.rows === 0) continue;
      this.tokens.add(formatExpertKey({ layer, expert: b.expert }), b.rows);
      if (this.model !== undefined) countRouted(this.model, layer, b.expert, b.rows);
    }
  }

  /** `instance` answered a dispatch after `ms`. */
  answered(instance: string, ms: number): void {
    this.busyMs.add(instance, ms);
  }

  /** The window's totals, in the shape the placement controller reads. */
  report(node: string): LoadReport {
    const windowMs = this.tokens.windowMs;
    const itl = this.tokenGaps.bins();
    return {
      ...(itl.length === 0 ? {} : { itl }),
      node,
      windowMs,
      experts: [...this.tokens.totals()].map(([id, n]) => ({ ...parseExpertKey(id), tokens: n })).sort((a, b) => a.layer - b.layer || a.expert - b.expert),
      actors: [...this.busyMs.totals()].map(([instance, ms]) => ({ instance, busy: ms / windowMs })).sort((a, b) => a.instance.localeCompare(b.instance)),
    };
  }
}
