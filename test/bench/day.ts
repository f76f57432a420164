// `npm run bench:day`: the "compressed day" of issue 9 (elastic experts). One day of traffic in `--minutes`: the
// arrival rate follows a daily curve (night trough at 30 % of the peak, peak mid-run), bursty as the Azure LLM
// inference conversation trace (its own inter-arrival gaps, warped onto the curve), request lengths from the same
// trace scaled to the model. The same schedule runs twice: on a static cluster provisioned for the peak, then on an
// autoscaled one (`autoscale` policy) allowed as many actors at most. Every answer is checked against the monolith.
// Reported: expert-actor-seconds of both and their ratio (goal <= 0.625), failures, mismatches, inter-token latency
// (p99 goal: autoscaled <= 1.25 x static), TTFT, placement changes; an SVG of actors and load over time.
// Usage: node dist/test/bench/day.js [--minutes M] [--preset tiny|bench] [--svg FILE] [--seed N] [--load F]
//        [--peak REQ_PER_S] [--target BUSY] [--max-actors N] [--min-gain G] [--trace FILE]
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from 'nats';
import { policyConfig, type PolicyConfig } from '../../actors/controller/policy.js';
import { streamGenerate } from '../../actors/gate/client.js';
import { decodeActorLoad } from '../../actors/protocol/messages.js';
import { PlacementStore } from '../../actors/protocol/placement-store.js';
import { Checkpoint } from '../../model/checkpoint.js';
import { allExpertKeys } from '../../model/families/shape.js';
import type { PresetName } from '../../model/init.js';
import { openMonolithic } from '../../model/monolithic.js';
import { startLocalCluster, type LocalCluster } from '../../runtime/node/cluster.js';
import { closeNats, connectNats } from '../../runtime/transport/connection.js';
import * as subjects from '../../runtime/transport/subjects.js';
import { benchCheckpoint } from './checkpoints.js';
import { buildSchedule, curve, DEFAULT_SCALING, oracleRatio, readTrace, type Arrival, type Schedule, type TraceRow } from '../../runtime/simulate/day-schedule.js';
import { renderSvg } from '../../runtime/simulate/charts.js';
import { fmt, percentile, table } from './stats.js';

const USAGE =
  'usage: node dist/test/bench/day.js [--minutes M] [--preset tiny|bench] [--svg FILE] [--seed N] [--load F] [--peak REQ_PER_S] [--target BUSY] [--max-actors N] [--min-gain G] [--trace FILE]';

/** The project root, from dist/test/bench/day.js or test/bench/day.ts. */
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, HERE.endsWith(join('dist', 'test', 'bench')) ? '../../..' : '../..');
const TRACE = join(ROOT, '..', 'shared', 'traces', 'azure-llm-inference-2023-conv.csv');

const TROUGH = 0.3;
const MIN_REPLICAS = 2;
const PER_ACTOR = 8;
/** Goals of issue 9. */
const GOAL_RATIO = 0.625;
const GOAL_ITL = 1.25;
/** Closed-loop concurrency of the capacity calibration. */
const CAL_CONCURRENCY = 32;

interface Args {
  minutes: number;
  preset: PresetName;
  svg: string;
  seed: number;
  /** Peak rate as a fraction of the static cluster's measured capacity. */
  load: number;
  peak?: number;
  target?: number;
  maxActors?: number;
  /** The policy's minGain: a same-size rebalance replaces actors, so noise-driven ones are costly. */
  minGain: number;
  trace: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { minutes: 10, preset: 'tiny', svg: 'bench-day.svg', seed: 1, load: 0.6, minGain: 0.2, trace: TRACE };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    const positive = () => {
      const v = Number(value());
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${flag} takes a positive number\n${USAGE}`);
      return v;
    };
    if (flag === '--minutes') a.minutes = positive();
    else if (flag === '--preset') {
      const p = value();
      if (p !== 'tiny' && p !== 'bench') throw new Error(`--preset takes tiny or bench\n${USAGE}`);
      a.preset = p;
    } else if (flag === '--svg') a.svg = value();
    else if (flag === '--seed') a.seed = Math.floor(positive());
    else if (flag === '--load') a.load = positive();
    else if (flag === '--peak') a.peak = positive();
    else if (flag === '--target') a.target = positive();
    else if (flag === '--max-actors') a.maxActors = Math.floor(positive());
    else if (flag === '--min-gain') a.minGain = positive();
    else if (flag === '--trace') a.trace = value();
    else if (flag === '--help' || flag === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown flag ${flag}\n${USAGE}`);
  }
  return a;
}

