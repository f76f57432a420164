// `npm run simulate:check`: the simulator's calibration check. For the topologies this host can run for real (`eaas
// up`'s layout on one machine: a nats-server and one node with supervisor and gate), it measures the real cluster
// over NATS, runs the simulator on the same topology with a cost profile, and prints both side by side with their
// ratios against the goal (within ±15 %). Topologies: 2 actors at 32 prompts and at 1, 4 and 8 actors at 32, and
// kill -9 of an expert actor every 10 s during a closed-loop run (throughput as a share of a fault-free run).
// Usage: node dist/test/bench/sim-check.js [--profile FILE] [--quick] [--out FILE]
import { setMaxListeners } from 'node:events';
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from 'nats';
import { streamGenerate } from '../../actors/gate/client.js';
import { Checkpoint } from '../../model/checkpoint.js';
import type { ModelConfig } from '../../model/config.js';
import { formatExpertKey } from '../../model/expert-key.js';
import { moeLayers } from '../../model/families/shape.js';
import { startNode, type RunningNode } from '../../runtime/node/cluster.js';
import { runEaas, staticPlacement, type EaasRunResult, type SimFault } from '../../runtime/simulate/eaas-run.js';
import { BENCH_MODEL, gateDispatchSideMs, gateLayerMs, gateStepMs, readProfile, SHIPPED_PROFILE, type CostProfile } from '../../runtime/simulate/profile.js';
import { closeNats, connectNats } from '../../runtime/transport/connection.js';
import { startNatsServer, type NatsServerHandle } from '../../runtime/transport/nats-server.js';
import { CounterSampler, kill9, waitUntil } from '../helpers/chaos/faults.js';
import { remoteExperts } from '../helpers/gate-dispatch.js';
import { benchCheckpoint } from './checkpoints.js';
import { cpuByProcess, cpuSince, CPU_ACTORS, CPU_GATE, CPU_SERVER } from './cpu-time.js';
import { benchPrompt, PROMPT_TOKENS } from './decode.js';
import { fmt, percentile, table } from './stats.js';

/** `eaas up` keeps every expert twice. */
const REPLICAS = 2;
/** Actors of the layouts measured, each with all 32 bench-preset experts dealt over them per replica set. */
const LAYOUTS = [
  { actors: 2, perActor: 32 },
  { actors: 4, perActor: 16 },
  { actors: 8, perActor: 8 },
] as const;
/** All prompts of a wave at once (the bench's batched figure), and one at a time. */
const WIDE = 32;
const NARROW = 1;
/** kill -9 of one expert actor this often during the fault run (2-actor layout, WIDE prompts in a closed loop). */
const FAULT_EVERY_MS = 10_000;
/** The engine takes a whole prompt in one step: a budget of a full wave's prompt rows does the same in the simulator. */
const PREFILL_BUDGET = WIDE * PROMPT_TOKENS;
/** The simulated span: many waves after the batch has filled and the hedging delays are learnt. */
const SIM_DURATION_MS = 60_000;
const SIM_WARMUP_MS = 5_000;
const SIM_SEED = 1;
/** The goal: simulated within ±15 % of measured. */
const GOAL = 0.15;
/** A 1-minute load average above this at the start means another job shares the cores. */
const BUSY_LOAD = 1.5;
/** The cluster counts as started once every actor has run and been seen up by the gate this long. */
const STEADY_MS = 1000;
const STEADY_TIMEOUT_MS = 180_000;
/** After a closed-loop run, its cancelled sequences leave the gate within this. */
const DRAIN_TIMEOUT_MS = 30_000;
/** A request that failed in a closed loop is retried after this (no tight loop while no replica serves). */
const RETRY_MS = 100;
/** A killed actor's replacement must serve within this; its first redirect is looked for this long after the kill. */
const RESTART_TIMEOUT_MS = 60_000;
const REDIRECT_WINDOW_MS = FAULT_EVERY_MS;

const USAGE = 'usage: node dist/test/bench/sim-check.js [--profile FILE] [--quick] [--out FILE]';

