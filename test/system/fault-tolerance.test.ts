// The fault-tolerance gaps of the hardening issue, each reproduced: a lost nats-server under the gate and
// under the client, a stalled actor that no single peer can cover, a stalled actor past the hang bound.
// Deadlines are set far beyond the test's own bound, so only the behaviour under test can make it pass.
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requestGenerate } from '../../actors/gate/client.js';
import type { GenerateResult } from '../../model/engine.js';
import { startNode, type RunningNode } from '../../runtime/node/cluster.js';
import { closeNats, connectNats } from '../../runtime/transport/connection.js';
import { startNatsCluster, type NatsCluster } from '../../runtime/transport/nats-server.js';
import { ensureBuilt } from '../helpers/build.js';
import { withEnv } from '../helpers/env.js';
import { useNatsServer } from '../helpers/nats.js';
import { monolithicReference } from '../helpers/reference.js';
import { tinyCheckpointDir } from '../helpers/tiny-model.js';

const PROMPTS = [[1, 10, 20, 30], [1, 99], [7, 8, 9, 10, 11], [1, 250, 251]];
const MAX_TOKENS = 6;
/** Far past the test's own bound: a request that waits on it fails the test. */
const NEVER_MS = '600000';
const CLIENT_BOUND_MS = 20_000;

describe('a nats-server dies under the gate, then under the client', () => {
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let cluster: NatsCluster;
  let experts: RunningNode;
  let gate: RunningNode;
  let expected: GenerateResult[];

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    expected = await monolithicReference(tiny.dir, PROMPTS, { maxTokens: MAX_TOKENS, stopAtEos: false });
    cluster = await startNatsCluster(3);
    const [a, b] = cluster.urls;
    // experts answer late, so dispatches are in flight when a server dies
    experts = await startNode({ nats: b, modelDir: tiny.dir, roles: ['supervisor'], node: 'experts', replicas: 1, expertsPerActor: 16, expertEnv: { EAAS_EXPERT_DELAY_MS: '150' } });
    // the gate knows only server a; it learns the others from the cluster
    gate = await withEnv({ EAAS_DISPATCH_TIMEOUT_MS: NEVER_MS, EAAS_HEDGE: '0' }, () => startNode({ nats: a, modelDir: tiny.dir, roles: ['gate'], node: 'gate' }));
  });
  afterAll(async () => {
    await gate?.stop();
    await experts?.stop();
    await cluster?.stop();
    tiny?.remove();
  });

  it('the gate re-sends at once what was in flight through the lost server', async () => {
    const client = await connectNats(cluster.urls[1], 'client-b');
    try {
      const before = gate.gate!.experts.counters.dispatches;
      const answers = Promise.all(PROMPTS.map((prompt) => requestGenerate(client, gate.model, { prompt, max_tokens: MAX_TOKENS, stop_at_eos: false }, CLIENT_BOUND_MS)));
      await vi.waitFor(() => expect(gate.gate!.experts.counters.dispatches).toBeGreaterThan(before), { timeout: 10_000, interval: 5 });
      cluster.servers[0].kill('SIGKILL');
      const results = await answers;
      results.forEach((r, i) => expect(r.tokens).toEqual(expected[i].tokens));
      expect(gate.gate!.experts.counters.resent).toBeGreaterThan(0);
      expect(gate.gate!.experts.counters.deadlines).toBe(0);
    } finally {
      await closeNats(client);
    }
  });

  it('a client whose own server dies re-sends its request once reconnected and gets the answer', async () => {
    const victim = cluster.servers[2];
    const client = await connectNats(victim.url, 'client-c');
    try {
      const answers = Promise.all(PROMPTS.map((prompt) => requestGenerate(client, gate.model, { prompt, max_tokens: MAX_TOKENS, stop_at_eos: false }, CLIENT_BOUND_MS)));
      const before = gate.gate!.experts.counters.dispatches;
      await vi.waitFor(() => expect(gate.gate!.experts.counters.dispatches).toBeGreaterThan(before), { timeout: 10_000, interval: 5 });
      victim.kill('SIGKILL');
      const results = await answers;
      results.forEach((r, i) => expect(r.tokens).toEqual(expected[i].tokens));
    } finally {
      await closeNats(client);
    }
  });
});

