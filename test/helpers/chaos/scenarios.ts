// The chaos scenarios as plain functions, shared by the full suite (test/chaos/) and the short run in `npm test`.
// Each starts its own cluster on its own nats-server(s), drives the workload while injecting one kind of fault,
// then checks the run (checker.ts) and returns a report row (report.ts). A scenario passes when its
// report has no violations.
import { setTimeout as sleep } from 'node:timers/promises';
import { headers, type NatsConnection } from 'nats';
import { PlacementStore } from '../../../actors/protocol/placement-store.js';
import { parseExpertKey } from '../../../model/expert-key.js';
import { clusterStatus } from '../../../actors/protocol/status.js';
import type { GateActor } from '../../../actors/gate/gate.js';
import { decodeDispatchReply, encodeDispatch } from '../../../actors/protocol/messages.js';
import { encodeMessage } from '../../../runtime/transport/codec.js';
import { connectNats } from '../../../runtime/transport/connection.js';
import { startNatsCluster, startNatsServer, type NatsServerHandle } from '../../../runtime/transport/nats-server.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelName, startNode, type RunningNode } from '../../../runtime/node/cluster.js';
import { prepareSecure } from '../../../runtime/node/secure.js';
import { settingsFromEnv } from '../../../runtime/node/settings.js';
import * as subjects from '../../../runtime/transport/subjects.js';
import { withEnv } from '../env.js';
import { tinyCheckpointDir } from '../tiny-model.js';
import { awaitFullStrength, checkExercised, checkRecords, percentile, verifyServing, type CheckOptions } from './checker.js';
import { expertIds, gateCounters, gateReplicas, localProbe, remoteProbe, startCliNode, survivors, type CliNode, type SupervisorProbe } from './cluster.js';
import { chaosTiming, CHAOS_SEED, type ChaosTiming } from './config.js';
import { FaultProxy } from './fault-proxy.js';
import { alive, ConnectionWatch, CounterSampler, kill9, pause, resume, waitUntil, type FaultRecord } from './faults.js';
import type { AdjustedRatio, ScenarioReport } from './report.js';
import { MachineSpeed } from '../machine-speed.js';
import { prng } from '../../../runtime/simulate/prng.js';
import { expectedOutputs, makePrompts, pick, startWorkload, type Expected, type RequestRecord } from './workload.js';

export const REPLICAS = 2;
export const EXPERTS_PER_ACTOR = 8;
export const MAX_TOKENS = 8;

/** What every scenario of a test file shares: the checkpoint, the prompts and their monolithic answers. */
export interface ChaosEnv {
  dir: string;
  prompts: number[][];
  expected: Expected[];
  experts: string[];
  timing: ChaosTiming;
  seed: number;
  reports: ScenarioReport[];
  remove(): void;
}

export async function prepareEnv(short?: boolean): Promise<ChaosEnv> {
  const tiny = tinyCheckpointDir();
  const prompts = makePrompts(CHAOS_SEED, { count: 12, minLen: 3, maxLen: 20, vocab: 512 });
  const expected = await expectedOutputs(tiny.dir, prompts, MAX_TOKENS);
  return { dir: tiny.dir, prompts, expected, experts: expertIds(tiny.dir), timing: chaosTiming(short), seed: CHAOS_SEED, reports: [], remove: tiny.remove };
}

/** A running cluster as a scenario sees it. */
interface Topology {
  model: string;
  /** The workload's own connection. */
  client: NatsConnection;
  /** Reads discovery for the full-strength check; the client's connection when absent (a secure client may not). */
  monitor?: NatsConnection;
  gate?: GateActor;
  supervisors: SupervisorProbe[];
  childrenPerSupervisor: number;
  replicas: number;
  /** The workload streams too: over NATS, and with `http` over an API front's SSE. */
  streams?: { http?: string };
  stop(): Promise<void>;
}

/** One supervisor node and one gate node in this process: replicas 2, 8 experts per actor, 4 expert actors. */
async function standardCluster(env: ChaosEnv, gateEnv: Record<string, string> = {}): Promise<Topology & { node: RunningNode; server?: NatsServerHandle }> {
  const server = await startNatsServer();
  const url = server.url;
  // gate settings come from the environment when the node starts (expert actors spawned later see the restored one)
  let node: RunningNode;
  try {
    node = await withEnv(gateEnv, () => startNode({ nats: url, modelDir: env.dir, roles: ['supervisor', 'gate'], replicas: REPLICAS, expertsPerActor: EXPERTS_PER_ACTOR, node: 'chaos' }));
  } catch (err) {
    await server.stop();
    throw err;
  }
  const client = await connectNats(url, 'chaos-client');
  return {
    model: node.model,
    client,
    node,
    server,
    gate: node.gate,
    supervisors: [localProbe(node.supervisor!)],
    childrenPerSupervisor: (REPLICAS * env.experts.length) / EXPERTS_PER_ACTOR,
    replicas: REPLICAS,
    async stop() {
      await client.close().catch(() => undefined);
      await node.stop();
      await server?.stop();
    },
  };
}

interface FaultCtx {
  topo: Topology;
  rng: () => number;
  /** When the load stops: the injector should be done (and have healed its fault) by then. */
  deadline: number;
  fault(f: Omit<FaultRecord, 'at'> & { at?: number }): FaultRecord;
  /** Background work the checks must wait for (restart timers). */
  track(p: Promise<unknown>): void;
  violations: string[];
  notes: string[];
}

interface ScenarioSpec {
  name: string;
  inject(ctx: FaultCtx): Promise<void>;
  allowError?: CheckOptions['allowError'];
  /** Runs between the fault-free phase and the faulted one (e.g. to bring in a slow replica). */
  between?(): Promise<void>;
  /**
   * The load goes on until `inject` returns (at least the phase's duration, at most this much longer): for faults
   * that wait on the cluster's own events (a rebalance, a lease), whose timing depends on the machine's speed.
   */
  holdLoadMs?: number;
  /** The faulted phase's length, when the scenario needs another than the suite's. */
  loadMs?: number;
  /**
   * Measure against an interleaved reference: each fault opens a window of this length, followed by a fault-free
   * window as long; throughput in the first kind against the second, both in the same run with the same processes,
   * so the machine's own drift (which moved whole phases by 17-83 %) cancels. The injector spaces its faults
   * two windows apart.
   */
  windowMs?: number;
  /** Extra checks once the cluster is back (e.g. nothing crashed). */
  after?(ctx: FaultCtx): Promise<void>;
}

interface Phase {
  records: RequestRecord[];
  report: ScenarioReport;
  startedAt: number;
  finishedAt: number;
}

