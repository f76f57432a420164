// The controller's policy, a pure function: from the windowed load and the running placement to a decision.
import { formatExpertKey, type ExpertKey } from '../../model/expert-key.js';
import { binCount, binQuantile } from '../../observability/load-window.js';
import { PlacementError } from '../protocol/errors.js';
import { loadProblem, meanBusy, tokensByExpert, type LoadWindow } from './load-window.js';
import { balancedness, pack } from './packing.js';
import { assignIndices, changes, violations, type DesiredPlacement, type PlacementChanges } from './desired-placement.js';
import { replicate } from './replicas.js';
import { repairKeeping } from './sticky.js';
import { fewestStarts } from './migration.js';
import { advise, NO_TIMERS, projectBusy, recordRate, type RateSample, type ScalingConfig, type ScalingTimers } from './scaling.js';

export interface PolicyConfig extends ScalingConfig {
  /** Replicas every expert keeps whatever its load (fault tolerance). */
  minReplicas: number;
  /** Most experts one actor hosts. */
  perActor: number;
  /** A rebalance is proposed only when it raises balancedness by at least this much (0..1). */
  minGain: number;
  /**
   * ...and only when the busiest actor is at least this busy (0..1): an uneven spread costs latency only when an
   * actor is loaded, while each rebalance replaces actors and restarts the scaling delays. 0: whenever the gain is there.
   */
  rebalanceMinBusy: number;
  /** No placement change sooner than this after the last one. */
  minIntervalMs: number;
  /** A proposed change not confirmed within this is given up (another may then be proposed). */
  pendingTimeoutMs: number;
  /**
   * Half-life of the expert load the placement follows (ms): each window is blended into a moving mean of tokens
   * per second, weighted down by half every this long. One window's counts are noisy, and a placement packed to
   * the noise looks unbalanced under the next window, so it was re-packed at every interval for nothing (the
   * simulator's day showed it). 0: the latest window alone.
   */
  loadHalfLifeMs: number;
}

export const DEFAULT_POLICY: PolicyConfig = {
  minReplicas: 2,
  perActor: 8,
  minActors: 1,
  maxActors: 16,
  targetBusy: 0.6,
  busyBand: 0.1,
  upDelayMs: 15_000,
  downDelayMs: 60_000,
  minGain: 0.05,
  rebalanceMinBusy: 0.5,
  minIntervalMs: 30_000,
  pendingTimeoutMs: 120_000,
  loadHalfLifeMs: 60_000,
  itlSloMs: 0,
  leadMs: 0,
};

/** Fewest token gaps in the gates' windows for their p99 to count (`itlSloMs`). */
export const MIN_ITL_GAPS = 100;

/** Everything the policy remembers between calls: plain JSON, so the controller can keep it next to the placement in the KV and a standby resumes from it. */
export interface PolicyState {
  /** The highest revision proposed so far. */
  revision: number;
  /** The next index never used for an actor. */
  nextIndex: number;
  /** When the last change was proposed (ms), null before the first. */
  lastChangeAt: number | null;
  /** The change in flight: proposed at `since`, confirmed once the running placement reaches `revision`. */
  pending: { revision: number; since: number } | null;
  timers: ScalingTimers;
  /** Each expert's tokens per second, the moving mean of `loadHalfLifeMs` (absent before the first usable window)... */
  expertRates?: Record<string, number>;
  /** ...as of this time (ms, the caller's clock). */
  ratesAt?: number;
  /** The gates' total token rate over the last load window (with `leadMs`), oldest first. */
  tokenRates?: RateSample[];
}

export interface PolicyInput {
  /** The caller's clock, ms. The policy has no clock of its own. */
  now: number;
  /** Every routed expert of the model (MoE layers only), whether it saw tokens or not. */
  experts: ExpertKey[];
  load: LoadWindow;
  /** The placement the supervisors run now, with the revision they reached (0 for the static start placement). */
  current: DesiredPlacement;
}

/** Why nothing changes: a change is in flight; the gain is below `minGain`; the gain is there but the last change was too recent; the load window is unusable. */
export type KeepReason = 'pending' | 'balanced' | 'too-soon' | 'bad-load';
/** Why a change is proposed: more actors; fewer actors; a better spread of replicas; the running placement breaks the rules (too few replicas, too many experts on an actor, actors outside [min, max]). */
export type ChangeReason = 'scale-up' | 'scale-down' | 'rebalance' | 'repair';