interface Settings {
  maxTokens: number;
  /** Measured waves of WIDE prompts after one warm-up wave. */
  waves: number;
  /** Sequential requests at NARROW after one warm-up request. */
  sequential: number;
  /** Length of the fault-free and the faulty closed-loop runs. */
  faultRunMs: number;
}

const settings = (quick: boolean): Settings => (quick ? { maxTokens: 16, waves: 2, sequential: 3, faultRunMs: 20_000 } : { maxTokens: 32, waves: 3, sequential: 5, faultRunMs: 30_000 });

interface Args {
  profile: string;
  quick: boolean;
  out?: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { profile: SHIPPED_PROFILE, quick: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const flag = a.split('=')[0];
    const value = () => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!v) throw new Error(`${flag} needs a file (${USAGE})`);
      return v;
    };
    if (a === '--quick') args.quick = true;
    else if (flag === '--profile') args.profile = value();
    else if (flag === '--out') args.out = value();
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (${USAGE})`);
  }
  return args;
}

const began = performance.now();
const log = (s: string) => process.stderr.write(`[sim-check ${((performance.now() - began) / 1000).toFixed(1)} s] ${s}\n`);
const loadNow = () => loadavg().map((l) => l.toFixed(2)).join(' ');

/** The simulator's costs assume the bench preset's shape: a different checkpoint would compare unlike things. */
function checkShape(c: ModelConfig): void {
  const m = BENCH_MODEL;
  const got = { moeLayers: moeLayers(c).length, experts: c.numLocalExperts, topK: c.numExpertsPerTok, hidden: c.hiddenSize, expertFfn: c.intermediateSize };
  const want = { moeLayers: m.moeLayers, experts: m.experts, topK: m.topK, hidden: m.hidden, expertFfn: m.expertFfn };
  if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`bench checkpoint shape ${JSON.stringify(got)} is not BENCH_MODEL's ${JSON.stringify(want)}`);
}

// ---- the real cluster ------------------------------------------------------------------------------------------

/** What a real run measured: tokens generated in its span, the span, and each request's gaps between tokens. */
interface Measured {
  tokens: number;
  ms: number;
  itl: number[];
  failed: number;
  /** The gate's dispatcher counters over the run. */
  dispatches: number;
  redirects: number;
  hedges: number;
  /** Rows the gate put on the wire in its dispatches. */
  wireRows: number;
  /** CPU ms each kind of process used over the run (waves only), and the cores × wall it had. */
  cpu?: { used: Map<string, number>; available: number };
}

interface Client {
  nc: NatsConnection;
  node: RunningNode;
  vocab: number;
  maxTokens: number;
  /** The next prompt index: every request a different prompt. */
  prompt: number;
}

/** One streamed request: each token's arrival time (ms, performance.now()), pushed as it comes. */
function streamed(c: Client, arrivals: number[], signal?: AbortSignal): Promise<unknown> {
  const prompt = benchPrompt(c.prompt++, c.vocab);
  return streamGenerate(c.nc, c.node.model, { prompt, max_tokens: c.maxTokens, stop_at_eos: false }, { token: () => arrivals.push(performance.now()) }, { signal });
}

/** Gaps between a request's consecutive tokens inside [from, to]: its first token (the prefill's) opens no gap. */
function gaps(arrivals: number[], from = -Infinity, to = Infinity): number[] {
  const out: number[] = [];
  for (let i = 1; i < arrivals.length; i++) if (arrivals[i - 1] >= from && arrivals[i] <= to) out.push(arrivals[i] - arrivals[i - 1]);
  return out;
}

const counters = (node: RunningNode) => {
  const k = remoteExperts(node.gate).counters;
  return { dispatches: k.dispatches, redirects: k.redirects, hedges: k.hedges, wireRows: k.wireRows };
};

function measured(node: RunningNode, before: ReturnType<typeof counters>, tokens: number, ms: number, itl: number[], failed: number): Measured {
  const after = counters(node);
  return { tokens, ms, itl, failed, dispatches: after.dispatches - before.dispatches, redirects: after.redirects - before.redirects, hedges: after.hedges - before.hedges, wireRows: after.wireRows - before.wireRows };
}

