// The paper's three experiments on simulated deployments: throughput against a monolith of the same hosts, hosts
// failing during a run, and a day of traffic with the controller following it. Each returns its rows, a markdown
// table and an SVG.
import { actorBounds, DEFAULT_POLICY, type PolicyConfig } from '../../actors/controller/policy.js';
import { renderSvg, type Series } from './charts.js';
import { buildSchedule, DEFAULT_SCALING, type TraceRow } from './day-schedule.js';
import { runEaas, staticPlacement, type EaasRunConfig, type EaasRunResult, type SimFault } from './eaas-run.js';
import { runMonolith, type MonolithRunResult } from './monolith-run.js';
import { prng } from './prng.js';
import { expertMs, gateLayerMs, gateStepMs, type CostProfile, type SimModel } from './profile.js';

/** What every run of an experiment shares. */
export interface SimSetup {
  model: SimModel;
  profile: CostProfile;
  seed: number;
  /** Each request's prompt and output lengths. */
  lengths: (rnd: () => number) => { prompt: number; output: number };
  /** How the lengths were chosen (for the tables). */
  lengthsNote: string;
  skew: number;
  /** Sequences per gate. */
  maxBatch: number;
  prefillBudget: number;
  actorsPerHost: number;
  gatesPerHost: number;
  minReplicas: number;
  durationMs: number;
  warmupMs: number;
  /** A failed host is back (empty) after this. */
  hostRepairMs: number;
  /** place()'s copysets for the static placement. */
  copysets: boolean;
  /** The gates' settings where they differ from production's defaults (e.g. how long rows wait for a replica). */
  gate?: EaasRunConfig['gate'];
}

const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '-');

