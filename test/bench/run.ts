// `npm run bench`: decode throughput of the monolithic executor and of the disaggregated one over NATS,
// measured side by side in one run for each family's presets, plus micro numbers (NATS round trip, one expert dispatch).
// Usage: node dist/test/bench/run.js [--families mixtral,qwen2_moe,...] [--presets tiny,bench] [--quick] [--no-front] [--no-secure] [--no-quantize]
import { cpus, loadavg, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from 'nats';
import { requestGenerate } from '../../actors/gate/client.js';
import { Checkpoint } from '../../model/checkpoint.js';
import type { ExpertSet } from '../../model/experts.js';
import { FAMILIES } from '../../model/families/registry.js';
import { FAMILY_NAMES, type FamilyName } from '../../model/families/spec.js';
import { PRESETS, type PresetName } from '../../model/init.js';
import { openMonolithic } from '../../model/monolithic.js';
import { DEFAULT_ORT_THREADS } from '../../model/ort.js';
import { QUANTIZE_NAMES, type Quantization } from '../../model/quantize.js';
import { connectNats } from '../../runtime/transport/connection.js';
import { DEFAULT_REPLICAS, startLocalCluster, type LocalCluster } from '../../runtime/node/cluster.js';
import { DEFAULT_EXPERT_THREADS } from '../../actors/expert/compute.js';
import { remoteExperts } from '../helpers/gate-dispatch.js';
import { benchCheckpoint } from './checkpoints.js';
import { benchPrompt, decode, mismatches, PROMPT_TOKENS, type DecodeRun, type GenerateFn } from './decode.js';
import { expertDispatch, expertShapes, IDLE_GAP_MS, instantDispatch, loadLocalExpert, natsRoundTrips, type DispatchBench, type ExpertShape, type Latency, type RoundTrips } from './micro.js';
import { benchFront, frontReport } from './front.js';
import { benchSecure } from './secure.js';
import { floorTokPerS, measureFloors, type Floors } from './floors.js';
import { rssMb } from './rss.js';
import { benchQuality } from './quality.js';
import { fmt, median, table, timeRuns } from './stats.js';
import { goalsReport, type Figure, type GoalFigures } from './goals.js';

const CONCURRENCIES = [1, 32] as const;
/** Rows per expert a decode step gives: 1 prompt, 32 prompts over 8 experts top-2 (8), and more. */
const SHAPE_ROWS = [1, 8, 32];

/** Decode runs per executor and concurrency: the median is reported, with the range as the spread. */
const DECODE_REPS = 3;
/** 4 KB: one bench-preset row; 1 MB: the 256-row dispatch below. */
const RTT_BYTES = [4096, 1 << 20];
const DISPATCH_ROWS = [1, 256];
const TTFT_REPS = 3;
/** The cluster counts as started once every actor has been up this long. */
const STEADY_MS = 1000;

const USAGE = 'usage: node dist/test/bench/run.js [--families mixtral,qwen2_moe,...] [--presets tiny,bench] [--quick] [--no-front] [--no-secure] [--no-quantize] [--no-quality]';

interface Args {
  /** Every preset of every family is measured; the API front, --secure and quantized sections use the last one asked for. */
  families: FamilyName[];
  presets: PresetName[];
  quick: boolean;
  front: boolean;
  secure: boolean;
  quantize: boolean;
  /** The shipped model's held-out perplexity, float32 and quantized. */
  quality: boolean;
}

/** A flag's comma-separated value (`--flag a,b` or `--flag=a,b`), each name one of `allowed`. */
function nameList<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T[] {
  const names = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((n) => !(allowed as readonly string[]).includes(n));
  if (names.length === 0 || bad.length > 0) throw new Error(`${flag} takes a list of ${allowed.join(', ')}; got ${JSON.stringify(value)}`);
  return names as T[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { families: ['mixtral'], presets: ['tiny', 'bench'], quick: false, front: true, secure: true, quantize: true, quality: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const flag = a.split('=')[0];
    const value = () => (a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i]);
    if (a === '--quick') args.quick = true;
    else if (a === '--no-front') args.front = false;
    else if (a === '--no-secure') args.secure = false;
    else if (a === '--no-quantize') args.quantize = false;
    else if (a === '--no-quality') args.quality = false;
    else if (flag === '--families') args.families = nameList(flag, value(), FAMILY_NAMES);
    else if (flag === '--presets') args.presets = nameList(flag, value(), Object.keys(PRESETS) as PresetName[]);
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  return args;
}

/** A preset of one family: what the bench measures at a time. */
interface FamilyPreset {
  family: FamilyName;
  preset: PresetName;
}

const configOf = (m: FamilyPreset) => FAMILIES[m.family].presets[m.preset];
const labelOf = (m: FamilyPreset) => `${m.family} ${m.preset}`;

interface Settings {
  maxTokens: number;
  /** Waves of prompts per concurrency: more waves at concurrency 1 steady the number. */
  rounds(preset: PresetName, concurrency: number): number;
  dispatchReps(rows: number): number;
  rttReps: number;
}

function settings(quick: boolean): Settings {
  return {
    maxTokens: quick ? 8 : 32,
    rounds: (preset, c) => (c > 1 || quick ? 1 : preset === 'tiny' ? 8 : 4),
    dispatchReps: (rows) => (quick ? 20 : rows > 16 ? 40 : 200),
    rttReps: quick ? 300 : 2000,
  };
}

/** One executor's numbers for one family's preset. */
interface ExecutorResult {
  loadMs: number;
  ttftMs: number;
  /** The median run of each concurrency (its outputs are compared across executors)... */
  runs: Map<number, DecodeRun>;
  /** ...and every run's tokens/s, for the spread. */
  tokPerS: Map<number, number[]>;
}

async function measureExecutor(gen: GenerateFn, vocab: number, preset: PresetName, s: Settings, loadMs: number): Promise<ExecutorResult> {
  // warm-up: first runs allocate arenas and page weights in
  await gen(benchPrompt(999, vocab), 2);
  // time to first token: the prefill of a 16-token prompt plus the LM head, one request alone
  let k = 0;
  const ttft = await timeRuns(() => gen(benchPrompt(1000 + k++, vocab), 1), TTFT_REPS, 0);
  const runs = new Map<number, DecodeRun>();
  const tokPerS = new Map<number, number[]>();
  for (const c of CONCURRENCIES) {
    const reps: DecodeRun[] = [];
    for (let i = 0; i < DECODE_REPS; i++) reps.push(await decode(gen, vocab, c, s.rounds(preset, c), s.maxTokens));
    const sorted = [...reps].sort((a, b) => a.tokPerS - b.tokPerS);
    runs.set(c, sorted[Math.floor(sorted.length / 2)]);
    tokPerS.set(c, reps.map((r) => r.tokPerS));
  }
  return { loadMs, ttftMs: median(ttft), runs, tokPerS };
}

async function runMonolithic(dir: string, m: FamilyPreset, s: Settings, quantization?: Quantization): Promise<ExecutorResult> {
  const t0 = performance.now();
  const model = await openMonolithic(dir, undefined, {}, quantization);
  const loadMs = performance.now() - t0;
  try {
    const gen: GenerateFn = async (prompt, maxTokens) => (await model.engine.generate(prompt, { maxTokens, stopAtEos: false })).tokens;
    return await measureExecutor(gen, model.checkpoint.config.vocabSize, m.preset, s, loadMs);
  } finally {
    await model.close();
  }
}

interface NatsResult extends ExecutorResult {
  layout: string;
  /** Expert actor restarts while the cluster started, and while it was measured. */
  startupRestarts: number;
  restarts: number;
  rtt?: { bytes: number; trips: RoundTrips }[];
  dispatch?: DispatchBench[];
  /** The same dispatches to an actor that answers at once: the protocol without compute. */
  instant?: { rows: number; nats: Latency }[];
  /** Resident memory after the decode runs: this process (gate, supervisor, bench) and each expert actor. */
  rssMb?: { gate: number; experts: number[] };
}

/** Polls until every expert actor runs and the gate sees each one up, for STEADY_MS in a row. */
async function waitUntilSteady(cluster: LocalCluster, actors: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let since: number | undefined;
  for (;;) {
    const children = cluster.supervisor!.status().children;
    const seen = remoteExperts(cluster.gate).directory.all().filter((i) => i.up).length;
    const ok = children.length === actors && children.every((c) => c.state === 'running') && seen === actors;
    if (!ok) since = undefined;
    else if ((since ??= Date.now()) + STEADY_MS <= Date.now()) return;
    if (Date.now() > deadline) throw new Error(`expert actors not steady after ${timeoutMs} ms: ${JSON.stringify(children)}`);
    await sleep(100);
  }
}

const restartsOf = (cluster: LocalCluster) => cluster.supervisor!.status().children.reduce((a, c) => a + c.restarts, 0);

async function runNats(dir: string, m: FamilyPreset, s: Settings, micro: boolean, quantization?: Quantization): Promise<NatsResult> {
  const c = configOf(m);
  const actorThreads = Number(process.env.EAAS_ORT_THREADS ?? DEFAULT_EXPERT_THREADS);
  // loaded before the cluster starts: a synchronous session load would stall the in-process supervisor
  let local: ExpertSet | undefined;
  if (micro) {
    const ckpt = Checkpoint.open(dir);
    try {
      local = await loadLocalExpert(ckpt, actorThreads);
    } finally {
      ckpt.close();
    }
  }
  let cluster: LocalCluster | undefined;
  let client: NatsConnection | undefined;
  try {
    const t0 = performance.now();
    // the layout `eaas up` uses by default, read back from the supervisor that placed it
    cluster = await startLocalCluster({ modelDir: dir, replicas: DEFAULT_REPLICAS, quantization });
    const placed = cluster.supervisor!.status().children;
    const actors = placed.length;
    const perActor = Math.max(...placed.map((k) => k.experts.length));
    const layout = `eaas up's layout: replicas ${DEFAULT_REPLICAS}, ${perActor} experts per actor -> ${actors} expert actor processes (ORT threads ${actorThreads} each); gate and nats-server on the same host`;
    const loadMs = performance.now() - t0;
    // the supervisor may have killed actors whose heartbeats it could not read while the gate loaded
    await waitUntilSteady(cluster, actors);
    const startupRestarts = restartsOf(cluster);
    client = await connectNats(cluster.url, 'eaas-bench-client');
    const nc = client;
    const model = cluster.model;
    const gen: GenerateFn = async (prompt, maxTokens) => (await requestGenerate(nc, model, { prompt, max_tokens: maxTokens, stop_at_eos: false })).tokens;
    const result: NatsResult = { ...(await measureExecutor(gen, c.vocabSize, m.preset, s, loadMs)), layout, startupRestarts, restarts: 0 };
    // after the decode runs, before the micro benchmarks' large dispatches: the same point for every cluster measured
    const cl = cluster;
    result.rssMb = { gate: rssMb(process.pid), experts: cl.supervisor!.status().children.map((k) => (k.pid ? rssMb(k.pid) : NaN)) };
    if (local) {
      result.rtt = [];
      for (const bytes of RTT_BYTES) result.rtt.push({ bytes, trips: await natsRoundTrips(cluster.url, bytes, bytes > 65536 ? s.rttReps / 10 : s.rttReps) });
      result.dispatch = await expertDispatch(cluster.gate!.experts, local, DISPATCH_ROWS, s.dispatchReps);
      result.instant = await instantDispatch(cluster.url, c, DISPATCH_ROWS, (rows) => (rows > 16 ? s.rttReps / 10 : s.rttReps));
    }
    result.restarts = restartsOf(cluster) - startupRestarts;
    return result;
  } finally {
    await client?.close();
    await cluster?.stop();
    await local?.release();
  }
}

interface PresetResult extends FamilyPreset {
  generatedMs?: number;
  mono: ExecutorResult;
  nats: NatsResult;
  /** Prompts whose NATS tokens differ from the monolithic ones, per concurrency. */
  mismatch: Map<number, { compared: number; differing: number[] }>;
  /** Prompts whose monolithic tokens at concurrency 1 differ from those at 32 (batch invariance). */
  batchMismatch: { compared: number; differing: number[] };
  shapes: ExpertShape[];
}

const ratio = (a: number, b: number) => `${fmt(a / b, 2)}x`;
const figure = (v: number[]): Figure => ({ median: median(v), low: Math.min(...v), high: Math.max(...v) });
const secs = (ms: number) => fmt(ms / 1000, 1);

const range = (v: number[]) => `${fmt(Math.min(...v), 0)}-${fmt(Math.max(...v), 0)}`;
const pct = (a: number, b: number) => `${fmt((100 * a) / b, 0)}%`;

function report(results: PresetResult[], s: Settings, args: Args, floors: Floors, measured: Floors[]): number {
  let bad = 0;
  console.log(`\n== floors of this machine (ONNX Runtime, every core; measured at the start and at the end, the faster of the two) ==`);
  console.log(`  weights stream at ${fmt(floors.bytesPerS / 1e9)} GB/s (one row through a 256 MB f32 matrix; measured ${measured.map((f) => fmt(f.bytesPerS / 1e9)).join(' and ')}); a 512x2048x2048 MatMul runs at ${fmt(floors.flopPerS / 1e9, 0)} GFLOP/s (measured ${measured.map((f) => fmt(f.flopPerS / 1e9, 0)).join(' and ')})`);
  console.log(`  one expert (SwiGLU, three MatMuls) at decode shapes, cycling through a layer's experts; threads "all" (ONNX Runtime's default) as the monolith and the gate, ${DEFAULT_EXPERT_THREADS} as an expert actor:`);
  const shapeRows = results.flatMap((r) =>
    r.shapes.map((x) => [labelOf(r), String(x.rows), x.threads === DEFAULT_ORT_THREADS ? 'all' : String(x.threads), fmt(x.ms, 3), `${fmt(x.bytesPerS / 1e9)} (${pct(x.bytesPerS, floors.bytesPerS)})`, `${fmt(x.flopPerS / 1e9, 0)} (${pct(x.flopPerS, floors.flopPerS)})`]),
  );
  console.log(table(['preset', 'rows', 'threads', 'ms', 'weights GB/s (of floor)', 'GFLOP/s (of floor)'], shapeRows));
  console.log(`\n== decode throughput (generated tokens/s, median of ${DECODE_REPS} runs with their range; ${s.maxTokens} tokens per prompt of 16, stopAtEos false; wall time includes prefill) ==`);
  const rows: string[][] = [];
  for (const r of results) {
    for (const c of CONCURRENCIES) {
      const m = r.mono.runs.get(c)!;
      const n = r.nats.runs.get(c)!;
      const mm = r.mismatch.get(c)!;
      const floor = floorTokPerS(floors, configOf(r), c, PROMPT_TOKENS, s.maxTokens);
      bad += mm.differing.length;
      rows.push([
        r.family,
        r.preset,
        String(c),
        `${m.prompts}x${s.maxTokens}`,
        `${fmt(floor.tokPerS, 0)} ${floor.bound}`,
        fmt(m.tokPerS),
        range(r.mono.tokPerS.get(c)!),
        pct(m.tokPerS, floor.tokPerS),
        fmt(n.tokPerS),
        range(r.nats.tokPerS.get(c)!),
        pct(n.tokPerS, floor.tokPerS),
        ratio(n.tokPerS, m.tokPerS),
        `${mm.differing.length}/${mm.compared}`,
      ]);
    }
  }
  console.log(table(['family', 'preset', 'concurrency', 'prompts x tokens', 'floor tok/s', 'monolithic tok/s', 'range', 'of floor', 'NATS tok/s', 'range', 'of floor', 'NATS/monolithic', 'token mismatches'], rows));
  console.log(`  floor: a prompt's prefill step, then ${s.maxTokens - 1} decode steps, each at the f32 weights it reads (dense ones, and the routed experts a step of that many tokens uses under uniform routing) at the streaming rate, or its multiply-adds at the MatMul rate, whichever is slower (the bound named is the decode step's)`);

  console.log('\n== load and time to first token (16-token prompt, max_tokens 1, median of 3) ==');
  console.log(
    table(
      ['family', 'preset', 'checkpoint gen s', 'monolithic load s', 'NATS cluster start s', 'monolithic TTFT ms', 'NATS TTFT ms', 'NATS/monolithic'],
      results.map((r) => [
        r.family,
        r.preset,
        r.generatedMs === undefined ? 'cached' : secs(r.generatedMs),
        secs(r.mono.loadMs),
        secs(r.nats.loadMs),
        fmt(r.mono.ttftMs),
        fmt(r.nats.ttftMs),
        ratio(r.nats.ttftMs, r.mono.ttftMs),
      ]),
    ),
  );
  for (const r of results) {
    console.log(`  ${labelOf(r)}: cluster = ${r.nats.layout}`);
    const rss = r.nats.rssMb;
    if (rss) console.log(`  ${labelOf(r)}: resident memory: gate + supervisor process ${fmt(rss.gate, 0)} MB, expert actors ${rss.experts.map((x) => fmt(x, 0)).join(' / ')} MB`);
  }

  const micro = results.filter((r) => r.nats.rtt);
  if (micro.length > 0) {
    console.log('\n== micro: bare NATS request/reply through the server to an echo responder (p50 / p90 ms) ==');
    const p5090 = (l: { p50: number; p90: number }) => `${fmt(l.p50, 3)} / ${fmt(l.p90, 3)}`;
    const rttRows = micro.flatMap((r) => r.nats.rtt!.map(({ bytes, trips: t }) => [labelOf(r), String(bytes), p5090(t.sameProcess), p5090(t.otherProcess), p5090(t.afterIdle), String(t.otherProcess.n)]));
    console.log(table(['cluster of', 'bytes', 'responder in this process', 'in another process', `another, after ${IDLE_GAP_MS} ms idle`, 'n'], rttRows));
    console.log(`  the dispatch overhead below is set against "in another process" (an expert actor is one); "after idle" is the cost of waking idle processes on this host`);
    console.log('\n== micro: one expert (expert 0 of the first MoE layer), gate dispatcher -> NATS -> expert actor vs ExpertSet in this process (same ORT threads as an actor) ==');
    // a bare round trip to another process of the bytes `rows` rows take (when one was measured): what the goals set a dispatch against
    const rttOf = (r: PresetResult, rows: number) => r.nats.rtt!.find((x) => x.bytes === rows * configOf(r).hiddenSize * 4)?.trips.otherProcess.p50;
    const drows: string[][] = [];
    for (const r of micro) {
      for (const d of r.nats.dispatch!) {
        const rtt = rttOf(r, d.rows);
        const overhead = d.nats.p50 - d.local.p50;
        drows.push([r.family, r.preset, String(d.rows), fmt(d.nats.p50, 3), fmt(d.local.p50, 3), fmt(overhead, 3), ratio(d.nats.p50, d.local.p50), rtt === undefined ? '-' : ratio(overhead, rtt), fmt((d.rows / d.nats.p50) * 1000, 0), fmt((d.rows / d.local.p50) * 1000, 0)]);
      }
    }
    console.log(table(['family', 'preset', 'rows', 'NATS p50 ms', 'local p50 ms', 'overhead ms', 'NATS/local', 'overhead/RTT same bytes', 'NATS rows/s', 'local rows/s'], drows));
    console.log('  overhead: the dispatch less the same expert computed here back to back; it holds the actor\'s own compute (measured slower than here, cause not found) and waking idle processes, not only the protocol (next table)');
    console.log('\n== micro: the dispatch protocol alone, gate dispatcher -> NATS -> an expert actor (micro service, decode, spans, encode) whose expert answers at once, vs a bare request/reply to another process (goal: at most 1.5x) ==');
    const irows = micro.flatMap((r) =>
      r.nats.instant!.map((d) => {
        const rtt = rttOf(r, d.rows);
        return [r.family, r.preset, String(d.rows), p5090(d.nats), rtt === undefined ? '-' : fmt(rtt, 3), rtt === undefined ? '-' : ratio(d.nats.p50, rtt), String(d.nats.n)];
      }),
    );
    console.log(table(['family', 'preset', 'rows', 'dispatch p50 / p90 ms', 'bare RTT p50 ms, same bytes', 'dispatch/RTT', 'n'], irows));
  }

  console.log('\n== checks ==');
  for (const r of results) {
    const b = r.batchMismatch;
    bad += b.differing.length;
    console.log(`  ${labelOf(r)}: expert actor restarts by the supervisor: at cluster start ${r.nats.startupRestarts}, while measured ${r.nats.restarts}`);
    console.log(`  ${labelOf(r)}: NATS vs monolithic token mismatches ${[...r.mismatch.values()].reduce((a, m) => a + m.differing.length, 0)}; monolithic alone vs batched of 32 mismatches ${b.differing.length}/${b.compared}`);
  }

  const env = process.env.EAAS_ORT_THREADS ? `, EAAS_ORT_THREADS=${process.env.EAAS_ORT_THREADS}` : '';
  console.log(`\nfamilies ${args.families.join(',')}; presets ${args.presets.join(',')}${args.quick ? ' (quick)' : ''}; host: ${cpus().length} cores, ${fmt(totalmem() / 2 ** 30, 0)} GB, node ${process.version}${env}`);
  console.log(`load average at start ${startLoad}, at end ${loadNow()} (other work on the host skews every number above)`);
  return bad;
}

const loadNow = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const startLoad = loadNow();

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const s = settings(args.quick);
  const results: PresetResult[] = [];
  const started = performance.now();
  const log = (msg: string) => console.log(`[${secs(performance.now() - started).padStart(6)} s] ${msg}`);
  const familyPresets: FamilyPreset[] = args.families.flatMap((family) => args.presets.map((preset) => ({ family, preset })));
  log('floors of this machine');
  // a floor is the fastest the machine goes: this VM's cores slow by ~30 % for tens of seconds at a time, so once
  // is not enough (26.3 and 19.1 GB/s at two runs' starts)
  const measured = [await measureFloors()];
  for (const m of familyPresets) {
    log(`${labelOf(m)}: checkpoint`);
    const { dir, generatedMs } = benchCheckpoint(m.family, m.preset);
    log(`${labelOf(m)}: monolithic (${dir})`);
    const mono = await runMonolithic(dir, m, s);
    log(`${labelOf(m)}: one expert at decode shapes`);
    const ckpt = Checkpoint.open(dir);
    const shapes = await expertShapes(ckpt, SHAPE_ROWS, [DEFAULT_ORT_THREADS, DEFAULT_EXPERT_THREADS]).finally(() => ckpt.close());
    log(`${labelOf(m)}: disaggregated over NATS`);
    const nats = await runNats(dir, m, s, true);
    const mismatch = new Map(CONCURRENCIES.map((c) => [c, mismatches(mono.runs.get(c)!.outputs, nats.runs.get(c)!.outputs)]));
    const batchMismatch = mismatches(mono.runs.get(1)!.outputs, mono.runs.get(32)!.outputs);
    results.push({ ...m, generatedMs, mono, nats, mismatch, batchMismatch, shapes });
  }
  // the API front, --secure and quantization are measured on the last preset asked for (the bench preset by
  // default): on the tiny one every cost is overhead
  const served = familyPresets[familyPresets.length - 1];
  const servedResult = results.find((r) => r.family === served.family && r.preset === served.preset)!;
  const goals: GoalFigures = { label: labelOf(served), dispatch: dispatchGoal(servedResult) };
  let quantized: string | undefined;
  if (args.quantize) {
    const m = served;
    log(`${labelOf(m)}: --quantize int8 and int4 (experts), monolithic and int4 over NATS`);
    const q = await runQuantized(m, s, servedResult, goals);
    quantized = q.report;
    quantMismatches = q.mismatches;
  }
  let front: string | undefined;
  if (args.front) {
    log(`${labelOf(served)}: API front against direct NATS, ${FRONT_CONCURRENCIES.join(' and ')} streams, on eaas up and on eaas up --monolithic`);
    front = await runFront(served, s, goals);
  }
  let secure: string | undefined;
  if (args.secure) {
    const m = served;
    log(`${labelOf(m)}: plain, --secure, plain`);
    secure = await benchSecure(labelOf(m), benchCheckpoint(m.family, m.preset).dir, configOf(m).vocabSize, { concurrency: FRONT_CONCURRENCY, maxTokens: s.maxTokens, rounds: s.maxTokens > 8 ? 3 : 1 });
  }
  let quality: string | undefined;
  if (args.quality) {
    log('quality: the shipped model, float32 and quantized');
    quality = await benchQuality();
  }
  log('floors of this machine, again');
  measured.push(await measureFloors());
  log('done');
  const floors: Floors = { bytesPerS: Math.max(...measured.map((f) => f.bytesPerS)), flopPerS: Math.max(...measured.map((f) => f.flopPerS)) };
  goals.monolith = monolithGoals(servedResult, floors, s.maxTokens);
  const bad = report(results, s, args, floors, measured) + quantMismatches;
  if (quality) console.log(`\n${quality}`);
  if (quantized) console.log(`\n${quantized}`);
  if (front) console.log(`\n${front}`);
  if (secure) console.log(`\n${secure}`);
  console.log(`\n${goalsReport(goals)}`);
  return bad;
}

function monolithGoals(r: PresetResult, floors: Floors, maxTokens: number): GoalFigures['monolith'] {
  return new Map(
    CONCURRENCIES.map((c) => {
      const floor = floorTokPerS(floors, configOf(r), c, PROMPT_TOKENS, maxTokens);
      return [c, { tokPerS: figure(r.mono.tokPerS.get(c)!), floorTokPerS: floor.tokPerS, bound: floor.bound }];
    }),
  );
}

/** The protocol's one-row dispatch against a bare round trip of the same bytes, where both were measured. */
function dispatchGoal(r: PresetResult): GoalFigures['dispatch'] {
  const ms = r.nats.instant?.find((d) => d.rows === 1)?.nats.p50;
  const rttMs = r.nats.rtt?.find((x) => x.bytes === configOf(r).hiddenSize * 4)?.trips.otherProcess.p50;
  return ms === undefined || rttMs === undefined ? undefined : { ms, rttMs };
}

const FRONT_CONCURRENCY = 32;
/** The front is measured at both: a user chatting alone, and a loaded server. */
const FRONT_CONCURRENCIES = [FRONT_CONCURRENCY, 1];
let quantMismatches = 0;

/**
 * The experts quantized at load (--quantize int8, int4): the monolith's decode speed against float32's, and an int4
 * cluster's speed, tokens (must equal the int4 monolith's) and expert actor memory against the float32 cluster's.
 */
async function runQuantized(m: FamilyPreset, s: Settings, f32: PresetResult, goals: GoalFigures): Promise<{ report: string; mismatches: number }> {
  const { dir } = benchCheckpoint(m.family, m.preset);
  const variants: { label: string; q: Quantization }[] = [
    { label: 'int8 experts', q: { bits: QUANTIZE_NAMES.int8, dense: false } },
    { label: 'int4 experts', q: { bits: QUANTIZE_NAMES.int4, dense: false } },
    { label: 'int4 experts and dense (--quantize-dense)', q: { bits: QUANTIZE_NAMES.int4, dense: true } },
  ];
  const mono: ExecutorResult[] = [];
  for (const v of variants) mono.push(await runMonolithic(dir, m, s, v.q));
  const nats = await runNats(dir, m, s, false, variants[1].q);
  const rows: string[][] = [];
  let differing = 0;
  let compared = 0;
  for (const c of CONCURRENCIES) {
    const base = f32.mono.runs.get(c)!.tokPerS;
    const row = (executor: string, r: ExecutorResult, check: string) => [String(c), executor, fmt(r.runs.get(c)!.tokPerS), range(r.tokPerS.get(c)!), ratio(r.runs.get(c)!.tokPerS, base), check];
    variants.forEach((v, i) => rows.push(row(`monolithic, ${v.label}`, mono[i], '-')));
    const mm = mismatches(mono[1].runs.get(c)!.outputs, nats.runs.get(c)!.outputs);
    differing += mm.differing.length;
    compared += mm.compared;
    rows.push(row(`NATS, ${variants[1].label}`, nats, `${mm.differing.length}/${mm.compared}`));
  }
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const f32Rss = mean(f32.nats.rssMb!.experts);
  const int4Rss = mean(nats.rssMb!.experts);
  goals.int4Dense = { tokPerS: figure(mono[2].tokPerS.get(1)!), f32TokPerS: f32.mono.runs.get(1)!.tokPerS };
  goals.int4Cluster = { differing, compared };
  goals.actorRss = { f32Mb: f32Rss, int4Mb: int4Rss };
  return {
    mismatches: differing,
    report: [
      `quantized weights (${labelOf(m)}; MatMulNBits, block 32, accuracy_level 4; routers, norms and embeddings stay float32):`,
      table(['concurrency', 'executor', 'tok/s', 'range', 'vs monolithic f32', 'token mismatches vs monolithic int4 experts'], rows),
      `expert actor resident memory: float32 ${fmt(f32Rss, 0)} MB, int4 ${fmt(int4Rss, 0)} MB (÷${fmt(f32Rss / int4Rss, 1)}; ${nats.rssMb!.experts.length} actors each)`,
    ].join('\n'),
  };
}

/** `eaas up`'s layout with its HTTP front, then `eaas up --monolithic` behind the same front; NATS and HTTP waves interleaved. */
async function runFront(m: FamilyPreset, s: Settings, goals: GoalFigures): Promise<string> {
  const { dir } = benchCheckpoint(m.family, m.preset);
  const reports: string[] = [];
  const http = new Map<string, number[]>();
  for (const monolithic of [false, true]) {
    const cluster = await startLocalCluster({ modelDir: dir, httpPort: 0, monolithic });
    try {
      for (const concurrency of FRONT_CONCURRENCIES) {
        const b = await benchFront(cluster, configOf(m).vocabSize, { concurrency, maxTokens: s.maxTokens, reps: s.maxTokens > 8 ? 5 : 2 });
        reports.push(frontReport(monolithic ? `${labelOf(m)}, monolithic gate` : labelOf(m), b, concurrency));
        http.set(`${monolithic} ${concurrency}`, b.httpTokPerS);
      }
    } finally {
      await cluster.stop();
    }
  }
  goals.front = new Map(FRONT_CONCURRENCIES.map((c) => [c, { cluster: figure(http.get(`false ${c}`)!), monolith: figure(http.get(`true ${c}`)!) }]));
  return reports.join('\n\n');
}

main().then(
  (bad) => {
    if (bad > 0) console.error(`\nFAILED: ${bad} token mismatches (disaggregated and batched runs must equal the monolithic tokens)`);
    process.exit(bad > 0 ? 1 : 0);
  },
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