/** `count` waves of `concurrency` prompts, each wave submitted at once and awaited whole. */
async function waves(c: Client, concurrency: number, count: number): Promise<Measured> {
  const before = counters(c.node);
  const all: number[][] = [];
  const cpu0 = cpuByProcess();
  const t0 = performance.now();
  for (let w = 0; w < count; w++) {
    const wave = Array.from({ length: concurrency }, () => [] as number[]);
    await Promise.all(wave.map((arrivals) => streamed(c, arrivals)));
    all.push(...wave);
  }
  const ms = performance.now() - t0;
  const cpu = { used: cpuSince(cpu0), available: ms * availableParallelism() };
  return { ...measured(c.node, before, all.reduce((n, a) => n + a.length, 0), ms, all.flatMap((a) => gaps(a)), 0), cpu };
}

/**
 * `concurrency` clients each sending its next request as soon as the last ended, for `ms`; `at(elapsedMs)` faults
 * are injected on the way. Tokens and gaps are counted inside the span; what is in flight at its end is cancelled.
 */
async function closedLoop(c: Client, concurrency: number, ms: number, faults: { at: number; run: () => void }[] = []): Promise<Measured> {
  const before = counters(c.node);
  const stop = new AbortController();
  // every request in flight listens to the one signal
  setMaxListeners(concurrency + 1, stop.signal);
  const all: number[][] = [];
  let failed = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  const timers = [setTimeout(() => stop.abort(), ms), ...faults.map((f) => setTimeout(f.run, f.at))];
  const client = async () => {
    while (performance.now() < end) {
      const arrivals: number[] = [];
      all.push(arrivals);
      try {
        await streamed(c, arrivals, stop.signal);
      } catch {
        if (stop.signal.aborted) return;
        failed++;
        await sleep(RETRY_MS);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, client));
  } finally {
    for (const t of timers) clearTimeout(t);
  }
  // the cancelled sequences leave the engine before the next run starts
  await waitUntil(() => c.node.gate!.engine.load === 0, DRAIN_TIMEOUT_MS, 50);
  const tokens = all.reduce((n, a) => n + a.filter((t) => t <= end).length, 0);
  return measured(c.node, before, tokens, ms, all.flatMap((a) => gaps(a, t0, end)), failed);
}

/** Polls until every expert actor runs and the gate sees each one up, for STEADY_MS in a row. */
async function waitUntilSteady(node: RunningNode, actors: number): Promise<void> {
  let since: number | undefined;
  const ok = await waitUntil(
    () => {
      const children = node.supervisor!.status().children;
      const seen = remoteExperts(node.gate).directory.all().filter((i) => i.up).length;
      const steady = children.length === actors && children.every((k) => k.state === 'running') && seen === actors;
      if (!steady) since = undefined;
      else since ??= performance.now();
      return since !== undefined && performance.now() - since >= STEADY_MS;
    },
    STEADY_TIMEOUT_MS,
    100,
  );
  if (ok === undefined) throw new Error(`expert actors not steady after ${STEADY_TIMEOUT_MS} ms: ${JSON.stringify(node.supervisor!.status().children)}`);
}

/** The index of an instance named `<node>-e<index>` (the simulator names it `h0-e<index>`). */
function instanceIndex(instance: string): number {
  const m = /-e(\d+)$/.exec(instance);
  if (!m) throw new Error(`instance ${instance} is not named <node>-e<index>`);
  return Number(m[1]);
}

/** One kill -9 during the fault run, and what followed it (ms after the kill). */
interface Kill {
  /** Offset in the run, its wall-clock time (Date.now, as the counter sampler keeps), the victim. */
  atMs: number;
  wall: number;
  instance: string;
  index: number;
  pid: number;
  /** The gate's first redirect. */
  redirectMs?: number;
  /** Until the replacement process runs and the gate's directory has it up again. */
  servingMs?: number;
}

