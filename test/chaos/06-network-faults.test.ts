// Chaos scenario 6: latency, dropped and stalled connections between one expert node and NATS.
import { describe, expect, it } from 'vitest';
import { networkFaults } from '../helpers/chaos/scenarios.js';
import { scenarioTimeout, useChaosEnv } from '../helpers/chaos/suite.js';

describe('chaos: latency, dropped and stalled connections between one expert node and NATS', () => {
  const env = useChaosEnv('chaos 6');
  it('loses nothing, changes nothing, and is back at full strength', async () => {
    const report = await networkFaults(env());
    expect(report.violations).toEqual([]);
  }, scenarioTimeout(false));

  it('the same after a flapping link (seven 3 s drops)', async () => {
    const report = await networkFaults(env(), 'flapping');
    expect(report.violations).toEqual([]);
  }, scenarioTimeout(false));
});