/** What the policy saw, for logs and gauges. */
export interface Observed {
  meanBusy: number | null;
  /** The gates' common p99 inter-token latency over their windows (ms), null when none measured one. */
  itlP99Ms: number | null;
  actors: number;
  /** vLLM's balancedness of the running placement under the load's moving mean. */
  balancedness: number;
  /** The same for the placement the policy would propose (null when it did not compute one). */
  proposedBalancedness: number | null;
}

export type Decision =
  | { action: 'keep'; reason: KeepReason; detail: string; state: PolicyState; observed: Observed }
  | { action: 'propose'; reason: ChangeReason; detail: string; placement: DesiredPlacement; changes: PlacementChanges; state: PolicyState; observed: Observed };

/** The state before the first decision, for a controller that finds `current` running. */
export function initialState(current: DesiredPlacement): PolicyState {
  return { revision: current.revision, nextIndex: Math.max(0, ...current.actors.map((a) => a.index + 1)), lastChangeAt: null, pending: null, timers: NO_TIMERS };
}

/** Checks a partial policy (e.g. a parsed JSON file) and fills in the defaults. */
export function policyConfig(raw: unknown, source: string): PolicyConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new PlacementError(`${source}: placement policy must be a JSON object`);
  const out: Record<string, number> = { ...DEFAULT_POLICY };
  for (const [key, value] of Object.entries(raw)) {
    if (!(key in DEFAULT_POLICY)) throw new PlacementError(`${source}: unknown placement policy key "${key}" (known: ${Object.keys(DEFAULT_POLICY).join(', ')})`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new PlacementError(`${source}: ${key} must be a non-negative number, got ${JSON.stringify(value)}`);
    out[key] = value;
  }
  const c = out as unknown as PolicyConfig;
  for (const key of ['minReplicas', 'perActor', 'minActors', 'maxActors'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1) throw new PlacementError(`${source}: ${key} must be a positive integer, got ${c[key]}`);
  }
  if (c.targetBusy <= 0 || c.targetBusy > 1 || c.minGain > 1 || c.rebalanceMinBusy > 1) throw new PlacementError(`${source}: targetBusy must be in (0, 1], minGain and rebalanceMinBusy in [0, 1]`);
  if (c.minActors > c.maxActors) throw new PlacementError(`${source}: minActors ${c.minActors} is above maxActors ${c.maxActors}`);
  return c;
}

/** The fewest and most actors the policy allows: the minimum replicas need `minReplicas` distinct actors and `experts × minReplicas` slots. */
export function actorBounds(experts: number, c: PolicyConfig): { lo: number; hi: number } {
  const lo = Math.max(c.minActors, c.minReplicas, Math.ceil((experts * c.minReplicas) / c.perActor));
  return { lo, hi: Math.max(lo, c.maxActors) };
}

/**
 * One decision. The window's tokens join the moving mean the placement follows (`loadHalfLifeMs`). Then, in order:
 * a change in flight blocks everything until `current.revision` reaches it (or it times out); the actor count
 * follows the mean busy fraction with hysteresis (scaling.ts); replicas per expert follow the mean tokens
 * (replicas.ts) and are packed onto the actors (packing.ts). A change of actor count, or a running placement that
 * breaks the rules, is proposed as soon as `minIntervalMs` allows; a same-size rebalance only when it raises
 * balancedness by `minGain × (1 + started ÷ running)`. Except for a repair, what is proposed is the placement that
 * starts the fewest actors among those within `minGain` of packing all anew (migration.ts). Same input, same
 * decision: no clock, no randomness.
 */
