// Scratch: does striping experts over actors (expert-major instead of layer-major) help NATS decode?
// Layer-major (the default place()): actor 0 = layers 0-1, actor 1 = layers 2-3, so a token's two experts of
// a layer always sit on the same actor and run one after the other. Striped: actor 0 = experts 0-3 of every
// layer, actor 1 = experts 4-7, built here from two supervisor nodes with expert specs.
import { setTimeout as sleep } from 'node:timers/promises';
import { requestGenerate } from '../../actors/gate-client.js';
import { connectNats } from '../../runtime/connection.js';
import { startNatsServer } from '../../runtime/nats-server.js';
import { startLocalCluster, startNode } from '../../runtime/node/cluster.js';
import { benchCheckpoint } from './checkpoints.js';
import { benchPrompt, decode } from './decode.js';

const preset = (process.argv[2] ?? 'bench') as 'tiny' | 'bench';
const layout = process.argv[3] ?? 'striped';
const dir = benchCheckpoint(preset).dir;
const server = await startNatsServer({});
const E = 8;
const L = preset === 'tiny' ? 2 : 4;
const b = layout === 'striped' ? await startNode({ nats: server.url, modelDir: dir, roles: ['supervisor'], experts: `*:${E / 2}-${E - 1}`, replicas: 1, expertsPerActor: L * E, node: 'b' }) : undefined;
const a = await startLocalCluster({ nats: server.url, modelDir: dir, replicas: 1, experts: layout === 'striped' ? `*:0-${E / 2 - 1}` : '*:*', expertsPerActor: layout === 'striped' ? L * E : (L * E) / 2, node: 'a' });
while (a.gate!.directory.all().filter((i) => i.up).length < 2) await sleep(100);
console.log(`instances: ${a.gate!.directory.all().map((i) => `${i.instance}[${[...i.experts].slice(0, 3).join(',')}...]`).join(' ')}`);
const nc = await connectNats(server.url, 'probe');
const vocab = preset === 'tiny' ? 512 : 32000;
const gen = async (p: number[], n: number) => (await requestGenerate(nc, a.model, { prompt: p, max_tokens: n, stop_at_eos: false })).tokens;
await gen(benchPrompt(999, vocab), 2);
for (const c of [1, 32]) {
  const r = await decode(gen, vocab, c, c === 1 ? 2 : 1, 32);
  console.log(`${preset} ${layout} conc=${c}: ${r.tokPerS.toFixed(1)} tok/s`);
}
await nc.close();
await a.stop();
await b?.stop();
await server.stop();
process.exit(0);
