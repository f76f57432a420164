// Profiling aid: lifecycle events and event-loop stalls while a local cluster starts. Reproduces the
// supervisor killing healthy expert actors when the gate's synchronous ORT session loads stall the
// shared event loop past the hang timeout (run it while the cores are busy).
// Usage: node dist/test/bench/profile/cluster-start.js [tiny|bench]
import { connectNats } from '../../../runtime/transport/connection.js';
import { startNatsServer } from '../../../runtime/transport/nats-server.js';
import { startLocalCluster } from '../../../runtime/node/cluster.js';
import { decodeEvent } from '../../../actors/protocol/messages.js';
import { remoteExperts } from '../../helpers/gate-dispatch.js';
import { benchCheckpoint } from '../checkpoints.js';

const preset = (process.argv[2] ?? 'bench') as 'tiny' | 'bench';
const server = await startNatsServer({});
const nc = await connectNats(server.url, 'probe-events');
const t0 = performance.now();
const at = () => `${((performance.now() - t0) / 1000).toFixed(2)} s`;
nc.subscribe(`eaas.v1.${preset}.events.>`, { callback: (_e, m) => { const e = decodeEvent(m.data); console.log(`${at()} event ${e.kind} ${e.instance} ${e.reason ?? ''}`); } });
let lastLoop = performance.now();
const lag = setInterval(() => { const now = performance.now(); if (now - lastLoop > 500) console.log(`${at()} event loop blocked for ${(now - lastLoop).toFixed(0)} ms`); lastLoop = now; }, 50);
const cluster = await startLocalCluster({ nats: server.url, modelDir: benchCheckpoint('mixtral', preset).dir, replicas: 1, expertsPerActor: preset === 'tiny' ? 8 : 16 });
console.log(`${at()} startLocalCluster resolved`);
await new Promise((r) => setTimeout(r, 4000));
console.log(`${at()} directory: ${remoteExperts(cluster.gate).directory.all().map((i) => `${i.instance} up=${i.up}`).join(', ')}`);
clearInterval(lag);
await cluster.stop();
await nc.close();
await server.stop();
process.exit(0);
