// Between the policy's placement (actors by index) and the supervisors': which node runs each actor, under which
// instance name. Kept actors stay where they run; new ones go to the live node running the fewest.
import { formatExpertKey, parseExpertKey } from '../../model/expert-key.js';
import type { ActualRecord, PlacementActor } from '../protocol/placement-store.js';
import type { DesiredPlacement, PlacedActor } from './desired-placement.js';

export interface Location {
  node: string;
  instance: string;
}

/**
 * The placement the supervisors run (their fresh records): every actor with its index, and where it runs. The
 * revision is the lowest any supervisor reached. Indices are unique per supervisor, not across them (each
 * starts its static placement at 0), so a repeated index is given a fresh one above all others and at or above
 * `taken` (indices a desired placement already gave away): the same records and `taken` give the same indices.
 */
export function runningPlacement(actuals: readonly ActualRecord[], taken = 0): { placement: DesiredPlacement; where: Map<number, Location> } {
  const records = [...actuals].sort((a, b) => a.node.localeCompare(b.node));
  const all = records.flatMap((r) => r.actors.map((a) => ({ ...a, node: r.node })));
  let fresh = Math.max(taken, ...all.map((a) => a.index + 1));
  const where = new Map<number, Location>();
  const actors: PlacedActor[] = [];
  for (const a of all) {
    const index = where.has(a.index) ? fresh++ : a.index;
    where.set(index, { node: a.node, instance: a.instance });
    actors.push({ index, group: a.group, experts: a.experts.map(parseExpertKey) });
  }
  const revision = records.length === 0 ? 0 : Math.min(...records.map((r) => r.revision));
  return { placement: { revision, actors: actors.sort((x, y) => x.index - y.index) }, where };
}

/** Gives every actor of `desired` a node and an instance name: where it runs now if that node is live, else the live node with the fewest actors. */
export function locate(desired: readonly PlacedActor[], where: ReadonlyMap<number, Location>, liveNodes: readonly string[]): PlacementActor[] {
  const count = new Map([...liveNodes].sort().map((n) => [n, 0]));
  const stays = (a: PlacedActor) => {
    const w = where.get(a.index);
    return w && count.has(w.node) ? w : undefined;
  };
  for (const a of desired) {
    const w = stays(a);
    if (w) count.set(w.node, count.get(w.node)! + 1);
  }
  return desired.map((a) => {
    let w = stays(a);
    if (!w) {
      const node = [...count].reduce((best, c) => (c[1] < best[1] ? c : best))[0];
      count.set(node, count.get(node)! + 1);
      w = { node, instance: `${node}-e${a.index}` };
    }
    return { index: a.index, group: a.group, node: w.node, instance: w.instance, experts: a.experts.map(formatExpertKey) };
  });
}