/** kill -9 of a random expert actor that runs now; its index (to kill the same one in the simulator). */
function killRandomActor(node: RunningNode): { instance: string; index: number; pid: number } {
  const live = node.supervisor!.status().children.filter((k) => k.state === 'running' && k.pid !== undefined);
  if (live.length === 0) throw new Error('no expert actor runs: nothing to kill');
  const victim = live[Math.floor(Math.random() * live.length)];
  if (!kill9(victim.pid!)) throw new Error(`${victim.instance} (pid ${victim.pid}) was gone before it was killed`);
  return { instance: victim.instance, index: instanceIndex(victim.instance), pid: victim.pid! };
}

/** The expert groups of each actor as sorted strings, to compare a real placement with the simulator's. */
const groups = (actors: string[][]) => actors.map((e) => [...e].sort().join(',')).sort();

interface LayoutRun {
  actors: number;
  perActor: number;
  /** Each actor's experts as the supervisor placed them. */
  placed: string[][];
  startMs: number;
  wide: Measured;
  narrow?: Measured;
  faults?: { free: Measured; faulty: Measured; killed: Kill[]; restarts: number };
}

async function measureLayout(url: string, dir: string, vocab: number, layout: (typeof LAYOUTS)[number], s: Settings, extra: boolean): Promise<LayoutRun> {
  let node: RunningNode | undefined;
  let nc: NatsConnection | undefined;
  try {
    const t0 = performance.now();
    node = await startNode({ nats: url, modelDir: dir, roles: ['supervisor', 'gate'], replicas: REPLICAS, expertsPerActor: layout.perActor, node: `simcheck${layout.actors}` });
    const placed = node.supervisor!.status().children.map((k) => k.experts);
    if (placed.length !== layout.actors) throw new Error(`expertsPerActor ${layout.perActor} with ${REPLICAS} replicas placed ${placed.length} actors, not ${layout.actors}`);
    await waitUntilSteady(node, layout.actors);
    const startMs = performance.now() - t0;
    nc = await connectNats(url, 'eaas-sim-check-client');
    const c: Client = { nc, node, vocab, maxTokens: s.maxTokens, prompt: 0 };
    log(`  started in ${fmt(startMs / 1000)} s; warm-up wave of ${WIDE}, then ${s.waves} waves`);
    // first runs allocate ONNX Runtime's arenas and page the weights in
    await waves(c, WIDE, 1);
    const run: LayoutRun = { actors: layout.actors, perActor: layout.perActor, placed, startMs, wide: await waves(c, WIDE, s.waves) };
    if (!extra) return run;
    log(`  ${NARROW} prompt: one warm-up request, then ${s.sequential}`);
    await waves(c, NARROW, 1);
    run.narrow = await waves(c, NARROW, s.sequential);
    log(`  closed loop of ${WIDE} for ${s.faultRunMs / 1000} s fault-free, then the same with kill -9 every ${FAULT_EVERY_MS / 1000} s`);
    const free = await closedLoop(c, WIDE, s.faultRunMs);
    await waitUntilSteady(node, layout.actors);
    const restartsBefore = node.supervisor!.status().children.reduce((n, k) => n + k.restarts, 0);
    const killed: Kill[] = [];
    const back: Promise<unknown>[] = [];
    const live = node;
    const redirects = new CounterSampler(() => remoteExperts(live.gate).counters.redirects);
    // each kill is followed until its replacement serves: the restart the simulator charges actorRestartMs for
    const kill = (atMs: number) => {
      let k: Kill;
      try {
        k = { atMs, wall: Date.now(), ...killRandomActor(live) };
      } catch (err) {
        // in a timer: a throw would end the process without its cleanup
        return log(`  no kill at ${atMs / 1000} s: ${(err as Error).message}`);
      }
      killed.push(k);
      const serving = () =>
        live.supervisor!.status().children.some((x) => x.instance === k.instance && x.state === 'running' && x.pid !== undefined && x.pid !== k.pid) &&
        remoteExperts(live.gate).directory.all().some((i) => i.instance === k.instance && i.up);
      back.push(waitUntil(serving, RESTART_TIMEOUT_MS, 20).then((ms) => (k.servingMs = ms)));
    };
    const at = Array.from({ length: Math.ceil(s.faultRunMs / FAULT_EVERY_MS) - 1 }, (_, i) => (i + 1) * FAULT_EVERY_MS);
    let faulty: Measured;
    try {
      faulty = await closedLoop(c, WIDE, s.faultRunMs, at.map((atMs) => ({ at: atMs, run: () => kill(atMs) })));
      await Promise.all(back);
    } finally {
      redirects.stop();
    }
    for (const k of killed) {
      k.redirectMs = redirects.firstChangeAfter(k.wall, k.wall + REDIRECT_WINDOW_MS);
      log(`  killed ${k.instance} at ${k.atMs / 1000} s: first redirect after ${fmt(k.redirectMs ?? NaN, 0)} ms, serving again after ${fmt((k.servingMs ?? NaN) / 1000)} s`);
    }
    // the replacements serve again before this node stops (a restart under way would only slow the stop)
    await waitUntilSteady(node, layout.actors);
    const restarts = node.supervisor!.status().children.reduce((n, k) => n + k.restarts, 0) - restartsBefore;
    run.faults = { free, faulty, killed, restarts };
    return run;
  } finally {
    if (nc) await closeNats(nc);
    await node?.stop();
  }
}

