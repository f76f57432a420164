// What one gate saw of the load over a sliding window: tokens it routed to each (layer, expert), and how long
// each expert instance spent answering it (the time from dispatch to answer, a gate-side busy signal).
import { SlidingSums } from '../../observability/load-window.js';
import type { LoadReport } from '../protocol/messages.js';

export class LoadTracker {
  private readonly tokens: SlidingSums;
  private readonly busyMs: SlidingSums;

  constructor(windowMs?: number, now?: () => number) {
    this.tokens = new SlidingSums(windowMs, now);
    this.busyMs = new SlidingSums(windowMs, now);
  }

  /** `rows` tokens of a layer step were routed to expert `expert` of `layer`. */
  routed(layer: number, expert: number, rows: number): void {
    this.tokens.add(`${layer}:${expert}`, rows);
  }

  /** `instance` answered a dispatch after `ms`. */
  answered(instance: string, ms: number): void {
    this.busyMs.add(instance, ms);
  }

  /** The window's totals, in the shape the placement controller reads. */
  report(node: string): LoadReport {
    const windowMs = this.tokens.windowMs;
    return {
      node,
      windowMs,
      experts: [...this.tokens.totals()].map(([id, n]) => {
        const [layer, expert] = id.split(':').map(Number);
        return { layer, expert, tokens: n };
      }).sort((a, b) => a.layer - b.layer || a.expert - b.expert),
      actors: [...this.busyMs.totals()].map(([instance, ms]) => ({ instance, busy: ms / windowMs })).sort((a, b) => a.instance.localeCompare(b.instance)),
    };
  }
}
