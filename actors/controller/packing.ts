// Which actor hosts which replica: balanced load per actor and per layer, one replica of an expert per actor.
import { formatExpertKey, type ExpertKey } from '../../model/expert-key.js';
import { PlacementError } from '../protocol/errors.js';
import type { ReplicaCount } from './replicas.js';

const byKey = (a: ExpertKey, b: ExpertKey) => a.layer - b.layer || a.expert - b.expert;

/**
 * Packs the replicas onto `actors` actors of at most `perActor` experts. Greedy, heaviest replica first (load
 * tokens ÷ replicas), each onto the actor with room that does not hold that expert yet and carries the least load
 * *of that replica's layer* — then the fewest experts of that layer, the least load overall, the fewest experts,
 * the lowest position. The layer comes first because a layer's step waits for the slowest actor it dispatched to.
 * This is EPLB's `balanced_packing` (DeepSeek eplb.py, vLLM policy/default.py: sorted descending, each to the
 * lightest pack with room) with the one-replica-per-actor rule added and no fixed count per pack.
 *
 * When the greedy corners itself (the only actors with room already hold the expert), one lighter replica moves
 * to an actor with room to free a place (makeRoom). Each actor's experts come sorted. Throws a PlacementError
 * when the replicas cannot fit: more replicas of an expert than actors, or more than `actors × perActor` in all.
 */
export function pack(counts: ReplicaCount[], tokens: Map<string, number>, actors: number, perActor: number): ExpertKey[][] {
  const total = counts.reduce((n, c) => n + c.replicas, 0);
  const over = counts.find((c) => c.replicas > actors);
  if (over || total > actors * perActor) throw new PlacementError(over ? `expert ${formatExpertKey(over)} has ${over.replicas} replicas for ${actors} actors` : `${total} replicas do not fit ${actors} actors of ${perActor}`);
  const items = counts.flatMap((c) => Array.from({ length: c.replicas }, (_, rank) => ({ key: { layer: c.layer, expert: c.expert }, rank, weight: (tokens.get(formatExpertKey(c)) ?? 0) / c.replicas })));
  items.sort((a, b) => b.weight - a.weight || byKey(a.key, b.key) || a.rank - b.rank);
  const hosted: ExpertKey[][] = Array.from({ length: actors }, () => []);
  const held = Array.from({ length: actors }, () => new Set<string>());
  const load = new Array<number>(actors).fill(0);
  const layerLoad = Array.from({ length: actors }, () => new Map<number, number>());
  const layerCount = Array.from({ length: actors }, () => new Map<number, number>());
  const weightOf = new Map(items.map((i) => [formatExpertKey(i.key), i.weight]));
  const add = (a: number, k: ExpertKey, sign: 1 | -1) => {
    const w = sign * weightOf.get(formatExpertKey(k))!;
    load[a] += w;
    layerLoad[a].set(k.layer, (layerLoad[a].get(k.layer) ?? 0) + w);
    layerCount[a].set(k.layer, (layerCount[a].get(k.layer) ?? 0) + sign);
  };
  const put = (a: number, k: ExpertKey) => {
    hosted[a].push(k);
    held[a].add(formatExpertKey(k));
    add(a, k, 1);
  };
  const take = (a: number, k: ExpertKey) => {
    hosted[a].splice(hosted[a].findIndex((x) => formatExpertKey(x) === formatExpertKey(k)), 1);
    held[a].delete(formatExpertKey(k));
    add(a, k, -1);
  };
  for (const item of items) {
    const id = formatExpertKey(item.key);
    const rank = (a: number) => [layerLoad[a].get(item.key.layer) ?? 0, layerCount[a].get(item.key.layer) ?? 0, load[a], hosted[a].length, a];
    let best = -1;
    for (let a = 0; a < actors; a++) {
      if (hosted[a].length >= perActor || held[a].has(id)) continue;
      if (best < 0 || lexLess(rank(a), rank(best))) best = a;
    }
    if (best < 0) best = makeRoom(item.key, hosted, held, perActor, weightOf, put, take);
    put(best, item.key);
  }
  return hosted.map((keys) => keys.sort(byKey));
}

/**
 * When `key` fits nowhere (the actors with room hold it already), moves one replica of another expert from an
 * actor without `key` to an actor with room that lacks that expert, the lightest replica first, and returns the
 * actor freed for `key`. Such a move always exists when the replicas fit: an actor without `key` is full, so it
 * holds `perActor` experts other than `key`; an actor with room holds `key` and fewer than `perActor` in all, so
 * it lacks one of them.
 */
function makeRoom(
  key: ExpertKey,
  hosted: ExpertKey[][],
  held: Set<string>[],
  perActor: number,
  weightOf: Map<string, number>,
  put: (a: number, k: ExpertKey) => void,
  take: (a: number, k: ExpertKey) => void,
): number {
  const moves: { from: number; to: number; k: ExpertKey; w: number }[] = [];
  for (let from = 0; from < hosted.length; from++) {
    if (held[from].has(formatExpertKey(key))) continue;
    for (const k of hosted[from]) {
      const to = hosted.findIndex((keys, a) => a !== from && keys.length < perActor && !held[a].has(formatExpertKey(k)));
      if (to >= 0) moves.push({ from, to, k, w: weightOf.get(formatExpertKey(k))! });
    }
  }
  moves.sort((a, b) => a.w - b.w || a.from - b.from || byKey(a.k, b.k));
  const m = moves[0];
  take(m.from, m.k);
  put(m.to, m.k);
  return m.from;
}

/** Whether `a` sorts before `b`, element by element. */
export function lexLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

/**
 * vLLM's `eplb_balancedness` for a placement under a load: per layer, the mean over actors of the tokens each
 * actor serves and the max; then Σ means ÷ Σ maxes (vllm/distributed/eplb/eplb_state.py). 1 is perfect; an actor
 * serving an expert is assumed to get its tokens ÷ replicas (the gate spreads rows over replicas). With no
 * tokens at all there is nothing to balance: 1.
 */
export function balancedness(actors: readonly { experts: readonly ExpertKey[] }[], tokens: Map<string, number>): number {
  if (actors.length === 0) return 1;
  const replicas = new Map<string, number>();
  for (const a of actors) for (const k of a.experts) replicas.set(formatExpertKey(k), (replicas.get(formatExpertKey(k)) ?? 0) + 1);
  const perLayer = new Map<number, number[]>();
  actors.forEach((a, i) => {
    for (const k of a.experts) {
      const row = perLayer.get(k.layer) ?? perLayer.set(k.layer, new Array<number>(actors.length).fill(0)).get(k.layer)!;
      row[i] += (tokens.get(formatExpertKey(k)) ?? 0) / replicas.get(formatExpertKey(k))!;
    }
  });
  let mean = 0;
  let max = 0;
  for (const row of perLayer.values()) {
    mean += row.reduce((s, x) => s + x, 0) / actors.length;
    max += Math.max(...row);
  }
  return max > 0 ? mean / max : 1;
}
