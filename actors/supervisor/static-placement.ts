// Which experts each expert actor hosts: replicas of an expert always land on different actors.
import { formatExpertKey, type ExpertKey } from '../../model/expert-key.js';
import { PlacementError } from '../protocol/errors.js';

export interface ActorSpec {
  /** Unique within the node; the instance name is derived from it. */
  index: number;
  /** Supervision group: the replica set it belongs to (one_for_all / rest_for_one act within it). */
  group: number;
  experts: ExpertKey[];
}

/**
 * Spreads `experts` (in layer order) over actors of at most `perActor` experts, `replicas` times. Experts are
 * dealt round-robin, so every actor holds a share of every layer and a layer's dispatches keep every actor
 * (and core) busy, rather than one actor per layer. Each replica set deals with a skew of one more actor per
 * round, so no two replica sets group the same experts and one actor's death never takes out the same group
 * in every replica set: a dead actor's load spreads over many actors.
 *
 * `copysets`: every replica set deals alike instead, so actor j of each set holds the same experts (a copyset,
 * Cidon et al., USENIX ATC 2013). An expert is then lost only when every actor of one copyset is, not when any
 * `replicas` actors happen to share an expert: with hosts failing at random, scattered sets lose some expert
 * almost surely once a few hosts are down (each pair of large actors shares some expert), copysets rarely.
 * The price: a dead actor's load falls on its copyset's other actors alone.
 */
export function place(experts: ExpertKey[], replicas: number, perActor: number, copysets = false): ActorSpec[] {
  if (!Number.isInteger(replicas) || replicas < 1) throw new PlacementError(`replicas must be a positive integer, got ${replicas}`);
  if (!Number.isInteger(perActor) || perActor < 1) throw new PlacementError(`experts per actor must be a positive integer, got ${perActor}`);
  const perSet = Math.ceil(experts.length / perActor);
  const actors: ActorSpec[] = [];
  for (let r = 0; r < replicas; r++) {
    const set: ExpertKey[][] = Array.from({ length: perSet }, () => []);
    const skew = copysets ? 0 : r;
    experts.forEach((key, i) => set[(i + Math.floor(i / perSet) * skew) % perSet].push(key));
    for (const keys of set) actors.push({ index: actors.length, group: r, experts: keys });
  }
  return actors;
}

/**
 * Experts per actor when none is asked for: as many actors per replica set as the host has cores per replica
 * set (at least one), so a node runs about one single-threaded expert actor per core. More actors than cores
 * only take turns on the cores, and every extra process is another wake-up on a dispatch's path.
 */
export function coreSizedPerActor(experts: number, replicas: number, cores: number): number {
  const actorsPerSet = Math.max(1, Math.floor(cores / replicas));
  return Math.max(1, Math.ceil(experts / actorsPerSet));
}

/**
 * Parses an experts spec: comma-separated `LAYER:EXPERT` entries where either side
 * may be a range `A-B` or `*`, e.g. `0:0-3,1:*` or `*:*`.
 */
export function parseExpertSpec(spec: string, layers: number, experts: number): ExpertKey[] {
  const range = (part: string, count: number, what: string): number[] => {
    if (part === '*') return Array.from({ length: count }, (_, i) => i);
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || lo > hi || hi >= count) throw new PlacementError(`bad ${what} "${part}" in experts spec "${spec}": use N, A-B or * within 0..${count - 1}`);
    return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  };
  const keys = new Map<string, ExpertKey>();
  for (const entry of spec.split(',').map((s) => s.trim())) {
    const [l, e, extra] = entry.split(':');
    if (e === undefined || extra !== undefined) throw new PlacementError(`bad entry "${entry}" in experts spec "${spec}": use LAYER:EXPERT, e.g. 0:0-3 or *:*`);
    for (const layer of range(l, layers, 'layer')) for (const expert of range(e, experts, 'expert')) keys.set(formatExpertKey({ layer, expert }), { layer, expert });
  }
  return [...keys.values()].sort((a, b) => a.layer - b.layer || a.expert - b.expert);
}
