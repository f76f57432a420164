// Chaos scenario 7: all replicas of one expert killed at once.
import { describe, expect, it } from 'vitest';
import { killAllReplicas } from '../helpers/chaos/scenarios.js';
import { scenarioTimeout, useChaosEnv } from '../helpers/chaos/suite.js';

describe('chaos: all replicas of one expert killed at once', () => {
  const env = useChaosEnv('chaos 7');
  it('loses nothing, changes nothing, and is back at full strength', async () => {
    const report = await killAllReplicas(env());
    expect(report.violations).toEqual([]);
  }, scenarioTimeout(false));
});
