// Scratch: where a disaggregated decode step spends its time (gate side), for one prompt.
// Usage: node dist/test/bench/probe-nats.js [tiny|bench] [concurrency] [nospin]
import { requestGenerate } from '../../actors/gate-client.js';
import { DenseModel } from '../../model/dense.js';
import { connectNats } from '../../runtime/connection.js';
import { startLocalCluster } from '../../runtime/node/cluster.js';
import { benchCheckpoint } from './checkpoints.js';
import { benchPrompt } from './decode.js';
import { disableOrtSpinning } from './ort-nospin.js';

const preset = (process.argv[2] ?? 'tiny') as 'tiny' | 'bench';
const conc = Number(process.argv[3] ?? 1);
if (process.argv.includes('nospin')) disableOrtSpinning();
const acc = new Map<string, number>();
function wrap(obj: any, name: string, label = name) {
  const orig = obj[name];
  obj[name] = async function (...args: unknown[]) {
    const t0 = performance.now();
    try { return await orig.apply(this, args); } finally { acc.set(label, (acc.get(label) ?? 0) + performance.now() - t0); }
  };
}
for (const m of ['preAttention', 'attend', 'postAttention', 'logits']) wrap(DenseModel.prototype, m);
const perActor = preset === 'tiny' ? 8 : 16;
const cluster = await startLocalCluster({ modelDir: benchCheckpoint(preset).dir, replicas: 1, expertsPerActor: perActor });
const gate = cluster.gate!;
wrap(gate.experts, 'runExperts', 'experts (gate->NATS->actor)');
wrap(gate.experts, 'request', 'requests (each, summed)');
const reqs: number[] = [];
{
  const ex = gate.experts as any;
  const orig = ex.request;
  ex.request = async function (...a: unknown[]) { const t0 = performance.now(); try { return await orig.apply(this, a); } finally { reqs.push(performance.now() - t0); } };
}
const nc = await connectNats(cluster.url, 'probe');
const vocab = preset === 'tiny' ? 512 : 32000;
const tokens = 32;
for (const via of ['engine', 'nats', 'engine', 'nats']) {
  await gate.engine.generate(benchPrompt(999, vocab), { maxTokens: 2, stopAtEos: false });
  acc.clear();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, (_, i) => via === 'engine'
    ? gate.engine.generate(benchPrompt(i, vocab), { maxTokens: tokens, stopAtEos: false })
    : requestGenerate(nc, cluster.model, { prompt: benchPrompt(i, vocab), max_tokens: tokens, stop_at_eos: false })));
  const wall = performance.now() - t0;
  console.log(`${preset} via ${via} conc=${conc}: ${(conc * tokens / wall * 1000).toFixed(1)} tok/s, ${(wall / tokens).toFixed(2)} ms/step`);
  reqs.sort((a, b) => a - b); console.log(`  requests: ${reqs.length} (${(reqs.length / tokens).toFixed(1)}/step), p50 ${reqs[reqs.length >> 1]?.toFixed(2)} ms p90 ${reqs[Math.floor(reqs.length * 0.9)]?.toFixed(2)} ms`); reqs.length = 0;
  for (const [k, v] of acc) console.log(`  ${k.padEnd(28)} ${(v / tokens).toFixed(2)} ms/step (sum over overlapping calls)`);
}
await nc.close();
await cluster.stop();
process.exit(0);
