// Which supervisors are alive, from how their `actual` keys move: each rewrites its key every ACTUAL_REFRESH_MS, so
// a key whose revision stands still for ACTUAL_STALE_MS by this process's own clock is a node gone. As with the
// lease, no clock of another machine is read.
import { ACTUAL_STALE_MS, type ActualEntry, type ActualRecord } from '../protocol/placement-store.js';

export class NodeLiveness {
  /** Each node's key revision, and when this process first saw it. */
  private readonly seen = new Map<string, { revision: number; since: number }>();

  constructor(
    private readonly staleMs = ACTUAL_STALE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The records of the nodes alive now. A node first seen counts as alive until its key has had time to move. */
  live(entries: ActualEntry[]): ActualRecord[] {
    const t = this.now();
    const present = new Set<string>();
    const out: ActualRecord[] = [];
    for (const { record, revision } of entries) {
      present.add(record.node);
      let s = this.seen.get(record.node);
      if (s?.revision !== revision) this.seen.set(record.node, (s = { revision, since: t }));
      if (t - s.since < this.staleMs) out.push(record);
    }
    for (const node of this.seen.keys()) if (!present.has(node)) this.seen.delete(node);
    return out;
  }
}
