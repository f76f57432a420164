// Chaos scenario 3: a slow replica (EAAS_EXPERT_DELAY_MS on one of two supervisor nodes).
import { describe, expect, it } from 'vitest';
import { slowReplica } from '../helpers/chaos/scenarios.js';
import { scenarioTimeout, useChaosEnv } from '../helpers/chaos/suite.js';

describe('chaos: a slow replica (EAAS_EXPERT_DELAY_MS on one of two supervisor nodes)', () => {
  const env = useChaosEnv('chaos 3');
  it('loses nothing, changes nothing, and is back at full strength', async () => {
    const report = await slowReplica(env());
    expect(report.violations).toEqual([]);
  }, scenarioTimeout(false));
});