// ---- the simulator ---------------------------------------------------------------------------------------------

/**
 * staticPlacement's `actorsPerHost` giving the real layout on one host: `n` first (its meaning as documented), else
 * the value whose placement has the same actors of the same experts; a note says when `n` itself does not.
 */
function simActorsPerHost(layout: { actors: number; placed: string[][] }, notes: string[]): number {
  const want = JSON.stringify(groups(layout.placed));
  const same = (k: number) => JSON.stringify(groups(staticPlacement(BENCH_MODEL, 1, k, REPLICAS).map((p) => p.experts.map(formatExpertKey)))) === want;
  if (same(layout.actors)) return layout.actors;
  const got = staticPlacement(BENCH_MODEL, 1, layout.actors, REPLICAS).length;
  for (let k = 1; k <= layout.actors; k++) {
    if (!same(k)) continue;
    notes.push(`staticPlacement(BENCH_MODEL, 1, ${layout.actors}, ${REPLICAS}) places ${got} actors, not ${layout.actors}: simulated with actorsPerHost ${k}, which gives the real placement (on one host with fewer hosts than replicas, actorsPerHost counts actors per replica set)`);
    return k;
  }
  throw new Error(`no actorsPerHost up to ${layout.actors} gives the real placement of ${layout.actors} actors`);
}

interface SimRun {
  result: EaasRunResult;
  wallMs: number;
}

function simulate(profile: CostProfile, actorsPerHost: number, concurrency: number, maxTokens: number, span: { warmupMs: number; durationMs: number }, faults: SimFault[] = []): SimRun {
  const t0 = performance.now();
  const result = runEaas({
    model: BENCH_MODEL,
    profile,
    expertHosts: 1,
    actorsPerHost,
    minReplicas: REPLICAS,
    gates: 1,
    gatesPerHost: 1,
    // `eaas up` on one machine: the gate computes on the expert host's cores
    colocated: true,
    maxBatch: concurrency,
    prefillBudget: PREFILL_BUDGET,
    // random weights route about uniformly
    skew: 0,
    seed: SIM_SEED,
    ...span,
    load: { kind: 'closed', lengths: () => ({ prompt: PROMPT_TOKENS, output: maxTokens }) },
    faults,
  });
  return { result, wallMs: performance.now() - t0 };
}

const SIM_SPAN = { warmupMs: SIM_WARMUP_MS, durationMs: SIM_DURATION_MS };

// ---- the report ------------------------------------------------------------------------------------------------

/** One topology's figures: real and simulated throughput and ITL (a ratio row has throughput only). */
interface Row {
  topology: string;
  real: { tokPerS: number; p50?: number; p99?: number };
  sim: { tokPerS: number; p50?: number; p99?: number };
  /** The row's figures are a share (faulty ÷ fault-free), not tok/s. */
  share?: boolean;
}

