// Scaling without moving what runs: an actor's expert set is fixed for its life, so any change to it is a new
// process. Scale out adds actors holding extra replicas of the hottest experts and keeps every running one; scale
// in drops actors whose experts keep their minimum replicas on the others. Nothing running is restarted.
import { formatExpertKey, type ExpertKey } from '../../model/expert-key.js';
import { lexLess } from './packing.js';
import type { PlacedActor } from './desired-placement.js';

const byKey = (a: ExpertKey, b: ExpertKey) => a.layer - b.layer || a.expert - b.expert;

function replicaCounts(actors: readonly PlacedActor[]): Map<string, number> {
  const n = new Map<string, number>();
  for (const a of actors) for (const k of a.experts) n.set(formatExpertKey(k), (n.get(formatExpertKey(k)) ?? 0) + 1);
  return n;
}

/**
 * The running actors as they are, plus `add` new actors of at most `perActor` experts: each slot, one at a time,
 * to the expert with the most tokens per replica that a new actor with room lacks (EPLB's greedy), onto the new
 * actor with the least load of that expert's layer. Null when a new actor would stay empty (no load to spread).
 */
export function scaleOutKeeping(current: readonly PlacedActor[], experts: readonly ExpertKey[], tokens: Map<string, number>, add: number, perActor: number): ExpertKey[][] | null {
  const replicas = replicaCounts(current);
  const hosted: ExpertKey[][] = Array.from({ length: add }, () => []);
  const held = hosted.map(() => new Set<string>());
  const layerLoad = hosted.map(() => new Map<number, number>());
  const load = (k: ExpertKey) => (tokens.get(formatExpertKey(k)) ?? 0) / (replicas.get(formatExpertKey(k)) ?? 1);
  for (let slot = 0; slot < add * perActor; slot++) {
    const room = (a: number, k: ExpertKey) => hosted[a].length < perActor && !held[a].has(formatExpertKey(k));
    let best: ExpertKey | undefined;
    for (const k of experts) {
      if ((tokens.get(formatExpertKey(k)) ?? 0) === 0 || !hosted.some((_, a) => room(a, k))) continue;
      if (!best || load(k) > load(best)) best = k;
    }
    if (!best) break;
    const k = best;
    let to = -1;
    for (let a = 0; a < add; a++) {
      if (!room(a, k)) continue;
      const rank = (x: number) => [layerLoad[x].get(k.layer) ?? 0, hosted[x].length, x];
      if (to < 0 || lexLess(rank(a), rank(to))) to = a;
    }
    replicas.set(formatExpertKey(k), (replicas.get(formatExpertKey(k)) ?? 0) + 1);
    hosted[to].push(k);
    held[to].add(formatExpertKey(k));
    layerLoad[to].set(k.layer, (layerLoad[to].get(k.layer) ?? 0) + load(k));
  }
  if (hosted.some((keys) => keys.length === 0)) return null;
  return [...current.map((a) => [...a.experts]), ...hosted.map((keys) => keys.sort(byKey))];
}

/**
 * The running actors less `remove` of them, the least loaded first, each dropped only when every expert it hosts
 * keeps at least `min` replicas on the actors left. Null when that many cannot go.
 */
export function scaleInKeeping(current: readonly PlacedActor[], tokens: Map<string, number>, remove: number, min: number): ExpertKey[][] | null {
  const replicas = replicaCounts(current);
  const weight = (a: PlacedActor) => a.experts.reduce((s, k) => s + (tokens.get(formatExpertKey(k)) ?? 0) / replicas.get(formatExpertKey(k))!, 0);
  const order = [...current].sort((a, b) => weight(a) - weight(b) || b.index - a.index);
  const dropped = new Set<number>();
  for (const a of order) {
    if (dropped.size === remove) break;
    if (a.experts.some((k) => replicas.get(formatExpertKey(k))! - 1 < min)) continue;
    for (const k of a.experts) replicas.set(formatExpertKey(k), replicas.get(formatExpertKey(k))! - 1);
    dropped.add(a.index);
  }
  if (dropped.size < remove) return null;
  return current.filter((a) => !dropped.has(a.index)).map((a) => [...a.experts]);
}

/**
 * The running actors as they are, plus new actors of at most `perActor` experts holding the replicas that experts
 * below `min` lack (each new replica on a new actor without that expert): a repair after actors were lost starts
 * only what was lost. Null when there is nothing to add.
 */
export function repairKeeping(current: readonly PlacedActor[], experts: readonly ExpertKey[], min: number, perActor: number): ExpertKey[][] | null {
  const replicas = replicaCounts(current);
  const added: ExpertKey[][] = [];
  for (const k of experts) {
    for (let have = replicas.get(formatExpertKey(k)) ?? 0; have < min; have++) {
      const room = added.find((keys) => keys.length < perActor && !keys.some((x) => x.layer === k.layer && x.expert === k.expert));
      if (room) room.push(k);
      else added.push([k]);
    }
  }
  if (added.length === 0) return null;
  return [...current.map((a) => [...a.experts]), ...added.map((keys) => keys.sort(byKey))];
}
