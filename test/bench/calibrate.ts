// `npm run simulate:calibrate`: measures this host's cost figures for the simulator (CostProfile in
// runtime/simulate/profile.ts) on the bench preset (BENCH_MODEL), with the code paths the runtime uses, and writes
// them as a profile. Sections: expert compute in-process; NATS round trips to a responder in another process; a real
// expert actor under a supervisor (dispatch cost, start, kill -9 and restart); the gate's dense work on an engine
// whose expert time is taken out; the monolith's load.
// Usage: node dist/test/bench/calibrate.js [--out FILE]   (without --out the JSON goes to stdout, the table to stderr)
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from 'nats';
import { DEFAULT_EXPERT_THREADS } from '../../actors/expert/compute.js';
import { decodeActorLoad, decodeDispatch, decodeDispatchReply, encodeDispatch, encodeDispatchReply, type ActorLoad } from '../../actors/protocol/messages.js';
import type { ChildSpec } from '../../actors/supervisor/supervisor.js';
import { Checkpoint } from '../../model/checkpoint.js';
import type { ModelConfig } from '../../model/config.js';
import { DenseModel } from '../../model/dense.js';
import { Engine } from '../../model/engine.js';
import { endOfSequenceIds } from '../../model/eos.js';
import type { ExpertKey } from '../../model/expert-key.js';
import { ExpertSet } from '../../model/experts.js';
import { moeLayers } from '../../model/families/shape.js';
import { Forward, type ExpertBackend } from '../../model/forward.js';
import { LocalExperts, openMonolithic } from '../../model/monolithic.js';
import { Tokenizer } from '../../model/tokenizer.js';
import { startNode, type RunningNode } from '../../runtime/node/cluster.js';
import { BENCH_MODEL, costProfile, expertBytes, gateLayerMs, gateStepMs, type CostProfile } from '../../runtime/simulate/profile.js';
import { closeNats, connectNats } from '../../runtime/transport/connection.js';
import { startNatsServer, type NatsServerHandle } from '../../runtime/transport/nats-server.js';
import * as subjects from '../../runtime/transport/subjects.js';
import { kill9, waitUntil } from '../helpers/chaos/faults.js';
import { withEnv } from '../helpers/env.js';
import { remoteExperts } from '../helpers/gate-dispatch.js';
import { requestGenerate } from '../../actors/gate/client.js';
import { benchCheckpoint } from './checkpoints.js';
import { cpuByProcess, cpuSince, CPU_ACTORS, CPU_GATE, CPU_SERVER } from './cpu-time.js';
import { benchPrompt } from './decode.js';
import { fmt, percentile, table, timeRuns } from './stats.js';

/** Expert runs at 1 row (memory-bound) and at each wide row count (compute-bound), cycling over a layer's experts. */
const NARROW_RUNS = 400;
const WIDE_RUNS = 24;
const WIDE_ROWS = [64, 128] as const;
/** The rows between, for the measured curve (few rows run below both bounds); more runs where each is short. */
const MIDDLE_ROWS = [2, 4, 8, 16, 32] as const;
const MIDDLE_RUNS = 100;
/** Round trips to the echo responder: a 1-row payload and a 256-row one (4 KB and 1 MB on the bench preset). */
const SMALL_ROWS = 1;
const LARGE_ROWS = 256;
const SMALL_TRIPS = 1000;
const LARGE_TRIPS = 100;
const TRIP_WARMUP = 50;
/** 1-row dispatches to a real expert actor, and the codec alone in-process. */
const DISPATCH_TRIPS = 400;
const CODEC_RUNS = 2000;
/** Actors started (placement change), each then killed once: one restart per supervision group, so no backoff grows. */
const ACTOR_CYCLES = 3;
/** How often a starting actor is asked for a dispatch, and how long one ask may wait for an answer. */
const POLL_MS = 5;
/** The actors' load reports (their own compute time per dispatch), often and over a window longer than the dispatches take. */
const LOAD_REPORT_MS = 200;
const LOAD_WINDOW_MS = 60_000;
const ASK_TIMEOUT_MS = 1000;
const SERVE_TIMEOUT_MS = 60_000;
/** Batch sizes the gate's dense work is fitted over, with the waves of prompts each runs (fewer rows: more waves). */
const GATE_BATCHES = [
  { rows: 1, waves: 4 },
  { rows: 8, waves: 2 },
  { rows: 32, waves: 1 },
] as const;
const GATE_TOKENS = 24;
/** One ONNX Runtime thread for the gate's sessions: the simulator charges a step phase to one core. */
const GATE_THREADS = 1;
const MONOLITH_LOADS = 3;
/** In situ: `eaas up`'s layout on this host (2 replicas, all experts in one actor per replica), waves of 32 prompts. */
const IN_SITU = { prompts: 32, promptTokens: 16, tokens: 24, waves: 3, perActor: 32, replicas: 2 } as const;
/** A 1-minute load average above this at the start means another job shares the cores: the figures come out slow and noisy. */
const BUSY_LOAD = 0.5;

