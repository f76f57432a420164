// Changes that replace a few actors, not all: an actor's expert set is fixed for its life, so every actor whose set
// changes is a new process to start (weights to load) and an old one to drain. A re-pack of only the actors that
// unbalance the layers keeps the rest running (EPLB's rearrangement, made migration-aware).
import { formatExpertKey, type ExpertKey } from '../../model/expert-key.js';
import { assignIndices, changes, type PlacedActor } from './desired-placement.js';
import { balancedness, pack } from './packing.js';
import type { ReplicaCount } from './replicas.js';
import { scaleInKeeping, scaleOutKeeping } from './sticky.js';

/**
 * The running actors in the order a partial re-pack takes them: alternately the one most above its layers' mean
 * load (it sets a layer's maximum) and the one most below (room for that load), then the rest; the `drop` least
 * loaded overall come first when the change removes actors. Load per actor and layer: tokens ÷ replicas of each
 * expert it hosts, as balancedness counts it.
 */
export function replaceOrder(current: readonly PlacedActor[], tokens: Map<string, number>, drop: number): PlacedActor[] {
  const replicas = new Map<string, number>();
  for (const a of current) for (const k of a.experts) replicas.set(formatExpertKey(k), (replicas.get(formatExpertKey(k)) ?? 0) + 1);
  const perLayer = current.map((a) => {
    const m = new Map<number, number>();
    for (const k of a.experts) m.set(k.layer, (m.get(k.layer) ?? 0) + (tokens.get(formatExpertKey(k)) ?? 0) / replicas.get(formatExpertKey(k))!);
    return m;
  });
  const mean = new Map<number, number>();
  for (const m of perLayer) for (const [layer, x] of m) mean.set(layer, (mean.get(layer) ?? 0) + x / current.length);
  const excess = perLayer.map((m) => [...mean].reduce((s, [layer, avg]) => s + Math.max(0, (m.get(layer) ?? 0) - avg), 0));
  const deficit = perLayer.map((m) => [...mean].reduce((s, [layer, avg]) => s + Math.max(0, avg - (m.get(layer) ?? 0)), 0));
  const total = perLayer.map((m) => [...m.values()].reduce((s, x) => s + x, 0));
  const positions = current.map((_, i) => i);
  const byIndex = (i: number, j: number) => current[i].index - current[j].index;
  const lightest = [...positions].sort((i, j) => total[i] - total[j] || byIndex(i, j)).slice(0, Math.max(0, drop));
  const above = [...positions].sort((i, j) => excess[j] - excess[i] || byIndex(i, j));
  const below = [...positions].sort((i, j) => deficit[j] - deficit[i] || byIndex(i, j));
  const order: number[] = [...lightest];
  const taken = new Set(order);
  for (let n = 0; n < current.length; n++) {
    for (const i of [above[n], below[n]]) {
      if (!taken.has(i)) {
        taken.add(i);
        order.push(i);
      }
    }
  }
  return order.map((i) => current[i]);
}

/**
 * The placement of `size` actors that keeps all running actors but the first `replace` of `order` (replaceOrder's
 * ranking) and packs `size − (running − replace)` new ones in their stead. The new actors take the replicas the
 * replaced ones held (so each layer's load in the pool stays what those actors carried); when they have more slots,
 * the spare go one at a time to the highest tokens per replica (EPLB's greedy); when fewer, the replicas whose
 * expert keeps the lowest tokens per replica without them go, never below `min`. At most one replica of an expert
 * per new actor; packed as `pack` packs (balanced per layer). Null when the minimum does not fit the new actors,
 * or a new actor would stay empty.
 */
