// Chaos scenario 1: kill -9 of a random expert actor every few seconds.
import { describe, expect, it } from 'vitest';
import { killRandomExpert } from '../helpers/chaos/scenarios.js';
import { scenarioTimeout, useChaosEnv } from '../helpers/chaos/suite.js';

describe('chaos: kill -9 of a random expert actor every few seconds', () => {
  const env = useChaosEnv('chaos 1');
  it('loses nothing, changes nothing, and is back at full strength', async () => {
    const report = await killRandomExpert(env());
    expect(report.violations).toEqual([]);
  }, scenarioTimeout(false));
});