const HEADER = ['topology', 'measured tok/s', 'simulated tok/s', 'sim ÷ measured', 'measured ITL p50 / p99 ms', 'simulated ITL p50 / p99 ms', 'ITL sim ÷ measured p50 / p99', `within ±${Math.round(GOAL * 100)}%`];

const CPU_HEADER = ['core-ms per token', 'gate process + nats-server measured', 'gate + its server simulated', 'actors measured', 'actors simulated', 'all measured', 'cores x wall'];

const within = (r: number) => Number.isFinite(r) && Math.abs(r - 1) <= GOAL;

function cells(r: Row): string[] {
  const tok = r.sim.tokPerS / r.real.tokPerS;
  const p50 = (r.sim.p50 ?? NaN) / (r.real.p50 ?? NaN);
  const p99 = (r.sim.p99 ?? NaN) / (r.real.p99 ?? NaN);
  const itl = (x: { p50?: number; p99?: number }) => (x.p50 === undefined ? '-' : `${fmt(x.p50)} / ${fmt(x.p99 ?? NaN)}`);
  const verdict = [`${r.share ? 'share' : 'tok/s'} ${within(tok) ? 'yes' : 'NO'}`, ...(r.real.p50 === undefined ? [] : [`p50 ${within(p50) ? 'yes' : 'NO'}`, `p99 ${within(p99) ? 'yes' : 'NO'}`])].join(', ');
  return [r.topology, fmt(r.real.tokPerS, r.share ? 3 : 1), fmt(r.sim.tokPerS, r.share ? 3 : 1), fmt(tok, 2), itl(r.real), itl(r.sim), r.real.p50 === undefined ? '-' : `${fmt(p50, 2)} / ${fmt(p99, 2)}`, verdict];
}

