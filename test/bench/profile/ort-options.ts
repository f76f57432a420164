// Profiling aid: one bench-preset expert's ONNX Runtime session speed under different session options.
// Usage: node dist/test/bench/profile/ort-options.js
// Note: onnxruntime-node runs sessions synchronously on the JS thread, so "2 sessions at once" below
// is really two runs back to back: what it shows is the cost of switching between sessions.
import * as ort from 'onnxruntime-node';
import { Checkpoint } from '../../../model/checkpoint.js';
import { expertGraph } from '../../../model/graphs.js';
import { benchCheckpoint } from '../checkpoints.js';

const ck = Checkpoint.open(benchCheckpoint('mixtral', 'bench').dir);
const c = ck.config;
const H = c.hiddenSize;
const graphs = Array.from({ length: 8 }, (_, e) => expertGraph(c, ck.expert(0, e)));

async function make(opts: ort.InferenceSession.SessionOptions) {
  return Promise.all(graphs.map((g) => ort.InferenceSession.create(g, { interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential', logSeverityLevel: 3, ...opts })));
}
const x = (n: number) => { const a = new Float32Array(n * H); for (let i = 0; i < a.length; i++) a[i] = Math.sin(i); return new ort.Tensor('float32', a, [n, H]); };
async function time(label: string, fn: () => Promise<unknown>, reps: number) {
  await fn();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await fn();
  const ms = (performance.now() - t0) / reps;
  console.log(`  ${label.padEnd(44)} ${ms.toFixed(2)} ms`);
  return ms;
}
const variants: [string, ort.InferenceSession.SessionOptions][] = [
  ['threads=0 (default, 2 on this box)', { intraOpNumThreads: 0 }],
  ['threads=1', { intraOpNumThreads: 1 }],
  ['threads=2', { intraOpNumThreads: 2 }],
  ['threads=2 allow_spinning=0', { intraOpNumThreads: 2, extra: { session: { 'intra_op.allow_spinning': '0' } } }],
];
for (const [name, opts] of variants) {
  const ss = await make(opts);
  console.log(name);
  const x1 = x(1), x256 = x(256);
  await time('1 row, same session', () => ss[0].run({ x: x1 }), 50);
  let k = 0;
  await time('1 row, rotating over 8 sessions', () => ss[k++ % 8].run({ x: x1 }), 50);
  await time('1 row, 2 sessions via Promise.all (per pair)', () => Promise.all([ss[k++ % 8].run({ x: x1 }), ss[k++ % 8].run({ x: x1 })]), 25);
  await time('1 row, 2 sessions sequential (per pair)', async () => { await ss[k++ % 8].run({ x: x1 }); await ss[k++ % 8].run({ x: x1 }); }, 25);
  const ms = await time('256 rows, same session', () => ss[0].run({ x: x256 }), 5);
  console.log(`    = ${(256 / ms * 1000).toFixed(0)} rows/s`);
  await time('256 rows, rotating', () => ss[k++ % 8].run({ x: x256 }), 8);
  for (const s of ss) await s.release();
}
ck.close();
