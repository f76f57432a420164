// Chaos scenario 8: malformed, oversized and wrongly-shaped dispatches while serving.
import { describe, expect, it } from 'vitest';
import { badInput } from '../helpers/chaos/scenarios.js';
import { scenarioTimeout, useChaosEnv } from '../helpers/chaos/suite.js';

describe('chaos: malformed, oversized and wrongly-shaped dispatches while serving', () => {
  const env = useChaosEnv('chaos 8');
  it('loses nothing, changes nothing, and is back at full strength', async () => {
    const report = await badInput(env());
    expect(report.violations).toEqual([]);
  }, scenarioTimeout(false));
});