/** The knobs scaled to the length of the day: a 10-minute day compresses 24 h 144 times. */
function timing(minutes: number) {
  const f = minutes / 10;
  const reportMs = Math.round(Math.max(500, 1000 * f));
  return {
    reportMs,
    windowMs: Math.round(Math.max(2000, 5000 * f)),
    tickMs: reportMs,
    upDelayMs: Math.round(Math.max(1000, 3000 * f)),
    downDelayMs: Math.round(Math.max(5000, 20_000 * f)),
    minIntervalMs: Math.round(Math.max(3000, 10_000 * f)),
    calibrationS: Math.round(Math.max(10, 20 * f)),
  };
}

// ---- one request and one run ----

interface RequestResult {
  id: number;
  ok: boolean;
  error?: string;
  mismatch: boolean;
  sentAt: number;
  tokenAts: number[];
}

/** Sends one streamed request; times its tokens (ms, performance.now()). */
async function send(nc: NatsConnection, model: string, a: Pick<Arrival, 'id' | 'prompt' | 'maxTokens'>, reference: number[] | undefined): Promise<RequestResult & { tokens: number[] }> {
  const sentAt = performance.now();
  const tokens: number[] = [];
  const tokenAts: number[] = [];
  try {
    await streamGenerate(nc, model, { prompt: a.prompt, max_tokens: a.maxTokens, stop_at_eos: false }, {
      token: (t) => {
        tokenAts.push(performance.now());
        tokens.push(t.id);
      },
    });
    const mismatch = reference !== undefined && (reference.length !== tokens.length || reference.some((t, i) => t !== tokens[i]));
    return { id: a.id, ok: true, mismatch, sentAt, tokenAts, tokens };
  } catch (err) {
    return { id: a.id, ok: false, error: (err as Error).message, mismatch: false, sentAt, tokenAts, tokens };
  }
}

interface Sample {
  /** s since the start of the day */
  t: number;
  /** expert actors the supervisor holds (starting, running or draining) */
  actors: number;
  running: number;
  inflight: number;
  /** arrivals and tokens over the last sample period, per second */
  arrivals: number;
  tokPerS: number;
  /** mean of the actors' own busy fraction (their latest report) */
  busy: number | null;
  /** the controller's mean busy (autoscaled run) */
  controllerBusy: number | null;
}

interface RunResult {
  label: string;
  samples: Sample[];
  results: RequestResult[];
  durationS: number;
  actorSeconds: number;
  changes: { t: number; line: string }[];
  log: { t: number; line: string }[];
}

/** Follows the actors' own load reports: the mean busy fraction of the actors that reported recently. */
function watchBusy(nc: NatsConnection, model: string, freshMs: number): { mean(): number | null; stop(): void } {
  const latest = new Map<string, { busy: number; at: number }>();
  const sub = nc.subscribe(subjects.actorLoadWildcard(model), {
    callback: (err, m) => {
      if (err) return;
      try {
        const l = decodeActorLoad(m.data);
        latest.set(l.instance, { busy: Math.min(1, l.busyMs / l.windowMs), at: Date.now() });
      } catch {
        // not a load report: ignored
      }
    },
  });
  return {
    mean() {
      const fresh = [...latest.values()].filter((v) => Date.now() - v.at <= freshMs);
      return fresh.length === 0 ? null : fresh.reduce((s, v) => s + v.busy, 0) / fresh.length;
    },
    stop: () => sub.unsubscribe(),
  };
}