function table(head: string[], rows: (string | number)[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/**
 * How `total` hosts split into gate hosts and expert hosts so both sides are about as busy: a gate step's core time
 * against the expert core time it causes, at a full batch with every expert's rows even.
 */
export function splitHosts(total: number, s: SimSetup): { gateHosts: number; expertHosts: number } {
  const { model: m, profile: p } = s;
  const rows = s.maxBatch;
  const gateMs = gateStepMs(p, m, rows) + m.moeLayers * gateLayerMs(p, m, rows);
  const perExpert = (rows * m.topK) / m.experts;
  const expertCoreMs = m.moeLayers * (m.experts * expertMs(p, m, perExpert) + Math.min(m.experts, s.actorsPerHost * total) * p.dispatchFixedMs);
  // one gate's step keeps its core busy for gateMs; the experts it calls need expertMs of core time
  const gateHosts = Math.min(total - 1, Math.max(1, Math.round((total * gateMs) / (gateMs + expertCoreMs))));
  return { gateHosts, expertHosts: total - gateHosts };
}

/** A run of `total` hosts split by their work, its gates' batches full from the start (a closed loop). */
function runConfig(s: SimSetup, total: number): EaasRunConfig & { gateHosts: number } {
  const { gateHosts, expertHosts } = splitHosts(total, s);
  return {
    gateHosts,
    model: s.model,
    profile: s.profile,
    expertHosts,
    actorsPerHost: s.actorsPerHost,
    minReplicas: s.minReplicas,
    gates: gateHosts * s.gatesPerHost,
    gatesPerHost: s.gatesPerHost,
    maxBatch: s.maxBatch,
    prefillBudget: s.prefillBudget,
    skew: s.skew,
    seed: s.seed,
    durationMs: s.durationMs,
    warmupMs: s.warmupMs,
    load: { kind: 'closed', lengths: s.lengths },
    hostRepairMs: s.hostRepairMs,
    gate: s.gate,
    copysets: s.copysets,
  };
}

function eaasAt(s: SimSetup, total: number, extra: Partial<EaasRunConfig> = {}): { run: EaasRunResult; gateHosts: number; expertHosts: number; gates: number } {
  const c = { ...runConfig(s, total), ...extra };
  return { run: runEaas(c), gateHosts: c.gateHosts, expertHosts: c.expertHosts, gates: c.gates };
}

/** The monolith of `hosts` hosts with `sequences` in flight, hosts failing at `failures` (ms). */
const monolithAt = (s: SimSetup, hosts: number, sequences: number, failures?: number[]): MonolithRunResult =>
  runMonolith({ model: s.model, profile: s.profile, hosts, sequences, prefillBudget: s.prefillBudget, skew: s.skew, seed: s.seed, durationMs: s.durationMs, warmupMs: s.warmupMs, lengths: s.lengths, failures });

// ---- 1. throughput against a monolith ----

export interface ThroughputRow {
  hosts: number;
  gateHosts: number;
  expertHosts: number;
  sequences: number;
  eaas: number;
  monolith: number;
  eaasItlP50: number;
  eaasItlP99: number;
  monolithItlP50: number;
}

export function throughputExperiment(s: SimSetup, hostCounts: number[]): { rows: ThroughputRow[]; table: string; svg: string } {
  const rows = hostCounts.map((hosts) => {
    const e = eaasAt(s, hosts);
    const sequences = e.gates * s.maxBatch;
    const mono = monolithAt(s, hosts, sequences);
    return {
      hosts,
      gateHosts: e.gateHosts,
      expertHosts: e.expertHosts,
      sequences,
      eaas: e.run.tokensPerS,
      monolith: mono.tokensPerS,
      eaasItlP50: e.run.measures.itl.quantile(0.5),
      eaasItlP99: e.run.measures.itl.quantile(0.99),
      monolithItlP50: mono.itl.quantile(0.5),
    };
  });
  const md = table(
    ['hosts', 'gate + expert hosts', 'sequences', 'eaas tok/s', 'monolith tok/s', 'eaas ÷ monolith', 'eaas ITL p50 / p99 ms', 'monolith ITL p50 ms'],
    rows.map((r) => [r.hosts, `${r.gateHosts} + ${r.expertHosts}`, r.sequences, fmt(r.eaas, 0), fmt(r.monolith, 0), fmt(r.eaas / r.monolith, 2), `${fmt(r.eaasItlP50)} / ${fmt(r.eaasItlP99)}`, fmt(r.monolithItlP50)]),
  );
  const xMax = Math.max(...hostCounts) * 1.05;
  const svg = renderSvg(
    `Throughput against hosts (simulated, ${s.model.name})`,
    `${s.profile.source}; ${s.maxBatch} sequences per gate; ${s.lengthsNote}; seed ${s.seed}`,
    xMax,
    [
      {
        title: 'Generated tokens per second',
        yLabel: 'tokens/s',
        series: [
          { label: 'eaas', color: '#1f77b4', points: rows.map((r) => [r.hosts, r.eaas]) },
          { label: 'monolith, same hosts', color: '#d62728', dashed: true, points: rows.map((r) => [r.hosts, r.monolith]) },
        ],
      },
      { title: 'eaas ÷ monolith', yLabel: 'ratio', yMax: 1.5, series: [{ label: 'ratio', color: '#2ca02c', points: rows.map((r) => [r.hosts, r.eaas / r.monolith]) }] },
    ],
    'hosts',
  );
  return { rows, table: md, svg };
}

// ---- 2. failures ----

export interface FailureRow {
  case: string;
  failed: number;
  /** eaas throughput ÷ its fault-free run. */
  eaasKept: number;
  eaasFailedRequests: number;
  redirects: number;
  hedges: number;
  /** Median and max over faults of the time until a second's tokens are back to 95% of fault-free. */
  recoverMedianS: number;
  recoverMaxS: number;
  /** The same faults with the controller on, repairing the placement (scaling and rebalancing off). */
  repairedKept: number;
  repairedFailedRequests: number;
  repairs: number;
  monolithKept: number;
  monolithLost: number;
}

/** The controller repairing what node losses take, and nothing else: no scaling (delays past any run), no rebalance. */
function repairOnly(s: SimSetup, hosts: number): PolicyConfig {
  const placed = staticPlacement(s.model, splitHosts(hosts, s).expertHosts, s.actorsPerHost, s.minReplicas, s.copysets);
  const NEVER = 1e12;
  return { ...DEFAULT_POLICY, minReplicas: s.minReplicas, perActor: Math.max(...placed.map((p) => p.experts.length)), minActors: 1, maxActors: 2 * placed.length, upDelayMs: NEVER, downDelayMs: NEVER, minGain: 1 };
}

/** Seconds a throughput series is averaged over: a step can take longer than a second, so single seconds are bursty. */
const SMOOTH_S = 5;

/** The per-second series up to `endS` (missing seconds are 0), each the mean of the SMOOTH_S seconds ending there. */
function smoothed(values: number[], endS: number): number[] {
  return Array.from({ length: endS }, (_, sec) => {
    let sum = 0;
    for (let k = Math.max(0, sec - SMOOTH_S + 1); k <= sec; k++) sum += values[k] ?? 0;
    return sum / Math.min(SMOOTH_S, sec + 1);
  });
}

/** Seconds from `atMs` until the smoothed throughput is back at `level` (NaN: not within the run). */
function recovery(tokens: number[], atMs: number, level: number, endS: number): number {
  const smooth = smoothed(tokens, endS);
  for (let sec = Math.floor(atMs / 1000) + SMOOTH_S; sec < endS; sec++) if (smooth[sec] >= level) return sec - atMs / 1000;
  return NaN;
}

export function failureExperiment(s: SimSetup, hosts: number, counts: number[], rackSize: number): { rows: FailureRow[]; table: string; svg: string } {
  const base = eaasAt(s, hosts);
  const baseMono = monolithAt(s, hosts, base.gates * s.maxBatch);
  const endS = Math.floor(s.durationMs / 1000);
  const level = 0.95 * base.run.tokensPerS;
  const rnd = prng(s.seed ^ 0x51ed);
  const spanMs = s.durationMs - s.warmupMs - 10_000;
  const cases: { name: string; faults: SimFault[] }[] = counts.map((k) => {
    const order = base.run.hostNames.map((h) => ({ h, r: rnd() })).sort((a, b) => a.r - b.r);
    return { name: `${k} of ${hosts} hosts`, faults: order.slice(0, k).map(({ h }) => ({ at: Math.round(s.warmupMs + rnd() * spanMs), kind: 'host' as const, target: h })) };
  });
  const rackAt = Math.round(s.warmupMs + spanMs / 2);
  if (rackSize > 0) cases.push({ name: `a rack of ${rackSize} hosts at once`, faults: base.run.hostNames.slice(0, rackSize).map((h) => ({ at: rackAt, kind: 'host' as const, target: h })) });
  const charted: { name: string; run: EaasRunResult; mono: MonolithRunResult; faults: SimFault[] }[] = [];
  const rows = cases.map(({ name, faults }) => {
    const e = eaasAt(s, hosts, { faults });
    const repaired = eaasAt(s, hosts, { faults, autoscale: { policy: repairOnly(s, hosts), tickMs: 5_000 } }).run;
    const mono = monolithAt(s, hosts, base.gates * s.maxBatch, faults.map((f) => f.at));
    const rec = [...new Set(faults.map((f) => f.at))].map((at) => recovery(e.run.measures.tokens.values, at, level, endS)).sort((a, b) => a - b);
    charted.push({ name, run: e.run, mono, faults });
    return {
      case: name,
      failed: faults.length,
      eaasKept: e.run.tokensPerS / base.run.tokensPerS,
      eaasFailedRequests: e.run.measures.failed,
      redirects: e.run.measures.counters.redirects,
      hedges: e.run.measures.counters.hedges,
      recoverMedianS: rec[Math.floor((rec.length - 1) / 2)],
      recoverMaxS: rec.some(Number.isNaN) ? NaN : Math.max(...rec),
      repairedKept: repaired.tokensPerS / base.run.tokensPerS,
      repairedFailedRequests: repaired.measures.failed,
      repairs: repaired.changes.filter((c) => c.reason === 'repair').length,
      monolithKept: mono.tokensPerS / baseMono.tokensPerS,
      monolithLost: mono.lost,
    };
  });
  const md = table(
    ['hosts failing', 'eaas throughput kept', 'eaas requests failed', 'redirects / hedges', 'back to 95%: median / max s', 'with the controller\'s repair: kept / failed (repairs)', 'monolith throughput kept', 'monolith requests lost'],
    rows.map((r) => [r.case, pct(r.eaasKept), r.eaasFailedRequests, `${r.redirects} / ${r.hedges}`, `${fmt(r.recoverMedianS)} / ${fmt(r.recoverMaxS)}`, `${pct(r.repairedKept)} / ${r.repairedFailedRequests} (${r.repairs})`, pct(r.monolithKept), r.monolithLost]),
  );
  const worst = charted.find((c) => c.faults.length === Math.max(...counts)) ?? charted[0];
  const perSec = (v: number[]) => smoothed(v, endS).map((y, x) => [x, y] as [number, number]);
  const svg = renderSvg(
    `Throughput while hosts fail (simulated, ${hosts} hosts, ${s.model.name})`,
    `${s.profile.source}; a failed host is back empty after ${s.hostRepairMs / 1000} s; seed ${s.seed}`,
    endS,
    [
      {
        title: `eaas, ${worst.name} (red lines) against fault-free; ${SMOOTH_S} s means`,
        yLabel: 'tokens/s',
        series: [
          { label: 'fault-free', color: '#999', dashed: true, points: perSec(base.run.measures.tokens.values) },
          { label: worst.name, color: '#1f77b4', points: perSec(worst.run.measures.tokens.values) },
        ],
        marks: worst.faults.map((f) => ({ x: f.at / 1000, label: f.target })),
      },
      {
        title: `monolith of the same hosts, same failures (restart ${s.profile.monolithRestartMs / 1000} s); ${SMOOTH_S} s means`,
        yLabel: 'tokens/s',
        series: [
          { label: 'fault-free', color: '#999', dashed: true, points: perSec(baseMono.tokens.values) },
          {
            label: worst.name,
            color: '#d62728',
            points: perSec(worst.mono.tokens.values),
          },
        ],
        marks: worst.faults.map((f) => ({ x: f.at / 1000, label: f.target })),
      },
    ],
    'simulated time (s)',
  );
  return { rows, table: md, svg };
}

// ---- 3. a day of traffic ----

/** One run of the day: what it used and what its clients saw. */
export interface DayRun {
  actorSeconds: number;
  itlP99: number;
  ttftP99: number;
  failed: number;
  changes: number;
}

export interface DayResult {
  static: DayRun;
  /** The controller on busy time alone. */
  autoscaled: DayRun;
  /** The controller with the inter-token latency objective `itlSloMs` and the lead `leadMs`. */
  withObjective: DayRun;
  itlSloMs: number;
  leadMs: number;
  idealActorSeconds: number;
  table: string;
  svg: string;
}

export function dayExperiment(s: SimSetup, hosts: number, trace: TraceRow[], o: { dayS: number; trough: number; load: number; itlSloMs: number; leadMs: number; policy?: Partial<PolicyConfig> }): DayResult {
  // the peak rate: `load` of what the whole deployment serves in a closed loop
  const capacity = eaasAt(s, hosts, { durationMs: Math.min(s.durationMs, 20_000), warmupMs: Math.min(s.warmupMs, 5_000) }).run.tokensPerS;
  const meanOut = DEFAULT_SCALING.outputCap / 2;
  const schedule = buildSchedule(trace, { dayS: o.dayS, peak: (o.load * capacity) / meanOut, trough: o.trough, seed: s.seed, vocabSize: 512 });
  const arrivals = schedule.arrivals.map((a) => ({ at: a.at * 1000, prompt: a.prompt.length, output: a.maxTokens }));
  const staticActors = staticPlacement(s.model, splitHosts(hosts, s).expertHosts, s.actorsPerHost, s.minReplicas).length;
  const policy: PolicyConfig = { ...DEFAULT_POLICY, perActor: Math.ceil((s.model.moeLayers * s.model.experts * s.minReplicas) / Math.max(s.minReplicas, Math.floor(staticActors / 4))), maxActors: staticActors, ...o.policy };
  const { gateHosts: _, ...base } = runConfig(s, hosts);
  const common: EaasRunConfig = { ...base, durationMs: o.dayS * 1000, warmupMs: 0, load: { kind: 'open', arrivals } };

  const fixed = runEaas(common);
  const auto = runEaas({ ...common, autoscale: { policy: { ...policy, itlSloMs: 0, leadMs: 0 }, tickMs: 5_000, startPerActor: policy.perActor } });
  const slo = runEaas({ ...common, autoscale: { policy: { ...policy, itlSloMs: o.itlSloMs, leadMs: o.leadMs }, tickMs: 5_000, startPerActor: policy.perActor } });
  // the ideal follower: each second, the fewest whole actors that carry that second's expert work at the top of the policy's band
  const { lo } = actorBounds(s.model.moeLayers * s.model.experts, policy);
  const cap = 1000 * (policy.targetBusy + policy.busyBand);
  const ideal = Array.from({ length: o.dayS }, (_, sec) => Math.max(lo, Math.ceil((fixed.busy.values[sec] ?? 0) / cap)));
  const idealActorSeconds = ideal.reduce((a, b) => a + b, 0);
  const day = (run: EaasRunResult): DayRun => ({ actorSeconds: run.actorSeconds, itlP99: run.measures.itl.quantile(0.99), ttftP99: run.measures.ttft.quantile(0.99), failed: run.measures.failed, changes: run.changes.length });
  const r: Omit<DayResult, 'table' | 'svg'> = { static: day(fixed), autoscaled: day(auto), withObjective: day(slo), itlSloMs: o.itlSloMs, leadMs: o.leadMs, idealActorSeconds };
  // the run with the objective as the pictures' legends name it (short, to fit); the table says it in full
  const lead = o.leadMs > 0 ? `, ${o.leadMs / 1000} s lead` : '';
  const objective = `with a ${o.itlSloMs} ms ITL objective${lead}`;
  const row = (name: string, d: DayRun) => [name, fmt(d.actorSeconds, 0), fmt(d.actorSeconds / r.static.actorSeconds, 2), fmt(d.actorSeconds / idealActorSeconds, 2), fmt(d.ttftP99, 0), fmt(d.itlP99), fmt(d.itlP99 / r.static.itlP99, 2), d.failed];
  const md = table(
    ['', 'actor-seconds', '÷ static', '÷ ideal', 'p99 TTFT ms', 'p99 ITL ms', '÷ static', 'failed requests'],
    [
      row('static for the peak', r.static),
      row(`autoscaled on busy time (${r.autoscaled.changes} changes)`, r.autoscaled),
      row(`autoscaled with a p99 ITL objective of ${o.itlSloMs} ms${lead} (${r.withObjective.changes} changes)`, r.withObjective),
      ['ideal follower', fmt(idealActorSeconds, 0), fmt(idealActorSeconds / r.static.actorSeconds, 2), '1.00', '-', '-', '-', '-'],
    ],
  );
  const perSecond = (n: number) => Array.from({ length: n }, (_, sec) => sec);
  const offered = new Array<number>(o.dayS).fill(0);
  for (const a of schedule.arrivals) offered[Math.min(o.dayS - 1, Math.floor(a.at))]++;
  const steps = (samples: [number, number][]): [number, number][] => [...samples, [o.dayS, samples.at(-1)?.[1] ?? 0]];
  const series: Series[] = [
    { label: 'static', color: '#999', step: true, dashed: true, points: steps(fixed.actors.samples) },
    { label: 'autoscaled on busy', color: '#1f77b4', step: true, points: steps(auto.actors.samples) },
    { label: objective, color: '#d62728', step: true, points: steps(slo.actors.samples) },
    { label: 'ideal follower', color: '#2ca02c', step: true, points: perSecond(o.dayS).map((sec) => [sec, ideal[sec]]) },
  ];
  const svg = renderSvg(
    `A compressed day (simulated, ${hosts} hosts, ${s.model.name})`,
    `${s.profile.source}; Azure LLM conversation trace on a daily curve, trough ${o.trough}; seed ${s.seed}`,
    o.dayS,
    [
      { title: 'Expert actors', yLabel: 'actors', series },
      { title: 'Offered load', yLabel: 'requests/s', series: [{ label: 'arrivals', color: '#ff7f0e', points: perSecond(o.dayS).map((sec) => [sec, offered[sec]]) }] },
      {
        title: 'Generated tokens per second',
        yLabel: 'tokens/s',
        series: [
          { label: 'static', color: '#999', dashed: true, points: perSecond(o.dayS).map((sec) => [sec, fixed.measures.tokens.values[sec] ?? 0]) },
          { label: 'autoscaled on busy', color: '#1f77b4', points: perSecond(o.dayS).map((sec) => [sec, auto.measures.tokens.values[sec] ?? 0]) },
          { label: objective, color: '#d62728', points: perSecond(o.dayS).map((sec) => [sec, slo.measures.tokens.values[sec] ?? 0]) },
        ],
      },
    ],
    'simulated time (s)',
  );
  return { ...r, table: md, svg };
}
