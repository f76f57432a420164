// The short chaos run inside `npm test`: scenarios 1, 2, 7, 8 and 9 of test/chaos/ (the full suite is `npm run chaos`),
// each a few seconds of load with real faults, checked Jepsen-style (nothing lost, nothing changed, full strength after).
import { describe, expect, it } from 'vitest';
import { badInput, elasticRebalance, killAllReplicas, killRandomExpert, pauseExpert } from '../helpers/chaos/scenarios.js';
import { scenarioTimeout, useChaosEnv } from '../helpers/chaos/suite.js';

describe('chaos (short)', () => {
  const env = useChaosEnv('chaos short', true);
  const timeout = scenarioTimeout(true);

  it('kill -9 of a random expert actor every few seconds', async () => {
    expect((await killRandomExpert(env())).violations).toEqual([]);
  }, timeout);

  it('SIGSTOP of an expert actor past the heartbeat bound, then SIGCONT', async () => {
    expect((await pauseExpert(env())).violations).toEqual([]);
  }, timeout);

  it('all replicas of one expert killed at once', async () => {
    expect((await killAllReplicas(env())).violations).toEqual([]);
  }, timeout);

  it('malformed, oversized and wrongly-shaped dispatches while serving', async () => {
    expect((await badInput(env())).violations).toEqual([]);
  }, timeout);

  it('rebalances under load with the active controller and expert actors killed mid-rebalance', async () => {
    expect((await elasticRebalance(env())).violations).toEqual([]);
  }, timeout);
});
