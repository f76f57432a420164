// The controller's placement policy, pure: replicas (EPLB greedy), packing, balancedness, scaling with hysteresis, rate limits.
import { describe, expect, it } from 'vitest';
import { formatExpertKey, type ExpertKey } from '../../../model/expert-key.js';
import { PlacementError } from '../../../actors/protocol/errors.js';
import { place, type ActorSpec } from '../../../actors/supervisor/static-placement.js';
import type { LoadWindow } from '../../../actors/controller/load-window.js';
import { balancedness, pack } from '../../../actors/controller/packing.js';
import { assignIndices, changes, type DesiredPlacement } from '../../../actors/controller/desired-placement.js';
import { actorBounds, blendRates, decide, DEFAULT_POLICY, initialState, MIN_ITL_GAPS, policyConfig, type Decision, type PolicyConfig } from '../../../actors/controller/policy.js';
import { fewestStarts, repackSome, replaceOrder } from '../../../actors/controller/migration.js';
import { replicate } from '../../../actors/controller/replicas.js';
import { scaleInKeeping, scaleOutKeeping } from '../../../actors/controller/sticky.js';
import { MAX_LEAD_BUSY, MAX_LEAD_GROWTH, projectBusy, recordRate, type RateSample } from '../../../actors/controller/scaling.js';

const keys = (layers: number, perLayer: number): ExpertKey[] => Array.from({ length: layers * perLayer }, (_, i) => ({ layer: Math.floor(i / perLayer), expert: i % perLayer }));
const staticPlacement = (experts: ExpertKey[], replicas: number, perActor: number): DesiredPlacement => ({ revision: 0, actors: place(experts, replicas, perActor) });
const window = (tokens: (k: ExpertKey) => number, experts: ExpertKey[], busy: number[]): LoadWindow => ({
  windowMs: 10_000,
  experts: experts.map((k) => ({ ...k, tokens: tokens(k) })),
  actors: busy.map((b, i) => ({ instance: `n-e${i}`, busy: b })),
});
const tokenMap = (load: LoadWindow) => new Map(load.experts.map((e) => [formatExpertKey(e), e.tokens]));
/** Zipf-like skew: expert e of every layer gets 1000 / (e + 1) tokens. */
const zipf = (k: ExpertKey) => Math.round(1000 / (k.expert + 1));
/** Small deterministic generator (mulberry32), so random cases are the same on every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const replicaCounts = (actors: readonly { experts: ExpertKey[] }[]) => {
  const count = new Map<string, number>();
  for (const a of actors) for (const k of a.experts) count.set(formatExpertKey(k), (count.get(formatExpertKey(k)) ?? 0) + 1);
  return count;
};
function proposed(d: Decision) {
  if (d.action !== 'propose') throw new Error(`expected a proposal, got keep/${d.reason}: ${d.detail}`);
  return d;
}
/** Checks the rules every placement the policy proposes must keep, and returns the placement. */
function checkRules(d: Decision, experts: ExpertKey[], c: PolicyConfig) {
  const p = proposed(d).placement;
  const count = replicaCounts(p.actors);
  for (const k of experts) expect(count.get(formatExpertKey(k)) ?? 0, `replicas of ${formatExpertKey(k)}`).toBeGreaterThanOrEqual(c.minReplicas);
  for (const a of p.actors) {
    expect(a.experts.length, `actor ${a.index}`).toBeLessThanOrEqual(c.perActor);
    expect(new Set(a.experts.map(formatExpertKey)).size, `actor ${a.index} hosts an expert twice`).toBe(a.experts.length);
  }
  expect(new Set(p.actors.map((a) => a.index)).size).toBe(p.actors.length);
  return p;
}

describe('replicate (EPLB greedy)', () => {
  const four = keys(1, 4);
  const tokens = new Map([['0:0', 90], ['0:1', 30], ['0:2', 20], ['0:3', 10]]);

  it('gives the spare replicas one by one to the highest tokens per replica, ties to the lower expert (worked by hand)', () => {
    // min 1, 7 slots: 3 spare. 90/1 -> A=2 (45); 45 -> A=3 (30); A 30 ties B 30 -> lower index A=4 (22.5).
    expect(replicate(four, tokens, 1, 4, 7).map((c) => c.replicas)).toEqual([4, 1, 1, 1]);
    // at most 3 (three actors): the third spare goes to B instead
    expect(replicate(four, tokens, 1, 3, 7).map((c) => c.replicas)).toEqual([3, 2, 1, 1]);
    // min 2, 12 slots, 4 actors: 4 spare. 45 -> A=3 (30); 30 -> A=4 (capped); B 15 -> B=3 (10); B 10 -> B=4.
    expect(replicate(four, tokens, 2, 4, 12).map((c) => c.replicas)).toEqual([4, 4, 2, 2]);
  });

  it('keeps the minimum when the slots are too few, and stops when every expert is on every actor', () => {
    expect(replicate(four, tokens, 2, 4, 5).map((c) => c.replicas)).toEqual([2, 2, 2, 2]);
    expect(replicate(four, tokens, 1, 2, 100).map((c) => c.replicas)).toEqual([2, 2, 2, 2]);
  });
});

describe('balancedness', () => {
  it('is Σ per-layer mean ÷ Σ per-layer max of the tokens per actor, replicas sharing their expert’s tokens', () => {
    const t = new Map([['0:0', 100], ['0:1', 0], ['1:0', 30], ['1:1', 30]]);
    // layer 0: actor loads 100, 0 (mean 50, max 100); layer 1: 30, 30 (mean 30, max 30) -> 80 / 130
    expect(balancedness([{ experts: [{ layer: 0, expert: 0 }, { layer: 1, expert: 0 }] }, { experts: [{ layer: 0, expert: 1 }, { layer: 1, expert: 1 }] }], t)).toBeCloseTo(80 / 130, 12);
    // 0:0 on both actors: 50 each -> layer 0 mean 50, max 50
    expect(balancedness([{ experts: [{ layer: 0, expert: 0 }, { layer: 1, expert: 0 }] }, { experts: [{ layer: 0, expert: 0 }, { layer: 1, expert: 1 }] }], t)).toBe(1);
    expect(balancedness([{ experts: [{ layer: 0, expert: 0 }] }], new Map())).toBe(1);
  });
});

