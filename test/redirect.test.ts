import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterStatus } from '../actors/protocol/status.js';
import { requestGenerate } from '../actors/gate/client.js';
import type { GenerateResult } from '../model/engine.js';
import { openMonolithic } from '../model/monolithic.js';
import { startNode, type RunningNode } from '../runtime/node/cluster.js';
import { ensureBuilt } from './helpers/build.js';
import { useNatsServer } from './helpers/nats.js';
import { tinyCheckpointDir } from './helpers/tiny-model.js';

const PROMPTS = [[1, 10, 20, 30], [1, 99], [7, 8, 9, 10, 11], [1, 250, 251]];
const MAX_TOKENS = 5;
const SLOW_MS = 400;

describe('redirects, hedges and missing replicas', () => {
  const nats = useNatsServer();
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let fast: RunningNode;
  let slow: RunningNode;
  let steady: RunningNode;
  let gate: RunningNode;
  let client: NatsConnection;
  let expected: GenerateResult[];

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    const mono = await openMonolithic(tiny.dir);
    expected = await Promise.all(PROMPTS.map((p) => mono.engine.generate(p, { maxTokens: MAX_TOKENS, stopAtEos: false })));
    await mono.close();
    const common = { nats: nats.url, modelDir: tiny.dir, replicas: 1, expertsPerActor: 16 };
    // one replica of every expert on each supervisor node; the "slow" node's actor answers late
    fast = await startNode({ ...common, roles: ['supervisor'], node: 'fast' });
    slow = await startNode({ ...common, roles: ['supervisor'], node: 'slow', expertEnv: { EAAS_EXPERT_DELAY_MS: String(SLOW_MS) } });
    // this node's supervisor tolerates a long hang, so a stopped actor stays stopped
    process.env.EAAS_HANG_MS = '60000';
    steady = await startNode({ ...common, roles: ['supervisor'], node: 'steady' });
    delete process.env.EAAS_HANG_MS;
    process.env.EAAS_NO_REPLICA_WAIT_MS = '1500';
    gate = await startNode({ ...common, roles: ['gate'], node: 'gate' });
    delete process.env.EAAS_NO_REPLICA_WAIT_MS;
    client = await nats.connect();
  });
  afterAll(async () => {
    await gate?.stop();
    await slow?.stop();
    await steady?.stop();
    await fast?.stop();
    tiny?.remove();
  });

  const generate = (prompt: number[]) => requestGenerate(client, gate.model, { prompt, max_tokens: MAX_TOKENS, stop_at_eos: false });

  it('routes around a slow replica once it has measured it; answers stay exact', async () => {
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(PROMPTS.map(generate));
      results.forEach((r, i) => expect(r.tokens).toEqual(expected[i].tokens));
    }
    const served = (n: RunningNode) => gate.gate!.directory.get(n.supervisor!.status().children[0].instance)!;
    const stats = await clusterStatus(client);
    const requests = (n: RunningNode) => stats.actors.find((a) => a.instance === served(n).instance)!.requests;
    expect(requests(slow)).toBeLessThan(requests(fast) / 2);
    expect(requests(slow)).toBeLessThan(requests(steady) / 2);
  });

  it('hedges a dispatch stuck on a hung replica to another one, within the budget', async () => {
    const pid = steady.supervisor!.status().children[0].pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      for (let round = 0; round < 2; round++) {
        const results = await Promise.all(PROMPTS.map(generate));
        results.forEach((r, i) => expect(r.tokens).toEqual(expected[i].tokens));
      }
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const c = gate.gate!.experts.counters;
    expect(c.hedges).toBeGreaterThan(0);
    expect(c.hedgeWins).toBeGreaterThan(0);
    // bounded extra load: the budget allows about one hedge per ten dispatches, plus a small burst
    expect(c.hedges).toBeLessThanOrEqual(Math.ceil(c.dispatches * 0.1) + 8);
  });

  it('redirects in-flight dispatches of an instance announced down', async () => {
    const before = gate.gate!.experts.counters.redirects;
    const victim = slow.supervisor!.status().children[0];
    const load = Promise.all(PROMPTS.map(generate));
    process.kill(victim.pid!, 'SIGKILL');
    (await load).forEach((r, i) => expect(r.tokens).toEqual(expected[i].tokens));
    // the slow replica held dispatches for SLOW_MS: its death must have sent some elsewhere
    expect(gate.gate!.experts.counters.redirects).toBeGreaterThanOrEqual(before);
  });

  it('fails clearly, naming the experts, when no replica comes back within the bound', async () => {
    await slow.supervisor!.stop();
    await steady.supervisor!.stop();
    await fast.supervisor!.retire(fast.supervisor!.status().children[0].instance);
    const started = Date.now();
    const err = await generate(PROMPTS[0]).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/no live replica of experts? \d+:\d+(, \d+:\d+)*.*within 1500 ms/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