const USAGE = 'usage: node dist/test/bench/calibrate.js [--out FILE]';

interface Spread {
  p10: number;
  p50: number;
  p90: number;
  /** For sums and differences of costs (means add up, medians do not). */
  mean: number;
  n: number;
}

const spread = (ms: number[]): Spread => ({ p10: percentile(ms, 10), p50: percentile(ms, 50), p90: percentile(ms, 90), mean: ms.reduce((a, b) => a + b, 0) / ms.length, n: ms.length });
const range = (s: Spread, d = 3) => `${fmt(s.p10, d)}-${fmt(s.p90, d)} ms (n ${s.n})`;

/** One row of the printed table: a figure, how it was measured and its spread. */
interface Line {
  key: keyof CostProfile;
  how: string;
  spread: string;
}

const log = (s: string) => process.stderr.write(`[calibrate ${(performance.now() / 1000).toFixed(1)} s] ${s}\n`);

function parseArgs(argv: string[]): { out?: string } {
  let out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') out = argv[++i];
    else if (a.startsWith('--out=')) out = a.slice('--out='.length);
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (${USAGE})`);
  }
  if (out === '') throw new Error(`--out needs a file (${USAGE})`);
  return { out };
}

function rowsOf(rows: number, hidden: number): Float32Array {
  const x = new Float32Array(rows * hidden);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
  return x;
}

/** The bench preset's figures must be what the simulator assumes, or the rates below would be off. */
function checkShape(c: ModelConfig): void {
  const m = BENCH_MODEL;
  const got = { moeLayers: moeLayers(c).length, experts: c.numLocalExperts, topK: c.numExpertsPerTok, hidden: c.hiddenSize, expertFfn: c.intermediateSize };
  const want = { moeLayers: m.moeLayers, experts: m.experts, topK: m.topK, hidden: m.hidden, expertFfn: m.expertFfn };
  if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`bench checkpoint shape ${JSON.stringify(got)} is not BENCH_MODEL's ${JSON.stringify(want)}`);
}

const EXPERT_BYTES = 3 * BENCH_MODEL.hidden * BENCH_MODEL.expertFfn * BENCH_MODEL.weightBytes;
const FLOPS_PER_ROW = 6 * BENCH_MODEL.hidden * BENCH_MODEL.expertFfn;
const ROW_BYTES = BENCH_MODEL.hidden * BENCH_MODEL.wireBytes;

// ---- 1. expert compute ----------------------------------------------------------------------------------------

interface Compute {
  narrow: Spread;
  /** Every measured row count but 1, the wide ones among them. */
  wide: Map<number, Spread>;
}

/** One expert's runs on `rows` rows, each run the next expert of the layer (so none stays in cache), one ORT thread as an actor. */
async function expertRuns(set: ExpertSet, keys: ExpertKey[], rows: number, runs: number): Promise<number[]> {
  const x = rowsOf(rows, BENCH_MODEL.hidden);
  let k = 0;
  return timeRuns(() => set.run(keys[k++ % keys.length], x), runs, keys.length);
}

async function measureCompute(ckpt: Checkpoint, keys: ExpertKey[]): Promise<Compute> {
  const set = await ExpertSet.load(ckpt, keys, DEFAULT_EXPERT_THREADS);
  try {
    const narrow = spread(await expertRuns(set, keys, 1, NARROW_RUNS));
    const wide = new Map<number, Spread>();
    for (const rows of MIDDLE_ROWS) wide.set(rows, spread(await expertRuns(set, keys, rows, MIDDLE_RUNS)));
    for (const rows of WIDE_ROWS) wide.set(rows, spread(await expertRuns(set, keys, rows, WIDE_RUNS)));
    return { narrow, wide };
  } finally {
    await set.release();
  }
}

// ---- 2. NATS round trips -------------------------------------------------------------------------------------

const ECHO = new URL('./echo.js', import.meta.url);
const ECHO_SUBJECT = 'eaas.v1.calibrate.echo';

async function startEcho(url: string): Promise<ChildProcess> {
  const echo = fork(fileURLToPath(ECHO), [url, ECHO_SUBJECT], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    echo.once('message', () => resolve());
    echo.once('exit', (code) => reject(new Error(`the echo responder exited with code ${code}`)));
  });
  return echo;
}

/** Round trips of `rows` rows' bytes to the echo responder in its own process, back to back. */
async function roundTrips(nc: NatsConnection, rows: number, trips: number): Promise<Spread> {
  const payload = new Uint8Array(rows * ROW_BYTES).map((_, i) => i & 0xff);
  return spread(await timeRuns(() => nc.request(ECHO_SUBJECT, payload, { timeout: 5000 }), trips, TRIP_WARMUP));
}

// ---- 3. a real expert actor ------------------------------------------------------------------------------------

/** A 1-row dispatch of each expert of `layer`, encoded as the gate sends them. */
function dispatches(layer: number, experts: number): Uint8Array[] {
  const x = rowsOf(1, BENCH_MODEL.hidden);
  return Array.from({ length: experts }, (_, expert) => encodeDispatch({ layer, experts: [expert], rows: [1], x }, BENCH_MODEL.hidden, 'f32'));
}

