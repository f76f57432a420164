// `npm run bench:hosts`: the experts on 1, 2 and 3 emulated hosts (network namespaces, eaas hosts' harness) over two
// link profiles: tokens/s, ITL, and the bytes a token costs on the links; then a host pulled under 32 streams.
// Usage: node dist/test/bench/hosts.js [--preset tiny|bench] [--tokens N] [--no-table] [--no-loss]
import { cpus, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from 'nats';
import { streamGenerate } from '../../actors/gate/client.js';
import { clusterStatus } from '../../actors/protocol/status.js';
import { GATE_SERVICE } from '../../actors/protocol/services.js';
import { Checkpoint } from '../../model/checkpoint.js';
import { moeLayers } from '../../model/families/shape.js';
import type { PresetName } from '../../model/init.js';
import { Hosts } from '../../runtime/hosts/hosts.js';
import type { LinkShape } from '../../runtime/hosts/network.js';
import { expertHostName, gateAndExpertHosts, GATE_HOST } from '../../runtime/hosts/topology.js';
import { closeNats, connectNats } from '../../runtime/transport/connection.js';
import { serviceStats } from '../../runtime/transport/discovery.js';
import { benchCheckpoint } from './checkpoints.js';
import { benchPrompt, PROMPT_TOKENS } from './decode.js';
import { fmt, median, percentile, table } from './stats.js';

const LINKS: LinkShape[] = [
  { delayMs: 0.1, rateMbit: 10_000 },
  { delayMs: 1, rateMbit: 1000 },
];
const HOST_COUNTS = [1, 2, 3];
const CONCURRENCIES = [1, 32];
const LOSS = { hosts: 3, replicas: 2, streams: 32, beforeS: 15, pulledS: 15, afterS: 20, windowMs: 3000, slideMs: 250, fullSpeed: 0.9 };

interface Model {
  dir: string;
  hidden: number;
  moeLayers: number;
  experts: number;
  vocab: number;
}

interface GateCounters {
  wireRows: number;
  wireBytes: number;
  dispatches: number;
  redirects: number;
  deadlines: number;
}

/** The gate's own counters, from its NATS micro stats (the rows and bytes it sent to expert actors). */
async function gateCounters(nc: NatsConnection): Promise<GateCounters> {
  const gate = (await serviceStats(nc)).find((s) => s.name === GATE_SERVICE);
  const data = gate?.endpoints?.map((e) => e.data as Partial<GateCounters> | undefined).find((d) => d?.wireRows !== undefined);
  if (!data) throw new Error('no gate stats with wire counters: is the gate host up?');
  return { wireRows: data.wireRows ?? 0, wireBytes: data.wireBytes ?? 0, dispatches: data.dispatches ?? 0, redirects: data.redirects ?? 0, deadlines: data.deadlines ?? 0 };
}

const RTT_SAMPLES = 100;

/** A request and its reply between two hosts' servers: what one dispatch's hop costs on this link, nothing computed. */
async function natsRoundTrip(nc: NatsConnection, otherHostUrl: string): Promise<[number, number]> {
  const other = await connectNats(otherHostUrl, 'bench-hosts-echo');
  try {
    other.subscribe('bench.echo', { callback: (_err, m) => m.respond(m.data) });
    await other.flush();
    const payload = new Uint8Array(100);
    // the subscription crosses the route first
    for (let i = 0; ; i++) {
      try {
        await nc.request('bench.echo', payload, { timeout: 1000 });
        break;
      } catch (err) {
        if (i > 50) throw err;
        await sleep(100);
      }
    }
    const samples: number[] = [];
    for (let i = 0; i < RTT_SAMPLES; i++) {
      const t0 = performance.now();
      await nc.request('bench.echo', payload, { timeout: 5000 });
      samples.push(performance.now() - t0);
    }
    return [median(samples), Math.min(...samples)];
  } finally {
    await closeNats(other);
  }
}

interface StreamRun {
  tokens: number;
  ms: number;
  /** Gaps between one stream's consecutive tokens. */
  itl: number[];
  outputs: number[][];
}

/** `concurrency` prompts streamed at once, each `maxTokens` long; token arrival times give the ITL. */
async function streamWave(nc: NatsConnection, model: string, vocab: number, concurrency: number, maxTokens: number, first = 0): Promise<StreamRun> {
  const itl: number[] = [];
  const t0 = performance.now();
  const outputs = await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      const ids: number[] = [];
      let last: number | undefined;
      await streamGenerate(nc, model, { prompt: benchPrompt(first + i, vocab), max_tokens: maxTokens, stop_at_eos: false }, {
        token: (t) => {
          const now = performance.now();
          if (last !== undefined) itl.push(now - last);
          last = now;
          ids.push(t.id);
        },
      });
      return ids;
    }),
  );
  const ms = performance.now() - t0;
  return { tokens: outputs.reduce((n, o) => n + o.length, 0), ms, itl, outputs };
}

