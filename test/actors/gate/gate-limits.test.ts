// What a request may cost is bounded before the gate works on it, the cluster's liveness does not depend on
// the gate's load, and errors answered show in `eaas status`.
import { describe, expect, it } from 'vitest';
import { requestGenerate } from '../../../actors/gate/client.js';
import { GenerateError } from '../../../actors/protocol/errors.js';
import { clusterStatus } from '../../../actors/protocol/status.js';
import { DEFAULT_MAX_REQUEST_BYTES } from '../../../actors/gate/limits.js';
import { monolithicReference } from '../../helpers/reference.js';
import { useTinyNode } from '../../helpers/tiny-node.js';

const HUGE_TEXT = 'a'.repeat(7 * 1024 * 1024);

describe('gate limits', () => {
  const setup = useTinyNode({ roles: ['supervisor', 'gate'], node: 'n', replicas: 1, expertsPerActor: 16 });
  const { nats } = setup;

  it('refuses ten concurrent 7 MB text requests before any work, keeps every actor, and counts the errors', async () => {
    const client = await nats.connect();
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => requestGenerate(client, setup.node.model, { text: HUGE_TEXT, max_tokens: 4 }, 30_000)));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as GenerateError;
      expect(err).toBeInstanceOf(GenerateError);
      expect(err.code).toBe(413);
      expect(err.message).toMatch(new RegExp(`over the gate's limit of ${DEFAULT_MAX_REQUEST_BYTES} \\(EAAS_MAX_REQUEST_BYTES\\)`));
    }
    // still serving, exactly, with the same actors: none was taken for hung and restarted
    const [expected] = await monolithicReference(setup.dir, [[1, 2, 3]], { maxTokens: 4, stopAtEos: false });
    expect((await requestGenerate(client, setup.node.model, { prompt: [1, 2, 3], max_tokens: 4, stop_at_eos: false })).tokens).toEqual(expected.tokens);
    expect(setup.node.supervisor!.status().children.map((c) => c.restarts)).toEqual([0]);
    const gate = (await clusterStatus(client)).actors.find((a) => a.service === 'eaas-gate')!;
    expect(gate.errors).toBe(10);
    expect(gate.requests).toBe(11);
  });
});