export function repackSome(order: readonly PlacedActor[], experts: readonly ExpertKey[], tokens: Map<string, number>, size: number, replace: number, min: number, perActor: number): ExpertKey[][] | null {
  const kept = order.slice(replace);
  const fresh = size - kept.length;
  if (fresh < 0) return null;
  const count = (actors: readonly PlacedActor[]) => {
    const n = new Map<string, number>();
    for (const a of actors) for (const k of a.experts) n.set(formatExpertKey(k), (n.get(formatExpertKey(k)) ?? 0) + 1);
    return experts.map((k) => n.get(formatExpertKey(k)) ?? 0);
  };
  const have = count(kept);
  const pool = count(order.slice(0, replace));
  const load = experts.map((k) => tokens.get(formatExpertKey(k)) ?? 0);
  const after = (i: number, d: number) => load[i] / Math.max(1, have[i] + pool[i] + d);
  // too many: drop the replica whose expert is lightest per replica without it (one over the new actors first)
  for (let total = pool.reduce((s, n) => s + n, 0); ; total--) {
    const over = pool.some((n) => n > fresh);
    if (!over && total <= fresh * perActor) break;
    let drop = -1;
    for (let i = 0; i < experts.length; i++) {
      if (pool[i] === 0 || have[i] + pool[i] - 1 < min || (over && pool[i] <= fresh)) continue;
      if (drop < 0 || after(i, -1) < after(drop, -1)) drop = i;
    }
    if (drop < 0) return null;
    pool[drop]--;
  }
  // room left: the hottest per replica first
  for (let spare = fresh * perActor - pool.reduce((s, n) => s + n, 0); spare > 0; spare--) {
    let add = -1;
    for (let i = 0; i < experts.length; i++) if (pool[i] < fresh && (add < 0 || after(i, 0) > after(add, 0))) add = i;
    if (add < 0) break;
    pool[add]++;
  }
  const counts: ReplicaCount[] = [];
  // pack weighs a replica as tokens ÷ the replicas it is given; the kept replicas share the tokens too
  const share = new Map<string, number>();
  experts.forEach((k, i) => {
    if (pool[i] === 0) return;
    counts.push({ layer: k.layer, expert: k.expert, replicas: pool[i] });
    share.set(formatExpertKey(k), after(i, 0) * pool[i]);
  });
  const packed = fresh === 0 ? [] : pack(counts, share, fresh, perActor);
  if (packed.some((keys) => keys.length === 0)) return null;
  return [...kept.map((a) => [...a.experts]), ...packed];
}

/** A placement that starts few actors, with its balancedness and what it starts and retires. */
export interface SmallChange {
  placed: { actors: PlacedActor[]; nextIndex: number };
  balancedness: number;
  started: number;
  retired: number;
}

/** How many running actors a partial re-pack replaces, tried in turn: the `drop` a scale-in removes, plus 0 (scale changes only), 1, 2, 3, 4, 6, 9, 14, 21, ... below all. */
function replaceCounts(drop: number, running: number, sameSize: boolean): number[] {
  const out: number[] = [];
  for (let extra = sameSize ? 1 : 0; drop + extra < running; extra = extra < 4 ? extra + 1 : Math.round(extra * 1.5)) out.push(drop + extra);
  return out;
}

/**
 * Of the placements of `size` actors that keep some running actors — sticky.ts's (keep every one, or drop the
 * least loaded whose experts keep their minimum elsewhere), and repackSome's for each count of replaced actors — the one that starts the fewest new actors
 * among those with balancedness at least `floor(started)` (the higher balancedness on a tie), leaving out one
 * that changes nothing. Null when none reaches it.
 */
export function fewestStarts(current: readonly PlacedActor[], experts: readonly ExpertKey[], tokens: Map<string, number>, size: number, c: { minReplicas: number; perActor: number }, nextIndex: number, floor: (started: number) => number): SmallChange | null {
  const running = current.length;
  const drop = Math.max(0, running - size);
  const sets: ExpertKey[][][] = [];
  if (size > running) sets.push(scaleOutKeeping(current, experts, tokens, size - running, c.perActor) ?? []);
  if (size < running) sets.push(scaleInKeeping(current, tokens, drop, c.minReplicas) ?? []);
  const order = replaceOrder(current, tokens, drop);
  for (const replace of replaceCounts(drop, running, size === running)) sets.push(repackSome(order, experts, tokens, size, replace, c.minReplicas, c.perActor) ?? []);
  let best: SmallChange | null = null;
  for (const keys of sets) {
    if (keys.length === 0) continue;
    const placed = assignIndices(keys, current, nextIndex);
    const b = balancedness(placed.actors, tokens);
    const { start, retire } = changes(current, placed.actors);
    if (b < floor(start.length) || (start.length === 0 && retire.length === 0)) continue; // not a change
    if (!best || start.length < best.started || (start.length === best.started && b > best.balancedness)) best = { placed, balancedness: b, started: start.length, retired: retire.length };
  }
  return best;
}