async function throughputTable(model: Model, maxTokens: number): Promise<void> {
  const rows: string[][] = [];
  const rtts: string[][] = [];
  const reference = new Map<number, number[][]>();
  for (const link of LINKS) {
    for (const n of HOST_COUNTS) {
      const specs = gateAndExpertHosts({ modelDir: model.dir, name: 'bench', experts: model.experts, expertHosts: n, replicas: 1 });
      const hosts = await Hosts.start({ hosts: specs, link });
      const nc = await connectNats(hosts.host(GATE_HOST).natsUrl, 'bench-hosts');
      try {
        if (n === 1) rtts.push([`${link.delayMs} ms, ${(link.rateMbit ?? NaN) / 1000} Gbit/s`, ...(await natsRoundTrip(nc, hosts.host(expertHostName(0)).natsUrl)).map((v) => fmt(v, 2))]);
        await streamWave(nc, 'bench', model.vocab, 1, 4, 1000); // warm-up: every actor has run once
        for (const concurrency of CONCURRENCIES) {
          const bytes0 = hosts.wireBytes;
          const g0 = await gateCounters(nc);
          const run = await streamWave(nc, 'bench', model.vocab, concurrency, maxTokens);
          const g1 = await gateCounters(nc);
          const linkBytes = hosts.wireBytes - bytes0;
          // rows through the model: each prompt token once (prefill), each generated token but the last once
          const tokenRows = concurrency * (PROMPT_TOKENS + maxTokens - 1);
          const perTokenLayer = (b: number) => b / tokenRows / model.moeLayers;
          const actorsTouched = (g1.wireRows - g0.wireRows) / tokenRows / model.moeLayers;
          const floor = model.hidden * 4 * actorsTouched * 2;
          const same = reference.get(concurrency);
          if (same === undefined) reference.set(concurrency, run.outputs);
          const differing = same ? run.outputs.filter((o, i) => o.join() !== same[i]!.join()).length : 0;
          rows.push([
            `${link.delayMs} ms, ${(link.rateMbit ?? NaN) / 1000} Gbit/s`,
            String(n),
            String(concurrency),
            fmt((run.tokens / run.ms) * 1000),
            fmt(median(run.itl)),
            fmt(percentile(run.itl, 99)),
            fmt(perTokenLayer(linkBytes), 0),
            fmt(perTokenLayer(2 * (g1.wireBytes - g0.wireBytes)), 0),
            fmt(floor, 0),
            fmt(actorsTouched, 2),
            String(differing),
          ]);
          console.log(rows[rows.length - 1]!.join('  '));
        }
      } finally {
        await closeNats(nc);
        await hosts.stop();
      }
    }
  }
  console.log(
    '\n' +
      table(
        ['link (one way, each host)', 'expert hosts', 'prompts', 'tok/s', 'ITL p50 ms', 'ITL p99 ms', 'link B/token/layer', 'dispatch B/token/layer', 'floor B', 'actors/row', 'differing'],
        rows,
      ),
  );
  console.log('\nthe links\' floor: a NATS request and its reply (100 B) between the gate host\'s server and an expert host\'s, through the relay\n' + table(['link', 'RTT p50 ms', 'RTT min ms'], rtts));
  console.log(
    'link B: every byte the relays carried between hosts (NATS protocol, answers, load reports and heartbeats included) per row per MoE layer; ' +
      'dispatch B: the gate\'s dispatch payloads ×2 (there and back, answers as large); floor: hidden × 4 B × actors a row goes to × 2; ' +
      'differing: prompts whose tokens differ from the first configuration\'s (must be 0)',
  );
}