/** True when the actor answered the dispatch with its rows (false: no responder yet, an error reply, a timeout). */
async function answers(nc: NatsConnection, subject: string, payload: Uint8Array): Promise<boolean> {
  try {
    const m = await nc.request(subject, payload, { timeout: ASK_TIMEOUT_MS });
    decodeDispatchReply(m.data, 1, BENCH_MODEL.hidden);
    return true;
  } catch {
    return false;
  }
}

/** Asks every POLL_MS until the actor answers; the ms since `t0`, and when `running()` first held. */
async function untilServing(nc: NatsConnection, subject: string, payload: Uint8Array, t0: number, running: () => boolean): Promise<{ servingMs: number; runningMs: number }> {
  let runningMs: number | undefined;
  for (;;) {
    if (runningMs === undefined && running()) runningMs = performance.now() - t0;
    if (await answers(nc, subject, payload)) return { servingMs: performance.now() - t0, runningMs: runningMs ?? performance.now() - t0 };
    if (performance.now() - t0 > SERVE_TIMEOUT_MS) throw new Error(`${subject} did not answer within ${SERVE_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}

/** The actor's next load report, published at least one report period from now (so it covers what was just sent). */
async function nextLoad(nc: NatsConnection, subject: string): Promise<ActorLoad> {
  await sleep(LOAD_REPORT_MS);
  const sub = nc.subscribe(subject, { max: 1, timeout: 10 * LOAD_REPORT_MS });
  for await (const m of sub) return decodeActorLoad(m.data);
  throw new Error(`no load report on ${subject}`);
}

interface Actors {
  dispatch: Spread;
  /** The actor's compute per dispatch (its load report's busyMs / dispatches, a mean), and the dispatches it counted. */
  actorComputeMs: number;
  counted: number;
  /** decodeDispatch + encodeDispatchReply of one row in this process: the floor of the fixed cost. */
  codec: Spread;
  start: { serving: number[]; running: number[] };
  restart: { serving: number[]; running: number[] };
}

async function measureActors(node: RunningNode, nc: NatsConnection, keys: ExpertKey[]): Promise<Actors> {
  const sup = node.supervisor!;
  const layer = keys[0].layer;
  const asks = dispatches(layer, keys.length);
  const first = sup.status().children[0];
  // the node's own actor, serving since startNode resolved: a dispatch's round trip at 1 row, cycling over its experts
  const subject = subjects.expertDispatch(node.model, first.instance);
  let k = 0;
  const dispatch = spread(
    await timeRuns(async () => {
      const m = await nc.request(subject, asks[k++ % asks.length], { timeout: 5000 });
      decodeDispatchReply(m.data, 1, BENCH_MODEL.hidden);
    }, DISPATCH_TRIPS, TRIP_WARMUP),
  );
  // the actor times its own expert runs: what of the round trip was compute
  const load = await nextLoad(nc, subjects.actorLoad(node.model, node.node, first.instance));
  // what the actor does around the compute: decode the dispatch, encode an answer of its rows
  const codec = spread(await timeRuns(async () => encodeDispatchReply(decodeDispatch(asks[k++ % asks.length], BENCH_MODEL.hidden).x, BENCH_MODEL.hidden, 'f32'), CODEC_RUNS, 100));

  const start = { serving: [] as number[], running: [] as number[] };
  const restart = { serving: [] as number[], running: [] as number[] };
  for (let i = 0; i < ACTOR_CYCLES; i++) {
    // its own group: its restart is the group's first, with the policy's first backoff
    const spec: ChildSpec = { index: 100 + i, group: 100 + i, experts: keys, instance: `${node.node}-calibrate${i}` };
    const at = (instance: string) => sup.status().children.find((c) => c.instance === instance);
    const own = subjects.expertDispatch(node.model, spec.instance);
    const t0 = performance.now();
    const added = sup.add([spec]);
    const started = await untilServing(nc, own, asks[0], t0, () => at(spec.instance)?.state === 'running');
    await added;
    start.serving.push(started.servingMs);
    start.running.push(started.runningMs);
    const old = at(spec.instance)!.pid!;
    const t1 = performance.now();
    if (!kill9(old)) throw new Error(`${spec.instance} (pid ${old}) was gone before it was killed`);
    const back = await untilServing(nc, own, asks[0], t1, () => {
      const c = at(spec.instance);
      return c?.state === 'running' && c.pid !== undefined && c.pid !== old;
    });
    restart.serving.push(back.servingMs);
    restart.running.push(back.runningMs);
    await sup.retire(spec.instance);
    log(`  actor ${i + 1}/${ACTOR_CYCLES}: started ${fmt(started.servingMs, 0)} ms, restarted ${fmt(back.servingMs, 0)} ms`);
  }
  return { dispatch, actorComputeMs: load.busyMs / load.dispatches, counted: load.dispatches, codec, start, restart };
}

// ---- 4. the gate's dense work ----------------------------------------------------------------------------------

interface GatePoint {
  rows: number;
  /** Per MoE layer: the layer's time minus its experts'. */
  layer: Spread;
  /** Per step outside the layers: from one step's start to the next one's, minus the layers (embed, LM head, sampling). */
  outside: Spread;
  steps: number;
}

/**
 * An engine as openMonolithic builds it, its sessions on one thread, with each layer and each expert call timed:
 * decode steps at each batch size (prompts of 16 tokens, GATE_TOKENS generated, so the KV cache holds 17-40 positions).
 */
async function measureGate(dir: string, ckpt: Checkpoint): Promise<GatePoint[]> {
  const c = ckpt.config;
  const dense = await DenseModel.load(ckpt, GATE_THREADS);
  const local = await LocalExperts.load(ckpt, GATE_THREADS);
  let expertMs = 0;
  let layerMs = 0;
  let rows = 0;
  const experts: ExpertBackend = {
    async runExperts(layer, batches) {
      const t = performance.now();
      try {
        return await local.runExperts(layer, batches);
      } finally {
        expertMs += performance.now() - t;
      }
    },
  };
  const forward = new Forward(dense, experts, {
    async layer(_layer, tokens, run) {
      rows = tokens;
      const t = performance.now();
      try {
        return await run();
      } finally {
        layerMs += performance.now() - t;
      }
    },
  });
  interface Step {
    start: number;
    rows: number;
    seqs: number;
    layerMs: number;
    expertMs: number;
    intervalMs?: number;
  }
  let steps: Step[] = [];
  let last: Step | undefined;
  const engine = new Engine(
    c,
    forward,
    {
      async step(tags, run) {
        const start = performance.now();
        if (last) last.intervalMs = start - last.start;
        layerMs = 0;
        expertMs = 0;
        const out = await run();
        last = { start, rows, seqs: tags.length, layerMs, expertMs };
        steps.push(last);
        return out;
      },
    },
    undefined,
    endOfSequenceIds(dir, Tokenizer.load(dir)),
  );
  const layers = moeLayers(c).length;
  try {
    const wave = async (n: number, tokens: number, first: number) => {
      await Promise.all(Array.from({ length: n }, (_, i) => engine.generate(benchPrompt(first + i, c.vocabSize), { maxTokens: tokens, stopAtEos: false })));
      // the engine idles until the next wave: its last step has no successor to close its interval
      last = undefined;
    };
    // first runs allocate ONNX Runtime's arenas
    await wave(2, 4, 900);
    const out: GatePoint[] = [];
    for (const b of GATE_BATCHES) {
      steps = [];
      for (let w = 0; w < b.waves; w++) await wave(b.rows, GATE_TOKENS, 1000 + 100 * w);
      // decode steps only (one new token per sequence), each closed by the next
      const decode = steps.filter((s) => s.rows === s.seqs && s.seqs === b.rows && s.intervalMs !== undefined);
      out.push({
        rows: b.rows,
        layer: spread(decode.map((s) => (s.layerMs - s.expertMs) / layers)),
        outside: spread(decode.map((s) => s.intervalMs! - s.layerMs)),
        steps: decode.length,
      });
      log(`  gate at ${b.rows} rows: ${decode.length} decode steps`);
    }
    return out;
  } finally {
    await Promise.all([dense.release(), local.release()]);
  }
}

/** Least squares of y = fixed + perRow·x over the batch points (their medians). */
function fitLine(points: { x: number; y: number }[]): { fixed: number; perRow: number } {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const sxy = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0);
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  const perRow = sxy / sxx;
  return { fixed: my - perRow * mx, perRow };
}

// ---- 5. the monolith's load ------------------------------------------------------------------------------------

interface MonolithLoad {
  loadMs: number[];
  firstStepMs: number[];
}

/** openMonolithic in this process (dense and every expert session, threads as served), then its first 1-token step. */
async function measureMonolith(dir: string, vocab: number): Promise<MonolithLoad> {
  const out: MonolithLoad = { loadMs: [], firstStepMs: [] };
  for (let i = 0; i < MONOLITH_LOADS; i++) {
    const t0 = performance.now();
    const model = await openMonolithic(dir);
    const t1 = performance.now();
    try {
      await model.engine.generate(benchPrompt(i, vocab), { maxTokens: 1, stopAtEos: false });
    } finally {
      out.loadMs.push(t1 - t0);
      out.firstStepMs.push(performance.now() - t1);
      await model.close();
    }
  }
  return out;
}

// ---- 6. a dispatch's CPU in situ --------------------------------------------------------------------------------

interface InSitu {
  /** CPU ms by kind of process over the measured waves (cpuByProcess's names). */
  cpu: Map<string, number>;
  /** The actors' own compute (their load reports' busyMs), the gate's dispatches and their rows. */
  actorComputeMs: number;
  dispatches: number;
  wireRows: number;
  /** Steps the gate ran: decode steps of `prompts` rows, and one prefill step per wave. */
  decodeSteps: number;
  prefillSteps: number;
  wallMs: number;
}

/** The actors' compute so far: the newest load report of each (their window outlasts the whole run). */
async function actorsBusy(nc: NatsConnection, model: string, actors: number): Promise<number> {
  await sleep(2 * LOAD_REPORT_MS);
  const seen = new Map<string, number>();
  const sub = nc.subscribe(subjects.actorLoadWildcard(model), { timeout: 20 * LOAD_REPORT_MS });
  for await (const m of sub) {
    const l = decodeActorLoad(m.data);
    seen.set(l.instance, l.busyMs);
    if (seen.size === actors) break;
  }
  return [...seen.values()].reduce((a, b) => a + b, 0);
}

/** Waves of prompts through a gate and two expert actors on this host, with the CPU of every process read around them. */
async function measureInSitu(dir: string, vocab: number): Promise<InSitu> {
  const server = await startNatsServer({});
  let node: RunningNode | undefined;
  let nc: NatsConnection | undefined;
  try {
    const env = { EAAS_LOAD_REPORT_MS: String(LOAD_REPORT_MS), EAAS_LOAD_WINDOW_MS: String(LOAD_WINDOW_MS) };
    node = await withEnv(env, () => startNode({ nats: server.url, modelDir: dir, roles: ['supervisor', 'gate'], replicas: IN_SITU.replicas, expertsPerActor: IN_SITU.perActor, node: 'insitu', expertEnv: env }));
    const live = node;
    const actors = live.supervisor!.status().children.length;
    if ((await waitUntil(() => remoteExperts(live.gate).directory.all().filter((i) => i.up).length === actors, SERVE_TIMEOUT_MS, 50)) === undefined) throw new Error('the in-situ actors did not come up');
    nc = await connectNats(server.url, 'eaas-calibrate-insitu');
    const client = nc;
    let first = 0;
    const wave = () =>
      Promise.all(Array.from({ length: IN_SITU.prompts }, () => requestGenerate(client, live.model, { prompt: benchPrompt(2000 + first++, vocab), max_tokens: IN_SITU.tokens, stop_at_eos: false })));
    // first runs allocate ONNX Runtime's arenas and page the weights in
    await wave();
    const counters = remoteExperts(live.gate).counters;
    const before = { busy: await actorsBusy(client, live.model, actors), dispatches: counters.dispatches, wireRows: counters.wireRows, cpu: cpuByProcess(), t: performance.now() };
    for (let w = 0; w < IN_SITU.waves; w++) await wave();
    const cpu = cpuSince(before.cpu);
    const wallMs = performance.now() - before.t;
    return {
      cpu,
      actorComputeMs: (await actorsBusy(client, live.model, actors)) - before.busy,
      dispatches: counters.dispatches - before.dispatches,
      wireRows: counters.wireRows - before.wireRows,
      decodeSteps: IN_SITU.waves * (IN_SITU.tokens - 1),
      prefillSteps: IN_SITU.waves,
      wallMs,
    };
  } finally {
    if (nc) await closeNats(nc);
    await node?.stop();
    await server.stop();
  }
}

// ---- the whole calibration ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const began = performance.now();
  const cpu = cpus();
  const startLoad = loadavg();
  log(`load average ${startLoad.map((l) => l.toFixed(2)).join(' ')} on ${cpu.length} cores (${cpu[0]?.model ?? 'unknown CPU'})`);
  const ck = benchCheckpoint('mixtral', 'bench');
  if (ck.generatedMs !== undefined) log(`generated the bench checkpoint in ${fmt(ck.generatedMs / 1000)} s: ${ck.dir}`);
  const ckpt = Checkpoint.open(ck.dir);
  const c = ckpt.config;
  let server: NatsServerHandle | undefined;
  let echo: ChildProcess | undefined;
  let nc: NatsConnection | undefined;
  let node: RunningNode | undefined;
  const lines: Line[] = [];
  let curve: string | undefined;
  /** What looked off while measuring, printed under the table. */
  const notes: string[] = [];
  if (startLoad[0] > BUSY_LOAD) notes.push(`the 1-minute load average was ${startLoad[0].toFixed(2)} at the start: another job used the cores, so times are slow and noisy (run again on a quiet host)`);
  const p: Partial<CostProfile> = {};
  try {
    checkShape(c);
    const layer = moeLayers(c)[0];
    const keys = Array.from({ length: c.numLocalExperts }, (_, expert) => ({ layer, expert }));

    log(`expert compute: one expert, ${DEFAULT_EXPERT_THREADS} ORT thread, cycling over layer ${layer}'s ${keys.length} experts`);
    const comp = await measureCompute(ckpt, keys);
    const [lo, hi] = WIDE_ROWS;
    const wideLo = comp.wide.get(lo)!;
    const wideHi = comp.wide.get(hi)!;
    p.expertBytesPerMs = EXPERT_BYTES / comp.narrow.p50;
    p.expertFlopsPerMs = ((hi - lo) * FLOPS_PER_ROW) / (wideHi.p50 - wideLo.p50);
    lines.push({ key: 'expertBytesPerMs', how: `${fmt(EXPERT_BYTES / 1e6)} MB of f32 weights / median 1-row run (${fmt(comp.narrow.p50, 3)} ms) = ${fmt(p.expertBytesPerMs / 1e6, 1)} GB/s`, spread: `1 row ${range(comp.narrow)}` });
    lines.push({
      key: 'expertFlopsPerMs',
      how: `slope ${lo}->${hi} rows: ${hi - lo} x 6HF flops / (${fmt(wideHi.p50, 2)} - ${fmt(wideLo.p50, 2)} ms); ${fmt(p.expertFlopsPerMs / 1e6, 1)} GFLOP/s (at ${hi} rows alone ${fmt((hi * FLOPS_PER_ROW) / wideHi.p50 / 1e6, 1)})`,
      spread: `${lo} rows ${range(wideLo, 2)}; ${hi} rows ${range(wideHi, 2)}`,
    });
    p.expertMsByRows = [[1, comp.narrow.p50], ...[...comp.wide].map(([rows, t]): [number, number] => [rows, t.p50])];
    curve = `median ms of one expert, one thread, at rows ${p.expertMsByRows.map(([rows, ms]) => `${rows}: ${fmt(ms, 3)}`).join(', ')}`;

    log('NATS: a nats-server, an echo responder in its own process');
    server = await startNatsServer({});
    nc = await connectNats(server.url, 'eaas-calibrate');
    echo = await startEcho(server.url);
    const small = await roundTrips(nc, SMALL_ROWS, SMALL_TRIPS);
    const large = await roundTrips(nc, LARGE_ROWS, LARGE_TRIPS);
    echo.disconnect();
    echo = undefined;
    p.hopMs = small.p50 / 2;
    // a round trip carries the payload twice (request and echo)
    p.linkBytesPerMs = ((LARGE_ROWS - SMALL_ROWS) * ROW_BYTES) / ((large.p50 - small.p50) / 2);
    lines.push({ key: 'hopMs', how: `half the median round trip of ${SMALL_ROWS * ROW_BYTES} B to an echo responder in another process`, spread: `round trip ${range(small)}` });
    lines.push({
      key: 'linkBytesPerMs',
      how: `${(LARGE_ROWS - SMALL_ROWS) * ROW_BYTES} B more each way / half the round-trip difference (${fmt(large.p50, 2)} - ${fmt(small.p50, 3)} ms)`,
      spread: `${LARGE_ROWS * ROW_BYTES} B round trip ${range(large, 2)}`,
    });

    log(`expert actors: startNode (supervisor, experts ${layer}:*, one actor), ${ACTOR_CYCLES} actors added, killed, retired`);
    node = await startNode({ nats: server.url, modelDir: ck.dir, roles: ['supervisor'], experts: `${layer}:*`, replicas: 1, expertsPerActor: keys.length, node: 'calibrate', expertEnv: { EAAS_ORT_THREADS: String(DEFAULT_EXPERT_THREADS), EAAS_LOAD_REPORT_MS: String(LOAD_REPORT_MS), EAAS_LOAD_WINDOW_MS: String(LOAD_WINDOW_MS) } });
    const act = await measureActors(node, nc, keys);
    await node.stop();
    node = undefined;
    // means: the actor reports only its mean run, and a round trip's mean is the sum of its parts' means
    const fixed = act.dispatch.mean - small.mean - act.actorComputeMs;
    if (act.counted !== DISPATCH_TRIPS + TRIP_WARMUP) notes.push(`the actor's load report counted ${act.counted} dispatches, ${DISPATCH_TRIPS + TRIP_WARMUP} were sent`);
    // a difference of three medians: noise may put it under what the codec alone costs, which is its floor
    if (fixed < act.codec.mean) notes.push(`dispatchFixedMs came out ${fmt(fixed, 4)} ms, below the codec alone: the codec's ${fmt(act.codec.mean, 4)} ms is used`);
    p.dispatchFixedMs = Math.max(fixed, act.codec.mean);
    lines.push({
      key: 'dispatchFixedMs',
      how:
        `means: 1-row dispatch round trip to a real actor (${fmt(act.dispatch.mean, 3)}) - 4 KB echo round trip (${fmt(small.mean, 3)}) - the actor's expert run (${fmt(act.actorComputeMs, 3)}, its load report; ` +
        `in-process ${fmt(comp.narrow.mean, 3)}); codec alone ${fmt(act.codec.mean, 3)} ms`,
      spread: `dispatch round trip ${range(act.dispatch)}`,
    });
    const st = spread(act.start.serving);
    const rs = spread(act.restart.serving);
    await closeNats(nc);
    nc = undefined;
    await server.stop();
    server = undefined;

    log(`gate: dense and expert sessions on ${GATE_THREADS} thread, decode steps at ${GATE_BATCHES.map((b) => b.rows).join(', ')} rows`);
    const gate = await measureGate(ck.dir, ckpt);
    const layerFit = fitLine(gate.map((g) => ({ x: g.rows, y: g.layer.p50 })));
    const stepFit = fitLine(gate.map((g) => ({ x: g.rows, y: g.outside.p50 })));
    // a fit below 0 (noise on a flat line) would fail the profile's validation
    const clamp = (v: number, key: keyof CostProfile) => {
      if (v < 0) notes.push(`${key} fitted ${fmt(v, 4)}, set to 0`);
      return Math.max(0, v);
    };
    p.gateLayerFixedMs = clamp(layerFit.fixed, 'gateLayerFixedMs');
    p.gateLayerPerRowMs = clamp(layerFit.perRow, 'gateLayerPerRowMs');
    p.gateStepFixedMs = clamp(stepFit.fixed, 'gateStepFixedMs');
    p.gateStepPerRowMs = clamp(stepFit.perRow, 'gateStepPerRowMs');
    const points = (pick: (g: GatePoint) => Spread) => gate.map((g) => `${g.rows}: ${fmt(pick(g).p50, 2)} (${fmt(pick(g).p10, 2)}-${fmt(pick(g).p90, 2)}, n ${g.steps})`).join('; ');
    lines.push({ key: 'gateLayerFixedMs', how: `least squares over rows ${gate.map((g) => g.rows).join(', ')} of a layer's time minus its experts' runExperts time (attention, router, combine)`, spread: `ms per layer at rows ${points((g) => g.layer)}` });
    lines.push({ key: 'gateLayerPerRowMs', how: 'slope of the same fit', spread: '' });
    lines.push({ key: 'gateStepFixedMs', how: 'least squares of step start to next step start minus the layers (embed, rope, LM head, sampling)', spread: `ms per step at rows ${points((g) => g.outside)}` });
    lines.push({ key: 'gateStepPerRowMs', how: 'slope of the same fit', spread: '' });

    log(`in situ: a gate and ${IN_SITU.replicas} expert actors of ${IN_SITU.perActor} experts on this host, ${IN_SITU.waves} waves of ${IN_SITU.prompts} prompts`);
    const situ = await measureInSitu(ck.dir, c.vocabSize);
    const kinds = [...situ.cpu].filter(([k]) => !k.endsWith('(system)'));
    const of = (kind: string) => situ.cpu.get(kind) ?? 0;
    // what the profile already charges the gate for those steps: its dense work (on one thread) and its half of each dispatch's fixed cost
    // as the simulator charges it (gateStepMs and gateLayerMs, before any CPU per token), from the figures fitted above
    const fitted = { ...p, gateMsPerToken: 0 } as CostProfile;
    const step = (layerRows: number) => gateStepMs(fitted, BENCH_MODEL, IN_SITU.prompts) + BENCH_MODEL.moeLayers * gateLayerMs(fitted, BENCH_MODEL, layerRows);
    const dense = situ.decodeSteps * step(IN_SITU.prompts) + situ.prefillSteps * step(IN_SITU.prompts * IN_SITU.promptTokens);
    const halves = (situ.dispatches * p.dispatchFixedMs) / 2;
    const perRow = (v: number, key: keyof CostProfile) => clamp(v / situ.wireRows, key);
    const tokens = IN_SITU.waves * IN_SITU.prompts * IN_SITU.tokens;
    p.gateMsPerToken = clamp((of(CPU_GATE) - dense - halves) / tokens, 'gateMsPerToken');
    p.actorMsPerWireRow = perRow(of(CPU_ACTORS) - situ.actorComputeMs - halves, 'actorMsPerWireRow');
    p.serverMsPerWireRow = perRow(of(CPU_SERVER) / 2, 'serverMsPerWireRow');
    const situHow = `over ${fmt(situ.wallMs / 1000)} s: ${situ.dispatches} dispatches of ${fmt(situ.wireRows / situ.dispatches, 1)} rows; CPU ms ${kinds.map(([k, v]) => `${k} ${fmt(v, 0)}`).join(', ')} of ${fmt(situ.wallMs * cpu.length, 0)}`;
    lines.push({ key: 'gateMsPerToken', how: `(gate process CPU - its dense work at the fitted rates ${fmt(dense, 0)} - its halves of the fixed cost ${fmt(halves, 0)}) / ${tokens} tokens; includes the in-process client and ONNX Runtime's second thread`, spread: situHow });
    lines.push({ key: 'actorMsPerWireRow', how: `(expert actors' CPU - their own compute ${fmt(situ.actorComputeMs, 0)} (load reports) - their halves of the fixed cost) / rows`, spread: '' });
    lines.push({ key: 'serverMsPerWireRow', how: 'nats-server CPU / rows, each row passing it twice (request and answer); streamed tokens included', spread: '' });

    log(`monolith: openMonolithic ${MONOLITH_LOADS} times, each then one 1-token generate`);
    const mono = await measureMonolith(ck.dir, c.vocabSize);
    const ready = mono.loadMs.map((l, i) => l + mono.firstStepMs[i]);
    p.monolithRestartMs = percentile(ready, 50);
    lines.push({
      key: 'monolithRestartMs',
      how: `in-process openMonolithic (load ${mono.loadMs.map((v) => fmt(v, 0)).join(', ')} ms) + its first 1-token step (${mono.firstStepMs.map((v) => fmt(v, 0)).join(', ')} ms); no process start, no NATS`,
      spread: `${ready.map((v) => fmt(v, 0)).join(', ')} ms`,
    });

    // a starting actor's weights: read at the rate the monolith read the whole checkpoint; the rest of a start is fixed
    const checkpointBytes = readdirSync(ck.dir).filter((f) => f.endsWith('.safetensors')).reduce((n, f) => n + statSync(join(ck.dir, f)).size, 0);
    p.weightLoadBytesPerMs = checkpointBytes / percentile(mono.loadMs, 50);
    const actorLoadMs = (keys.length * expertBytes(BENCH_MODEL)) / p.weightLoadBytesPerMs;
    p.actorStartMs = Math.max(0, st.p50 - actorLoadMs);
    p.actorRestartMs = Math.max(0, rs.p50 - actorLoadMs);
    lines.push({
      key: 'weightLoadBytesPerMs',
      how: `the bench checkpoint (${fmt(checkpointBytes / 1e6, 0)} MB) over the monolith's median load: a ${keys.length}-expert actor's weights take ${fmt(actorLoadMs, 0)} ms of its start`,
      spread: '',
    });
    lines.push({
      key: 'actorStartMs',
      how: `supervisor.add of a ${keys.length}-expert actor until it answers a dispatch (median ${fmt(st.p50, 0)} ms; running at ${fmt(percentile(act.start.running, 50), 0)}), less its weights`,
      spread: `${act.start.serving.map((v) => fmt(v, 0)).join(', ')} ms`,
    });
    lines.push({
      key: 'actorRestartMs',
      how: `kill -9 of that actor until its replacement answers a dispatch (median ${fmt(rs.p50, 0)} ms; running with a new pid at ${fmt(percentile(act.restart.running, 50), 0)}), less its weights`,
      spread: `${act.restart.serving.map((v) => fmt(v, 0)).join(', ')} ms`,
    });
    p.collectiveMs = p.hopMs;
    lines.push({ key: 'collectiveMs', how: 'assumed: equal to hopMs (no all-to-all to measure on one host)', spread: '' });
    p.coresPerHost = cpu.length;
    lines.push({ key: 'coresPerHost', how: 'os.cpus().length', spread: '' });
  } finally {
    echo?.disconnect();
    await node?.stop().catch(() => undefined);
    if (nc) await closeNats(nc);
    await server?.stop();
    ckpt.close();
  }

  const date = new Date().toISOString().slice(0, 10);
  const source = `measured on ${cpu[0]?.model ?? 'an unknown CPU'} (${cpu.length} cores) by npm run simulate:calibrate, ${date}`;
  // 4 significant digits: more than the repeats agree on
  const r = (v: number | undefined) => (v === undefined ? v : Number(v.toPrecision(4)));
  // the simulator's key order, checked by its own validation
  const profile = costProfile(
    {
      source,
      coresPerHost: p.coresPerHost,
      expertBytesPerMs: r(p.expertBytesPerMs),
      expertFlopsPerMs: r(p.expertFlopsPerMs),
      dispatchFixedMs: r(p.dispatchFixedMs),
      gateLayerFixedMs: r(p.gateLayerFixedMs),
      gateLayerPerRowMs: r(p.gateLayerPerRowMs),
      gateStepFixedMs: r(p.gateStepFixedMs),
      gateStepPerRowMs: r(p.gateStepPerRowMs),
      hopMs: r(p.hopMs),
      linkBytesPerMs: r(p.linkBytesPerMs),
      actorRestartMs: r(p.actorRestartMs),
      actorStartMs: r(p.actorStartMs),
      weightLoadBytesPerMs: r(p.weightLoadBytesPerMs),
      monolithRestartMs: r(p.monolithRestartMs),
      collectiveMs: r(p.collectiveMs),
      expertMsByRows: p.expertMsByRows?.map(([rows, ms]) => [rows, r(ms)]),
      gateMsPerToken: r(p.gateMsPerToken),
      actorMsPerWireRow: r(p.actorMsPerWireRow),
      serverMsPerWireRow: r(p.serverMsPerWireRow),
    },
    'calibration',
  );
  const json = `${JSON.stringify(profile, null, 2)}\n`;
  const say = args.out ? (s: string) => console.log(s) : (s: string) => console.error(s);
  const value = (v: number) => (Number.isInteger(v) && v < 1e6 ? String(v) : v >= 1000 ? v.toExponential(3) : fmt(v, v < 1 ? 4 : 2));
  say(`\n${source}; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${fmt((performance.now() - began) / 1000)} s`);
  say(table(['figure', 'value', 'how', 'spread (p10-p90 of repeats, or each repeat)'], lines.map((l) => [l.key, value(profile[l.key] as number), l.how, l.spread])));
  if (curve) say(`expertMsByRows: ${curve}`);
  for (const n of notes) say(`note: ${n}`);
  if (args.out) {
    writeFileSync(args.out, json);
    say(`wrote ${args.out}`);
  } else process.stdout.write(json);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`calibration failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
