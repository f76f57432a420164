// Hot experts, a fixed budget of expert actors: decode throughput with the controller's placement (extra replicas
// for the hot experts, packed for balance) against the static rotated placement, on a checkpoint with skewed routing.
// Usage: node dist/test/bench/hot.js [--preset tiny|bench] [--skew S] [--actors N] [--reps N] [--concurrency N]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { NatsConnection } from 'nats';
import { policyConfig } from '../../actors/controller/policy.js';
import { requestGenerate } from '../../actors/gate/client.js';
import { PlacementStore } from '../../actors/protocol/placement-store.js';
import { Checkpoint } from '../../model/checkpoint.js';
import { allExpertKeys } from '../../model/families/shape.js';
import { initCheckpoint, type PresetName } from '../../model/init.js';
import { startLocalCluster, type LocalCluster } from '../../runtime/node/cluster.js';
import { closeNats, connectNats } from '../../runtime/transport/connection.js';
import { withEnv } from '../helpers/env.js';
import { benchCacheDir } from './checkpoints.js';
import { decode, mismatches, type DecodeRun, type GenerateFn } from './decode.js';
import { rssMb } from './rss.js';
import { fmt, median, table } from './stats.js';

const MAX_TOKENS = 32;
/** The controller's settings for this run: it decides every second from a 15 s window. */
const CONTROLLER_ENV = { EAAS_LOAD_REPORT_MS: '1000', EAAS_LOAD_WINDOW_MS: '15000', EAAS_CONTROLLER_TICK_MS: '1000' };
const REBALANCE_TIMEOUT_MS = 180_000;

const { values: flags } = parseArgs({ options: { preset: { type: 'string', default: 'bench' }, skew: { type: 'string', default: '2' }, actors: { type: 'string', default: '4' }, reps: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '32' } } });
const preset = flags.preset as PresetName;
const skew = Number(flags.skew);
const actors = Number(flags.actors);
const reps = Number(flags.reps);
const CONCURRENCY = Number(flags.concurrency);

/** The skewed checkpoint, generated once next to the other bench checkpoints. */
function skewedCheckpoint(): string {
  const dir = join(benchCacheDir(), `skew-${skew}`, preset);
  if (!existsSync(join(dir, 'config.json'))) initCheckpoint(dir, { preset, seed: 0, skew });
  return dir;
}

interface Measured {
  runs: DecodeRun[];
  rssMb: number[];
  note: string;
}

async function measure(cluster: LocalCluster, nc: NatsConnection, vocab: number, note: string): Promise<Measured> {
  const gen: GenerateFn = async (prompt, maxTokens) => (await requestGenerate(nc, cluster.model, { prompt, max_tokens: maxTokens, stop_at_eos: false })).tokens;
  // warm-up: a fresh actor runs slower for its first seconds (JIT, weights paged in)
  await decode(gen, vocab, CONCURRENCY, 2, 16);
  const runs: DecodeRun[] = [];
  for (let i = 0; i < reps; i++) runs.push(await decode(gen, vocab, CONCURRENCY, 1, MAX_TOKENS));
  return { runs, rssMb: cluster.supervisor!.status().children.map((c) => (c.pid ? rssMb(c.pid) : NaN)), note };
}

async function main(): Promise<void> {
  const dir = skewedCheckpoint();
  const ckpt = Checkpoint.open(dir);
  const c = ckpt.config;
  ckpt.close();
  const experts = allExpertKeys(c).length;
  const perActor = Math.ceil((2 * experts) / actors);
  // the same actors, with room for half again as many replicas: the hot experts get the spare slots
  const policy = policyConfig({ minReplicas: 2, perActor: Math.ceil(perActor * 1.5), minActors: actors, maxActors: actors, minGain: 0.02, rebalanceMinBusy: 0, minIntervalMs: 3_600_000 }, 'hot-experts policy');
  console.log(`hot experts: ${preset} preset, skew ${skew}, ${experts} routed experts, ${actors} expert actors (one ORT thread each); ${CONCURRENCY} prompts x ${MAX_TOKENS} tokens, ${reps} runs each`);

  // static: every expert twice, dealt round-robin, `perActor` per actor
  const fixed = await startLocalCluster({ modelDir: dir, replicas: 2, expertsPerActor: perActor });
  let staticRun: Measured;
  const nc1 = await connectNats(fixed.url, 'eaas-bench-hot');
  try {
    staticRun = await measure(fixed, nc1, c.vocabSize, `static: 2 replicas of every expert, ${perActor} per actor`);
  } finally {
    await closeNats(nc1);
    await fixed.stop();
  }

  // the controller: starts from the same static placement, rebalances once from the measured load, then holds
  const elastic = await withEnv(CONTROLLER_ENV, () => startLocalCluster({ modelDir: dir, replicas: 2, expertsPerActor: perActor, autoscale: policy, log: (l) => console.log(`  ${l}`) }));
  let elasticRun: Measured;
  let balance = '';
  const nc2 = await connectNats(elastic.url, 'eaas-bench-hot');
  try {
    const store = await PlacementStore.open(nc2, elastic.model);
    const gen: GenerateFn = async (prompt, maxTokens) => (await requestGenerate(nc2, elastic.model, { prompt, max_tokens: maxTokens, stop_at_eos: false })).tokens;
    const t0 = Date.now();
    let first = 0;
    // load until the first placement change is carried out
    for (;;) {
      await decode(gen, c.vocabSize, CONCURRENCY, 1, 8, (first += CONCURRENCY));
      const [d, [a]] = await Promise.all([store.desired(), store.actuals()]);
      if (d && a && a.record.revision >= d.record.revision && d.record.revision >= 1) {
        balance = d.record.detail;
        break;
      }
      if (Date.now() - t0 > REBALANCE_TIMEOUT_MS) throw new Error(`no placement change carried out within ${REBALANCE_TIMEOUT_MS} ms`);
    }
    const replicas = new Map<string, number>();
    for (const actor of (await store.desired())!.record.actors) for (const e of actor.experts) replicas.set(e, (replicas.get(e) ?? 0) + 1);
    const hot = [...replicas].filter(([, n]) => n > 2).map(([id, n]) => `${id}x${n}`);
    elasticRun = await measure(elastic, nc2, c.vocabSize, `controller: ${balance}; extra replicas ${hot.join(' ') || 'none'} (after ${fmt((Date.now() - t0) / 1000, 0)} s of load)`);
  } finally {
    await closeNats(nc2);
    await elastic.stop();
  }

  const tok = (m: Measured) => m.runs.map((r) => r.tokPerS);
  const row = (name: string, m: Measured) => [name, fmt(median(tok(m)), 1), `${fmt(Math.min(...tok(m)), 1)}-${fmt(Math.max(...tok(m)), 1)}`, fmt(Math.max(...m.rssMb), 0), m.note];
  console.log(table(['placement', 'tok/s (median)', 'range', 'max actor RSS MB', 'layout'], [row('static rotated', staticRun), row('controller', elasticRun)]));
  const ratio = median(tok(elasticRun)) / median(tok(staticRun));
  console.log(`controller / static: ${fmt(ratio, 2)}x (goal >= 1.3x: ${ratio >= 1.3 ? 'met' : 'missed'})`);
  const same = mismatches(staticRun.runs[0].outputs, elasticRun.runs[0].outputs);
  console.log(`tokens: ${same.compared} prompts compared, ${same.differing.length} differ between the two placements`);
}

await main();
