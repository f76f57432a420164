// The lean wire: a token routed to several experts of one instance travels once (the dispatch's `index`), and the
// expert still computes every row as before (bit-identical answers: the other suites check those end to end).
import { describe, expect, it } from 'vitest';
import { MalformedMessageError } from '../../../actors/protocol/errors.js';
import { decodeDispatch, encodeDispatch } from '../../../actors/protocol/messages.js';
import { remoteExperts } from '../../helpers/gate-dispatch.js';
import { requestGenerate } from '../../../actors/gate/client.js';
import { monolithicReference } from '../../helpers/reference.js';
import { useTinyNode } from '../../helpers/tiny-node.js';

const H = 4;
const row = (v: number) => [v, v + 0.5, v + 0.25, v + 0.125];

describe('a dispatch with each row once', () => {
  it('decodes to every row of every expert, as the plain layout carries them', () => {
    // two experts; token rows A, B to expert 3 and A, C to expert 5: A travels once
    const plain = { layer: 1, experts: [3, 5], rows: [2, 2], x: Float32Array.from([...row(1), ...row(2), ...row(1), ...row(3)]) };
    const lean = { ...plain, x: Float32Array.from([...row(1), ...row(2), ...row(3)]), index: [0, 1, 0, 2] };
    const bytes = encodeDispatch(lean, H, 'f32');
    expect(decodeDispatch(bytes, H)).toEqual({ layer: 1, experts: [3, 5], rows: [2, 2], x: plain.x, wire: 'f32' });
    expect(bytes.byteLength).toBeLessThan(encodeDispatch(plain, H, 'f32').byteLength);
  });

  it('refuses an index that does not cover every row or points past x', () => {
    const x = Float32Array.from([...row(1), ...row(2)]);
    for (const index of [[0, 1, 0], [0, 1, 2, 0], [0, -1, 0, 1]]) {
      expect(() => decodeDispatch(encodeDispatch({ layer: 0, experts: [1, 2], rows: [2, 2], x, index }, H, 'f32'), H)).toThrow(MalformedMessageError);
    }
  });
});

describe('the gate’s dispatches (tiny model, one actor hosting every expert, top-2)', () => {
  const setup = useTinyNode({ roles: ['supervisor', 'gate'], node: 'wire', replicas: 1, expertsPerActor: 16 });

  it('send each token once per layer to the actor that hosts both its experts: the floor of hidden x 4 bytes', async () => {
    const client = await setup.nats.connect();
    const counters = remoteExperts(setup.node.gate).counters;
    const before = { rows: counters.wireRows, bytes: counters.wireBytes };
    await requestGenerate(client, setup.node.model, { prompt: [1, 2, 3], max_tokens: 5, stop_at_eos: false });
    // 3 prompt tokens and 4 generated ones go through each of the 2 MoE layers (the last token is not fed back)
    const tokenLayers = (3 + 4) * 2;
    expect(counters.wireRows - before.rows).toBe(tokenLayers);
    const hidden = 64;
    const perTokenLayer = (counters.wireBytes - before.bytes) / tokenLayers;
    // the rows, and a small envelope per message
    expect(perTokenLayer).toBeGreaterThan(hidden * 4);
    expect(perTokenLayer).toBeLessThan(hidden * 4 * 1.5);
  });
});

describe('--wire-dtype bf16 (tiny model, one actor)', () => {
  const setup = useTinyNode({ roles: ['supervisor', 'gate'], node: 'bf16', replicas: 1, expertsPerActor: 16, wire: 'bf16' });

  it('halves the bytes of the rows, and moves the logits a little from the monolith’s (f32 does not: the other suites)', async () => {
    const client = await setup.nats.connect();
    const prompts = [[1, 72, 101, 108, 108, 111], [1, 300, 17], [5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8, 9]];
    const maxTokens = 8;
    const reference = await monolithicReference(setup.dir, prompts, { maxTokens, stopAtEos: false, logits: true });
    const counters = remoteExperts(setup.node.gate).counters;
    const before = { rows: counters.wireRows, bytes: counters.wireBytes };
    let agreeing = 0;
    let maxError = 0;
    for (const [i, prompt] of prompts.entries()) {
      const r = await requestGenerate(client, setup.node.model, { prompt, max_tokens: maxTokens, stop_at_eos: false, logits: true });
      agreeing += r.tokens.filter((t, j) => t === reference[i].tokens[j]).length;
      // the last step's logits, compared where both runs fed the same tokens
      if (r.tokens.slice(0, -1).join() === reference[i].tokens.slice(0, -1).join()) {
        for (let v = 0; v < r.logits!.length; v++) maxError = Math.max(maxError, Math.abs(r.logits![v] - reference[i].logits![v]));
      }
    }
    const perRow = (counters.wireBytes - before.bytes) / (counters.wireRows - before.rows);
    console.log(`bf16 wire: ${perRow.toFixed(0)} bytes a row (hidden 64), greedy tokens agreeing ${agreeing}/${prompts.length * maxTokens}, max |logit error| ${maxError.toExponential(2)}`);
    // 64 values x 2 bytes, and the envelope
    expect(perRow).toBeGreaterThan(128);
    expect(perRow).toBeLessThan(64 * 4);
    expect(maxError).toBeGreaterThan(0);
    expect(maxError).toBeLessThan(0.05);
  });
});
