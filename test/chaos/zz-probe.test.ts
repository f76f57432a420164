import { it } from 'vitest';
import { baseline, prepareEnv } from '../helpers/chaos/scenarios.js';
it('probe baseline twice', async () => {
  const env = await prepareEnv(true);
  for (let i = 0; i < 3; i++) {
    env.baseline = undefined;
    const r = await baseline(env);
    console.log('baseline', i, r.throughput.toFixed(2), r.p50Ms, r.counts.requests);
  }
  env.remove();
}, 200_000);