describe('pack', () => {
  it('never puts two replicas of an expert on one actor nor more than perActor on one, over many random loads', () => {
    const random = rng(7);
    for (let trial = 0; trial < 300; trial++) {
      const experts = keys(1 + Math.floor(random() * 4), 2 + Math.floor(random() * 10));
      const perActor = 1 + Math.floor(random() * 8);
      const min = 1 + Math.floor(random() * 3);
      const actors = Math.max(min, Math.ceil((experts.length * min) / perActor)) + Math.floor(random() * 4);
      const tokens = new Map(experts.map((k) => [formatExpertKey(k), Math.floor(random() ** 3 * 1000)]));
      const counts = replicate(experts, tokens, min, actors, actors * perActor);
      const packed = pack(counts, tokens, actors, perActor);
      const label = `trial ${trial}: ${experts.length} experts, ${actors} actors of ${perActor}, min ${min}`;
      expect(packed, label).toHaveLength(actors);
      for (const a of packed) {
        expect(a.length, label).toBeLessThanOrEqual(perActor);
        expect(new Set(a.map(formatExpertKey)).size, label).toBe(a.length);
      }
      const count = replicaCounts(packed.map((experts) => ({ experts })));
      for (const c of counts) expect(count.get(formatExpertKey(c)), label).toBe(c.replicas);
    }
  });

  it('moves a lighter replica aside when the greedy corners itself (worked by hand)', () => {
    const experts = keys(2, 3);
    const tokens = new Map([['0:0', 7], ['0:1', 7], ['0:2', 5], ['1:0', 4], ['1:1', 6], ['1:2', 7]]);
    const counts = replicate(experts, tokens, 1, 2, 8);
    expect(counts.map((c) => c.replicas)).toEqual([2, 2, 1, 1, 1, 1]);
    // heaviest first: 1:2 -> a0; 1:1 -> a1 (its layer lighter); 0:2 -> a1 (layer 0 even, a1 lighter overall: 6 < 7);
    // 1:0 -> a1 (layer 1: 6 < 7); 0:0 -> a0, 0:0 -> a1 (full now); 0:1 -> a0; 0:1 fits nowhere: the lightest
    // replica on a1 that a0 lacks (1:0, 4 tokens) moves to a0, and 0:1 takes its place.
    const packed = pack(counts, tokens, 2, 4).map((a) => a.map(formatExpertKey));
    expect(packed).toEqual([['0:0', '0:1', '1:0', '1:2'], ['0:0', '0:1', '0:2', '1:1']]);
  });

  it('refuses replicas that cannot fit', () => {
    const experts = keys(1, 3);
    const tokens = new Map<string, number>();
    expect(() => pack(replicate(experts, tokens, 3, 3, 9), tokens, 2, 8)).toThrow(PlacementError);
    expect(() => pack(replicate(experts, tokens, 2, 2, 6), tokens, 2, 2)).toThrow(PlacementError);
  });

  it('spreads each layer’s replicas evenly over the actors when the load is even', () => {
    const experts = keys(4, 8);
    const tokens = new Map(experts.map((k) => [formatExpertKey(k), 100]));
    const packed = pack(replicate(experts, tokens, 2, 4, 64), tokens, 4, 16);
    for (let layer = 0; layer < 4; layer++) {
      expect(packed.map((a) => a.filter((k) => k.layer === layer).length), `layer ${layer}`).toEqual([4, 4, 4, 4]);
    }
  });
});