/** Runs the schedule open loop against a cluster, sampling every second. */
async function runDay(label: string, cluster: LocalCluster, schedule: Schedule, reference: Map<number, number[]>, o: { reportMs: number; log: { t: number; line: string }[]; store?: PlacementStore }): Promise<RunResult> {
  const nc = await connectNats(cluster.url, `eaas-bench-day-${label}`);
  const busy = watchBusy(nc, cluster.model, 2.5 * o.reportMs);
  const results: RequestResult[] = [];
  const samples: Sample[] = [];
  const pending = new Set<Promise<unknown>>();
  let arrived = 0;
  let tokens = 0;
  const t0 = performance.now() + 200;
  const logStart = o.log.length;
  const sampleNow = async (lastArrived: number, lastTokens: number, dtS: number): Promise<Sample> => {
    const children = cluster.supervisor!.status().children;
    let controllerBusy: number | null = null;
    if (o.store) {
      try {
        controllerBusy = (await o.store.controller())?.observed.meanBusy ?? null;
      } catch {
        controllerBusy = null;
      }
    }
    return {
      t: (performance.now() - t0) / 1000,
      actors: cluster.supervisor!.hosted().length,
      running: children.filter((c) => c.state === 'running').length,
      inflight: pending.size,
      arrivals: (arrived - lastArrived) / dtS,
      tokPerS: (tokens - lastTokens) / dtS,
      busy: busy.mean(),
      controllerBusy,
    };
  };
  let sampling = true;
  const sampler = (async () => {
    let lastA = 0;
    let lastT = 0;
    let last = t0;
    samples.push({ ...(await sampleNow(0, 0, 1)), t: 0, arrivals: 0, tokPerS: 0 });
    for (let k = 1; sampling; k++) {
      await sleep(Math.max(0, t0 + k * 1000 - performance.now()));
      const now = performance.now();
      const [a, t] = [arrived, tokens];
      samples.push(await sampleNow(lastA, lastT, (now - last) / 1000));
      [lastA, lastT, last] = [a, t, now];
    }
  })();
  let lastProgress = 0;
  for (const a of schedule.arrivals) {
    const wait = t0 + a.at * 1000 - performance.now();
    if (wait > 1) await sleep(wait);
    arrived++;
    const p = send(nc, cluster.model, a, reference.get(a.id)).then((r) => {
      tokens += r.tokens.length;
      const { tokens: _t, ...rest } = r;
      results.push(rest);
      pending.delete(p);
    });
    pending.add(p);
    if (a.at - lastProgress >= 60) {
      lastProgress = a.at;
      const s = samples[samples.length - 1];
      console.error(`  ${label}: ${fmt(a.at, 0)} s, ${arrived} sent, ${pending.size} in flight, ${s?.actors ?? '?'} actors, busy ${s?.busy === null || s === undefined ? '-' : fmt(s.busy, 3)}`);
    }
  }
  await Promise.all(pending);
  const end = performance.now();
  sampling = false;
  await sampler;
  busy.stop();
  await closeNats(nc);
  const durationS = (end - t0) / 1000;
  // piecewise constant between samples, up to the last answer
  let actorSeconds = 0;
  for (let i = 0; i < samples.length; i++) {
    const from = samples[i].t;
    const to = Math.min(durationS, samples[i + 1]?.t ?? durationS);
    if (to > from) actorSeconds += samples[i].actors * (to - from);
  }
  const log = o.log.slice(logStart).map((l) => ({ ...l, t: l.t - t0 / 1000 }));
  const changes = log.filter((l) => /^controller: revision \d+ /.test(l.line));
  return { label, samples, results, durationS, actorSeconds, changes, log };
}

// ---- calibration ----

