// Chaos scenario 5: kill -9 and restart of one of three clustered nats-servers.
import { describe, expect, it } from 'vitest';
import { natsServerRestart } from '../helpers/chaos/scenarios.js';
import { scenarioTimeout, useChaosEnv } from '../helpers/chaos/suite.js';

describe('chaos: kill -9 and restart of one of three clustered nats-servers', () => {
  const env = useChaosEnv('chaos 5');
  it('loses nothing, changes nothing, and is back at full strength', async () => {
    const report = await natsServerRestart(env());
    expect(report.violations).toEqual([]);
  }, scenarioTimeout(false));

  it('the same when the killed server is the one the client is connected to', async () => {
    const report = await natsServerRestart(env(), { clientOnVictim: true });
    expect(report.violations).toEqual([]);
  }, scenarioTimeout(false));

  it('the same on a secure cluster (TLS on client and route ports, per-role credentials and permissions)', async () => {
    const report = await natsServerRestart(env(), { secure: true });
    expect(report.violations).toEqual([]);
  }, scenarioTimeout(false));
});
