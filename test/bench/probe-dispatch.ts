// Scratch: dispatch latency patterns to expert actors (same/alternating instance, idle gaps).
import { setTimeout as sleep } from 'node:timers/promises';
import { startLocalCluster } from '../../runtime/node/cluster.js';
import { benchCheckpoint } from './checkpoints.js';
import { percentile } from './stats.js';

const preset = (process.argv[2] ?? 'tiny') as 'tiny' | 'bench';
const H = preset === 'tiny' ? 64 : 1024;
const cluster = await startLocalCluster({ modelDir: benchCheckpoint(preset).dir, replicas: 1, expertsPerActor: preset === 'tiny' ? 8 : 16 });
const ex = cluster.gate!.experts;
const x = new Float32Array(H).fill(0.1);
async function pattern(label: string, layers: number[], experts: number[], gapMs: number, n = 200) {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const layer = layers[i % layers.length];
    const t0 = performance.now();
    await ex.runExperts(layer, experts.map((e) => ({ expert: e, rows: 1, input: x })));
    ms.push(performance.now() - t0);
    if (gapMs > 0) await sleep(gapMs);
    else if (gapMs < 0) { const until = performance.now() - gapMs; while (performance.now() < until); }
  }
  console.log(`${label.padEnd(52)} p50 ${percentile(ms, 50).toFixed(3)}  p90 ${percentile(ms, 90).toFixed(3)} ms`);
}
const otherLayer = preset === 'tiny' ? 1 : 2;
await pattern('warm', [0], [0], 0);
await pattern('same actor, 1 expert, back to back', [0], [0], 0);
await pattern('same actor, 2 experts, back to back', [0], [0, 1], 0);
await pattern('alternating actors, 2 experts', [0, otherLayer], [0, 1], 0);
await pattern('same actor, 2 experts, 3 ms sleep gap', [0], [0, 1], 3);
await pattern('same actor, 2 experts, 3 ms busy gap', [0], [0, 1], -3);
await pattern('same actor, 2 experts, 1 ms busy gap', [0], [0, 1], -1);
await cluster.stop();
process.exit(0);
