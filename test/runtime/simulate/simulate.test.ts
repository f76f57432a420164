// The simulator: deterministic to the byte, built on the production policy code (a guard fails if a policy is
// re-implemented inside it), and its runs keep the promises the live chaos tests check (nothing lost when a host
// with one replica of each expert fails; a monolith loses what was in flight).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../../actors/controller/policy.js';
import { place } from '../../../actors/supervisor/static-placement.js';
import { SimClock } from '../../../runtime/simulate/clock.js';
import { runEaas, staticPlacement, type EaasRunConfig } from '../../../runtime/simulate/eaas-run.js';
import { runMonolith } from '../../../runtime/simulate/monolith-run.js';
import { BENCH_MODEL, costProfile, expertMs, modelExperts, readProfile, SHIPPED_PROFILE, type CostProfile } from '../../../runtime/simulate/profile.js';
import { ensureBuilt } from '../../helpers/build.js';
import { CLI } from '../../helpers/build.js';

const profile: CostProfile = readProfile(SHIPPED_PROFILE);
const BENCH_MODEL_KEYS = modelExperts(BENCH_MODEL);

const base = (o: Partial<EaasRunConfig> = {}): EaasRunConfig => ({
  model: BENCH_MODEL,
  profile,
  expertHosts: 4,
  actorsPerHost: 2,
  minReplicas: 2,
  gates: 2,
  gatesPerHost: 2,
  maxBatch: 8,
  prefillBudget: 64,
  skew: 0.5,
  seed: 7,
  durationMs: 12_000,
  warmupMs: 2_000,
  load: { kind: 'closed', lengths: () => ({ prompt: 8, output: 16 }) },
  ...o,
});

const summary = (c: EaasRunConfig) => {
  const r = runEaas(c);
  return { tokens: r.measures.tokens.values, completed: r.measures.completed, failed: r.measures.failed, counters: r.measures.counters, events: r.events, itl: r.measures.itl.quantile(0.99) };
};

