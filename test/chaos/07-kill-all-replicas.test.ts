// Chaos scenario 7: all replicas of one expert killed at once.
import { describe, expect, it } from 'vitest';
import { killAllReplicas } from '../helpers/chaos/scenarios.js';
import { scenarioTimeout, useChaosEnv } from '../helpers/chaos/suite.js';

describe('chaos: all replicas of one expert killed at once', () => {
  const env = useChaosEnv('chaos 7');
  it('requests wait for the restart within the bound: nothing lost or changed, back at full strength', async () => {
    const report = await killAllReplicas(env());
    expect(report.violations).toEqual([]);
  }, scenarioTimeout(false));

  it('with a bound shorter than a restart, requests fail with an error naming the missing experts', async () => {
    // shorter than any restart: the backoff (at least 40 ms) and a spare's assign-to-ready (70 ms or more)
    const report = await killAllReplicas(env(), { noReplicaWaitMs: 30 });
    expect(report.violations).toEqual([]);
    expect(report.counts.failedAllowed).toBeGreaterThan(0);
  }, scenarioTimeout(false));
});