/** Closed loop: `concurrency` workers send trace-shaped requests for `seconds`; the requests per second served. */
async function capacity(cluster: LocalCluster, requests: Arrival[], concurrency: number, seconds: number): Promise<{ reqPerS: number; tokPerS: number; failures: number }> {
  const nc = await connectNats(cluster.url, 'eaas-bench-day-capacity');
  const stop = performance.now() + seconds * 1000;
  let next = 0;
  let done = 0;
  let toks = 0;
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < stop) {
        const a = requests[next++ % requests.length];
        const r = await send(nc, cluster.model, a, undefined);
        if (!r.ok) failures++;
        done++;
        toks += r.tokens.length;
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  await closeNats(nc);
  return { reqPerS: done / s, tokPerS: toks / s, failures };
}

/** Open loop at a flat `rate` for `seconds` (the trace's gaps): the actors' mean busy fraction over the second half, and the inter-token latencies. */
async function flatLoad(cluster: LocalCluster, trace: TraceRow[], rate: number, seconds: number, seed: number, vocab: number, reportMs: number) {
  const s = buildSchedule(trace, { dayS: seconds, peak: rate, trough: 1, seed, vocabSize: vocab });
  const r = await runDay('calibration', cluster, s, new Map(), { reportMs, log: [] });
  const late = r.samples.filter((x) => x.t >= seconds / 2 && x.t <= seconds && x.busy !== null).map((x) => x.busy!);
  return { busy: late.reduce((a, b) => a + b, 0) / Math.max(1, late.length), itl: itls(r.results), failures: r.results.filter((x) => !x.ok).length, requests: r.results.length };
}

// ---- summaries ----

const itls = (rs: RequestResult[]) => rs.flatMap((r) => r.tokenAts.slice(1).map((t, i) => t - r.tokenAts[i]));
const ttfts = (rs: RequestResult[]) => rs.filter((r) => r.tokenAts.length > 0).map((r) => r.tokenAts[0] - r.sentAt);

async function waitSteady(cluster: LocalCluster, actors: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let since: number | undefined;
  for (;;) {
    const children = cluster.supervisor!.status().children;
    const ok = children.length === actors && children.every((c) => c.state === 'running');
    if (!ok) since = undefined;
    else if ((since ??= Date.now()) + 1500 <= Date.now()) return;
    if (Date.now() > deadline) throw new Error(`expert actors not steady after ${timeoutMs} ms: ${JSON.stringify(children)}`);
    await sleep(100);
  }
}

/** Greedy answers of the monolith, each request alone, by arrival id. */
async function references(dir: string, arrivals: Arrival[]): Promise<Map<number, number[]>> {
  const mono = await openMonolithic(dir);
  const out = new Map<number, number[]>();
  try {
    for (const a of arrivals) out.set(a.id, (await mono.engine.generate(a.prompt, { maxTokens: a.maxTokens, stopAtEos: false })).tokens);
  } finally {
    await mono.close();
  }
  return out;
}