describe('the simulator', () => {
  it('runs events in time order, ties in the order they were scheduled', () => {
    const clock = new SimClock();
    const seen: string[] = [];
    clock.at(5, () => seen.push('b'));
    clock.at(1, () => {
      seen.push('a');
      clock.after(4, () => seen.push('c')); // at 5, after b
    });
    clock.at(9, () => seen.push('d'));
    clock.runUntil(8);
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(clock.now()).toBe(8);
  });

  it('gives the same run for the same seed, and another for another seed', () => {
    const a = summary(base());
    expect(a.completed).toBeGreaterThan(0);
    expect(summary(base())).toEqual(a);
    expect(summary(base({ seed: 8 }))).not.toEqual(a);
  });

  it('loses no request when a host fails while every expert has a replica on another host, and redirects what was in flight', () => {
    const placement = staticPlacement(BENCH_MODEL, 4, 2, 2);
    // no host holds two replicas of an expert
    for (let h = 0; h < 4; h++) {
      const ids = placement.filter((p) => p.host === h).flatMap((p) => p.experts.map((k) => `${k.layer}:${k.expert}`));
      expect(new Set(ids).size).toBe(ids.length);
    }
    const r = runEaas(base({ faults: [{ at: 5_000, kind: 'host', target: 'h1' }], hostRepairMs: 4_000 }));
    expect(r.measures.failed).toBe(0);
    expect(r.measures.completed).toBeGreaterThan(0);
    // the dead host's dispatches were carried elsewhere: by hedges, redirects after a deadline, or both
    expect(r.measures.counters.hedges + r.measures.counters.redirects).toBeGreaterThan(0);
    // tokens still came in the second after the failure
    expect(r.measures.tokens.values[6]).toBeGreaterThan(0);
  });

  it('deals copysets when asked: actor j of every replica set holds the same experts, so only a whole copyset loses one', () => {
    const sets = place(BENCH_MODEL_KEYS, 3, 4, true);
    const byGroup = (g: number) => sets.filter((a) => a.group === g).map((a) => a.experts.map((k) => `${k.layer}:${k.expert}`).join());
    expect(byGroup(1)).toEqual(byGroup(0));
    expect(byGroup(2)).toEqual(byGroup(0));
    // scattered (the default), no two sets group the same experts
    const scattered = place(BENCH_MODEL_KEYS, 3, 4);
    expect(scattered.filter((a) => a.group === 1).map((a) => a.experts)).not.toEqual(scattered.filter((a) => a.group === 0).map((a) => a.experts));
  });

  it('restarts a killed actor by the supervision policy, and its replica carries the rows meanwhile', () => {
    const r = runEaas(base({ faults: [{ at: 4_000, kind: 'actor', target: 'h0-e0' }] }));
    expect(r.restarts).toBe(1);
    expect(r.measures.failed).toBe(0);
  });

  it('stops a monolith for its restart when a host fails, and loses the sequences in flight', () => {
    const common = { model: BENCH_MODEL, profile, hosts: 4, sequences: 16, prefillBudget: 64, skew: 0.5, seed: 7, durationMs: 40_000, warmupMs: 2_000, lengths: () => ({ prompt: 8, output: 16 }) };
    const ok = runMonolith(common);
    const hit = runMonolith({ ...common, failures: [5_000] });
    expect(hit.lost).toBe(16);
    expect(hit.downMs).toBe(profile.monolithRestartMs);
    expect(hit.tokensPerS).toBeLessThan(ok.tokensPerS);
  });

  it('follows the load with the production controller: fewer actors when little traffic comes', () => {
    const arrivals = Array.from({ length: 40 }, (_, i) => ({ at: 1_000 + i * 2_500, prompt: 8, output: 8 }));
    // on this little traffic each window's token counts differ enough that a rebalance would always gain; the
    // actors are idle, so the policy does not re-pack them (rebalanceMinBusy), and the scale-down is not held off
    const r = runEaas(base({ durationMs: 110_000, warmupMs: 0, load: { kind: 'open', arrivals }, autoscale: { policy: { ...DEFAULT_POLICY, perActor: 16, maxActors: 8, downDelayMs: 20_000, minIntervalMs: 10_000 }, tickMs: 5_000 } }));
    expect(r.changes.map((c) => c.reason)).toEqual(['scale-down']);
    expect(r.actors.current).toBeLessThan(8);
    expect(r.measures.failed).toBe(0);
    expect(r.measures.completed).toBe(40);
  });

  it('refuses a cost profile with a missing, unknown or negative figure, naming it', () => {
    const good = { ...profile };
    expect(() => costProfile({ ...good, hopMs: -1 }, 'p.json')).toThrow(/p\.json: hopMs must be a non-negative number/);
    expect(() => costProfile({ ...good, warp: 9 }, 'p.json')).toThrow(/unknown cost profile key "warp"/);
    const { hopMs: _, ...missing } = good;
    expect(() => costProfile(missing, 'p.json')).toThrow(/hopMs must be/);
  });

  it('interpolates a measured expert curve, scales it to another model by its bounds, and refuses a bad one', () => {
    const curve: CostProfile = { ...profile, expertMsByRows: [[1, 1], [8, 2], [32, 5]] };
    expect(expertMs(curve, BENCH_MODEL, 1)).toBe(1);
    expect(expertMs(curve, BENCH_MODEL, 4)).toBeCloseTo(1 + 3 / 7, 10);
    expect(expertMs(curve, BENCH_MODEL, 64)).toBeCloseTo(5 + 3 * 32 / 24, 10);
    // bf16 weights: at one row (memory-bound) half the f32 preset's time
    const half = { ...BENCH_MODEL, weightBytes: 2 };
    expect(expertMs({ ...curve, expertFlopsPerMs: 1e12 }, half, 1)).toBeCloseTo(0.5, 10);
    expect(() => costProfile({ ...profile, expertMsByRows: [[8, 2], [4, 1]] }, 'p.json')).toThrow(/p\.json: expertMsByRows must be at least two \[rows, ms\] pairs, rows whole and rising/);
    expect(() => costProfile({ ...profile, gateMsPerToken: -1 }, 'p.json')).toThrow(/gateMsPerToken must be a non-negative number/);
  });

  it('prints the same output for the same seed from the CLI, and one line for a bad flag', () => {
    ensureBuilt();
    const run = (...args: string[]) => execFileSync(process.execPath, [CLI, 'simulate', '--hosts', '4', '--duration', '30', '--batch', '8', ...args], { encoding: 'utf8' });
    const a = run('--seed', '3');
    expect(a).toMatch(/Throughput at 4 hosts/);
    expect(a).toMatch(/\| 1 of 4 hosts \|/);
    expect(run('--seed', '3')).toBe(a);
    let err = '';
    try {
      run('--experiment', 'nope');
    } catch (e) {
      err = String((e as { stderr: string }).stderr);
    }
    expect(err.trim().split('\n')).toEqual(['eaas: --experiment must be one of default, throughput, failures, day, all, got "nope"']);
  });
});

