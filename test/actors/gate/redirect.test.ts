import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { clusterStatus } from '../../../actors/protocol/status.js';
import { encodeEvent, type InstanceEvent } from '../../../actors/protocol/messages.js';
import { eventSubject } from '../../../runtime/transport/subjects.js';
import { requestGenerate } from '../../../actors/gate/client.js';
import type { GenerateResult } from '../../../model/engine.js';
import { startNode, type RunningNode } from '../../../runtime/node/cluster.js';
import { ensureBuilt } from '../../helpers/build.js';
import { withEnv } from '../../helpers/env.js';
import { useNatsServer } from '../../helpers/nats.js';
import { monolithicReference } from '../../helpers/reference.js';
import { remoteExperts } from '../../helpers/gate-dispatch.js';
import { RemoteExperts } from '../../../actors/gate/remote-experts.js';
import { Checkpoint } from '../../../model/checkpoint.js';
import { tinyCheckpointDir } from '../../helpers/tiny-model.js';

const PROMPTS = [[1, 10, 20, 30], [1, 99], [7, 8, 9, 10, 11], [1, 250, 251]];
const MAX_TOKENS = 5;
const SLOW_MS = 400;
const NO_REPLICA_WAIT_MS = 1500;

describe('redirects, hedges and missing replicas', () => {
  const nats = useNatsServer();
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let fast: RunningNode;
  let slow: RunningNode;
  let steady: RunningNode;
  let gate: RunningNode;
  let client: NatsConnection;
  let expected: GenerateResult[];
  const common = () => ({ nats: nats.url, modelDir: tiny.dir, replicas: 1, expertsPerActor: 16 });

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    expected = await monolithicReference(tiny.dir, PROMPTS, { maxTokens: MAX_TOKENS, stopAtEos: false });
    // one replica of every expert on each supervisor node; the "slow" node's actor answers late
    fast = await startNode({ ...common(), roles: ['supervisor'], node: 'fast' });
    slow = await startNode({ ...common(), roles: ['supervisor'], node: 'slow', expertEnv: { EAAS_EXPERT_DELAY_MS: String(SLOW_MS) } });
    // this node's supervisor tolerates a long hang, so a stopped actor stays stopped
    steady = await withEnv({ EAAS_HANG_MS: '60000' }, () => startNode({ ...common(), roles: ['supervisor'], node: 'steady' }));
    gate = await withEnv({ EAAS_NO_REPLICA_WAIT_MS: String(NO_REPLICA_WAIT_MS) }, () => startNode({ ...common(), roles: ['gate'], node: 'gate' }));
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
    const stats = await clusterStatus(client);
    const requests = (n: RunningNode) => stats.actors.find((a) => a.instance === n.supervisor!.status().children[0].instance)!.requests;
    expect(requests(slow)).toBeLessThan(requests(fast) / 2);
    expect(requests(slow)).toBeLessThan(requests(steady) / 2);
  });

  it('hedges a dispatch stuck on a hung replica to another one, within the budget', async () => {
    // the gate's counters are cumulative: the slow replica of the test above was hedged too, so count from here
    const before = { ...gate.gate!.experts.counters };
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
    const hedges = c.hedges - before.hedges;
    expect(hedges).toBeGreaterThan(0);
    expect(c.hedgeWins - before.hedgeWins).toBeGreaterThan(0);
    // bounded extra load: the budget allows about one hedge per ten dispatches, plus a small burst
    expect(hedges).toBeLessThanOrEqual(Math.ceil((c.dispatches - before.dispatches) * 0.1) + 8);
  });

  it('hedges a suspected instance\'s probe even with no hedge budget left: a replica gone stalls one deadline, not one each cool-down', async () => {
    const checkpoint = Checkpoint.open(tiny.dir);
    const H = checkpoint.config.hiddenSize;
    checkpoint.close();
    const nc = await nats.connect();
    // no budget: only the first hedge (one is granted at start) and probes may be hedged; short deadline and cool-down
    const experts = await RemoteExperts.start(nc, gate.model, H, { timeoutMs: 1500, hedge: { budget: 0 }, breaker: { openMs: 100, maxOpenMs: 100 } });
    const batches = () => Array.from({ length: 8 }, (_, e) => ({ expert: e, rows: 1, input: Float32Array.from({ length: H }, (_, d) => Math.sin(e * H + d)) }));
    const stopped = steady.supervisor!.status().children[0];
    try {
      await vi.waitFor(() => expect(experts.directory.get(stopped.instance)).toBeDefined(), { timeout: 10_000, interval: 50 });
      const reference = await experts.runExperts(0, batches());
      // every replica measured first: a hedge waits for a multiple of the fastest peer's latency
      for (let i = 0; i < 30; i++) await experts.runExperts(0, batches());
      process.kill(stopped.pid!, 'SIGSTOP');
      const slow: number[] = [];
      try {
        for (const until = Date.now() + 5_000; Date.now() < until; ) {
          const t0 = performance.now();
          const out = await experts.runExperts(0, batches());
          if (performance.now() - t0 > 1000) slow.push(performance.now() - t0);
          out.forEach((o, i) => expect(o).toEqual(reference[i]));
        }
      } finally {
        process.kill(stopped.pid!, 'SIGCONT');
      }
      // the first dispatch there waited out its deadline (the one hedge granted at start went to the slow replica);
      // then a probe went to the stopped actor every cool-down and failed (each suspects it again), but nothing waited for it
      expect(experts.counters.suspected).toBeGreaterThanOrEqual(3);
      expect(slow.length).toBeLessThanOrEqual(1);
      // back, it answers its next probe and takes rows again; first it works off what queued while it was stopped
      const answeredNow = async () => (await clusterStatus(client)).actors.find((a) => a.instance === stopped.instance)!.requests;
      let answered = await answeredNow();
      await vi.waitFor(async () => {
        const last = answered;
        answered = await answeredNow();
        expect(answered).toBe(last);
      }, { timeout: 15_000, interval: 100 });
      await vi.waitFor(async () => {
        await experts.runExperts(0, batches());
        expect(await answeredNow()).toBeGreaterThan(answered);
      }, { timeout: 15_000, interval: 100 });
    } finally {
      await experts.stop();
      await nc.close();
    }
  });

  it('redirects in-flight dispatches of an instance announced down', async () => {
    // A gate of its own, without hedging: a hedge that already answered would leave the killed instance's
    // dispatch nothing to redirect. Its dispatch timeout is far away, so only the down announcement can
    // redirect in time; the new gate has measured no replica yet, so the slow one takes rows too.
    await gate.stop();
    gate = await withEnv({ EAAS_HEDGE: '0', EAAS_DISPATCH_TIMEOUT_MS: '600000', EAAS_NO_REPLICA_WAIT_MS: String(NO_REPLICA_WAIT_MS) }, () =>
      startNode({ ...common(), roles: ['gate'], node: 'gate-unhedged' }),
    );
    const victim = slow.supervisor!.status().children[0];
    const before = { ...gate.gate!.experts.counters };
    const answers: { prompt: number; tokens: number[] }[] = [];
    let killed = false;
    const load = (async () => {
      while (!killed) (await Promise.all(PROMPTS.map(generate))).forEach((r, i) => answers.push({ prompt: i, tokens: r.tokens }));
    })();
    load.catch(() => undefined);
    try {
      // the slow replica holds each dispatch for SLOW_MS: kill it while it holds some
      await vi.waitFor(() => expect(remoteExperts(gate.gate).directory.get(victim.instance)?.inflightRows).toBeGreaterThan(0), { timeout: 30_000, interval: 5 });
      process.kill(victim.pid!, 'SIGKILL');
    } finally {
      killed = true;
    }
    await load;
    expect(answers.length).toBeGreaterThan(0);
    for (const a of answers) expect(a.tokens).toEqual(expected[a.prompt].tokens);
    expect(gate.gate!.experts.counters.redirects).toBeGreaterThan(before.redirects);
    expect(gate.gate!.experts.counters.suspected).toBe(before.suspected);
  });

  it('sends again what was in flight to an instance that announces itself up again (it reconnected: that may be lost)', async () => {
    // the unhedged gate of the test above, whose dispatch timeout is far away: only the announcement re-sends
    const victim = slow.supervisor!.status().children[0];
    const before = { ...gate.gate!.experts.counters };
    const answers: { prompt: number; tokens: number[] }[] = [];
    let announced = false;
    const load = (async () => {
      while (!announced) (await Promise.all(PROMPTS.map(generate))).forEach((r, i) => answers.push({ prompt: i, tokens: r.tokens }));
    })();
    load.catch(() => undefined);
    try {
      // the slow replica holds each dispatch for SLOW_MS: announce it up while it holds some, as a reconnected actor does
      await vi.waitFor(() => expect(remoteExperts(gate.gate).directory.get(victim.instance)?.inflightRows).toBeGreaterThan(0), { timeout: 30_000, interval: 5 });
      const up: InstanceEvent = { kind: 'up', instance: victim.instance, experts: victim.experts, node: 'slow', at: Date.now() };
      client.publish(eventSubject(gate.model, 'up', 'slow', victim.instance), encodeEvent(up));
      await vi.waitFor(() => expect(gate.gate!.experts.counters.resent).toBeGreaterThan(before.resent), { timeout: 5_000, interval: 5 });
    } finally {
      announced = true;
    }
    await load;
    expect(answers.length).toBeGreaterThan(0);
    for (const a of answers) expect(a.tokens).toEqual(expected[a.prompt].tokens);
  });

  it('fails clearly, naming the experts, when no replica comes back within the bound', async () => {
    await slow.supervisor!.stop();
    await steady.supervisor!.stop();
    await fast.supervisor!.retire(fast.supervisor!.status().children[0].instance);
    await expect(generate(PROMPTS[0])).rejects.toThrow(new RegExp(`no live replica of experts? \\d+:\\d+(, \\d+:\\d+)*.*within ${NO_REPLICA_WAIT_MS} ms`));
  });
});