const markdown = (header: string[], rows: string[][]) => [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');

const realFigures = (m: Measured) => ({ tokPerS: (m.tokens / m.ms) * 1000, p50: percentile(m.itl, 50), p99: percentile(m.itl, 99) });
const simFigures = (r: EaasRunResult) => ({ tokPerS: r.tokensPerS, p50: r.measures.itl.quantile(0.5), p99: r.measures.itl.quantile(0.99) });

/** Dispatch messages per generated token and hedges per 1000, real and simulated (runs of different lengths): how the two planned the same steps. */
function diagnostics(topology: string, m: Measured, r: EaasRunResult): string[] {
  const simTokens = r.measures.tokens.values.reduce((a, b) => a + b, 0);
  const k = r.measures.counters;
  const perK = (n: number, tokens: number) => fmt((1000 * n) / tokens, 1);
  return [topology, `${fmt(m.dispatches / m.tokens, 2)} / ${fmt(k.dispatches / simTokens, 2)}`, `${perK(m.hedges, m.tokens)} / ${perK(k.hedges, simTokens)}`, `${m.redirects} / ${k.redirects}`, `${m.failed} / ${r.measures.failed}`];
}

/**
 * Where the cores went at WIDE prompts, core-ms per generated token: measured per kind of process, and what the
 * simulator charges — the gate a decode step's dense work with its CPU per token, its halves of the dispatches' fixed
 * cost and its nats-server passing them (one server here: the host's); the actors their compute and their CPU per row.
 */
function cpuRow(topology: string, m: Measured, r: EaasRunResult, p: CostProfile, warmupS: number, endS: number): string[] {
  const used = m.cpu!.used;
  const per = (ms: number) => fmt(ms / m.tokens, 2);
  const all = [...used].filter(([k]) => !k.endsWith('(system)')).reduce((a, [, v]) => a + v, 0);
  const rowsPerDispatch = m.wireRows / m.dispatches;
  const dense = (gateStepMs(p, BENCH_MODEL, WIDE) + BENCH_MODEL.moeLayers * gateLayerMs(p, BENCH_MODEL, WIDE)) / WIDE;
  const simGate = dense + (m.dispatches / m.tokens) * 2 * gateDispatchSideMs(p, rowsPerDispatch);
  // the actors' compute as they report it, and the CPU around it per row
  const simActors = r.busy.mean(warmupS, endS) / r.tokensPerS + (m.wireRows / m.tokens) * (p.actorMsPerWireRow ?? 0);
  return [topology, per((used.get(CPU_GATE) ?? 0) + (used.get(CPU_SERVER) ?? 0)), fmt(simGate, 2), per(used.get(CPU_ACTORS) ?? 0), fmt(simActors, 2), per(all), per(m.cpu!.available)];
}

// ---- the whole check -------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const s = settings(args.quick);
  const profile = readProfile(args.profile);
  const cpu = cpus();
  const startLoad = loadavg();
  const notes: string[] = [];
  log(`load average ${loadNow()} on ${cpu.length} cores (${cpu[0]?.model ?? 'unknown CPU'}); profile ${args.profile}`);
  if (startLoad[0] > BUSY_LOAD) notes.push(`the 1-minute load average was ${startLoad[0].toFixed(2)} at the start (above ${BUSY_LOAD}): another job shared the cores, so the measured figures are not trustworthy`);
  const ck = benchCheckpoint('mixtral', 'bench');
  if (ck.generatedMs !== undefined) log(`generated the bench checkpoint in ${fmt(ck.generatedMs / 1000)} s: ${ck.dir}`);
  const ckpt = Checkpoint.open(ck.dir);
  const vocab = ckpt.config.vocabSize;
  try {
    checkShape(ckpt.config);
  } finally {
    ckpt.close();
  }

  const runs: LayoutRun[] = [];
  let server: NatsServerHandle | undefined;
  // an interrupted check stops what it started (expert actors exit with their supervisor, this process)
  const interrupted = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping the nats-server`);
    void (server?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    server = await startNatsServer({});
    for (const layout of LAYOUTS) {
      const extra = layout === LAYOUTS[0];
      log(`${layout.actors} actors of ${layout.perActor} experts (replicas ${REPLICAS}): ${extra ? `${WIDE} and ${NARROW} prompts, faults` : `${WIDE} prompts`}`);
      runs.push(await measureLayout(server.url, ck.dir, vocab, layout, s, extra));
    }
  } finally {
    await server?.stop();
  }
  const measuredAt = performance.now();

  // the simulator on the same topologies (actorsPerHost checked against the real placement)
  const rows: Row[] = [];
  const diag: string[][] = [];
  const cpuRows: string[][] = [];
  let simWallMs = 0;
  let simRuns = 0;
  const sim = (...a: Parameters<typeof simulate>) => {
    const r = simulate(...a);
    simWallMs += r.wallMs;
    simRuns++;
    return r.result;
  };
  for (const run of runs) {
    const perHost = simActorsPerHost(run, notes);
    const label = (c: number) => `${run.actors} actors x ${run.perActor} experts, ${c} prompt${c > 1 ? 's' : ''}`;
    const wide = sim(profile, perHost, WIDE, s.maxTokens, SIM_SPAN);
    rows.push({ topology: label(WIDE), real: realFigures(run.wide), sim: simFigures(wide) });
    diag.push(diagnostics(label(WIDE), run.wide, wide));
    cpuRows.push(cpuRow(label(WIDE), run.wide, wide, profile, SIM_WARMUP_MS / 1000, SIM_DURATION_MS / 1000));
    if (run.narrow) {
      const narrow = sim(profile, perHost, NARROW, s.maxTokens, SIM_SPAN);
      rows.push({ topology: label(NARROW), real: realFigures(run.narrow), sim: simFigures(narrow) });
      diag.push(diagnostics(label(NARROW), run.narrow, narrow));
    }
    if (run.faults) {
      const f = run.faults;
      // the same span after the same warm-up, the same actors killed at the same offsets
      const span = { warmupMs: SIM_WARMUP_MS, durationMs: SIM_WARMUP_MS + s.faultRunMs };
      const faults: SimFault[] = f.killed.map((k) => ({ at: SIM_WARMUP_MS + k.atMs, kind: 'actor', target: `h0-e${k.index}` }));
      const free = sim(profile, perHost, WIDE, s.maxTokens, span);
      const faulty = sim(profile, perHost, WIDE, s.maxTokens, span, faults);
      const base = `${run.actors} actors, ${WIDE} prompts, ${s.faultRunMs / 1000} s closed loop`;
      const killedAt = f.killed.map((k) => k.atMs / 1000).join(', ');
      rows.push({ topology: `${base}, fault-free`, real: realFigures(f.free), sim: simFigures(free) });
      rows.push({ topology: `${base}, kill -9 at ${killedAt} s`, real: realFigures(f.faulty), sim: simFigures(faulty) });
      rows.push({ topology: '  kill -9 ÷ fault-free (throughput share)', real: { tokPerS: f.faulty.tokens / f.free.tokens }, sim: { tokPerS: faulty.tokensPerS / free.tokensPerS }, share: true });
      diag.push(diagnostics(`${base}, fault-free`, f.free, free));
      diag.push(diagnostics(`${base}, kill -9`, f.faulty, faulty));
      const after = (ms: number | undefined, unit: 'ms' | 's') => (ms === undefined ? 'never' : unit === 's' ? `${fmt(ms / 1000)} s` : `${fmt(ms, 0)} ms`);
      for (const k of f.killed) notes.push(`kill -9 of ${k.instance} at ${k.atMs / 1000} s: the gate's first redirect after ${after(k.redirectMs, 'ms')}, serving again (new process running, up in the gate's directory) after ${after(k.servingMs, 's')}`);
      notes.push(
        `restarts: ${f.restarts} measured, ${faulty.restarts} simulated (actorRestartMs ${profile.actorRestartMs} ms plus its weights read on a host core); ` +
          `longest gap between two tokens of a request in the faulty run: measured ${fmt(Math.max(...f.faulty.itl), 0)} ms, simulated ${fmt(faulty.measures.itl.quantile(1), 0)} ms`,
      );
    }
  }
  log(`simulator: ${simRuns} runs in ${fmt(simWallMs / 1000, 2)} s`);

  const endLoad = loadNow();
  const head = [
    `CPU: ${cpu[0]?.model ?? 'unknown'} (${cpu.length} cores); load average at start ${startLoad.map((l) => l.toFixed(2)).join(' ')}, at end ${endLoad}`,
    `profile: ${args.profile} (${profile.source})`,
    `bench preset, ${PROMPT_TOKENS}-token prompts, greedy, no EOS stop, ${s.maxTokens} new tokens${args.quick ? ' (--quick)' : ''}; measured: ${s.waves} waves of ${WIDE} after a warm-up wave, ${s.sequential} sequential requests at ${NARROW}; ` +
      `simulated: ${SIM_DURATION_MS / 1000} s after ${SIM_WARMUP_MS / 1000} s warm-up, closed loop, seed ${SIM_SEED}; ITL: gaps between a request's streamed tokens (its first excluded)`,
  ];
  const table1 = rows.map(cells);
  const diagHeader = ['run', 'dispatch messages per token measured / sim', 'hedges per 1000 tokens measured / sim', 'redirects measured / sim', 'failed requests measured / sim'];
  const realStarts = runs.map((r) => `${r.actors} actors ${fmt(r.startMs / 1000)} s`).join(', ');
  notes.push(`real cluster starts (until steady): ${realStarts}; simulator: ${simRuns} runs in ${fmt(simWallMs / 1000, 2)} s; measuring took ${fmt((measuredAt - began) / 1000)} s, the whole check ${fmt((performance.now() - began) / 1000)} s`);
  console.log(`\n${head.join('\n')}\n`);
  console.log(table(HEADER, table1));
  console.log(`\n${table(diagHeader, diag)}`);
  console.log(`\n${table(CPU_HEADER, cpuRows)}`);
  for (const n of notes) console.log(`note: ${n}`);
  if (args.out) {
    const md = [`# simulator calibration check`, '', ...head.map((h) => `${h}  `), '', markdown(HEADER, table1), '', markdown(diagHeader, diag), '', markdown(CPU_HEADER, cpuRows), '', ...notes.map((n) => `- ${n}`), ''].join('\n');
    writeFileSync(args.out, md);
    console.log(`wrote ${args.out}`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`sim-check failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