describe('the simulator’s re-implementation guard', () => {
  // the policy modules the simulator must import, not copy
  const POLICY_MODULES = [
    'actors/gate/planning.ts',
    'actors/gate/hedging.ts',
    'actors/gate/breaker.ts',
    'actors/supervisor/supervision.ts',
    'actors/supervisor/static-placement.ts',
    'actors/controller/policy.ts',
    'actors/controller/scaling.ts',
    'actors/controller/packing.ts',
    'actors/controller/replicas.ts',
    'actors/controller/sticky.ts',
    'actors/controller/desired-placement.ts',
    'actors/controller/nodes.ts',
    'actors/controller/liveness.ts',
  ];
  const SIM_DIR = 'runtime/simulate';
  const simFiles = readdirSync(SIM_DIR).filter((f) => f.endsWith('.ts'));
  const simSource = simFiles.map((f) => ({ f, text: readFileSync(join(SIM_DIR, f), 'utf8') }));

  it('finds no function or class of a policy module declared again in the simulator', () => {
    const names = POLICY_MODULES.flatMap((m) => [...readFileSync(m, 'utf8').matchAll(/export (?:async )?(?:function|class) (\w+)/g)].map((x) => x[1]));
    expect(names).toContain('chooseReplica');
    expect(names).toContain('decide');
    for (const { f, text } of simSource) {
      for (const name of names) expect(text, `${f} declares ${name}`).not.toMatch(new RegExp(`(function|class|const|let)\\s+${name}\\b`));
    }
  });

  it('imports the gate’s, supervisor’s and controller’s decisions from their modules', () => {
    const all = simSource.map((s) => s.text).join('\n');
    for (const [name, module] of [
      ['planMessages', 'actors/gate/planning.js'],
      ['planHedge', 'actors/gate/planning.js'],
      ['HedgePolicy', 'actors/gate/hedging.js'],
      ['Breakers', 'actors/gate/breaker.js'],
      ['decideExit', 'actors/supervisor/supervision.js'],
      ['Intensity', 'actors/supervisor/supervision.js'],
      ['place', 'actors/supervisor/static-placement.js'],
      ['decide', 'actors/controller/policy.js'],
      ['runningPlacement', 'actors/controller/nodes.js'],
      ['locate', 'actors/controller/nodes.js'],
      ['NodeLiveness', 'actors/controller/liveness.js'],
    ]) {
      expect(all, `${name} from ${module}`).toMatch(new RegExp(`import \\{[^}]*\\b${name}\\b[^}]*\\} from '\\.\\./\\.\\./${module.replace(/[./]/g, (c) => `\\${c}`)}'`));
    }
  });
});