/** Drives the load for `durationMs` while `inject` runs (if any) and checks the requests. */
async function runPhase(env: ChaosEnv, topo: Topology, name: string, durationMs: number, spec: Partial<ScenarioSpec>, faults: FaultRecord[], ctxExtra: { violations: string[]; notes: string[] }): Promise<Phase> {
  const pending: Promise<unknown>[] = [];
  const { violations, notes } = ctxExtra;
  const load = startWorkload({
    nc: topo.client,
    model: topo.model,
    prompts: env.prompts,
    maxTokens: MAX_TOKENS,
    concurrency: env.timing.concurrency,
    durationMs: durationMs + (spec.holdLoadMs ?? 0),
    requestTimeoutMs: env.timing.requestTimeoutMs,
    seed: env.seed ^ hash(name),
    streams: topo.streams,
  });
  const deadline = load.startedAt + durationMs;
  const ctx: FaultCtx = {
    topo,
    rng: prng(env.seed ^ hash(name) ^ 0x5eed),
    deadline,
    fault: (f) => {
      const rec: FaultRecord = { ...f, at: f.at ?? Date.now() };
      faults.push(rec);
      return rec;
    },
    track: (p) => pending.push(p.catch((err: unknown) => violations.push(`fault bookkeeping failed: ${(err as Error).message}`))),
    violations,
    notes,
  };
  if (spec.inject) {
    try {
      await spec.inject(ctx);
    } catch (err) {
      violations.push(`fault injection failed: ${(err as Error).stack ?? err}`);
      load.stop();
    }
  }
  if (spec.holdLoadMs) {
    await sleep(Math.max(0, deadline - Date.now()));
    load.stop();
  }
  const run = await load.done;
  await Promise.all(pending);
  const check = checkRecords(run.records, { expected: env.expected, allowError: spec.allowError });
  violations.push(...check.violations);
  const latencies = run.records.filter((r) => r.end !== undefined && r.outcome !== 'unknown').map((r) => r.end! - r.start);
  return {
    records: run.records,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    report: {
      scenario: name,
      counts: check.counts,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      throughput: check.counts.ok / (Math.max(1, run.finishedAt - run.startedAt) / 1000),
      faults,
      violations,
      notes,
    },
  };
}

/**
 * One scenario on `topo`: a warm-up round, a fault-free phase, then the load with `spec.inject` running; then
 * the cluster must come back to full strength and answer every prompt exactly; then a second fault-free phase
 * (not when `between` changed the cluster for good). The throughput reference is the mean of the two fault-free
 * phases, interleaved around the faulted one so that warm-up and drift cancel; their spread is reported.
 * Returns the faulted phase's report row (the fault-free rows go to env.reports too).
 */
async function runScenario(env: ChaosEnv, topo: Topology, spec: ScenarioSpec): Promise<ScenarioReport> {
  const speed = MachineSpeed.start();
  try {
    return await measureScenario(env, topo, spec, speed);
  } finally {
    speed.stop();
  }
}