function smooth(points: [number, number][], width: number): [number, number][] {
  return points.map(([t], i) => {
    const w = points.slice(Math.max(0, i - width + 1), i + 1);
    return [t, w.reduce((a, [, v]) => a + v, 0) / w.length];
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const k = timing(args.minutes);
  // read by every node and expert actor at start (the autoscaled run starts actors all day long): set for the whole process
  Object.assign(process.env, { EAAS_LOAD_REPORT_MS: String(k.reportMs), EAAS_LOAD_WINDOW_MS: String(k.windowMs), EAAS_CONTROLLER_TICK_MS: String(k.tickMs) });
  const { dir } = benchCheckpoint('mixtral', args.preset);
  const ckpt = Checkpoint.open(dir);
  const config = ckpt.config;
  ckpt.close();
  const experts = allExpertKeys(config).length;
  const lo = Math.max(MIN_REPLICAS, Math.ceil((experts * MIN_REPLICAS) / PER_ACTOR));
  const maxActors = args.maxActors ?? 3 * lo;
  if ((maxActors * PER_ACTOR) % experts !== 0) throw new Error(`--max-actors ${maxActors}: static provisioning needs maxActors x ${PER_ACTOR} a multiple of the ${experts} experts`);
  const staticReplicas = (maxActors * PER_ACTOR) / experts;
  const dayS = args.minutes * 60;
  const trace = readTrace(args.trace);
  console.error(`compressed day: ${args.minutes} min, preset ${args.preset} (${experts} experts), actors ${lo}..${maxActors}; trace ${args.trace} (${trace.length} rows)`);
  console.error(`knobs: EAAS_LOAD_REPORT_MS ${k.reportMs}, EAAS_LOAD_WINDOW_MS ${k.windowMs}, EAAS_CONTROLLER_TICK_MS ${k.tickMs}`);

  // ---- static: provisioned for the peak ----
  let staticCluster: LocalCluster | undefined = await startLocalCluster({ modelDir: dir, replicas: staticReplicas, expertsPerActor: PER_ACTOR });
  let peak: number;
  let target: number;
  let calibration: string[] = [];
  let schedule: Schedule;
  let ref: Map<number, number[]>;
  let staticRun: RunResult;
  try {
    await waitSteady(staticCluster, maxActors);
    // a few requests to warm the gate and every actor
    const warm = buildSchedule(trace, { dayS: 10, peak: 5, trough: 1, seed: args.seed + 1000, vocabSize: config.vocabSize }).arrivals;
    await capacity(staticCluster, warm, 8, 3);
    if (args.peak !== undefined) peak = args.peak;
    else {
      const cal = buildSchedule(trace, { dayS: 600, peak: 5, trough: 1, seed: args.seed + 2000, vocabSize: config.vocabSize }).arrivals;
      const cap = await capacity(staticCluster, cal, CAL_CONCURRENCY, k.calibrationS);
      peak = args.load * cap.reqPerS;
      calibration.push(`capacity of the static cluster (${maxActors} actors, ${CAL_CONCURRENCY} requests in flight, ${k.calibrationS} s): ${fmt(cap.reqPerS, 2)} req/s, ${fmt(cap.tokPerS, 0)} tok/s, ${cap.failures} failed; peak = ${args.load} x capacity = ${fmt(peak, 2)} req/s`);
    }
    const flat = await flatLoad(staticCluster, trace, peak, k.calibrationS, args.seed + 3000, config.vocabSize, k.reportMs);
    target = args.target ?? flat.busy;
    calibration.push(
      `static cluster at the peak rate (${k.calibrationS} s open loop): mean actor busy ${fmt(flat.busy, 4)}, ITL p50 ${fmt(percentile(flat.itl, 50))} ms, p99 ${fmt(percentile(flat.itl, 99))} ms, ${flat.failures}/${flat.requests} failed` +
        (args.target === undefined ? `; targetBusy = that busy` : `; targetBusy ${target} given`),
    );
    for (const l of calibration) console.error(l);
    if (!(target > 0) || target > 1) throw new Error(`targetBusy ${target} out of (0, 1]: give --target`);

    schedule = buildSchedule(trace, { dayS, peak, trough: TROUGH, seed: args.seed, vocabSize: config.vocabSize });
    const tRef = performance.now();
    ref = await references(dir, schedule.arrivals);
    console.error(`schedule: ${schedule.arrivals.length} requests from trace row ${schedule.firstRow}, gap CV ${fmt(schedule.gapCv, 2)}; monolithic reference in ${fmt((performance.now() - tRef) / 1000)} s`);
    console.error(`static run: ${maxActors} actors (replicas ${staticReplicas}, ${PER_ACTOR} experts per actor)`);
    staticRun = await runDay('static', staticCluster, schedule, ref, { reportMs: k.reportMs, log: [] });
  } finally {
    await staticCluster.stop();
    staticCluster = undefined;
  }

  // ---- autoscaled ----
  const policy: PolicyConfig = policyConfig(
    {
      minReplicas: MIN_REPLICAS,
      perActor: PER_ACTOR,
      minActors: lo,
      maxActors,
      targetBusy: target,
      busyBand: target / 6, // the default band's share of its target (0.1 of 0.6)
      upDelayMs: k.upDelayMs,
      downDelayMs: k.downDelayMs,
      minIntervalMs: k.minIntervalMs,
      pendingTimeoutMs: 60_000,
      minGain: args.minGain,
    },
    'bench:day policy',
  );
  console.error(`autoscaled run: policy ${JSON.stringify(policy)}`);
  const log: { t: number; line: string }[] = [];
  const auto = await startLocalCluster({ modelDir: dir, replicas: MIN_REPLICAS, expertsPerActor: PER_ACTOR, autoscale: policy, log: (line) => {
      log.push({ t: performance.now() / 1000, line });
      console.error(`  [${new Date().toISOString().slice(11, 19)}] ${line}`);
    },
  });
  let autoRun: RunResult;
  try {
    await waitSteady(auto, lo);
    const store = await PlacementStore.open(auto.nc, auto.model);
    const warm = buildSchedule(trace, { dayS: 10, peak: 5, trough: 1, seed: args.seed + 1000, vocabSize: config.vocabSize }).arrivals;
    // one request at a time, then a whole load window of quiet: the warm-up must not look like the night's load
    await capacity(auto, warm, 1, 1);
    await sleep(k.windowMs + 2 * k.reportMs);
    autoRun = await runDay('autoscale', auto, schedule, ref, { reportMs: k.reportMs, log, store });
  } finally {
    await auto.stop();
  }

  // ---- report ----
  const summary = (r: RunResult) => {
    const itl = itls(r.results);
    const ttft = ttfts(r.results);
    return {
      failures: r.results.filter((x) => !x.ok).length,
      mismatches: r.results.filter((x) => x.mismatch).length,
      itl50: percentile(itl, 50),
      itl99: percentile(itl, 99),
      ttft50: percentile(ttft, 50),
      ttft99: percentile(ttft, 99),
      meanActors: r.actorSeconds / r.durationS,
    };
  };
  const s = summary(staticRun);
  const a = summary(autoRun);
  const ratio = autoRun.actorSeconds / staticRun.actorSeconds;
  const itlRatio = a.itl99 / s.itl99;
  const oracle = oracleRatio(lo, maxActors, TROUGH);
  const goal = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const sc = schedule.capped;
  const lines = [
    `compressed day (issue 9): ${args.minutes} min, preset ${args.preset}, ${schedule.arrivals.length} requests, peak ${fmt(peak, 2)} req/s, trough ${TROUGH * 100}% of it, seed ${args.seed}`,
    `arrivals: conv trace gaps from row ${schedule.firstRow} warped onto the curve (gap CV ${fmt(schedule.gapCv, 2)}); lengths: prompt = ctx/${DEFAULT_SCALING.promptDiv} <= ${DEFAULT_SCALING.promptCap} (${sc.prompt} capped), output = gen/${DEFAULT_SCALING.outputDiv} <= ${DEFAULT_SCALING.outputCap} (${sc.output} capped)`,
    ...calibration,
    `policy: actors ${lo}..${maxActors}, targetBusy ${fmt(policy.targetBusy, 4)} ± ${fmt(policy.busyBand, 4)}, up after ${policy.upDelayMs} ms, down after ${policy.downDelayMs} ms, min interval ${policy.minIntervalMs} ms, minGain ${policy.minGain}`,
    '',
    table(
      ['run', 'actor-s', 'mean actors', 'failed', 'mismatched', 'ITL p50 ms', 'ITL p99 ms', 'TTFT p50 ms', 'TTFT p99 ms', 'changes'],
      [staticRun, autoRun].map((r, i) => {
        const x = i === 0 ? s : a;
        return [r.label, fmt(r.actorSeconds, 0), fmt(x.meanActors, 2), String(x.failures), String(x.mismatches), fmt(x.itl50), fmt(x.itl99), fmt(x.ttft50), fmt(x.ttft99), String(r.changes.length)];
      }),
    ),
    '',
    `actor-seconds autoscale / static: ${fmt(ratio, 3)} (goal <= ${GOAL_RATIO}: ${goal(ratio <= GOAL_RATIO)}; a perfect follower of this curve with whole actors in ${lo}..${maxActors}: ${fmt(oracle, 3)})`,
    `ITL p99 autoscale / static: ${fmt(itlRatio, 2)} (goal <= ${GOAL_ITL}: ${goal(itlRatio <= GOAL_ITL)})`,
    `failed requests: ${s.failures + a.failures} (goal 0: ${goal(s.failures + a.failures === 0)}); mismatched tokens: ${s.mismatches + a.mismatches} requests (goal 0: ${goal(s.mismatches + a.mismatches === 0)})`,
  ];
  const errors = [...staticRun.results, ...autoRun.results].filter((r) => !r.ok).map((r) => r.error!);
  if (errors.length > 0) lines.push(`first failures: ${[...new Set(errors)].slice(0, 3).join(' | ')}`);
  if (autoRun.changes.length > 0) lines.push('placement changes (s since the start of the day):', ...autoRun.changes.map((c) => `  ${fmt(c.t)} ${c.line}`));
  console.log(lines.join('\n'));

  const svg = renderSvg(
    `eaas compressed day: ${args.minutes} min, ${args.preset} preset, ${schedule.arrivals.length} requests`,
    `actor-s autoscale/static ${fmt(ratio, 3)} (goal <= ${GOAL_RATIO}), ITL p99 ratio ${fmt(itlRatio, 2)} (goal <= ${GOAL_ITL}), failed ${s.failures + a.failures}, mismatched ${s.mismatches + a.mismatches}`,
    Math.max(staticRun.durationS, autoRun.durationS),
    [
      {
        title: 'expert actors',
        yLabel: 'actors',
        yMax: maxActors + 2,
        series: [
          { label: `static (${fmt(staticRun.actorSeconds, 0)} actor-s)`, color: '#888', step: true, points: staticRun.samples.map((x) => [x.t, x.actors]) },
          { label: `autoscale (${fmt(autoRun.actorSeconds, 0)} actor-s)`, color: '#1f6fd0', step: true, points: autoRun.samples.map((x) => [x.t, x.actors]) },
          { label: 'autoscale: running', color: '#7fb2ef', step: true, dashed: true, points: autoRun.samples.map((x) => [x.t, x.running]) },
        ],
      },
      {
        title: 'offered load',
        yLabel: 'requests/s',
        series: [
          { label: 'arrivals (10 s mean)', color: '#d0601f', points: smooth(autoRun.samples.map((x) => [x.t, x.arrivals]), 10) },
          { label: 'daily curve', color: '#333', dashed: true, points: Array.from({ length: 201 }, (_, i) => [(i / 200) * dayS, peak * curve((i / 200) * dayS, dayS, TROUGH)] as [number, number]) },
          { label: 'in flight (autoscale)', color: '#2a9d4a', points: smooth(autoRun.samples.map((x) => [x.t, x.inflight]), 5) },
        ],
      },
      {
        title: "expert actors' mean busy fraction (their own reports)",
        yLabel: 'busy',
        band: { lo: policy.targetBusy - policy.busyBand, hi: policy.targetBusy + policy.busyBand, label: 'target ± band' },
        series: [
          { label: 'static', color: '#888', points: staticRun.samples.map((x) => [x.t, x.busy ?? NaN]) },
          { label: 'autoscale', color: '#1f6fd0', points: autoRun.samples.map((x) => [x.t, x.busy ?? NaN]) },
          { label: "autoscale: controller's", color: '#7fb2ef', dashed: true, points: autoRun.samples.map((x) => [x.t, x.controllerBusy ?? NaN]) },
        ],
      },
    ],
  );
  writeFileSync(args.svg, svg);
  console.log(`SVG: ${resolve(args.svg)}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench:day: ${err instanceof Error ? err.stack : err}`);
    process.exit(1);
  },
);
