// The desired placement the controller proposes: actors (in ActorSpec's shape), a revision, and what changes.
import { formatExpertKey, type ExpertKey } from '../../model/expert-key.js';

/** One expert actor of a placement: the same fields as the supervisor's `ActorSpec`. */
export interface PlacedActor {
  /** Unique within the placement and never reused for another expert set, so old and new can run side by side. */
  index: number;
  /** Supervision group: an actor the controller starts is a group of its own (group = its index). */
  group: number;
  experts: ExpertKey[];
}

/** A whole placement with its revision (a higher revision supersedes a lower one). */
export interface DesiredPlacement {
  revision: number;
  actors: PlacedActor[];
}

/** What the supervisors do to go from the current placement to the desired one, make before break. */
export interface PlacementChanges {
  /** Indices of actors that stay as they are. */
  keep: number[];
  /** Actors to start (first). */
  start: PlacedActor[];
  /** Indices of actors to drain and retire once the started ones serve. */
  retire: number[];
}

const setId = (keys: readonly ExpertKey[]) => keys.map(formatExpertKey).sort().join(',');

/**
 * Gives each packed expert set an index: the index of a current actor hosting exactly that set (so it is kept),
 * else a fresh one from `nextIndex` on. Returns the actors by index and the next fresh index.
 */
export function assignIndices(sets: ExpertKey[][], current: readonly PlacedActor[], nextIndex: number): { actors: PlacedActor[]; nextIndex: number } {
  const free = new Map<string, PlacedActor[]>();
  for (const a of [...current].sort((x, y) => x.index - y.index)) free.set(setId(a.experts), [...(free.get(setId(a.experts)) ?? []), a]);
  let next = Math.max(nextIndex, ...current.map((a) => a.index + 1));
  const actors = sets.map((experts) => {
    const same = free.get(setId(experts))?.shift();
    return same ? { index: same.index, group: same.group, experts } : { index: next, group: next++, experts };
  });
  return { actors: actors.sort((x, y) => x.index - y.index), nextIndex: next };
}

export function changes(current: readonly PlacedActor[], desired: readonly PlacedActor[]): PlacementChanges {
  const before = new Set(current.map((a) => a.index));
  const after = new Set(desired.map((a) => a.index));
  return {
    keep: desired.filter((a) => before.has(a.index)).map((a) => a.index),
    start: desired.filter((a) => !before.has(a.index)),
    retire: current.filter((a) => !after.has(a.index)).map((a) => a.index),
  };
}

/** What in `actors` breaks the rules (every expert at least `min` replicas, one per actor, at most `perActor` per actor); empty when nothing. */
export function violations(actors: readonly PlacedActor[], experts: readonly ExpertKey[], min: number, perActor: number): string[] {
  const out: string[] = [];
  const count = new Map<string, number>();
  for (const a of actors) {
    if (a.experts.length > perActor) out.push(`actor ${a.index} hosts ${a.experts.length} experts (at most ${perActor})`);
    const ids = a.experts.map(formatExpertKey);
    if (new Set(ids).size !== ids.length) out.push(`actor ${a.index} hosts an expert twice`);
    for (const id of new Set(ids)) count.set(id, (count.get(id) ?? 0) + 1);
  }
  const short = experts.filter((k) => (count.get(formatExpertKey(k)) ?? 0) < min).map(formatExpertKey);
  if (short.length > 0) out.push(`expert${short.length > 1 ? 's' : ''} ${short.slice(0, 4).join(', ')}${short.length > 4 ? ', ...' : ''} below ${min} replicas`);
  return out;
}
