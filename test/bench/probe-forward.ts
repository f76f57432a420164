// Scratch: where does monolithic decode time go? Wraps the phases of a step with timers.
import { DenseModel } from '../../model/dense.js';
import { ExpertSet } from '../../model/experts.js';
import { openMonolithic } from '../../model/monolithic.js';
import { benchCheckpoint } from './checkpoints.js';
import { patchOrtSessions } from './ort-patch.js';

if (process.env.NOSPIN) patchOrtSessions({ extra: { session: { 'intra_op.allow_spinning': '0' } } });

const preset = (process.argv[2] ?? 'bench') as 'tiny' | 'bench';
const conc = Number(process.argv[3] ?? 1);
const acc = new Map<string, { ms: number; n: number }>();
function wrap(proto: any, name: string, label = name) {
  const orig = proto[name];
  proto[name] = async function (...args: unknown[]) {
    const t0 = performance.now();
    try { return await orig.apply(this, args); } finally {
      const e = acc.get(label) ?? { ms: 0, n: 0 };
      e.ms += performance.now() - t0; e.n++; acc.set(label, e);
    }
  };
}
for (const m of ['preAttention', 'attend', 'postAttention', 'logits']) wrap(DenseModel.prototype, m);
wrap(ExpertSet.prototype, 'run', 'expert.run');

const t0 = performance.now();
const model = await openMonolithic(benchCheckpoint(preset).dir);
console.log(`load ${(performance.now() - t0).toFixed(0)} ms`);
const prompt = (i: number) => Array.from({ length: 16 }, (_, j) => 1 + ((i * 31 + j * 7) % 500));
await model.engine.generate(prompt(99), { maxTokens: 2, stopAtEos: false });
acc.clear();
const t1 = performance.now();
const rs = await Promise.all(Array.from({ length: conc }, (_, i) => model.engine.generate(prompt(i), { maxTokens: 32, stopAtEos: false })));
const wall = performance.now() - t1;
const toks = rs.reduce((a, r) => a + r.tokens.length, 0);
console.log(`${preset} conc=${conc}: ${toks} tokens in ${wall.toFixed(0)} ms = ${(toks / wall * 1000).toFixed(1)} tok/s`);
let sum = 0;
for (const [k, v] of acc) { sum += v.ms; console.log(`  ${k.padEnd(14)} ${v.ms.toFixed(0).padStart(7)} ms  n=${v.n}  avg=${(v.ms / v.n).toFixed(2)} ms`); }
console.log(`  (sum of wrapped ${sum.toFixed(0)} ms; note expert.run calls overlap via Promise.all)`);
await model.close();