export function decide(input: PolicyInput, state: PolicyState, c: PolicyConfig = DEFAULT_POLICY): Decision {
  const { now, current } = input;
  const experts = uniqueSorted(input.experts);
  const problem = loadProblem(input.load);
  const usable = !problem && input.load.windowMs > 0;
  let s = usable ? { ...state, ...blendRates(state, experts, tokensByExpert(input.load), input.load.windowMs, now, c.loadHalfLifeMs) } : state;
  if (usable && c.leadMs > 0) {
    const perS = (input.load.experts.reduce((sum, e) => sum + e.tokens, 0) * 1000) / input.load.windowMs;
    s = { ...s, tokenRates: recordRate(s.tokenRates ?? [], now, perS, input.load.windowMs) };
  }
  const tokens = new Map(Object.entries(s.expertRates ?? {}));
  const busy = meanBusy(input.load);
  const busiest = input.load.actors.length === 0 ? null : Math.max(...input.load.actors.map((a) => Math.min(1, a.busy)));
  // a p99 of fewer gaps is their slowest one or two: one step carrying prompts in a quiet window would scale the cluster
  const itl = input.load.itl && binCount(input.load.itl) >= MIN_ITL_GAPS ? binQuantile(input.load.itl, 0.99) : null;
  const observed: Observed = { meanBusy: busy, itlP99Ms: itl, actors: current.actors.length, balancedness: balancedness(current.actors, tokens), proposedBalancedness: null };
  let note = ''; // a change given up, said in front of whatever comes next
  const keep = (reason: KeepReason, detail: string, next: PolicyState): Decision => ({ action: 'keep', reason, detail: note + detail, state: next, observed });

  if (s.pending) {
    const since = s.pending.since;
    if (current.revision >= s.pending.revision) s = { ...s, pending: null };
    else if (now - since < c.pendingTimeoutMs) return keep('pending', `revision ${s.pending.revision} proposed ${now - since} ms ago is not running yet (running: ${current.revision})`, s);
    else [s, note] = [{ ...s, pending: null }, `revision ${s.pending.revision} given up after ${now - since} ms; `];
  }
  if (problem) return keep('bad-load', problem, s);

  const { lo, hi } = actorBounds(experts.length, c);
  const running = current.actors.length;
  const base = Math.min(hi, Math.max(lo, running));
  const lead = busy === null || c.leadMs <= 0 ? undefined : projectBusy(busy, s.tokenRates ?? [], now, c.leadMs, input.load.windowMs);
  const advice = advise(base, busy, itl, now, s.timers, c, lo, hi, lead);
  s = { ...s, timers: advice.timers };
  const size = advice.actors;

  const broken = violations(current.actors, experts, c.minReplicas, c.perActor);
  if (running !== base) broken.push(`${running} actors, outside ${lo}..${hi}`);
  let indexed = assignIndices(pack(replicate(experts, tokens, c.minReplicas, size, size * c.perActor), tokens, size, c.perActor), current.actors, s.nextIndex);
  let proposed = balancedness(indexed.actors, tokens);
  let kept = '';
  // a placement short of replicas (actors lost with a node) is repaired by starting only what was lost, when that
  // is all that is wrong and fits: availability first, a rebalance may follow
  const patched = broken.length > 0 && size === base ? repairKeeping(current.actors, experts, c.minReplicas, c.perActor) : null;
  const repaired = patched !== null && patched.length >= lo && patched.length <= hi && violations(patched.map((keys, i) => ({ index: i, group: i, experts: keys })), experts, c.minReplicas, c.perActor).length === 0;
  if (repaired) {
    [indexed, kept] = [assignIndices(patched, current.actors, s.nextIndex), ', starting only the lost replicas'];
    proposed = balancedness(indexed.actors, tokens);
  }
  observed.proposedBalancedness = proposed;

  const gain = proposed - observed.balancedness;
  const balance = (to: number) => `balancedness ${observed.balancedness.toFixed(3)} -> ${to.toFixed(3)}`;
  let reason: ChangeReason;
  if (size > base) reason = 'scale-up';
  else if (size < base) reason = 'scale-down';
  else if (broken.length > 0) reason = 'repair';
  else if (gain < c.minGain) return keep('balanced', `${balance(proposed)}, gain ${gain.toFixed(3)} below ${c.minGain}; ${advice.why}`, s);
  else if (busiest !== null && busiest < c.rebalanceMinBusy) return keep('balanced', `${balance(proposed)}, but the busiest actor is ${busiest.toFixed(2)} busy, below ${c.rebalanceMinBusy}: the spread costs nothing yet; ${advice.why}`, s);
  // packing anew gave the actors that run (minGain 0 lets an equal packing through): nothing to change
  else if (changes(current.actors, indexed.actors).start.length === 0) return keep('balanced', `${balance(proposed)}, the packing gives the running actors; ${advice.why}`, s);
  else reason = 'rebalance';
  const describe = () =>
    reason === 'repair' ? `${broken.join('; ')}${kept}: ${balance(proposed)}` : reason === 'rebalance' ? `${balance(proposed)}, gain ${(proposed - observed.balancedness).toFixed(3)}${kept}` : `${advice.why}: ${running} -> ${size} actors${kept}, ${balance(proposed)}`;

  // (before the search below, which would be thrown away: the detail names the fresh packing)
  if (s.lastChangeAt !== null && now - s.lastChangeAt < c.minIntervalMs) return keep('too-soon', `${reason} wanted (${describe()}) but the last change was ${now - s.lastChangeAt} of ${c.minIntervalMs} ms ago`, s);
  // every running actor whose expert set changes is a process to start and one to drain: of the placements within
  // minGain of packing all anew, the one starting fewest; a rebalance must also pay for what it starts, rising by
  // minGain × (1 + started ÷ running) (twice minGain to replace every actor), or nothing changes
  if (broken.length === 0) {
    const floor = (started: number) => Math.max(proposed - c.minGain, reason === 'rebalance' ? observed.balancedness + c.minGain * (1 + started / running) : -Infinity);
    const fullStarts = changes(current.actors, indexed.actors).start.length;
    const best = fewestStarts(current.actors, experts, tokens, size, c, s.nextIndex, floor);
    if (best && best.started < fullStarts) {
      [indexed, proposed, kept] = [best.placed, best.balancedness, best.retired === 0 ? ', keeping every running actor' : `, starting ${best.started} and retiring ${best.retired} of ${running} running actors`];
      observed.proposedBalancedness = proposed;
    } else if (reason === 'rebalance' && proposed < floor(fullStarts)) {
      return keep('balanced', `${balance(proposed)}, gain ${gain.toFixed(3)} does not pay for starting ${fullStarts} of ${running} actors (wants ${(floor(fullStarts) - observed.balancedness).toFixed(3)}), nor does a partial re-pack; ${advice.why}`, s);
    }
  }
  const revision = Math.max(s.revision, current.revision) + 1;
  const placement: DesiredPlacement = { revision, actors: indexed.actors };
  const next: PolicyState = { ...s, revision, nextIndex: indexed.nextIndex, lastChangeAt: now, pending: { revision, since: now }, timers: NO_TIMERS };
  return { action: 'propose', reason, detail: note + describe(), placement, changes: changes(current.actors, indexed.actors), state: next, observed };
}