/** 32 streams kept running on 3 expert hosts (each expert on 2); h3's cable pulled, then put back. */
async function hostLoss(model: Model, maxTokens: number): Promise<void> {
  const link = LINKS[LINKS.length - 1]!;
  const specs = gateAndExpertHosts({ modelDir: model.dir, name: 'bench', experts: model.experts, expertHosts: LOSS.hosts, replicas: LOSS.replicas });
  const hosts = await Hosts.start({ hosts: specs, link });
  const nc = await connectNats(hosts.host(GATE_HOST).natsUrl, 'bench-hosts-loss');
  const victim = expertHostName(LOSS.hosts - 1);
  const arrivals: number[] = [];
  const firstOutput = new Map<number, string>();
  let finished = 0;
  let failed = 0;
  let differing = 0;
  let running = true;
  try {
    await streamWave(nc, 'bench', model.vocab, 1, 4, 1000);
    const t0 = performance.now();
    const worker = async (w: number) => {
      for (let round = 0; running; round++) {
        // each worker cycles through 4 prompts: every prompt runs several times, before and after the loss
        const p = w * 4 + (round % 4);
        // the first request of each worker is shorter by a share, so the streams end (and the next prompts' prefills
        // come) spread out, as in steady traffic, not all in one step
        const length = round === 0 ? 1 + Math.floor((w * maxTokens) / LOSS.streams) : maxTokens;
        const ids: number[] = [];
        try {
          await streamGenerate(nc, 'bench', { prompt: benchPrompt(p, model.vocab), max_tokens: length, stop_at_eos: false }, {
            token: (t) => {
              arrivals.push(performance.now() - t0);
              ids.push(t.id);
            },
          });
          finished++;
          if (round === 0) continue;
          const key = ids.join();
          if (!firstOutput.has(p)) firstOutput.set(p, key);
          else if (firstOutput.get(p) !== key) differing++;
        } catch {
          failed++;
        }
      }
    };
    const workers = Array.from({ length: LOSS.streams }, (_, w) => worker(w));
    await sleep(LOSS.beforeS * 1000);
    const pulledAt = performance.now() - t0;
    const before = await gateCounters(nc);
    await hosts.pull(victim);
    await sleep(LOSS.pulledS * 1000);
    const restoredAt = performance.now() - t0;
    const victimActors = async () => (await clusterStatus(nc)).actors.filter((a) => a.node === victim && a.instance !== undefined);
    const victimRequests = async () => (await victimActors()).reduce((n, a) => n + a.requests, 0);
    await hosts.restore(victim);
    // its actors answer discovery again once the routes to it resume; what they count from then on is new work
    let rejoinedS = NaN;
    let visibleS = NaN;
    let counted: number | undefined;
    const deadline = performance.now() + LOSS.afterS * 1000;
    while (performance.now() < deadline && Number.isNaN(rejoinedS)) {
      const actors = await victimActors();
      const now = (performance.now() - t0 - restoredAt) / 1000;
      if (actors.length > 0 && counted === undefined) {
        visibleS = now;
        counted = actors.reduce((n, a) => n + a.requests, 0);
      } else if (counted !== undefined && (await victimRequests()) > counted) rejoinedS = (performance.now() - t0 - restoredAt) / 1000;
      await sleep(200);
    }
    while (performance.now() < deadline) await sleep(200);
    running = false;
    await Promise.all(workers);
    const after = await gateCounters(nc);
    const end = performance.now() - t0;

    // a step gives every stream a token at once, so rates are counted over sliding windows several steps long
    const rate = (from: number) => (arrivals.filter((a) => a >= from && a < from + LOSS.windowMs).length * 1000) / LOSS.windowMs;
    const windows = (from: number, to: number) => Array.from({ length: Math.max(0, Math.floor((to - from) / LOSS.slideMs)) }, (_, i) => from + i * LOSS.slideMs);
    // the first 2 s fill the batch; the baseline is the steady part before the pull
    const baseline = median(windows(2000, pulledAt - LOSS.windowMs).map(rate));
    /** The longest time without a token in [from, to), and when it ended. */
    const longestGap = (from: number, to: number) => {
      const inside = arrivals.filter((a) => a >= from && a < to).sort((a, b) => a - b);
      return inside.slice(1).reduce((g, a, i) => (a - inside[i]! > g.ms ? { ms: a - inside[i]!, endedAt: a } : g), { ms: 0, endedAt: from });
    };
    const stall = longestGap(pulledAt, restoredAt);
    // the new steady state: a host's share of the capacity is gone, so "full speed" is what the rest sustain
    const steadyPulled = median(windows(stall.endedAt, restoredAt - LOSS.windowMs).map(rate));
    const fullAgainAt = windows(pulledAt, restoredAt - LOSS.windowMs).find((t) => t >= stall.endedAt && rate(t) >= LOSS.fullSpeed * steadyPulled);
    console.log(`\nhost lost: ${LOSS.streams} streams of ${maxTokens} tokens kept running on ${LOSS.hosts} expert hosts (each expert on ${LOSS.replicas}), links ${link.delayMs} ms / ${link.rateMbit} Mbit/s; ${victim}'s cable pulled at ${fmt(pulledAt / 1000)} s, back at ${fmt(restoredAt / 1000)} s`);
    console.log(
      table(
        ['measure', 'value'],
        [
          ['requests finished', String(finished)],
          ['requests failed (lost)', String(failed)],
          ['requests whose tokens differ from the same prompt\'s first run', String(differing)],
          [`tok/s before (median of ${LOSS.windowMs / 1000} s windows)`, fmt(baseline)],
          ['tok/s while pulled (median of the windows after the longest gap)', Number.isFinite(steadyPulled) ? fmt(steadyPulled) : 'no window: the gap ended too late'],
          ['tokens in the 5 s after the pull ÷ in the 5 s before', fmt(arrivals.filter((a) => a >= pulledAt && a < pulledAt + 5000).length / arrivals.filter((a) => a >= pulledAt - 5000 && a < pulledAt).length, 2)],
          ['longest gap without a token: before the pull / after it (ms)', `${fmt(longestGap(2000, pulledAt).ms, 0)} / ${fmt(stall.ms, 0)}`],
          ['s from the pull to the end of that gap', fmt((stall.endedAt - pulledAt) / 1000, 2)],
          [`s from the pull to a ${LOSS.windowMs / 1000} s window at ≥ ${LOSS.fullSpeed * 100}% of the steady rate without the host, after that gap`, fullAgainAt === undefined ? 'never while pulled' : fmt((fullAgainAt - pulledAt) / 1000, 2)],
          ['tok/s after it is back (median)', fmt(median(windows(restoredAt, end - LOSS.windowMs).map(rate)))],
          [`s from back to ${victim}'s actors answering discovery / taking new dispatches`, `${Number.isNaN(visibleS) ? '-' : fmt(visibleS)} / ${Number.isNaN(rejoinedS) ? `not within ${LOSS.afterS} s` : fmt(rejoinedS)}`],
          ['gate redirects / deadlines during the run', `${after.redirects - before.redirects} / ${after.deadlines - before.deadlines}`],
        ],
      ),
    );
  } finally {
    running = false;
    await closeNats(nc);
    await hosts.stop();
  }
}

