import { headers, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requestGenerate } from '../../../actors/gate/client.js';
import { clusterStatus } from '../../../actors/protocol/status.js';
import { retireInstance } from '../../../actors/supervisor/client.js';
import { encodeDispatch, decodeDispatchReply } from '../../../actors/protocol/messages.js';
import type { GenerateResult } from '../../../model/engine.js';
import { parseExpertKey } from '../../../model/expert-key.js';
import { startNode, type RunningNode } from '../../../runtime/node/cluster.js';
import * as subjects from '../../../runtime/transport/subjects.js';
import { ensureBuilt } from '../../helpers/build.js';
import { useNatsServer } from '../../helpers/nats.js';
import { monolithicReference } from '../../helpers/reference.js';
import { remoteExperts } from '../../helpers/gate-dispatch.js';
import { tinyCheckpointDir } from '../../helpers/tiny-model.js';

const PROMPTS = [[1, 72, 101, 108, 108, 111], [1, 300, 17], [5], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], [1, 400, 401, 402]];
const MAX_TOKENS = 6;

describe('disaggregated serving over NATS', () => {
  const nats = useNatsServer();
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let node: RunningNode;
  let client: NatsConnection;
  let expected: GenerateResult[];

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    expected = await monolithicReference(tiny.dir, PROMPTS, { maxTokens: MAX_TOKENS, logits: true, stopAtEos: false });
    // 2 replicas of every expert, 8 experts per actor: 4 expert actor processes
    node = await startNode({ nats: nats.url, modelDir: tiny.dir, roles: ['supervisor', 'gate'], replicas: 2, expertsPerActor: 8 });
    client = await nats.connect('test-client');
  });
  afterAll(async () => {
    await node?.stop();
    tiny?.remove();
  });

  const generate = (prompt: number[]) => requestGenerate(client, node.model, { prompt, max_tokens: MAX_TOKENS, logits: true, stop_at_eos: false });

  function expectSame(prompt: number, r: { tokens: number[]; logits?: Float32Array }): void {
    expect(r.tokens).toEqual(expected[prompt].tokens);
    expect(Buffer.from(r.logits!.buffer, r.logits!.byteOffset, r.logits!.byteLength).equals(Buffer.from(expected[prompt].logits!.buffer, expected[prompt].logits!.byteOffset, expected[prompt].logits!.byteLength))).toBe(true);
  }

  it('gives exactly the tokens and logits of the monolithic executor, several prompts in one batch', async () => {
    const experts = async () => (await clusterStatus(client)).actors.filter((a) => a.service === 'eaas-expert');
    const before = new Map((await experts()).map((a) => [a.instance, a.requests]));
    const results = await Promise.all(PROMPTS.map(generate));
    results.forEach((r, i) => expectSame(i, r));
    // the work really went to the expert actors, over both replicas: every actor served dispatches of this
    // batch, so each expert's rows went to both of its replicas
    const after = await experts();
    expect(after).toHaveLength(4);
    const served = after.filter((a) => a.requests > (before.get(a.instance) ?? 0));
    expect(served.map((a) => a.instance).sort()).toEqual(after.map((a) => a.instance).sort());
    const replicasServing = new Map<string, number>();
    for (const a of served) for (const e of a.experts) replicasServing.set(e, (replicasServing.get(e) ?? 0) + 1);
    expect(replicasServing.size).toBe(2 * 8); // tiny: 2 layers x 8 experts
    expect([...replicasServing.values()].every((n) => n === 2)).toBe(true);
  });

  it('answers $SRV.PING and $SRV.INFO for every actor', async () => {
    const byName = async (verb: 'ping' | 'info', name: string) => {
      const it = await client.services.client().ping(name);
      if (verb === 'ping') return (await collect(it)).length;
      return (await collect(await client.services.client().info(name))).length;
    };
    for (const verb of ['ping', 'info'] as const) {
      expect(await byName(verb, 'eaas-expert')).toBe(4);
      expect(await byName(verb, 'eaas-gate')).toBe(1);
      expect(await byName(verb, 'eaas-supervisor')).toBe(1);
    }
    const infos = await collect(await client.services.client().info('eaas-expert'));
    for (const info of infos as { version: string; endpoints: { subject: string }[] }[]) {
      expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(info.endpoints[0].subject).toMatch(/^eaas\.v1\.tiny\.expert\.[^.]+\.dispatch$/);
    }
  });

  it('answers malformed dispatches with service error headers and keeps serving', async () => {
    const instance = node.supervisor!.status().children[0].instance;
    const subject = subjects.expertDispatch(node.model, instance);
    const bad: [Uint8Array, RegExp][] = [
      [new TextEncoder().encode('not msgpack at all'), /msgpack|dispatch/],
      [encodeDispatch({ layer: 0, experts: [0], rows: [2], x: new Float32Array(2 * 64) }, 64, 'f32').subarray(0, 40), /./],
      [encodeDispatch({ layer: 0, experts: [0], rows: [2], x: new Float32Array(2 * 32) }, 32, 'f32'), /shape/],
      [encodeDispatch({ layer: 9, experts: [0], rows: [1], x: new Float32Array(64) }, 64, 'f32'), /not hosted/],
      [encodeDispatch({ layer: 0, experts: [0, 1], rows: [1], x: new Float32Array(64) }, 64, 'f32'), /rows/],
    ];
    for (const [payload, message] of bad) {
      const reply = await client.request(subject, payload, { timeout: 5000 });
      expect(reply.headers?.get('Nats-Service-Error-Code')).toMatch(/^4\d\d$/);
      expect(reply.headers?.get('Nats-Service-Error')).toMatch(message);
    }
    const hosted = parseExpertKey(node.supervisor!.status().children[0].experts[0]);
    const good = await client.request(subject, encodeDispatch({ layer: hosted.layer, experts: [hosted.expert], rows: [3], x: new Float32Array(3 * 64).fill(0.5) }, 64, 'f32'), {
      timeout: 5000,
      headers: headers(),
    });
    expect(good.headers?.get('Nats-Service-Error-Code')).toBeFalsy();
    expect(decodeDispatchReply(good.data, 3, 64)).toHaveLength(3 * 64);
    expectSame(0, await generate(PROMPTS[0]));
  });

  it('survives kill -9 of an expert actor: the supervisor restarts it and no request fails', async () => {
    const victim = node.supervisor!.status().children[1];
    const before = await generate(PROMPTS[1]);
    expectSame(1, before);
    const during = Promise.all(PROMPTS.map(generate));
    process.kill(victim.pid!, 'SIGKILL');
    (await during).forEach((r, i) => expectSame(i, r));
    const child = () => node.supervisor!.status().children.find((c) => c.instance === victim.instance)!;
    await vi.waitFor(
      () => {
        expect(child().state).toBe('running');
        expect(child().pid).not.toBe(victim.pid);
      },
      { timeout: 20_000, interval: 50 },
    );
    expect(child().restarts).toBe(1);
    await vi.waitFor(() => expect(remoteExperts(node.gate).directory.get(victim.instance)?.up).toBe(true), { timeout: 10_000, interval: 50 });
    const after = await Promise.all(PROMPTS.map(generate));
    after.forEach((r, i) => expectSame(i, r));
  });

  it('retires an expert actor under load without losing a request (eaas retire path)', async () => {
    const victim = node.supervisor!.status().children[2];
    const load = Promise.all([...PROMPTS, ...PROMPTS].map(generate));
    await retireInstance(client, victim.instance);
    (await load).forEach((r, i) => expectSame(i % PROMPTS.length, r));
    expect(node.supervisor!.status().children[2].state).toBe('stopped');
    expect(() => process.kill(victim.pid!, 0)).toThrow();
    (await Promise.all(PROMPTS.map(generate))).forEach((r, i) => expectSame(i, r));
  });

  it('rejects a bad generate request with a clear error and keeps serving', async () => {
    await expect(requestGenerate(client, node.model, { prompt: [1, 99999], max_tokens: 2 })).rejects.toThrow(/400.*outside the vocabulary/);
    await expect(requestGenerate(client, node.model, { max_tokens: 2 })).rejects.toThrow(/400.*exactly one of prompt/);
    expectSame(2, await generate(PROMPTS[2]));
  });
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}
