// Chaos scenario 4: kill -9 of a supervisor process, then its restart.
import { describe, expect, it } from 'vitest';
import { killSupervisor } from '../helpers/chaos/scenarios.js';
import { scenarioTimeout, useChaosEnv } from '../helpers/chaos/suite.js';

describe('chaos: kill -9 of a supervisor process, then its restart', () => {
  const env = useChaosEnv('chaos 4');
  it('loses nothing, changes nothing, and is back at full strength', async () => {
    const report = await killSupervisor(env());
    expect(report.violations).toEqual([]);
  }, scenarioTimeout(false));
});