export async function benchHosts(o: { preset: PresetName; tokens: number; table: boolean; loss: boolean }): Promise<void> {
  const { dir } = benchCheckpoint('mixtral', o.preset);
  const ckpt = Checkpoint.open(dir);
  const c = ckpt.config;
  ckpt.close();
  const model: Model = { dir, hidden: c.hiddenSize, moeLayers: moeLayers(c).length, experts: c.numLocalExperts, vocab: c.vocabSize };
  console.log(
    `emulated hosts, ${o.preset} preset (hidden ${c.hiddenSize}, ${model.moeLayers} MoE layers, ${c.numLocalExperts} experts top-${c.numExpertsPerTok}), ` +
      `${PROMPT_TOKENS}-token prompts, ${o.tokens} new tokens; every host shares this machine's ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${fmt(totalmem() / 2 ** 30, 0)} GB: ` +
      'more hosts add no compute here, the table shows what the links cost',
  );
  if (o.table) await throughputTable(model, o.tokens);
  if (o.loss) await hostLoss(model, o.tokens);
}

const isMain = process.argv[1]?.endsWith('/test/bench/hosts.js');
if (isMain) {
  const args = process.argv.slice(2);
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const preset = (value('--preset') ?? 'bench') as PresetName;
  const tokens = Number(value('--tokens') ?? 64);
  await benchHosts({ preset, tokens, table: !args.includes('--no-table'), loss: !args.includes('--no-loss') });
  process.exit(0);
}