/**
 * The moving mean of tokens per second after one more window, of the model's experts only: weight
 * 1 − 2^(−elapsed ÷ halfLife) to the window's rate (tokens ÷ its length), the rest to the mean so far, where
 * elapsed is the time since the mean was last updated. By elapsed time, not window length: the gates' windows
 * slide and overlap (30 s windows every 5 s), and a controller may read one report at several ticks. The window
 * alone when there is no mean yet or halfLife is 0. Keys in the experts' order, so the stored state does not
 * depend on report order.
 */
export function blendRates(
  before: Pick<PolicyState, 'expertRates' | 'ratesAt'>,
  experts: readonly ExpertKey[],
  tokens: Map<string, number>,
  windowMs: number,
  now: number,
  halfLifeMs: number,
): Required<Pick<PolicyState, 'expertRates' | 'ratesAt'>> {
  const perS = 1000 / windowMs;
  const old = before.expertRates;
  const w = old === undefined || before.ratesAt === undefined || halfLifeMs <= 0 ? 1 : 1 - 2 ** (-Math.max(0, now - before.ratesAt) / halfLifeMs);
  const ids = experts.map(formatExpertKey);
  return { expertRates: Object.fromEntries(ids.map((id) => [id, (1 - w) * (old?.[id] ?? 0) + w * (tokens.get(id) ?? 0) * perS])), ratesAt: now };
}

function uniqueSorted(keys: readonly ExpertKey[]): ExpertKey[] {
  const byId = new Map(keys.map((k) => [formatExpertKey(k), { layer: k.layer, expert: k.expert }]));
  return [...byId.values()].sort((a, b) => a.layer - b.layer || a.expert - b.expert);
}