describe('decide', () => {
  const c: PolicyConfig = { ...DEFAULT_POLICY, perActor: 8, minReplicas: 2, minActors: 2, maxActors: 8 };
  const experts = keys(2, 8);
  const start = staticPlacement(experts, 2, 8); // 4 actors of 8, every expert twice
  const even = (busy: number, n = 4) => window(() => 100, experts, Array<number>(n).fill(busy));
  const confirm = (d: Decision): DesiredPlacement => proposed(d).placement;

  it('holds the minimum replicas, one per actor and perActor per actor, whatever the load and actor count', () => {
    const random = rng(11);
    for (let trial = 0; trial < 100; trial++) {
      const busy = random();
      const load = window(() => Math.floor(random() ** 4 * 5000), experts, [busy, busy, busy, busy]);
      // a placement with one replica per expert breaks the minimum: the policy must repair it
      const broken = staticPlacement(experts, 1, 8);
      const cc = { ...c, minActors: 4 + Math.floor(random() * 5) }; // 4..8 actors: from no spare slot to 32
      const d = decide({ now: 0, experts, load, current: broken }, initialState(broken), cc);
      expect(proposed(d).reason).toBe('repair');
      expect(checkRules(d, experts, cc).actors).toHaveLength(cc.minActors);
    }
  });

  it('gives the extra replicas of spare slots to the hot expert (the worked example, through decide)', () => {
    const four = keys(1, 4);
    const cc = { ...c, perActor: 3, minActors: 4 };
    const current: DesiredPlacement = { revision: 0, actors: [0, 1, 2, 3].map((index) => ({ index, group: index, experts: four.filter((_, e) => e !== index && e !== (index + 1) % 4) })) };
    const tokens = [120, 20, 10, 10];
    const d = decide({ now: 0, experts: four, load: window((k) => tokens[k.expert], four, [0.6, 0.6, 0.6, 0.6]), current }, initialState(current), cc);
    const count = replicaCounts(checkRules(d, four, cc).actors);
    expect(four.map((k) => count.get(formatExpertKey(k)))).toEqual([4, 4, 2, 2]);
    expect(proposed(d).reason).toBe('rebalance');
  });

  it('raises balancedness on a skewed load and says so', () => {
    const load = window(zipf, experts, [0.6, 0.6, 0.6, 0.6]);
    const d = decide({ now: 0, experts, load, current: start }, initialState(start), c);
    const p = checkRules(d, experts, c);
    const before = balancedness(start.actors, tokenMap(load));
    const after = balancedness(p.actors, tokenMap(load));
    expect(before).toBeLessThan(0.85); // the static rotation ignores the load
    expect(after).toBeGreaterThan(0.95);
    // the policy weighs tokens per second (the window's counts ÷ its length): the same ratios, rounded apart
    expect(d.observed.balancedness).toBeCloseTo(before, 12);
    expect(d.observed.proposedBalancedness).toBeCloseTo(after, 12);
    expect(proposed(d).reason).toBe('rebalance');
    expect(d.detail).toContain(`${before.toFixed(3)} -> ${after.toFixed(3)}`);
    // same actor count; 4 actors of 8 leave no spare slot, so every expert keeps exactly its 2 replicas
    expect(p.actors).toHaveLength(4);
    expect([...replicaCounts(p.actors).values()]).toEqual(Array<number>(16).fill(2));
  });

  it('does not scale up on a brief spike, does after the spike lasts upDelay', () => {
    let s = initialState(start);
    const at = (now: number, busy: number) => {
      const d = decide({ now, experts, load: even(busy), current: start }, s, c);
      s = d.state;
      return d;
    };
    expect(at(0, 0.9)).toMatchObject({ action: 'keep', reason: 'balanced' });
    expect(at(5_000, 0.5)).toMatchObject({ action: 'keep', reason: 'balanced' }); // the spike ended: the timer restarts
    expect(at(10_000, 0.9).action).toBe('keep');
    expect(at(10_000 + c.upDelayMs - 1, 0.9).action).toBe('keep');
    const d = at(10_000 + c.upDelayMs, 0.9);
    expect(proposed(d).reason).toBe('scale-up');
    // HPA: ceil(4 × 0.9 / 0.6) = 6
    expect(checkRules(d, experts, c).actors).toHaveLength(6);
    expect(proposed(d).changes.start.length).toBeGreaterThan(0);
  });

  it('scales up to the HPA count but never past maxActors, then stays there', () => {
    const cc = { ...c, maxActors: 5, upDelayMs: 0 };
    const d = decide({ now: 0, experts, load: even(1), current: start }, initialState(start), cc);
    expect(proposed(d).reason).toBe('scale-up');
    expect(checkRules(d, experts, cc).actors).toHaveLength(5); // ceil(4 × 1 / 0.6) = 7, capped at 5
    const top = confirm(d);
    let t = d.state;
    for (const now of [100_000, 200_000, 300_000]) {
      const k = decide({ now, experts, load: even(1, 5), current: top }, t, cc);
      expect(k, k.detail).toMatchObject({ action: 'keep', reason: 'balanced' });
      expect(k.detail).toContain('already at the most (5) actors');
      t = k.state;
    }
  });

  it('with an inter-token latency objective, scales up on the gates\' p99 while busy is in its band, and never down above it', () => {
    const cc = { ...c, itlSloMs: 200, upDelayMs: 0, downDelayMs: 0, perActor: 16 };
    // the gates' token gaps: 95 in bin 100 (100-105 ms), 5 in bin 124 (302-316 ms): p99 316 ms, the bin's upper edge
    const slow: LoadWindow = { ...even(0.6), itl: [[100, 95], [124, 5]] };
    const up = decide({ now: 0, experts, load: slow, current: start }, initialState(start), cc);
    expect(proposed(up).reason).toBe('scale-up');
    expect(up.detail).toMatch(/p99 inter-token latency 3\d\d ms above 200/);
    // HPA on latency: ceil(4 × 316 / 200) = 7, more than busy's ceil(4 × 0.6 / 0.6) = 4
    expect(checkRules(up, experts, cc).actors).toHaveLength(7);
    // idle actors but late steps: no scale-down
    const idleButLate = decide({ now: 0, experts, load: { ...even(0.05), itl: [[124, 100]] }, current: start }, initialState(start), { ...cc, maxActors: 4 });
    expect(idleButLate, idleButLate.detail).toMatchObject({ action: 'keep' });
    expect(idleButLate.detail).toContain('already at the most (4) actors');
    // in time: busy alone decides, as without an objective
    const fast = decide({ now: 0, experts, load: { ...even(0.05), itl: [[100, 100]] }, current: start }, initialState(start), cc);
    expect(proposed(fast).reason).toBe('scale-down');
    // no objective: the latency is not looked at
    const off = decide({ now: 0, experts, load: slow, current: start }, initialState(start), { ...cc, itlSloMs: 0 });
    expect(off, off.detail).toMatchObject({ action: 'keep' });
    // fewer gaps than MIN_ITL_GAPS: their p99 is their slowest, which does not count
    const few = decide({ now: 0, experts, load: { ...even(0.6), itl: [[100, MIN_ITL_GAPS - 3], [124, 2]] }, current: start }, initialState(start), cc);
    expect(few, few.detail).toMatchObject({ action: 'keep', observed: { itlP99Ms: null } });
    expect(decide({ now: 0, experts, load: { ...even(0.6), itl: [[100, MIN_ITL_GAPS - 2], [124, 2]] }, current: start }, initialState(start), cc).action).toBe('propose');
    // a bin with a bad count makes the window unusable
    expect(decide({ now: 0, experts, load: { ...slow, itl: [[100, -1]] }, current: start }, initialState(start), cc)).toMatchObject({ action: 'keep', reason: 'bad-load' });
  });

  it('with a lead, scales up while the token rate grows before busy leaves its band, and not down while it grows', () => {
    const cc = { ...c, leadMs: 30_000, upDelayMs: 0, downDelayMs: 0, perActor: 16 };
    // one load window (10 s) of `tokens` per expert (16 experts: 1.6 × tokens a second) at 10 s, after 160 tokens a second at 0
    const after = (tokens: number, busy: number, policy: PolicyConfig = cc) =>
      decide({ now: 10_000, experts, load: window(() => tokens, experts, [busy, busy, busy, busy]), current: start }, { ...initialState(start), tokenRates: [[0, 160]] }, policy);
    // the rate doubled in 10 s while busy is in its band (0.6 ± 0.1): ×8 over 30 s, capped at ×3 → busy 1.5 (capped);
    // HPA ceil(4 × 1.5 / 0.6) = 10, at most 8
    const up = after(200, 0.6);
    expect(proposed(up).reason).toBe('scale-up');
    expect(up.detail).toMatch(/mean busy 0\.60, 1\.50 in 30 s at the token rate's growth \(×3\.00\)/);
    expect(checkRules(up, experts, cc).actors).toHaveLength(8);
    // ×1.1 in 10 s: 0.6 × 1.1³ = 0.80, above the band: ceil(4 × 0.8 / 0.6) = 6
    expect(checkRules(after(110, 0.6), experts, cc).actors).toHaveLength(6);
    // the same window without a lead: in the band, nothing to do, no rates kept
    const plain = after(200, 0.6, { ...cc, leadMs: 0 });
    expect(plain, plain.detail).toMatchObject({ action: 'keep' });
    expect(decide({ now: 0, experts, load: even(0.6), current: start }, initialState(start), { ...cc, leadMs: 0 }).state.tokenRates).toBeUndefined();
    // idle actors on a growing load: no scale-down (0.3 × 3 = 0.9 is above the band)
    expect(proposed(after(200, 0.3)).reason).toBe('scale-up');
    // a flat or falling rate: busy alone decides (0.3 is below the band)
    expect(proposed(after(100, 0.3)).reason).toBe('scale-down');
    expect(after(100, 0.3).state.tokenRates).toEqual([[0, 160], [10_000, 160]]);
  });

  it('restarts the scale-down delay when the load went above the band in between', () => {
    const cc = { ...c, perActor: 16 };
    let s = initialState(start);
    const at = (now: number, busy: number) => {
      const d = decide({ now, experts, load: even(busy), current: start }, s, cc);
      s = d.state;
      return d;
    };
    at(0, 0.1);
    at(10_000, 0.9); // above: the below timer is dropped
    at(20_000, 0.1); // below again from here
    expect(at(cc.downDelayMs, 0.1).action).toBe('keep');
    expect(at(20_000 + cc.downDelayMs - 1, 0.1).action).toBe('keep');
    expect(proposed(at(20_000 + cc.downDelayMs, 0.1)).reason).toBe('scale-down');
  });

  it('scales down by at least one actor when the HPA count rounds back up to the same', () => {
    const cc = { ...c, perActor: 16, downDelayMs: 0 }; // 2 actors of 16 would hold every expert twice
    const d = decide({ now: 0, experts, load: even(0.49), current: start }, initialState(start), cc);
    // ceil(4 × 0.49 / 0.6) = 4, still one fewer
    expect(proposed(d).reason).toBe('scale-down');
    expect(checkRules(d, experts, cc).actors).toHaveLength(3);
    expect(proposed(d).changes.retire.length).toBeGreaterThan(0);
  });

  it('scales down only after downDelay, and never below the fewest actors the minimum replicas need', () => {
    const six = staticPlacement(experts, 3, 8); // 6 actors
    let current = six;
    let s = initialState(six);
    const at = (now: number, busy: number) => {
      const d = decide({ now, experts, load: even(busy, current.actors.length), current }, s, c);
      s = d.state;
      return d;
    };
    expect(at(0, 0.1).action).toBe('keep');
    expect(at(c.downDelayMs - 1, 0.1).action).toBe('keep');
    const d = at(c.downDelayMs, 0.1);
    expect(proposed(d).reason).toBe('scale-down');
    // ceil(6 × 0.1 / 0.6) = 1, but 16 experts × 2 replicas need 4 actors of 8
    expect(actorBounds(experts.length, c).lo).toBe(4);
    current = checkRules(d, experts, c);
    expect(current.actors).toHaveLength(4);
    for (let now = c.downDelayMs + 1; now < 20 * c.downDelayMs; now += 10_000) {
      const k = at(now, 0.05);
      expect(k.action, `${now}: ${k.detail}`).toBe('keep');
    }
  });

  it('blocks every change while one is in flight, until the running placement reaches its revision', () => {
    const skewed = window(zipf, experts, [0.95, 0.95, 0.95, 0.95]);
    const first = decide({ now: 0, experts, load: skewed, current: start }, initialState(start), { ...c, upDelayMs: 0 });
    const p = proposed(first);
    expect(p.reason).toBe('scale-up');
    expect(p.placement.revision).toBe(1);
    expect(p.state.pending).toEqual({ revision: 1, since: 0 });
    // still running revision 0, long after minIntervalMs, load still pressing: no second change
    const later = c.minIntervalMs * 2;
    const blocked = decide({ now: later, experts, load: skewed, current: start }, p.state, { ...c, upDelayMs: 0 });
    expect(blocked).toMatchObject({ action: 'keep', reason: 'pending' });
    // nothing changes but the load's moving mean, which keeps learning meanwhile
    const { expertRates: _rates, ratesAt, ...rest } = blocked.state;
    const { expertRates: _before, ratesAt: _at, ...restBefore } = p.state;
    expect(rest).toEqual(restBefore);
    expect(ratesAt).toBe(later);
    // once the supervisors run revision 1 the next change may come
    const next = decide({ now: later, experts, load: skewed, current: p.placement }, blocked.state, { ...c, upDelayMs: 0 });
    expect(proposed(next).reason).toBe('scale-up');
    expect(proposed(next).placement.revision).toBe(2);
    expect(next.state.pending).toEqual({ revision: 2, since: later });
  });

  it('gives up a change that is not confirmed within pendingTimeoutMs', () => {
    const skewed = window(zipf, experts, [0.6, 0.6, 0.6, 0.6]);
    const first = proposed(decide({ now: 0, experts, load: skewed, current: start }, initialState(start), c));
    expect(decide({ now: c.pendingTimeoutMs - 1, experts, load: skewed, current: start }, first.state, c).reason).toBe('pending');
    const again = proposed(decide({ now: c.pendingTimeoutMs, experts, load: skewed, current: start }, first.state, c));
    expect(again.placement.revision).toBe(2);
    expect(again.detail).toMatch(/^revision 1 given up after \d+ ms; /);
  });

  it('does not rebalance actors that are all idle below rebalanceMinBusy, whatever the gain (the simulator showed idle clusters re-packed every interval)', () => {
    const idle = decide({ now: 0, experts, load: window(zipf, experts, [0.3, 0.2, 0.4, 0.1]), current: start }, initialState(start), c);
    expect(idle).toMatchObject({ action: 'keep', reason: 'balanced' });
    expect(idle.detail).toContain('the busiest actor is 0.40 busy, below 0.5');
    // one loaded actor is enough; and 0 turns the rule off
    expect(proposed(decide({ now: 0, experts, load: window(zipf, experts, [0.3, 0.2, 0.7, 0.1]), current: start }, initialState(start), c)).reason).toBe('rebalance');
    expect(proposed(decide({ now: 0, experts, load: window(zipf, experts, [0.3, 0.2, 0.4, 0.1]), current: start }, initialState(start), { ...c, rebalanceMinBusy: 0 })).reason).toBe('rebalance');
  });

  it('rebalances only when the gain pays for the actors it starts: minGain × (1 + started ÷ running)', () => {
    const load = window(zipf, experts, [0.6, 0.6, 0.6, 0.6]);
    const full = proposed(decide({ now: 0, experts, load, current: start }, initialState(start), c));
    const gain = (d: Decision) => d.observed.proposedBalancedness! - d.observed.balancedness;
    expect(full.changes.start).toHaveLength(4);
    // minGain 0.7 of that gain: worth a change, but not one that starts all 4 actors (it wants 1.4 × minGain), and
    // no partial re-pack reaches its own bar
    const dear = decide({ now: 0, experts, load, current: start }, initialState(start), { ...c, minGain: gain(full) * 0.7 });
    expect(dear).toMatchObject({ action: 'keep', reason: 'balanced' });
    expect(dear.detail).toContain('does not pay for starting 4 of 4 actors');
    // minGain 0.45 of it: starting all 4 pays (0.9 of the gain)
    const cheap = proposed(decide({ now: 0, experts, load, current: start }, initialState(start), { ...c, minGain: gain(full) * 0.45 }));
    expect(cheap.reason).toBe('rebalance');
    expect(gain(cheap)).toBeGreaterThanOrEqual(gain(full) * 0.45 * (1 + cheap.changes.start.length / 4));
  });

  it('does not rebalance when the gain is below minGain', () => {
    const load = window(zipf, experts, [0.6, 0.6, 0.6, 0.6]);
    const d = decide({ now: 0, experts, load, current: start }, initialState(start), { ...c, minGain: 0.9 });
    expect(d).toMatchObject({ action: 'keep', reason: 'balanced' });
    // and a placement the policy made itself is kept under the same load
    const mine = proposed(decide({ now: 0, experts, load, current: start }, initialState(start), c)).placement;
    expect(decide({ now: 0, experts, load, current: mine }, initialState(mine), c)).toMatchObject({ action: 'keep', reason: 'balanced' });
  });

  it('does not change the placement sooner than minIntervalMs after the last change', () => {
    const c: PolicyConfig = { ...DEFAULT_POLICY, perActor: 8, minReplicas: 2, minActors: 2, maxActors: 8, loadHalfLifeMs: 0 }; // each window alone
    const flat = window(() => 100, experts, [0.6, 0.6, 0.6, 0.6]);
    const skewed = window(zipf, experts, [0.6, 0.6, 0.6, 0.6]);
    const reversed = window((k) => Math.round(1000 / (8 - k.expert)), experts, [0.6, 0.6, 0.6, 0.6]);
    const first = proposed(decide({ now: 0, experts, load: reversed, current: start }, initialState(start), c));
    const running = first.placement;
    expect(decide({ now: 1, experts, load: flat, current: running }, first.state, c).action).toBe('keep');
    const soon = decide({ now: c.minIntervalMs - 1, experts, load: skewed, current: running }, first.state, c);
    expect(soon).toMatchObject({ action: 'keep', reason: 'too-soon' });
    expect(soon.detail).toContain('rebalance wanted');
    const due = decide({ now: c.minIntervalMs, experts, load: skewed, current: running }, soon.state, c);
    expect(proposed(due).reason).toBe('rebalance');
    expect(proposed(due).placement.revision).toBe(2);
  });

  it('lists what to keep, start and retire, starting actors under indices never used before', () => {
    const skewed = window(zipf, experts, [0.6, 0.6, 0.6, 0.6]);
    const d = proposed(decide({ now: 0, experts, load: skewed, current: start }, initialState(start), c));
    const { keep, start: started, retire } = d.changes;
    expect([...keep, ...started.map((a) => a.index)].sort((a, b) => a - b)).toEqual(d.placement.actors.map((a) => a.index));
    for (const a of started) expect(a.index).toBeGreaterThanOrEqual(4);
    expect(retire.every((i) => i < 4 && !keep.includes(i))).toBe(true);
    expect(d.state.nextIndex).toBe(Math.max(...d.placement.actors.map((a) => a.index)) + 1);
  });

  it('gives the same decision for the same input, whatever order the experts and their load come in', () => {
    const load = window(zipf, experts, [0.8, 0.8, 0.8, 0.8]);
    const shuffled: LoadWindow = { ...load, experts: [...load.experts].reverse() };
    const a = decide({ now: 0, experts, load, current: start }, initialState(start), c);
    const b = decide({ now: 0, experts: [...experts].reverse(), load: shuffled, current: start }, initialState(start), c);
    expect(b).toEqual(a);
    expect(decide({ now: 0, experts, load, current: start }, initialState(start), c)).toEqual(a);
  });

  it('counts a busy fraction reported above 1 (timing jitter) as 1', () => {
    const d = decide({ now: 0, experts, load: even(1.3), current: start }, initialState(start), c);
    expect(d.observed.meanBusy).toBe(1);
    expect(d.detail).toContain('mean busy 1.00 above');
  });

  it('keeps the placement when the load window is unusable, naming why', () => {
    const bad = window(() => Number.NaN, experts, [0.6, 0.6, 0.6, 0.6]);
    const d = decide({ now: 0, experts, load: bad, current: start }, initialState(start), c);
    expect(d).toMatchObject({ action: 'keep', reason: 'bad-load' });
    expect(d.detail).toContain('0:0');
    const negative = decide({ now: 0, experts, load: even(-0.5), current: start }, initialState(start), c);
    expect(negative).toMatchObject({ action: 'keep', reason: 'bad-load' });
    expect(negative.detail).toContain('n-e0');
  });

  it('proposes actors the supervisor can start as they are (ActorSpec)', () => {
    const d = proposed(decide({ now: 0, experts, load: window(zipf, experts, [0.6, 0.6, 0.6, 0.6]), current: start }, initialState(start), c));
    const specs: ActorSpec[] = d.placement.actors; // compile-time: the shapes agree
    for (const a of specs) expect(Object.keys(a).sort()).toEqual(['experts', 'group', 'index']);
  });
});

describe('assignIndices and changes', () => {
  it('keeps the index of an actor whose expert set is unchanged and gives new sets fresh indices', () => {
    const k = (e: number) => ({ layer: 0, expert: e });
    const current = [{ index: 0, group: 0, experts: [k(0), k(1)] }, { index: 3, group: 1, experts: [k(2), k(3)] }];
    const out = assignIndices([[k(3), k(2)], [k(0), k(2)]], current, 2);
    expect(out.actors).toEqual([{ index: 3, group: 1, experts: [k(3), k(2)] }, { index: 4, group: 4, experts: [k(0), k(2)] }]);
    expect(out.nextIndex).toBe(5);
    expect(changes(current, out.actors)).toEqual({ keep: [3], start: [out.actors[1]], retire: [0] });
  });
});

describe('policyConfig', () => {
  it('fills in the defaults and refuses unknown keys and bad values, naming the source', () => {
    expect(policyConfig({}, 'p.json')).toEqual(DEFAULT_POLICY);
    expect(policyConfig({ minReplicas: 3, targetBusy: 0.5 }, 'p.json')).toMatchObject({ minReplicas: 3, targetBusy: 0.5, perActor: DEFAULT_POLICY.perActor });
    for (const raw of [null, [], 'x', { replicas: 2 }, { minReplicas: 0 }, { perActor: 2.5 }, { targetBusy: 0 }, { targetBusy: 1.5 }, { minGain: -1 }, { minActors: 5, maxActors: 4 }, { upDelayMs: '1' }]) {
      expect(() => policyConfig(raw, 'p.json'), JSON.stringify(raw)).toThrow(PlacementError);
      expect(() => policyConfig(raw, 'p.json'), JSON.stringify(raw)).toThrow('p.json');
    }
  });
});

describe('a rebalance that changes nothing', () => {
  it('is not proposed, even with minGain 0', () => {
    const experts = keys(2, 8);
    const start = staticPlacement(experts, 2, 8);
    const load = window(zipf, experts, [0.6, 0.6, 0.6, 0.6]);
    const c: PolicyConfig = { ...DEFAULT_POLICY, minGain: 0, minIntervalMs: 0 };
    const first = proposed(decide({ now: 0, experts, load, current: start }, initialState(start), c));
    expect(first.reason).toBe('rebalance');
    // once it runs, the same load packs into the same actors: a new revision would start and retire nothing
    const again = decide({ now: 1_000, experts, load, current: first.placement }, first.state, c);
    expect(again).toMatchObject({ action: 'keep', reason: 'balanced' });
    expect(again.detail).toContain('the packing gives the running actors');
  });
});

describe('scaling without moving what runs (sticky)', () => {
  const experts = keys(2, 8);
  const start = staticPlacement(experts, 2, 8); // 4 actors of 8, every expert twice
  const skewed = tokenMap(window(zipf, experts, []));

  it('repairs a placement that lost actors (a node gone) by starting only the lost replicas, keeping the rest running', () => {
    // 6 actors of 8 (every expert 3 times); a node with two of them is lost
    const six = staticPlacement(experts, 3, 8);
    const left: DesiredPlacement = { revision: 1, actors: six.actors.filter((a) => a.index !== 1 && a.index !== 4) };
    const cc: PolicyConfig = { ...DEFAULT_POLICY, minReplicas: 3, perActor: 8, maxActors: 8 };
    const d = proposed(decide({ now: 0, experts, load: window(zipf, experts, [0.3, 0.3, 0.3, 0.3]), current: left }, initialState(left), cc));
    expect(d.reason).toBe('repair');
    expect(d.detail).toContain('starting only the lost replicas');
    expect(d.changes.retire).toEqual([]);
    expect(d.changes.keep.sort()).toEqual(left.actors.map((a) => a.index).sort());
    // the lost actors' 16 replicas, on 2 new actors of 8, none twice on one
    expect(d.changes.start.map((a) => a.experts.length)).toEqual([8, 8]);
    checkRules(d, experts, cc);
  });

  it('scales out by adding actors for the hottest experts, keeping every running actor as it is', () => {
    const sets = scaleOutKeeping(start.actors, experts, skewed, 2, 8)!;
    expect(sets.slice(0, 4)).toEqual(start.actors.map((a) => a.experts));
    const added = sets.slice(4);
    expect(added.map((s) => s.length)).toEqual([8, 8]);
    // the new actors hold the hottest experts, each at most once per actor, spread over both layers
    for (const s of added) expect(new Set(s.map(formatExpertKey)).size).toBe(8);
    expect(added.flat().map(formatExpertKey)).toContain('0:0');
    expect(added.flat().map(formatExpertKey)).toContain('1:0');
    expect(added.flat().some((k) => k.expert === 7)).toBe(false);
    // with no load there is nothing to spread: no sticky answer
    expect(scaleOutKeeping(start.actors, experts, new Map(), 1, 8)).toBeNull();
  });

  it('scales in by dropping only actors whose experts keep their minimum elsewhere, the least loaded first', () => {
    const grown = assignIndices(scaleOutKeeping(start.actors, experts, skewed, 2, 8)!, start.actors, 4).actors;
    const back = scaleInKeeping(grown, skewed, 2, 2)!;
    expect(back).toEqual(start.actors.map((a) => a.experts));
    // the static actors hold the only two replicas of the cold experts: none of them can go
    expect(scaleInKeeping(start.actors, skewed, 1, 2)).toBeNull();
  });

  it('is what decide proposes when it is within minGain of packing anew, and says so', () => {
    const c: PolicyConfig = { ...DEFAULT_POLICY, upDelayMs: 0, downDelayMs: 0, minGain: 1 };
    const up = proposed(decide({ now: 0, experts, load: window(zipf, experts, [0.95, 0.95, 0.95, 0.95]), current: start }, initialState(start), c));
    expect(up.reason).toBe('scale-up');
    expect(up.detail).toContain('keeping every running actor');
    expect(up.changes.retire).toEqual([]);
    expect(up.changes.keep).toEqual([0, 1, 2, 3]);
    // minGain 0: a sticky placement less balanced than a fresh packing loses
    const strict = proposed(decide({ now: 0, experts, load: window(zipf, experts, [0.95, 0.95, 0.95, 0.95]), current: start }, initialState(start), { ...c, minGain: 0 }));
    expect(strict.detail).not.toContain('keeping every running actor');
    expect(strict.observed.proposedBalancedness!).toBeGreaterThan(balancedness(assignIndices(scaleOutKeeping(start.actors, experts, skewed, strict.placement.actors.length - 4, 8)!, start.actors, 4).actors, skewed));
  });
});

describe('the load the placement follows (a moving mean)', () => {
  const experts = keys(2, 8);
  const start = staticPlacement(experts, 2, 8);

  it('blends each window into tokens per second with weight 1 − 2^(−elapsed ÷ half-life) (worked by hand)', () => {
    const two = keys(1, 2);
    // a 10 s window of 100 tokens is 10 tok/s; after a first window at 20 tok/s and 10 s later, half-life 10 s: half of each
    const first = blendRates({}, two, new Map([['0:0', 200]]), 10_000, 0, 10_000);
    expect(first).toEqual({ expertRates: { '0:0': 20, '0:1': 0 }, ratesAt: 0 });
    expect(blendRates(first, two, new Map([['0:0', 100], ['0:1', 40]]), 10_000, 10_000, 10_000).expertRates).toEqual({ '0:0': 15, '0:1': 2 });
    // an expert missing from a window routed nothing in it; an expert outside the model is not kept
    expect(blendRates(first, two, new Map([['7:7', 5]]), 10_000, 10_000, 10_000).expertRates).toEqual({ '0:0': 10, '0:1': 0 });
    // the weight follows the time since the last blend, not the window: a 30 s window read 5 s later weighs 1 − 2^(−0.5)
    const w = 1 - 2 ** -0.5;
    expect(blendRates(first, two, new Map([['0:0', 300]]), 30_000, 5_000, 10_000).expertRates['0:0']).toBeCloseTo((1 - w) * 20 + w * 10, 12);
    // half-life 0 takes the window alone
    expect(blendRates(first, two, new Map([['0:1', 40]]), 10_000, 10_000, 0).expertRates).toEqual({ '0:0': 0, '0:1': 4 });
  });

  it('does not re-pack for one odd window, does once the new load has lasted (the simulated day re-packed to noise every minute)', () => {
    const c: PolicyConfig = { ...DEFAULT_POLICY, minIntervalMs: 0 };
    const flat = window(() => 100, experts, [0.6, 0.6, 0.6, 0.6]);
    const skewed = window(zipf, experts, [0.6, 0.6, 0.6, 0.6]);
    let s = initialState(start);
    for (let t = 0; t < 10; t++) s = decide({ now: t * 10_000, experts, load: flat, current: start }, s, c).state;
    const once = decide({ now: 100_000, experts, load: skewed, current: start }, s, c);
    expect(once).toMatchObject({ action: 'keep', reason: 'balanced' });
    s = once.state;
    let d = once;
    for (let t = 11; d.action === 'keep' && t < 100; t++) {
      d = decide({ now: t * 10_000, experts, load: skewed, current: start }, s, c);
      s = d.state;
    }
    expect(proposed(d).reason).toBe('rebalance');
    // the mean had to cover most of the way: a few half-lives of the default 60 s
    expect(d.state.lastChangeAt!).toBeGreaterThanOrEqual(130_000);
  });
});

describe('changes that replace a few actors (migration.ts)', () => {
  // 2 layers of 16 experts, 12 actors of 8: every expert 3 times, a skewed load
  const experts = keys(2, 16);
  const start = staticPlacement(experts, 3, 8);
  const tokens = tokenMap(window(zipf, experts, []));
  const c = { minReplicas: 2, perActor: 8 };
  const valid = (sets: ExpertKey[][]) => {
    const count = replicaCounts(sets.map((e) => ({ experts: e })));
    for (const k of experts) expect(count.get(formatExpertKey(k)) ?? 0).toBeGreaterThanOrEqual(2);
    for (const e of sets) {
      expect(e.length).toBeLessThanOrEqual(8);
      expect(new Set(e.map(formatExpertKey)).size).toBe(e.length);
    }
  };

  it('ranks the actors above and below their layers’ mean alternately, the lightest first when actors go', () => {
    const order = replaceOrder(start.actors, tokens, 0);
    expect(new Set(order.map((a) => a.index)).size).toBe(start.actors.length);
    const drop2 = replaceOrder(start.actors, tokens, 2);
    const load = (a: (typeof start.actors)[number]) => a.experts.reduce((s, k) => s + tokens.get(formatExpertKey(k))! / 3, 0);
    const lightest = [...start.actors].sort((a, b) => load(a) - load(b) || a.index - b.index).slice(0, 2);
    expect(drop2.slice(0, 2)).toEqual(lightest);
  });

  it('keeps every actor but the replaced ones, and keeps the rules, at any size and count replaced', () => {
    const order = replaceOrder(start.actors, tokens, 0);
    for (const size of [10, 12, 14]) {
      for (let replace = Math.max(0, 12 - size); replace <= 12; replace++) {
        const sets = repackSome(replaceOrder(start.actors, tokens, Math.max(0, 12 - size)), experts, tokens, size, replace, 2, 8);
        if (!sets) continue;
        expect(sets).toHaveLength(size);
        valid(sets);
        const kept = changes(start.actors, assignIndices(sets, start.actors, 100).actors).keep;
        expect(kept.length, `size ${size}, ${replace} replaced`).toBeGreaterThanOrEqual(12 - replace);
      }
    }
    // replacing nothing at the same size changes nothing
    expect(repackSome(order, experts, tokens, 12, 0, 2, 8)).toEqual(order.map((a) => a.experts));
    // the minimum cannot fit: 12 actors of 8 hold 96 replicas, 64 are needed; 7 actors of 8 hold 56
    expect(repackSome(order, experts, tokens, 7, 5, 2, 8)).toBeNull();
  });

  it('picks, of the placements within reach of the floor, the one starting fewest actors', () => {
    const full = balancedness(pack(replicate(experts, tokens, 2, 12, 96), tokens, 12, 8).map((e) => ({ experts: e })), tokens);
    const now = balancedness(start.actors, tokens);
    expect(full).toBeGreaterThan(now + 0.05);
    const some = fewestStarts(start.actors, experts, tokens, 12, c, 100, () => now + 0.02)!;
    valid(some.placed.actors.map((a) => a.experts));
    expect(some.balancedness).toBeGreaterThanOrEqual(now + 0.02);
    expect(some.started).toBeLessThan(12);
    expect(some.started).toBe(some.retired);
    // a floor no placement reaches: none
    expect(fewestStarts(start.actors, experts, tokens, 12, c, 100, () => 1.01)).toBeNull();
    // a floor every placement meets: still never the running placement itself (not a change)
    const any = fewestStarts(start.actors, experts, tokens, 12, c, 100, () => 0)!;
    expect(any.started + any.retired).toBeGreaterThan(0);
    // the floor may rise with what a placement starts: asking more of each start, fewer starts win or nothing does
    expect(fewestStarts(start.actors, experts, tokens, 12, c, 100, (started) => now + 0.02 + started)).toBeNull();
    // scaling out with a floor anything meets: only the new actors start
    const out = fewestStarts(start.actors, experts, tokens, 14, c, 100, () => 0)!;
    expect([out.started, out.retired]).toEqual([2, 0]);
  });
});

describe('the busy fraction ahead (projectBusy, recordRate)', () => {
  it('keeps the samples of one lookback and the one before, and starts again on another clock', () => {
    let h: RateSample[] = [];
    for (const t of [0, 5_000, 10_000, 15_000, 20_000]) h = recordRate(h, t, t, 10_000);
    expect(h).toEqual([[10_000, 10_000], [15_000, 15_000], [20_000, 20_000]]);
    expect(recordRate(h, 1_000, 7, 10_000)).toEqual([[1_000, 7]]);
  });

  it('projects the growth since the oldest sample over the lead, capped, and only a growing rate', () => {
    const rising: RateSample[] = [[0, 100], [10_000, 121]];
    // ×1.21 in 10 s, 20 s ahead: ×1.21² = 1.4641
    const p = projectBusy(0.5, rising, 10_000, 20_000, 30_000);
    expect(p.growth).toBeCloseTo(1.4641, 10);
    expect(p.busy).toBeCloseTo(0.5 * 1.4641, 10);
    expect(projectBusy(0.5, [[0, 100], [10_000, 1000]], 10_000, 20_000, 30_000)).toEqual({ busy: 0.5 * MAX_LEAD_GROWTH, growth: MAX_LEAD_GROWTH });
    expect(projectBusy(0.9, [[0, 100], [10_000, 1000]], 10_000, 20_000, 30_000).busy).toBe(MAX_LEAD_BUSY);
    expect(projectBusy(0.5, [[0, 121], [10_000, 100]], 10_000, 20_000, 30_000)).toEqual({ busy: 0.5, growth: 1 });
    // too short a history (under a third of the lookback), one sample, or no lead: the busy of the moment
    expect(projectBusy(0.5, [[0, 100], [9_000, 200]], 9_000, 20_000, 30_000)).toEqual({ busy: 0.5, growth: 1 });
    expect(projectBusy(0.5, [[0, 100]], 0, 20_000, 30_000)).toEqual({ busy: 0.5, growth: 1 });
    expect(projectBusy(0.5, rising, 10_000, 0, 30_000)).toEqual({ busy: 0.5, growth: 1 });
  });
});
