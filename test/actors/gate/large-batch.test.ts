import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestGenerate } from '../../../actors/gate/client.js';
import type { GenerateResult } from '../../../model/engine.js';
import { startNode, type RunningNode } from '../../../runtime/node/cluster.js';
import * as subjects from '../../../runtime/transport/subjects.js';
import { ensureBuilt } from '../../helpers/build.js';
import { useNatsServer } from '../../helpers/nats.js';
import { monolithicReference } from '../../helpers/reference.js';
import { tinyCheckpointDir } from '../../helpers/tiny-model.js';

const ONE_MB = 1024 * 1024;
// 4 prompts of 1200 tokens, top-2: 9600 rows x 64 floats = 2.4 MB per layer for one instance
const PROMPTS = Array.from({ length: 4 }, (_, p) => [1, ...Array.from({ length: 1199 }, (_, i) => 3 + ((i * 7 + p * 13) % 256))]);

describe('batches larger than max_payload', () => {
  const nats = useNatsServer({ maxPayload: ONE_MB });
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let node: RunningNode;
  let expected: GenerateResult[];

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    expected = await monolithicReference(tiny.dir, PROMPTS, { maxTokens: 2, logits: true, stopAtEos: false });
    // one actor hosts every expert, so a whole layer's rows go to one instance
    node = await startNode({ nats: nats.url, modelDir: tiny.dir, roles: ['supervisor', 'gate'], replicas: 1, expertsPerActor: 16 });
  });
  afterAll(async () => {
    await node?.stop();
    tiny?.remove();
  });

  it('splits a layer step into messages under the server limit and still matches the monolithic run exactly', async () => {
    const client = await nats.connect();
    expect(client.info!.max_payload).toBe(ONE_MB);
    const sizes: number[] = [];
    const instance = node.supervisor!.status().children[0].instance;
    client.subscribe(subjects.expertDispatch(node.model, instance), { callback: (_, msg) => sizes.push(msg.data.length) });
    await client.flush();
    const results = await Promise.all(PROMPTS.map((prompt) => requestGenerate(client, node.model, { prompt, max_tokens: 2, logits: true, stop_at_eos: false })));
    results.forEach((r, i) => {
      expect(r.tokens).toEqual(expected[i].tokens);
      expect(Array.from(r.logits!)).toEqual(Array.from(expected[i].logits!));
    });
    // our copies of the dispatches were queued for us before the answers: after a round trip we hold them all
    await client.flush();
    expect(Math.max(...sizes)).toBeLessThanOrEqual(ONE_MB);
    // prefill moved ~3.5 MB per step (2 layers; a token routed to two experts of this actor goes once): more than one message per layer
    expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThan(3 * ONE_MB);
    expect(sizes.length).toBeGreaterThan(2 * 2);
  });
});
