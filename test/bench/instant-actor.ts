// A real expert actor (micro service, dispatch decode, reply encode, spans, load window) whose experts answer at
// once with zeros: the far end of the dispatch-protocol micro benchmark, which leaves compute out.
// Usage (forked): instant-actor.js URL MODEL HIDDEN LAYER EXPERT
import { ExpertActor } from '../../actors/expert/expert.js';
import { connectNats } from '../../runtime/transport/connection.js';

const [url, model, hidden, layer, expert] = process.argv.slice(2);
const nc = await connectNats(url, 'eaas-bench-instant-actor');
const actor = new ExpertActor({
  nc,
  model,
  instance: 'instant-0',
  node: 'bench',
  keys: [{ layer: Number(layer), expert: Number(expert) }],
  hidden: Number(hidden),
  experts: { run: async (_key, x) => new Float32Array(x.length) },
});
await actor.start();
process.send?.('ready');
process.on('disconnect', () => void actor.drain().finally(() => nc.close().finally(() => process.exit(0))));
