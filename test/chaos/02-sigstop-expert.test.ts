// Chaos scenario 2: SIGSTOP of an expert actor past the heartbeat bound, then SIGCONT.
import { describe, expect, it } from 'vitest';
import { pauseExpert } from '../helpers/chaos/scenarios.js';
import { scenarioTimeout, useChaosEnv } from '../helpers/chaos/suite.js';

describe('chaos: SIGSTOP of an expert actor past the heartbeat bound, then SIGCONT', () => {
  const env = useChaosEnv('chaos 2');
  it('loses nothing, changes nothing, and is back at full strength', async () => {
    const report = await pauseExpert(env());
    expect(report.violations).toEqual([]);
  }, scenarioTimeout(false));
});
