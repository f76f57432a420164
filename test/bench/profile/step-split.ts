// Profiling aid: where a decode step's time goes in the gate, monolithic or over a local cluster (bench preset):
// the dense parts, the experts' dispatch, and the dispatches each expert actor got.
// Usage: [PRESET=tiny] [CONC=32] [REPLICAS=R] [PER_ACTOR=N] [QUANTIZE=int4|int8 [QUANTIZE_DENSE=1]] node dist/test/bench/profile/step-split.js cluster|mono [steps]
import { availableParallelism } from 'node:os';
import { RemoteExperts } from '../../../actors/gate/remote-experts.js';
import { requestGenerate } from '../../../actors/gate/client.js';
import { DenseModel } from '../../../model/dense.js';
import { Forward } from '../../../model/forward.js';
import { openMonolithic } from '../../../model/monolithic.js';
import { quantBitsOf, type Quantization } from '../../../model/quantize.js';
import { connectNats } from '../../../runtime/transport/connection.js';
import { DEFAULT_REPLICAS, startLocalCluster } from '../../../runtime/node/cluster.js';
import { remoteExperts } from '../../helpers/gate-dispatch.js';
import { benchCheckpoint } from '../checkpoints.js';
import { cpuByProcess, cpuSince } from '../cpu-time.js';
import { benchPrompt } from '../decode.js';
import { rssMb } from '../rss.js';

const mode = process.argv[2] ?? 'cluster';
const steps = Number(process.argv[3] ?? 64);
const concurrency = Number(process.env.CONC ?? 1);
const spent = new Map<string, number>();
/** Adds the time of each call of proto[name] to `label` (calls that overlap add up). */
function timed(proto: object, name: string, label: string): void {
  const p = proto as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const orig = p[name];
  p[name] = async function (this: unknown, ...args: unknown[]) {
    const t = performance.now();
    try {
      return await orig.apply(this, args);
    } finally {
      spent.set(label, (spent.get(label) ?? 0) + performance.now() - t);
    }
  };
}
timed(Forward.prototype, 'step', 'step');
timed(RemoteExperts.prototype, 'runExperts', 'experts (remote)');
timed(RemoteExperts.prototype, 'request', 'requests (overlapping)');
for (const m of ['preAttention', 'attend', 'postAttention', 'logits']) timed(DenseModel.prototype, m, m);

const dir = benchCheckpoint('mixtral', (process.env.PRESET ?? 'bench') as 'tiny' | 'bench').dir;
let gen: (p: number[], n: number) => Promise<number[]>;
let stop: () => Promise<void>;
let counters = () => '';
const quantization: Quantization | undefined = process.env.QUANTIZE ? { bits: quantBitsOf(process.env.QUANTIZE), dense: process.env.QUANTIZE_DENSE === '1' } : undefined;
if (mode === 'mono') {
  const model = await openMonolithic(dir, undefined, {}, quantization);
  gen = async (p, n) => (await model.engine.generate(p, { maxTokens: n, stopAtEos: false })).tokens;
  stop = () => model.close();
} else {
  const perActor = process.env.PER_ACTOR === undefined ? undefined : Number(process.env.PER_ACTOR);
  const cluster = await startLocalCluster({ modelDir: dir, replicas: Number(process.env.REPLICAS ?? DEFAULT_REPLICAS), expertsPerActor: perActor, quantization });
  await new Promise((r) => setTimeout(r, 8000));
  const nc = await connectNats(cluster.url, 'profile');
  gen = async (p, n) => (await requestGenerate(nc, cluster.model, { prompt: p, max_tokens: n, stop_at_eos: false })).tokens;
  counters = () => `${JSON.stringify(remoteExperts(cluster.gate).counters)}; actor RSS ${cluster.supervisor!.status().children.map((k) => (k.pid ? `${rssMb(k.pid).toFixed(0)} MB` : '-')).join(' / ')}`;
  stop = async () => {
    await nc.close();
    await cluster.stop();
  };
}
await gen(benchPrompt(1, 512), 8);
spent.clear();
const cpu0 = cpuByProcess();
const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, (_, i) => gen(benchPrompt(2 + i, 512), steps)));
const ms = performance.now() - t0;
console.log(`${mode}, ${concurrency} prompts: ${steps} steps in ${ms.toFixed(0)} ms = ${(ms / steps).toFixed(2)} ms/step (prefill included)`);
let cpuTotal = 0;
for (const [k, used] of cpuSince(cpu0)) {
  if (!k.endsWith('(system)')) cpuTotal += used;
  console.log(`  CPU ${k.padEnd(28)} ${(used / steps).toFixed(2)} core-ms/step`);
}
console.log(`  CPU all                          ${(cpuTotal / steps).toFixed(2)} core-ms/step of ${((availableParallelism() * ms) / steps).toFixed(2)} (${availableParallelism()} cores x wall)`);
for (const [k, v] of spent) console.log(`  ${k.padEnd(24)} ${(v / steps).toFixed(2)} ms/step`);
if (counters()) console.log(`  dispatch counters ${counters()}`);
await stop();
process.exit(0);
