// Chaos scenario 9: the controller rebalances under load while the active controller and expert actors are killed.
import { describe, expect, it } from 'vitest';
import { elasticRebalance } from '../helpers/chaos/scenarios.js';
import { scenarioTimeout, useChaosEnv } from '../helpers/chaos/suite.js';

describe('chaos: rebalances under load, kill -9 of the active controller and of expert actors mid-rebalance', () => {
  const env = useChaosEnv('chaos 9');
  it('loses nothing, changes nothing, the standby takes over and the last placement is carried out', async () => {
    const report = await elasticRebalance(env());
    expect(report.violations).toEqual([]);
  }, scenarioTimeout(false));

  it('does the same on a secure cluster: TLS, and the bucket under each role’s least rights', async () => {
    const report = await elasticRebalance(env(), { secure: true });
    expect(report.violations).toEqual([]);
  }, scenarioTimeout(false));
});