async function measureScenario(env: ChaosEnv, topo: Topology, spec: ScenarioSpec, speed: MachineSpeed): Promise<ScenarioReport> {
  const warm = await verifyServing(topo.client, topo.model, env.prompts, env.expected, MAX_TOKENS, env.timing.requestTimeoutMs);
  // fresh actor processes speed up for their first seconds under load: that is not what the reference should measure
  const warmLoad = await runPhase(env, topo, 'warm-up', env.timing.baselineMs, { allowError: undefined }, [], { violations: [], notes: [] });
  warm.push(...warmLoad.report.violations);
  const ref = await runPhase(env, topo, `  fault-free before ${spec.name.split(' ')[0]}`, env.timing.baselineMs, { allowError: undefined }, [], {
    violations: warm.map((v) => `warm-up: ${v}`),
    notes: [],
  });
  ref.report.violations.push(...checkExercised(ref.records));
  ref.report.baselineThroughput = ref.report.throughput;
  env.reports.push(ref.report);
  await spec.between?.();

  const redirects = new CounterSampler(() => gateCounters(topo.gate).redirects);
  const hedges = new CounterSampler(() => gateCounters(topo.gate).hedges);
  const dispatches = spec.windowMs ? new CounterSampler(() => gateCounters(topo.gate).dispatches, 50) : undefined;
  const faults: FaultRecord[] = [];
  const violations: string[] = ref.report.violations.map((v) => `fault-free phase: ${v}`);
  const notes: string[] = [];
  const phase = await runPhase(env, topo, spec.name, spec.loadMs ?? env.timing.loadMs, spec, faults, { violations, notes });
  // a scenario whose fault never happened, or under which nothing was served, passes vacuously: that is a failure
  violations.push(...checkExercised(phase.records, faults));
  for (const via of topo.streams ? ['stream', ...(topo.streams.http ? ['sse'] : [])] : []) {
    const served = phase.records.filter((r) => r.via === via && r.outcome === 'ok').length;
    if (served === 0) violations.push(`no ${via} request was served under the faults`);
    else notes.push(`${served} ${via === 'sse' ? 'HTTP SSE' : 'NATS'} streams served under the faults, each token once and in order`);
  }
  redirects.stop();
  hedges.stop();
  dispatches?.stop();

  const strength = await awaitFullStrength({
    nc: topo.monitor ?? topo.client,
    model: topo.model,
    replicas: topo.replicas,
    experts: env.experts,
    supervisors: topo.supervisors,
    childrenPerSupervisor: topo.childrenPerSupervisor,
    gate: topo.gate,
    timeoutMs: env.timing.recoverMs,
  });
  if (!strength.ok) violations.push(`not back to full strength within ${env.timing.recoverMs} ms: ${strength.missing.slice(0, 8).join('; ')}`);
  else violations.push(...(await verifyServing(topo.client, topo.model, env.prompts, env.expected, MAX_TOKENS, env.timing.requestTimeoutMs)));
  await spec.after?.({ topo, rng: () => 0, deadline: 0, fault: (f) => ({ ...f, at: f.at ?? Date.now() }), track: () => undefined, violations, notes });

  const oks = phase.records.filter((r) => r.outcome === 'ok');
  for (const f of faults) {
    f.redirectMs ??= redirects.firstChangeAfter(f.at, f.at + 15_000);
    f.hedgeMs = hedges.firstChangeAfter(f.at, f.at + 15_000);
    f.hedges = hedges.growth(f.at, (f.until ?? f.at) + 3_000);
    f.gapMs = longestGap(oks, f.at, Math.min(f.at + 10_000, phase.finishedAt));
    if (spec.windowMs) {
      // where a window's loss sits: completions per second from 2 s before the fault to the window's end
      const perSecond = Array.from({ length: 2 + spec.windowMs / 1000 }, (_, k) => oks.filter((r) => r.end! >= f.at + (k - 2) * 1000 && r.end! < f.at + (k - 1) * 1000).length);
      f.note = `${f.note ? `${f.note}; ` : ''}ok per second from -2 s: ${perSecond.slice(0, 2).join(' ')} | ${perSecond.slice(2).join(' ')}`;
    }
    const slow = phase.records.filter((r) => r.end !== undefined && r.end - r.start > 1_000 && r.start < f.at + 2_000 && r.end > f.at);
    if (slow.length > 0) {
      const rel = (t: number) => `${t - f.at >= 0 ? '+' : ''}${t - f.at}`;
      f.note = `${f.note ? `${f.note}; ` : ''}${slow.length} requests over 1 s: ${slow.slice(0, 4).map((r) => `${rel(r.start)}..${rel(r.end!)}ms`).join(' ')}`;
    }
  }
  if (!redirects.available) notes.push('the gate exposes no redirect counter (gate.experts.counters.redirects): redirect times unknown');
  else notes.push(`gate counters after the run: ${Object.entries(gateCounters(topo.gate)).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  let baseline = ref.report.throughput;
  let spread: number | undefined;
  let adjusted: AdjustedRatio | undefined;
  if (!spec.between && strength.ok) {
    const after = await runPhase(env, topo, `  fault-free after ${spec.name.split(' ')[0]}`, env.timing.baselineMs, { allowError: undefined }, [], { violations: [], notes: [] });
    after.report.violations.push(...checkExercised(after.records));
    violations.push(...after.report.violations.map((v) => `fault-free phase after: ${v}`));
    baseline = (ref.report.throughput + after.report.throughput) / 2;
    spread = Math.abs(ref.report.throughput - after.report.throughput) / baseline;
    ref.report.baselineThroughput = after.report.baselineThroughput = baseline;
    env.reports.push(after.report);
    adjusted = atMachineSpeed([phase], [ref, after], speed);
  } else adjusted = atMachineSpeed([phase], [ref], speed);
  const windows = spec.windowMs ? interleavedWindows(oks, faults, spec.windowMs, phase.finishedAt, speed, dispatches) : undefined;
  if (windows) {
    notes.push(`interleaved: ${windows.rounds} windows of ${spec.windowMs! / 1000} s after a fault (${windows.faulted.toFixed(2)} req/s) between ${windows.cleanEach.length} fault-free ones (${windows.clean.toFixed(2)} req/s: ${windows.cleanEach.map((v) => v.toFixed(1)).join(' / ')}; dispatch messages per request in those: ${windows.messagesEach.map((v) => (v === undefined ? '-' : v.toFixed(1))).join(' / ')}); the whole-phase reference would say ${Math.round((100 * phase.report.throughput) / baseline)}% (spread ${spread === undefined ? '-' : `${(100 * spread).toFixed(1)}%`})`);
    adjusted = windows.adjusted;
  }
  const rawRatio = (windows?.faulted ?? phase.report.throughput) / (windows?.clean ?? baseline);
  const rawSpread = windows?.spread ?? spread;
  if (adjusted) notes.push(`at the machine's speed (req/s ÷ the CPUs' measured speed in the same window${adjusted.speeds ? `: ${adjusted.speeds}` : ''}): ${Math.round(100 * adjusted.ratio)}% of fault-free, reference spread ${adjusted.spread === undefined ? '-' : `${(100 * adjusted.spread).toFixed(1)}%`}; by raw req/s ${Math.round(100 * rawRatio)}%, spread ${rawSpread === undefined ? '-' : `${(100 * rawSpread).toFixed(1)}%`}`);
  const report: ScenarioReport = {
    ...phase.report,
    ...(windows ? { throughput: windows.faulted } : {}),
    baselineThroughput: windows?.clean ?? baseline,
    baselineSpread: rawSpread,
    adjusted,
    fullStrengthMs: strength.ok ? strength.ms : undefined,
  };
  env.reports.push(report);
  return report;
}

/**
 * Throughput in the `windowMs` after each fault against fault-free windows as long: the one before the first fault
 * and the one after each fault's window. Their centres and the faulted windows' centres coincide, so a steady drift
 * of the machine's speed cancels (over a run it rose by as much as 40 %). Rounds whose fault-free window runs past
 * the phase are left out. Spread: (max - min) ÷ mean of the fault-free windows.
 */
function interleavedWindows(oks: RequestRecord[], faults: FaultRecord[], windowMs: number, finishedAt: number, speed: MachineSpeed, dispatches?: CounterSampler) {
  const rounds = faults.filter((f) => f.at + 2 * windowMs <= finishedAt);
  if (rounds.length === 0) return undefined;
  const perSecond = (from: number) => oks.filter((r) => r.end! >= from && r.end! < from + windowMs).length / (windowMs / 1000);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const faulted = mean(rounds.map((f) => perSecond(f.at)));
  const cleanStarts = [rounds[0].at - windowMs, ...rounds.map((f) => f.at + windowMs)];
  const cleanEach = cleanStarts.map(perSecond);
  // how the gate split its layers into messages: the fixed cost of a message is what moves throughput between windows
  const messagesEach = cleanStarts.map((from, i) => {
    const sent = dispatches?.growth(from, from + windowMs);
    return sent === undefined ? undefined : sent / (cleanEach[i] * (windowMs / 1000));
  });
  const clean = mean(cleanEach);
  const window = (from: number) => ({ from, to: from + windowMs, rate: perSecond(from) });
  const adjusted = adjustedRatio(rounds.map((f) => window(f.at)), cleanStarts.map(window), speed);
  return { rounds: rounds.length, faulted, clean, cleanEach, messagesEach, spread: (Math.max(...cleanEach) - Math.min(...cleanEach)) / clean, adjusted };
}

interface RateWindow {
  from: number;
  to: number;
  /** Successful requests per second in it. */
  rate: number;
}

/** Whole phases as rate windows, adjusted for the machine's speed. */
function atMachineSpeed(faulted: Phase[], clean: Phase[], speed: MachineSpeed) {
  const window = (p: Phase) => ({ from: p.startedAt, to: p.finishedAt, rate: p.report.throughput });
  return adjustedRatio(faulted.map(window), clean.map(window), speed);
}

/**
 * Faulted against fault-free throughput with each window's rate divided by the machine's speed in it (MachineSpeed):
 * a host that slows a CPU for a while slows every process on it alike, which is not what a fault costs. Spread:
 * (max - min) ÷ mean of the adjusted fault-free windows. Undefined when a window has no speed sample.
 */
function adjustedRatio(faulted: RateWindow[], clean: RateWindow[], speed: MachineSpeed): AdjustedRatio | undefined {
  const at = (w: RateWindow) => {
    const s = speed.speedBetween(w.from, w.to);
    return s === undefined ? undefined : { rate: w.rate / s, speed: s };
  };
  const f = faulted.map(at);
  const c = clean.map(at);
  if ([...f, ...c].some((v) => v === undefined)) return undefined;
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const cleanRates = c.map((v) => v!.rate);
  const top = Math.max(...[...f, ...c].map((v) => v!.speed));
  return {
    ratio: mean(f.map((v) => v!.rate)) / mean(cleanRates),
    spread: cleanRates.length > 1 ? (Math.max(...cleanRates) - Math.min(...cleanRates)) / mean(cleanRates) : undefined,
    speeds: `fault-free ${c.map((v) => (v!.speed / top).toFixed(2)).join(' / ')}, faulted ${f.map((v) => (v!.speed / top).toFixed(2)).join(' / ')} of the fastest`,
  };
}

function longestGap(oks: RequestRecord[], from: number, to: number): number | undefined {
  if (to <= from) return undefined;
  const ends = oks.map((r) => r.end!).filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  let prev = from;
  let gap = 0;
  for (const t of [...ends, to]) {
    gap = Math.max(gap, t - prev);
    prev = t;
  }
  return gap;
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

const untilDeadline = (ctx: FaultCtx, reserveMs = 0) => Date.now() + reserveMs < ctx.deadline;

/** Restricts the random victims of scenarios 1 and 2 to these instances (comma-separated), to replay a case. */
const VICTIMS = (process.env.CHAOS_VICTIM ?? '').split(',').filter(Boolean);

/** Children that are running now, with the probe that owns them. */
async function runningChildren(topo: Topology, victimsOnly = false) {
  const out: { probe: SupervisorProbe; instance: string; pid: number; experts: string[] }[] = [];
  for (const probe of topo.supervisors) {
    const st = await probe.status().catch(() => undefined);
    for (const c of st?.children ?? []) {
      if (victimsOnly && VICTIMS.length > 0 && !VICTIMS.includes(c.instance)) continue;
      if (c.state === 'running' && c.pid) out.push({ probe, instance: c.instance, pid: c.pid, experts: c.experts });
    }
  }
  return out;
}

/** Resolves with the time from `f.at` until the supervisor runs `instance` again with a pid other than `oldPid`. */
function trackRestart(ctx: FaultCtx, f: FaultRecord, probe: SupervisorProbe, instance: string, oldPid: number, timeoutMs = 30_000): void {
  ctx.track(
    (async () => {
      const ms = await waitUntil(async () => {
        const st = await probe.status().catch(() => undefined);
        const c = st?.children.find((x) => x.instance === instance);
        return !!c && c.state === 'running' && c.pid !== undefined && c.pid !== oldPid;
      }, timeoutMs, 10);
      if (ms === undefined) ctx.violations.push(`${instance} was not running again with a new pid ${timeoutMs} ms after ${f.kind}`);
      else f.restartMs = Math.max(f.restartMs ?? 0, Date.now() - f.at);
    })(),
  );
}

// ---------------------------------------------------------------------------------------------
// 1. kill -9 of a random expert actor every few seconds

export async function killRandomExpert(env: ChaosEnv): Promise<ScenarioReport> {
  const topo = await standardCluster(env);
  // the full run measures the goal's rate (a replica killed, then 10 s; >= 95 % of fault-free throughput) against
  // interleaved fault-free windows: 10 s fault-free, then a kill every 20 s, three rounds; the short one kills every 1.5 s
  const windowMs = env.timing.short ? undefined : 10_000;
  const everyMs = windowMs ? 2 * windowMs : 1_500;
  try {
    return await runScenario(env, topo, {
      name: '1 kill -9 expert actor',
      windowMs,
      // a fault-free window, three rounds of two, and room for the last window's requests to end
      loadMs: windowMs ? 7.2 * windowMs : undefined,
      inject: async (ctx) => {
        await sleep(windowMs ?? 1_000);
        while (untilDeadline(ctx, windowMs ? everyMs : 500)) {
          const running = await runningChildren(topo, true);
          const victim = running.length > 0 ? pick(ctx.rng, running) : undefined;
          // a fault is recorded only when the signal reached the process
          if (victim && kill9(victim.pid)) {
            const f = ctx.fault({ kind: 'kill -9', target: victim.instance });
            trackRestart(ctx, f, victim.probe, victim.instance, victim.pid);
          }
          await sleep(everyMs);
        }
      },
    });
  } finally {
    await topo.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. SIGSTOP of an expert actor past the heartbeat bound, then SIGCONT

export async function pauseExpert(env: ChaosEnv): Promise<ScenarioReport> {
  const topo = await standardCluster(env);
  const hangMs = settingsFromEnv().hangMs;
  const stopMs = hangMs + 1_500;
  const paused = new Set<number>();
  try {
    return await runScenario(env, topo, {
      name: `2 SIGSTOP expert ${stopMs}ms`,
      inject: async (ctx) => {
        await sleep(1_000);
        while (untilDeadline(ctx, stopMs + 500)) {
          const running = await runningChildren(topo, true);
          const victim = running.length > 0 ? pick(ctx.rng, running) : undefined;
          // a fault is recorded only when the signal reached the process
          if (victim && pause(victim.pid)) {
            paused.add(victim.pid);
            const f = ctx.fault({ kind: 'SIGSTOP', target: victim.instance });
            trackRestart(ctx, f, victim.probe, victim.instance, victim.pid);
            const goneMs = await waitUntil(() => !alive(victim.pid), stopMs, 10);
            await sleep(Math.max(0, stopMs - (Date.now() - f.at)));
            const stillThere = alive(victim.pid);
            resume(victim.pid);
            paused.delete(victim.pid);
            f.until = Date.now();
            f.note = goneMs === undefined ? `NOT killed while stopped` : `supervisor killed it ${goneMs} ms after SIGSTOP`;
            if (stillThere) ctx.violations.push(`${victim.instance} (pid ${victim.pid}) was still alive ${stopMs} ms after SIGSTOP: the hang bound is ${hangMs} ms`);
          }
          await sleep(env.timing.short ? 1_000 : 2_500);
        }
      },
    });
  } finally {
    for (const pid of paused) resume(pid);
    await topo.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// 3. A slow replica: one of two supervisor nodes runs its expert actors with EAAS_EXPERT_DELAY_MS

export const SLOW_DELAY_MS = Number(process.env.CHAOS_SLOW_MS) || 250;

export async function slowReplica(env: ChaosEnv, delayMs = SLOW_DELAY_MS): Promise<ScenarioReport> {
  const server = await startNatsServer();
  const nodes = new Map<string, RunningNode>();
  let client: NatsConnection | undefined;
  try {
    const base = { nats: server.url, modelDir: env.dir, replicas: 1, expertsPerActor: EXPERTS_PER_ACTOR } as const;
    // both supervisor nodes start healthy (the fault-free phase); then "slow" is replaced by one whose actors wait delayMs
    nodes.set('fast', await startNode({ ...base, roles: ['supervisor'], node: 'fast' }));
    nodes.set('slow', await startNode({ ...base, roles: ['supervisor'], node: 'slow' }));
    const gate = await startNode({ ...base, roles: ['gate'], node: 'gate' });
    nodes.set('gate', gate);
    client = await connectNats(server.url, 'chaos-client');
    const probe = (name: string): SupervisorProbe => ({ node: name, status: async () => nodes.get(name)!.supervisor!.status() });
    const topo: Topology = {
      model: gate.model,
      client,
      gate: gate.gate,
      supervisors: [probe('fast'), probe('slow')],
      childrenPerSupervisor: env.experts.length / EXPERTS_PER_ACTOR,
      replicas: 2,
      stop: async () => undefined,
    };
    let servedBefore = { fast: 0, slow: 0 };
    const served = async () => {
      const cs = await clusterStatus(client!);
      const by = (node: string) => cs.actors.filter((a) => a.service === 'eaas-expert' && a.node === node).reduce((sum, a) => sum + a.requests, 0);
      return { fast: by('fast'), slow: by('slow') };
    };
    return await runScenario(env, topo, {
      name: `3 slow replica +${delayMs}ms`,
      between: async () => {
        await nodes.get('slow')!.stop();
        nodes.set('slow', await startNode({ ...base, roles: ['supervisor'], node: 'slow', expertEnv: { EAAS_EXPERT_DELAY_MS: String(delayMs) } }));
        await waitUntil(() => env.experts.every((id) => (gateReplicas(gate.gate, id) ?? 2) === 2), 10_000);
        servedBefore = await served();
      },
      inject: async (ctx) => {
        ctx.fault({ kind: `EAAS_EXPERT_DELAY_MS=${delayMs}`, target: 'node slow (all its expert actors)', until: ctx.deadline });
      },
      after: async (ctx) => {
        const now = await served();
        const fast = now.fast - servedBefore.fast;
        const slow = now.slow - servedBefore.slow;
        if (slow === 0) ctx.violations.push('the slow replica served no dispatch under load: the fault was not exercised');
        ctx.notes.push(`dispatches served under load: fast node ${fast}, slow node ${slow} (${Math.round((100 * slow) / Math.max(1, fast + slow))}% to the slow replica)`);
      },
    });
  } finally {
    await client?.close().catch(() => undefined);
    for (const n of [...nodes.values()].reverse()) await n.stop().catch(() => undefined);
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// 4. kill -9 of a supervisor process (its expert actors must go with it), then restart it

export async function killSupervisor(env: ChaosEnv): Promise<ScenarioReport> {
  const server = await startNatsServer();
  const cli = new Map<string, CliNode>();
  let gate: RunningNode | undefined;
  let client: NatsConnection | undefined;
  const names = ['sup-a', 'sup-b'];
  const startCli = (node: string) => startCliNode({ nats: server.url, modelDir: env.dir, node, replicas: 1, expertsPerActor: EXPERTS_PER_ACTOR });
  try {
    for (const n of names) cli.set(n, await startCli(n));
    gate = await startNode({ nats: server.url, modelDir: env.dir, roles: ['gate'], node: 'gate' });
    client = await connectNats(server.url, 'chaos-client');
    const topo: Topology = {
      model: gate.model,
      client,
      gate: gate.gate,
      supervisors: names.map((n) => remoteProbe(client!, gate!.model, n)),
      childrenPerSupervisor: env.experts.length / EXPERTS_PER_ACTOR,
      replicas: 2,
      stop: async () => undefined,
    };
    const downMs = env.timing.short ? 1_500 : 3_000;
    return await runScenario(env, topo, {
      name: '4 kill -9 supervisor',
      inject: async (ctx) => {
        await sleep(1_000);
        let i = 0;
        while (untilDeadline(ctx, downMs + 3_000)) {
          const name = names[i++ % names.length]!;
          const victim = cli.get(name)!;
          const st = await remoteProbe(client!, gate!.model, name).status();
          const childPids = st.children.map((c) => c.pid).filter((p): p is number => p !== undefined);
          if (!kill9(victim.pid)) ctx.violations.push(`supervisor ${name} (pid ${victim.pid}) had already exited when it was to be killed`);
          const f = ctx.fault({ kind: 'kill -9 supervisor', target: `${name} (pid ${victim.pid}, expert actors ${childPids.join(',')})` });
          // its expert actors notice the closed IPC channel, drain and exit
          const orphansGoneMs = await waitUntil(() => survivors(childPids).length === 0, 10_000, 20);
          if (orphansGoneMs === undefined) ctx.violations.push(`expert actors ${survivors(childPids).join(',')} of killed supervisor ${name} still run 10 s later (orphans)`);
          await sleep(Math.max(0, downMs - (Date.now() - f.at)));
          const t = Date.now();
          const next = await startCli(name);
          cli.set(name, next);
          f.until = t;
          const probe = remoteProbe(client!, gate!.model, name);
          const upMs = await waitUntil(async () => {
            const s = await probe.status().catch(() => undefined);
            return !!s && s.children.length > 0 && s.children.every((c) => c.state === 'running');
          }, 30_000, 20);
          f.restartMs = upMs === undefined ? undefined : Date.now() - f.at;
          f.note = `orphans exited ${orphansGoneMs ?? '?'} ms after the kill; restarted after ${t - f.at} ms, its actors running ${Date.now() - t} ms later`;
          await sleep(env.timing.short ? 1_000 : 3_000);
        }
      },
    });
  } finally {
    await client?.close().catch(() => undefined);
    await gate?.stop().catch(() => undefined);
    for (const c of cli.values()) await c.stop().catch(() => undefined);
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// 5. Three nats-servers; one is killed and restarted (same ports) under load

const portOf = (hostport: string) => Number(hostport.split(':').pop());

export interface NatsRestartOptions {
  /**
   * The workload's client starts on the server that is killed (server 1, every round) and fails over to the others.
   * Default: the client stays on server 0, which is never killed, so only the cluster's own connections are tested.
   */
  clientOnVictim?: boolean;
  /** A secure deployment: TLS on client and route ports, per-role credentials and permissions (eaas up --secure). */
  secure?: boolean;
}

export async function natsServerRestart(env: ChaosEnv, o: NatsRestartOptions = {}): Promise<ScenarioReport> {
  const stateDir = o.secure ? mkdtempSync(join(tmpdir(), 'eaas-chaos-secure-')) : undefined;
  const model = modelName(env.dir);
  const sec = stateDir ? await prepareSecure(stateDir, model) : undefined;
  const secure = sec && { tls: sec.tls, auth: sec.serverAuth };
  const cluster = await startNatsCluster(3, { secure, probe: sec?.probe });
  const servers = [...cluster.servers];
  const urls = cluster.urls;
  const nodes: RunningNode[] = [];
  let client: NatsConnection | undefined;
  let monitor: NatsConnection | undefined;
  const clientAuth = sec ? { creds: sec.users.client, tlsCa: sec.tls.ca } : {};
  try {
    client = o.clientOnVictim
      ? await connectNats([urls[1]!, urls[0]!, urls[2]!], 'chaos-client', { noRandomize: true }, clientAuth)
      : await connectNats(urls[0]!, 'chaos-client', {}, clientAuth);
    const clusterName = cluster.clusterName;
    const supervisor = await startNode({
      nats: [urls[1], urls[2], urls[0]].join(','),
      modelDir: env.dir,
      roles: ['supervisor'],
      replicas: REPLICAS,
      expertsPerActor: EXPERTS_PER_ACTOR,
      node: 'sup',
      auth: await sec?.nodeAuth(model, 'sup'),
      expertAuth: sec && ((instance) => sec.expertAuth(model, 'sup', instance)),
    });
    nodes.push(supervisor);
    // the gate's process serves the HTTP front too: SSE clients stream through it
    const gate = await startNode({ nats: [urls[2], urls[1], urls[0]].join(','), modelDir: env.dir, roles: ['gate', 'api'], node: 'gate', httpPort: 0, auth: await sec?.nodeAuth(model, 'gate') });
    nodes.push(gate);
    monitor = sec ? await connectNats(urls[0]!, 'chaos-monitor', {}, { creds: sec.users.monitor, tlsCa: sec.tls.ca }) : undefined;
    const topo: Topology = {
      model: gate.model,
      client,
      monitor,
      gate: gate.gate,
      supervisors: [localProbe(supervisor.supervisor!)],
      childrenPerSupervisor: (REPLICAS * env.experts.length) / EXPERTS_PER_ACTOR,
      replicas: REPLICAS,
      streams: { http: gate.api!.url },
      stop: async () => undefined,
    };
    const downMs = Number(process.env.CHAOS_NATS_DOWN_MS) || (env.timing.short ? 1_500 : 3_000);
    const watches = [new ConnectionWatch('client', client), new ConnectionWatch('gate', gate.nc), new ConnectionWatch('supervisor', supervisor.nc)];
    const roundFaults: FaultRecord[] = [];
    return await runScenario(env, topo, {
      after: async () => {
        for (const f of roundFaults) {
          const seen = watches.map((w) => w.describe(f.at, (f.until ?? f.at) + 1_000)).filter(Boolean);
          f.note = `${f.note}; ${seen.length > 0 ? seen.join('; ') : 'no eaas connection of this process noticed'}`;
        }
      },
      name: o.secure ? '5s nats-server kill -9, secure cluster' : o.clientOnVictim ? "5b nats-server kill -9 (the client's)" : '5 nats-server kill -9',
      inject: async (ctx) => {
        await sleep(1_000);
        let round = 0;
        while (untilDeadline(ctx, downMs + 2_000)) {
          const gatePort = portOf(gate.nc.getServer());
          const supPort = portOf(supervisor.nc.getServer());
          const clientPort = portOf(client!.getServer());
          // alternate between servers 1 and 2, starting with the one the gate is not on;
          // with clientOnVictim, always the server the client is on (it fails over, and the next round follows it)
          const idx = o.clientOnVictim
            ? servers.findIndex((s) => s.port === clientPort)
            : (gatePort === servers[1]!.port ? [2, 1] : [1, 2])[round % 2]!;
          round++;
          const victim = servers[idx]!;
          const others = servers.filter((_, i) => i !== idx);
          victim.kill('SIGKILL');
          const f = ctx.fault({
            kind: 'nats-server kill -9',
            target: `server ${idx} :${victim.port}${victim.port === gatePort ? " (the gate's)" : ''}${victim.port === supPort ? " (the supervisor's)" : ''}${victim.port === clientPort ? " (the client's)" : ''}`,
          });
          await sleep(downMs);
          const t = Date.now();
          servers[idx] = await startNatsServer({
            port: victim.port,
            clusterPort: victim.clusterPort,
            clusterName,
            serverName: `chaos-restarted-${idx}-${round}`,
            routes: others.map((s) => `nats-route://127.0.0.1:${s.clusterPort}`),
            secure,
          });
          f.until = t;
          f.note = `restarted after ${t - f.at} ms, accepting clients ${Date.now() - t} ms later`;
          roundFaults.push(f);
          await sleep(env.timing.short ? 1_000 : 3_000);
        }
      },
    });
  } finally {
    await client?.close().catch(() => undefined);
    await monitor?.close().catch(() => undefined);
    for (const n of nodes.reverse()) await n.stop().catch(() => undefined);
    await Promise.all(servers.map((s) => s.stop()));
    await cluster.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// 6. Network faults between one expert node and NATS: latency, dropped and stalled connections

type ProxyPhase = { mode: Parameters<FaultProxy['setMode']>[0]; ms: number; healMs: number };

/**
 * `phases` (default): 50 ms added latency, a dropped connection (1 s), a stalled connection (4 s), each healed.
 * `flapping`: the link drops for 3 s and comes back for 0.5 s, seven times, then stays up — a flaky network, after
 * which the proxied node must serve again.
 */
export async function networkFaults(env: ChaosEnv, variant: 'phases' | 'flapping' = 'phases'): Promise<ScenarioReport> {
  const server = await startNatsServer();
  const proxy = await FaultProxy.start({ port: server.port });
  const nodes: RunningNode[] = [];
  let client: NatsConnection | undefined;
  try {
    const base = { modelDir: env.dir, replicas: 1, expertsPerActor: EXPERTS_PER_ACTOR } as const;
    nodes.push(await startNode({ ...base, nats: server.url, roles: ['supervisor'], node: 'direct' }));
    const far = await startNode({ ...base, nats: proxy.url, roles: ['supervisor'], node: 'proxied' });
    nodes.push(far);
    const gate = await startNode({ ...base, nats: server.url, roles: ['gate'], node: 'gate' });
    nodes.push(gate);
    client = await connectNats(server.url, 'chaos-client');
    const topo: Topology = {
      model: gate.model,
      client,
      gate: gate.gate,
      supervisors: nodes.filter((n) => n.supervisor).map((n) => localProbe(n.supervisor!)),
      childrenPerSupervisor: env.experts.length / EXPERTS_PER_ACTOR,
      replicas: 2,
      stop: async () => undefined,
    };
    const s = env.timing.short ? 0.5 : 1;
    const phases: ProxyPhase[] =
      variant === 'flapping'
        ? Array.from({ length: 7 }, () => ({ mode: { kind: 'drop' as const }, ms: 3_000, healMs: 500 }))
        : [
            { mode: { kind: 'latency', ms: 50 }, ms: 4_000 * s, healMs: 2_000 * s },
            { mode: { kind: 'drop' }, ms: 1_000 * s, healMs: 4_000 * s },
            { mode: { kind: 'stall' }, ms: 4_000 * s, healMs: 1_000 },
          ];
    const restartsBefore = far.supervisor!.status().children.reduce((a, c) => a + c.restarts, 0);
    return await runScenario(env, topo, {
      name: variant === 'flapping' ? '6b flapping link (proxy)' : '6 network faults (proxy)',
      inject: async (ctx) => {
        await sleep(1_000);
        for (const p of phases) {
          if (!untilDeadline(ctx, p.ms)) break;
          const restarts = far.supervisor!.status().children.reduce((a, c) => a + c.restarts, 0);
          proxy.setMode(p.mode);
          const f = ctx.fault({ kind: `proxy ${p.mode.kind}${p.mode.kind === 'latency' ? ` ${p.mode.ms}ms` : ''}`, target: 'node proxied (supervisor + its expert actors)' });
          await sleep(p.ms);
          proxy.setMode({ kind: 'pass' });
          f.until = Date.now();
          await sleep(p.healMs);
          const now = far.supervisor!.status().children.reduce((a, c) => a + c.restarts, 0);
          f.note = `expert actor restarts on the proxied node during the phase + heal: ${now - restarts}`;
        }
        ctx.notes.push(`proxied node restarts over the run: ${far.supervisor!.status().children.reduce((a, c) => a + c.restarts, 0) - restartsBefore}`);
      },
      after: async (ctx) => {
        ctx.notes.push(`proxied node children at the end: ${far.supervisor!.status().children.map((c) => `${c.instance} ${c.state} (${c.restarts} restarts)`).join(', ')}`);
      },
    });
  } finally {
    proxy.setMode({ kind: 'pass' });
    await client?.close().catch(() => undefined);
    for (const n of nodes.reverse()) await n.stop().catch(() => undefined);
    await proxy.stop();
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// 7. All replicas of one expert killed at once

const NO_REPLICA = /no live replica of experts? ([0-9:, ]+) \(layer:expert\)/;

export interface KillAllOptions {
  /**
   * The gate's EAAS_NO_REPLICA_WAIT_MS. Default (unset): the product default (30 s), longer than a restart, so
   * requests wait and succeed. Shorter than a restart (e.g. 300): requests must fail with an error naming the experts.
   */
  noReplicaWaitMs?: number;
}

export async function killAllReplicas(env: ChaosEnv, o: KillAllOptions = {}): Promise<ScenarioReport> {
  const topo = await standardCluster(env, o.noReplicaWaitMs ? { EAAS_NO_REPLICA_WAIT_MS: String(o.noReplicaWaitMs) } : {});
  const everyMs = env.timing.short ? 3_000 : 5_000;
  /** Every expert that had all its replicas killed at some point (the one chosen and any other the two actors shared). */
  const killed = new Set<string>();
  let failedNamed = 0;
  try {
    return await runScenario(env, topo, {
      name: o.noReplicaWaitMs ? `7b kill all replicas, wait ${o.noReplicaWaitMs}ms` : '7 kill all replicas of an expert',
      // allowed: a clear error naming experts whose replicas were all killed
      allowError: (r) => {
        const m = NO_REPLICA.exec(r.error ?? '');
        const ok = !!m && m[1]!.split(',').map((s) => s.trim()).every((id) => killed.has(id));
        if (ok) failedNamed++;
        return ok;
      },
      after: async (ctx) => {
        if (o.noReplicaWaitMs) ctx.notes.push(`${failedNamed} requests failed naming the missing experts (${[...killed].join(' ')} were without replicas at some point)`);
      },
      inject: async (ctx) => {
        await sleep(1_000);
        while (untilDeadline(ctx, 500)) {
          const running = await runningChildren(topo);
          const id = pick(ctx.rng, env.experts);
          const hosts = running.filter((c) => c.experts.includes(id));
          // a fault is recorded only when the signal reached at least one of the processes
          if (hosts.length === REPLICAS && hosts.filter((h) => kill9(h.pid)).length > 0) {
            const victims = new Set(hosts.map((h) => h.instance));
            for (const e of new Set(hosts.flatMap((h) => h.experts))) {
              if (running.filter((c) => c.experts.includes(e)).every((c) => victims.has(c.instance))) killed.add(e);
            }
            const f = ctx.fault({ kind: 'kill -9 all replicas', target: `${id} (${hosts.map((h) => h.instance).join(', ')})` });
            for (const h of hosts) trackRestart(ctx, f, h.probe, h.instance, h.pid);
          }
          await sleep(everyMs);
        }
      },
    });
  } finally {
    await topo.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// 8. Bad input on the expert dispatch subjects while serving

interface BadInput {
  name: string;
  payload: (hidden: number, expert: { layer: number; expert: number }) => Uint8Array;
  /** What the answer must be: an error code class, or a good answer of `rows` rows. */
  expect: { error: RegExp } | { rows: number };
  headers?: () => ReturnType<typeof headers>;
}

const BIG_ROWS = 28_000; // ~7 MB of f32 at hidden 64: inside the 8 MB max_payload

export const BAD_INPUTS: BadInput[] = [
  { name: 'random bytes', payload: () => Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff), expect: { error: /^4\d\d$/ } },
  { name: 'empty', payload: () => new Uint8Array(0), expect: { error: /^4\d\d$/ } },
  { name: 'msgpack number', payload: () => encodeMessage(42), expect: { error: /^4\d\d$/ } },
  { name: 'msgpack array', payload: () => encodeMessage([1, 2, 3]), expect: { error: /^4\d\d$/ } },
  { name: 'missing tensor', payload: (_h, e) => encodeMessage({ layer: e.layer, experts: [e.expert], rows: [1] }), expect: { error: /^4\d\d$/ } },
  { name: 'wrong hidden size', payload: (h, e) => encodeDispatch({ layer: e.layer, experts: [e.expert], rows: [2], x: new Float32Array(2 * (h / 2)) }, h / 2, 'f32'), expect: { error: /^4\d\d$/ } },
  { name: 'rows do not add up', payload: (h, e) => encodeDispatch({ layer: e.layer, experts: [e.expert, e.expert], rows: [2], x: new Float32Array(2 * h) }, h, 'f32'), expect: { error: /^4\d\d$/ } },
  {
    name: 'claims 2^40 rows',
    payload: (h, e) => encodeMessage({ layer: e.layer, experts: [e.expert], rows: [2 ** 40], x: { dtype: 'f32', shape: [2 ** 40, h], data: new Uint8Array(16) } }),
    expect: { error: /^4\d\d$/ },
  },
  { name: 'unknown dtype', payload: (h, e) => encodeMessage({ layer: e.layer, experts: [e.expert], rows: [1], x: { dtype: 'f64', shape: [1, h], data: new Uint8Array(8 * h) } }), expect: { error: /^4\d\d$/ } },
  { name: 'truncated bf16 data', payload: (h, e) => encodeMessage({ layer: e.layer, experts: [e.expert], rows: [1], x: { dtype: 'bf16', shape: [1, h], data: new Uint8Array(h) } }), expect: { error: /^4\d\d$/ } },
  { name: 'negative layer', payload: (h, e) => encodeMessage({ layer: -1, experts: [e.expert], rows: [1], x: { dtype: 'f32', shape: [1, h], data: new Uint8Array(4 * h) } }), expect: { error: /^4\d\d$/ } },
  { name: 'expert not hosted', payload: (h) => encodeDispatch({ layer: 99, experts: [0], rows: [1], x: new Float32Array(h) }, h, 'f32'), expect: { error: /^404$/ } },
  { name: 'deeply nested msgpack', payload: () => new Uint8Array(200_000).fill(0x91), expect: { error: /^4\d\d$/ } },
  { name: 'string where map expected', payload: () => encodeMessage('dispatch me'), expect: { error: /^4\d\d$/ } },
  { name: 'garbage traceparent header', payload: (h, e) => encodeDispatch({ layer: e.layer, experts: [e.expert], rows: [3], x: new Float32Array(3 * h).fill(0.25) }, h, 'f32'), headers: () => garbageTrace(), expect: { rows: 3 } },
  { name: `oversized (${BIG_ROWS} rows, ~7 MB)`, payload: (h, e) => encodeDispatch({ layer: e.layer, experts: [e.expert], rows: [BIG_ROWS], x: new Float32Array(BIG_ROWS * h).fill(0.01) }, h, 'f32'), expect: { rows: BIG_ROWS } },
];

function garbageTrace() {
  const h = headers();
  h.set('traceparent', 'zz-not-a-trace-\u0001');
  h.set('tracestate', '=,=,=');
  return h;
}

export async function badInput(env: ChaosEnv): Promise<ScenarioReport> {
  const topo = await standardCluster(env);
  const hidden = 64;
  let fuzz: NatsConnection | undefined;
  const answered = new Map<string, number>();
  let before: { instance: string; pid?: number; restarts: number }[] = [];
  try {
    fuzz = await connectNats(topo.server!.url, 'chaos-fuzzer');
    before = (await topo.supervisors[0]!.status()).children.map((c) => ({ instance: c.instance, pid: c.pid, restarts: c.restarts }));
    return await runScenario(env, topo, {
      name: '8 bad input on dispatch subjects',
      inject: async (ctx) => {
        ctx.fault({ kind: 'bad input', target: `${BAD_INPUTS.length} kinds to every expert actor, ${env.timing.short ? 40 : 20}/s`, until: ctx.deadline });
        const gap = env.timing.short ? 25 : 50;
        let i = 0;
        const inflight: Promise<void>[] = [];
        while (untilDeadline(ctx, 2_000)) {
          const st = await topo.supervisors[0]!.status();
          const child = pick(ctx.rng, st.children);
          const { layer, expert } = parseExpertKey(pick(ctx.rng, child.experts));
          const bad = BAD_INPUTS[i++ % BAD_INPUTS.length]!;
          const subject = subjects.expertDispatch(topo.model, child.instance);
          const payload = bad.payload(hidden, { layer, expert });
          // every fifth one is fire-and-forget (no reply subject): it must be dropped quietly
          if (i % 5 === 0 && 'error' in bad.expect) {
            fuzz!.publish(subject, payload);
          } else {
            inflight.push(
              fuzz!.request(subject, payload, { timeout: 5_000, headers: bad.headers?.() }).then(
                (reply) => {
                  const code = reply.headers?.get('Nats-Service-Error-Code') ?? '';
                  if ('error' in bad.expect) {
                    if (!bad.expect.error.test(code)) ctx.violations.push(`bad input "${bad.name}" to ${child.instance} answered with code "${code}" (${reply.headers?.get('Nats-Service-Error') ?? 'no error'})`);
                  } else if (code) {
                    ctx.violations.push(`input "${bad.name}" to ${child.instance} failed: ${code} ${reply.headers?.get('Nats-Service-Error')}`);
                  } else {
                    try {
                      decodeDispatchReply(reply.data, bad.expect.rows, hidden);
                    } catch (err) {
                      ctx.violations.push(`input "${bad.name}" to ${child.instance} answered badly: ${(err as Error).message}`);
                    }
                  }
                  answered.set(bad.name, (answered.get(bad.name) ?? 0) + 1);
                },
                (err: Error) => {
                  ctx.violations.push(`bad input "${bad.name}" to ${child.instance} got no answer: ${err.message}`);
                },
              ),
            );
          }
          await sleep(bad.name.startsWith('oversized') ? gap * 10 : gap);
        }
        await Promise.all(inflight);
      },
      after: async (ctx) => {
        const now = (await topo.supervisors[0]!.status()).children;
        for (const b of before) {
          const c = now.find((x) => x.instance === b.instance);
          if (!c || c.pid !== b.pid || c.restarts !== b.restarts) ctx.violations.push(`${b.instance} did not keep serving: pid ${b.pid} -> ${c?.pid}, restarts ${b.restarts} -> ${c?.restarts}`);
        }
        if (answered.size === 0) ctx.violations.push('no bad input was answered: the fault was not exercised');
        ctx.notes.push(`bad inputs answered: ${[...answered].map(([k, v]) => `${k} ×${v}`).join(', ')}`);
      },
    });
  } finally {
    await fuzz?.close().catch(() => undefined);
    await topo.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// 9. Elastic placement: the controller rebalances under load while the active controller and expert actors are killed

/** Every rebalance the packing finds at least as good, at most one per 1.5 s, always 8 actors (16 experts × 2 replicas ÷ 4 per actor). */
/** How long scenario 9 waits, under load, for a rebalance in flight with a leader to kill, and then for the standby to lead. */
const REBALANCE_WAIT_MS = 20_000;
const TAKEOVER_WAIT_MS = 15_000;

const REBALANCING_POLICY = { minReplicas: REPLICAS, perActor: 4, minGain: 0, rebalanceMinBusy: 0, minIntervalMs: 1_500, maxActors: 8, upDelayMs: 3_600_000, downDelayMs: 3_600_000 };

export async function elasticRebalance(env: ChaosEnv, o: { secure?: boolean } = {}): Promise<ScenarioReport> {
  const stateDir = mkdtempSync(join(tmpdir(), 'eaas-chaos-elastic-'));
  const policyFile = join(stateDir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(REBALANCING_POLICY));
  const model = modelName(env.dir);
  // secure: TLS, per-role credentials, and the placement bucket under each role's least rights (eaas up --secure --autoscale)
  const sec = o.secure ? await prepareSecure(join(stateDir, 'secure'), model) : undefined;
  const server = await startNatsServer({ jetstream: { storeDir: join(stateDir, 'js') }, secure: sec && { tls: sec.tls, auth: sec.serverAuth } });
  const controllers = new Map<string, CliNode>();
  /** What the supervisor says of each placement it carried out. */
  const followed: string[] = [];
  let node: RunningNode | undefined;
  let client: NatsConnection | undefined;
  let monitor: NatsConnection | undefined;
  try {
    node = await withEnv({ EAAS_LOAD_REPORT_MS: '500', EAAS_LOAD_WINDOW_MS: '3000' }, async () =>
      startNode({
        nats: server.url,
        modelDir: env.dir,
        roles: ['supervisor', 'gate'],
        replicas: REPLICAS,
        expertsPerActor: EXPERTS_PER_ACTOR,
        node: 'chaos',
        followPlacement: true,
        log: (l) => followed.push(l),
        auth: await sec?.nodeAuth(model, 'chaos', true),
        expertAuth: sec && ((instance) => sec.expertAuth(model, 'chaos', instance)),
      }),
    );
    client = await connectNats(server.url, 'chaos-client', {}, sec ? { creds: sec.users.client, tlsCa: sec.tls.ca } : {});
    // the placement is read as an operator's tools read it: with the monitor's rights on a secure cluster
    monitor = sec ? await connectNats(server.url, 'chaos-monitor', {}, { creds: sec.users.monitor, tlsCa: sec.tls.ca }) : client;
    const store = await PlacementStore.open(monitor, node.model);
    const supervisor = node.supervisor!;
    const topo: Topology = {
      model: node.model,
      client,
      gate: node.gate,
      supervisors: [localProbe(supervisor)],
      childrenPerSupervisor: (REPLICAS * env.experts.length) / REBALANCING_POLICY.perActor,
      replicas: REPLICAS,
      monitor,
      stop: async () => undefined,
    };
    /** A change in flight: the desired revision is ahead of what the supervisor carried out. */
    const rebalancing = async () => {
      const [d, [a]] = await Promise.all([store.desired(), store.actuals()]);
      return !!d && !!a && d.record.revision > a.record.revision;
    };
    const controllerEnv = { EAAS_CONTROLLER_TICK_MS: '500', EAAS_LEASE_MS: '1500' };
    let firstLeader: string | undefined;
    return await runScenario(env, topo, {
      name: `9 rebalance, kill -9 controller and actors${o.secure ? ' (secure)' : ''}`,
      // the faults wait on the controllers: their start, the first rebalance and the standby's takeover take longer on a loaded machine
      holdLoadMs: REBALANCE_WAIT_MS + TAKEOVER_WAIT_MS + 10_000,
      inject: async (ctx) => {
        for (const name of ['ctl-a', 'ctl-b']) {
          const creds = sec ? ['--creds', (await sec.controllerAuth(model, name)).creds!, '--tls-ca', sec.tls.ca] : [];
          controllers.set(name, await startCliNode({ nats: server.url, modelDir: env.dir, node: name, roles: 'controller', env: controllerEnv, extraArgs: ['--placement-policy', policyFile, ...creds] }));
        }
        // the active controller dies with its change in flight: the standby must take over and finish it
        const inFlight = await waitUntil(async () => {
          if (!(await rebalancing())) return false;
          firstLeader = (await store.lease())?.record.holder;
          return !!firstLeader && controllers.has(firstLeader);
        }, REBALANCE_WAIT_MS, 25);
        if (inFlight === undefined) return void (firstLeader = undefined);
        const victim = controllers.get(firstLeader!)!;
        if (!kill9(victim.pid)) return void ctx.violations.push(`controller ${firstLeader} (pid ${victim.pid}) had already exited when it was to be killed`);
        const killed = ctx.fault({ kind: 'kill -9 controller', target: `${firstLeader} (pid ${victim.pid}) mid-rebalance` });
        // expert actors die too while the change is carried out, until the standby has taken over and the load's time is up
        const tookOver = async () => {
          const leader = (await store.controller())?.leader;
          return !!leader && leader !== firstLeader;
        };
        let takenOverMs: number | undefined;
        while (takenOverMs === undefined || untilDeadline(ctx, 2_000)) {
          if (Date.now() - killed.at > TAKEOVER_WAIT_MS) break;
          if (await rebalancing()) {
            // one actor fault at a time: every expert of the victim keeps a replica (all replicas lost is scenario 7)
            const running = (await runningChildren(topo)).filter((c) => alive(c.pid));
            const spared = running.filter((c) => c.experts.every((id) => running.some((o) => o !== c && o.experts.includes(id))));
            const victim = spared.length > 0 ? pick(ctx.rng, spared) : undefined;
            if (victim && kill9(victim.pid)) {
              const f = ctx.fault({ kind: 'kill -9 mid-rebalance', target: victim.instance });
              // the actor comes back, or leaves with the placement that no longer wants it
              ctx.track(
                waitUntil(async () => {
                  const c = (await topo.supervisors[0].status()).children.find((x) => x.instance === victim.instance);
                  return !c || (c.state === 'running' && c.pid !== victim.pid);
                }, 30_000, 20).then((ms) => {
                  if (ms === undefined) ctx.violations.push(`${victim.instance} neither restarted nor retired 30 s after ${f.kind}`);
                  else f.restartMs = Date.now() - f.at;
                }),
              );
            }
          }
          const pauseMs = env.timing.short ? 700 : 1_500;
          if (takenOverMs !== undefined) await sleep(pauseMs);
          else if ((await waitUntil(tookOver, pauseMs, 50)) !== undefined) takenOverMs = Date.now() - killed.at;
        }
        if (takenOverMs !== undefined) killed.note = `the standby led ${takenOverMs} ms after the kill`;
        // the phases after this one measure a fixed placement
        for (const c of controllers.values()) await c.stop();
      },
      after: async (ctx) => {
        const [d, actual, record] = await Promise.all([store.desired(), store.actuals(), store.controller()]);
        if (!firstLeader) ctx.violations.push('no rebalance was in flight while the controller could be killed');
        if (!d) ctx.violations.push('no placement revision was written');
        const reached = actual[0]?.record.revision;
        if (d && reached !== d.record.revision) ctx.violations.push(`the supervisor reached revision ${reached}, the desired one is ${d.record.revision}`);
        if (record && record.leader === firstLeader) ctx.violations.push(`the standby never took over from ${firstLeader}`);
        const hosted = supervisor.hosted().map((c) => c.instance).sort();
        const wanted = (d?.record.actors ?? []).map((a) => a.instance).sort();
        if (JSON.stringify(hosted) !== JSON.stringify(wanted)) ctx.violations.push(`the supervisor runs ${hosted.join(',')}, the placement wants ${wanted.join(',')}`);
        ctx.notes.push(`placement revisions ${d?.record.revision ?? 0}, the last by ${record?.leader} (${d?.record.reason}); first leader ${firstLeader}`, ...followed);
      },
    });
  } finally {
    if (monitor !== client) await monitor?.close().catch(() => undefined);
    await client?.close().catch(() => undefined);
    for (const c of controllers.values()) await c.stop().catch(() => undefined);
    await node?.stop().catch(() => undefined);
    await server.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

export const SCENARIOS = { killRandomExpert, pauseExpert, slowReplica, killSupervisor, natsServerRestart, networkFaults, killAllReplicas, badInput, elasticRebalance };