describe('a stalled expert actor', () => {
  const nats = useNatsServer();
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let experts: RunningNode;
  let client: NatsConnection;
  let expected: GenerateResult[];

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    expected = await monolithicReference(tiny.dir, PROMPTS, { maxTokens: MAX_TOKENS, stopAtEos: false });
    // two replica sets of 8 experts per actor, rotated: no actor holds the same experts as another;
    // the supervisor tolerates a long hang, so a stopped actor stays stopped
    experts = await withEnv({ EAAS_HANG_MS: NEVER_MS }, () =>
      startNode({ nats: nats.url, modelDir: tiny.dir, roles: ['supervisor'], node: 'experts', replicas: 2, expertsPerActor: 8 }),
    );
    client = await nats.connect();
  });
  afterAll(async () => {
    await experts?.stop();
    tiny?.remove();
  });

  const generateAll = (model: string) => Promise.all(PROMPTS.map((prompt) => requestGenerate(client, model, { prompt, max_tokens: MAX_TOKENS, stop_at_eos: false }, CLIENT_BOUND_MS)));

  /** Runs `check` with the first expert actor stopped (SIGSTOP), resuming it afterwards. */
  async function whileStopped(check: () => Promise<void>): Promise<void> {
    const stopped = experts.supervisor!.status().children[0];
    // the placement under test: none of the stopped actor's peers hosts all of its experts
    const peers = experts.supervisor!.status().children.filter((c) => c.instance !== stopped.instance);
    expect(peers.some((p) => stopped.experts.every((e) => p.experts.includes(e)))).toBe(false);
    process.kill(stopped.pid!, 'SIGSTOP');
    try {
      await check();
    } finally {
      process.kill(stopped.pid!, 'SIGCONT');
    }
  }

  it('is covered by hedging each expert of its dispatch to some other replica', async () => {
    const gate = await withEnv({ EAAS_DISPATCH_TIMEOUT_MS: NEVER_MS }, () => startNode({ nats: nats.url, modelDir: tiny.dir, roles: ['gate'], node: 'hedging-gate' }));
    try {
      // measured latencies first: hedging waits for a multiple of the fastest peer's
      (await generateAll(gate.model)).forEach((r, i) => expect(r.tokens).toEqual(expected[i].tokens));
      await whileStopped(async () => {
        (await generateAll(gate.model)).forEach((r, i) => expect(r.tokens).toEqual(expected[i].tokens));
      });
      expect(gate.gate!.experts.counters.hedgeWins).toBeGreaterThan(0);
      expect(gate.gate!.experts.counters.deadlines).toBe(0);
    } finally {
      await gate.stop();
    }
  });

  it('costs one deadline, not one per dispatch: the instance is suspected and skipped (circuit breaker)', async () => {
    const gate = await withEnv({ EAAS_DISPATCH_TIMEOUT_MS: '500', EAAS_HEDGE: '0' }, () => startNode({ nats: nats.url, modelDir: tiny.dir, roles: ['gate'], node: 'breaker-gate' }));
    try {
      await whileStopped(async () => {
        for (let round = 0; round < 3; round++) (await generateAll(gate.model)).forEach((r, i) => expect(r.tokens).toEqual(expected[i].tokens));
      });
      const c = gate.gate!.experts.counters;
      expect(c.suspected).toBeGreaterThan(0);
      // every step of every request would wait a deadline on the stopped actor without the breaker;
      // with it, the first timeout and (if the rounds outlast the cool-down) a probe or two
      expect(c.deadlines).toBeLessThanOrEqual(3);
      expect(c.dispatches).toBeGreaterThan(20 * c.deadlines);
    } finally {
      await gate.stop();
    }
  });
});
