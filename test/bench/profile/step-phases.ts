// Profiling aid: wall-clock phases of monolithic decode steps (a timed copy of Forward.step).
// Usage: node dist/test/bench/profile/step-phases.js [tiny|bench] [concurrency] [asis|nospin|stopspin|t1] [seqattn] [seqexp]
//   nospin: ORT sessions with intra_op.allow_spinning=0; stopspin: session.force_spinning_stop=1; t1: EAAS_ORT_THREADS=1
import { Checkpoint } from '../../../model/checkpoint.js';
import { DenseModel } from '../../../model/dense.js';
import { Engine } from '../../../model/engine.js';
import { ExpertSet, type ExpertKey } from '../../../model/experts.js';
import type { ExpertBatch } from '../../../model/forward.js';
import { allExperts } from '../../../model/monolithic.js';
import { benchCheckpoint } from '../checkpoints.js';
import { phases, TimedForward } from './forward-timed.js';
import { disableOrtSpinning, patchOrtSessionConfig } from '../ort-nospin.js';

const preset = (process.argv[2] ?? 'bench') as 'tiny' | 'bench';
const conc = Number(process.argv[3] ?? 1);
const mode = process.argv[4] ?? 'asis'; // asis | nospin | t1
const seqAttn = process.argv.includes('seqattn');
const seqExperts = process.argv.includes('seqexp');
if (mode === 'nospin') disableOrtSpinning();
if (mode === 'stopspin') patchOrtSessionConfig({ force_spinning_stop: '1' });
if (mode === 't1') process.env.EAAS_ORT_THREADS = '1';

const ck = Checkpoint.open(benchCheckpoint(preset).dir);
const c = ck.config;
const dense = await DenseModel.load(ck);
const set = await ExpertSet.load(ck, allExperts(c.numHiddenLayers, c.numLocalExperts) as ExpertKey[]);
const backend = {
  async runExperts(layer: number, batches: ExpertBatch[]) {
    if (!seqExperts) return Promise.all(batches.map((b) => set.run({ layer, expert: b.expert }, b.input)));
    const out: Float32Array[] = [];
    for (const b of batches) out.push(await set.run({ layer, expert: b.expert }, b.input));
    return out;
  },
};
const fwd = new TimedForward(dense, backend, seqAttn);
const engine = new Engine(c, fwd as never);
const prompt = (i: number) => Array.from({ length: 16 }, (_, j) => 1 + ((i * 31 + j * 7) % 500));
await engine.generate(prompt(99), { maxTokens: 2, stopAtEos: false });
phases.clear();
const t1 = performance.now();
const rs = await Promise.all(Array.from({ length: conc }, (_, i) => engine.generate(prompt(i), { maxTokens: 32, stopAtEos: false })));
const wall = performance.now() - t1;
const toks = rs.reduce((a, r) => a + r.tokens.length, 0);
console.log(`${preset} conc=${conc} mode=${mode}${seqAttn ? ' seqattn' : ''}${seqExperts ? ' seqexp' : ''}: ${(toks / wall * 1000).toFixed(1)} tok/s (${wall.toFixed(0)} ms)`);
let sum = 0;
for (const [k, v] of phases) { sum += v; console.log(`  ${k.padEnd(20)} ${v.toFixed(0).padStart(6)} ms  ${(100 * v / wall).toFixed(1)}%`); }
console.log(`  ${'other (engine etc)'.padEnd(20)} ${(wall - sum).toFixed(0).padStart(6)} ms`);
console.log(`  tokens[0]: ${rs[0].tokens.slice(0, 8).join(',')}`);
await dense.release(); await set.release(); ck.close();
