import { describe, expect, it } from 'vitest';
import type { ModelConfig } from '../../model/config.js';
import type { LayerWeights } from '../../model/checkpoint.js';
import { attentionGraph, expertGraph, headGraph, postAttentionGraph, preAttentionGraph } from '../../model/graphs.js';
import { createSession, floatTensor, runFloat } from '../../model/ort.js';
import { attentionRef, expertRef, linear, rmsNorm, type ReferenceWeights } from '../helpers/reference.js';

const config: ModelConfig = {
  vocabSize: 50,
  hiddenSize: 32,
  intermediateSize: 48,
  numHiddenLayers: 1,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  headDim: 8,
  numLocalExperts: 4,
  numExpertsPerTok: 2,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  tieWordEmbeddings: false,
  maxPositionEmbeddings: 128,
};

function random(n: number, seed: number, scale = 0.3): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2 * scale;
  });
}

const { hiddenSize: H, intermediateSize: F, numAttentionHeads: nH, numKeyValueHeads: nKV, headDim: D } = config;
const layer: LayerWeights = {
  inputNorm: random(H, 1, 0.2).map((v) => 1 + v),
  postNorm: random(H, 2, 0.2).map((v) => 1 + v),
  q: random(nH * D * H, 3),
  k: random(nKV * D * H, 4),
  v: random(nKV * D * H, 5),
  o: random(H * nH * D, 6),
  router: random(config.numLocalExperts * H, 7),
};
const refLayer: ReferenceWeights['layers'][number] = { ...layer, experts: [] };

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThan(tol);
}

function ropeTables(positions: number[]): { cos: Float32Array; sin: Float32Array } {
  const cos = new Float32Array(positions.length * D);
  const sin = new Float32Array(positions.length * D);
  positions.forEach((p, t) => {
    for (let i = 0; i < D / 2; i++) {
      const a = p / Math.pow(config.ropeTheta, (2 * i) / D);
      cos[t * D + i] = cos[t * D + i + D / 2] = Math.cos(a);
      sin[t * D + i] = sin[t * D + i + D / 2] = Math.sin(a);
    }
  });
  return { cos, sin };
}

function causalMask(t: number, s: number): Float32Array {
  const mask = new Float32Array(t * s);
  for (let i = 0; i < t; i++) mask.fill(-Infinity, i * s + (s - t) + i + 1, (i + 1) * s);
  return mask;
}

describe('expert graph', () => {
  it('computes w2(silu(w1 x) * w3 x) for any number of rows', async () => {
    const w = { w1: random(F * H, 11), w2: random(H * F, 12), w3: random(F * H, 13) };
    const session = await createSession(expertGraph(config, w), 1);
    for (const n of [1, 5]) {
      const x = random(n * H, 20 + n, 1);
      const { y } = await runFloat(session, { x: floatTensor(x, [n, H]) });
      const expected = Array.from({ length: n }, (_, r) => Array.from(expertRef(config, w, x.subarray(r * H, (r + 1) * H)))).flat();
      expectClose(y, expected);
    }
  });
});

describe('dense graphs', () => {
  const T = 6;
  const x = random(T * H, 30, 1);
  const positions = Array.from({ length: T }, (_, i) => i);

  async function attentionOutput(chunks: number[]): Promise<Float32Array> {
    const pre = await createSession(preAttentionGraph(config, layer), 1);
    const attention = await createSession(attentionGraph(config), 1);
    const { cos, sin } = ropeTables(positions);
    const { q, k, v } = await runFloat(pre, { x: floatTensor(x, [T, H]), cos: floatTensor(cos, [T, D]), sin: floatTensor(sin, [T, D]) });
    // feed the sequence in chunks, each attending over the cache so far
    const out = new Float32Array(T * nH * D);
    let start = 0;
    for (const len of chunks) {
      const end = start + len;
      const s = end;
      const r = await runFloat(attention, {
        q: floatTensor(q.slice(start * nH * D, end * nH * D), [len, nH, D]),
        k: floatTensor(k.slice(0, s * nKV * D), [s, nKV, D]),
        v: floatTensor(v.slice(0, s * nKV * D), [s, nKV, D]),
        mask: floatTensor(causalMask(len, s), [len, s]),
      });
      out.set(r.out, start * nH * D);
      start = end;
    }
    return out;
  }

  it('attention with RoPE and GQA matches the reference', async () => {
    const out = await attentionOutput([T]);
    const normed = Array.from({ length: T }, (_, t) => rmsNorm(x.subarray(t * H, (t + 1) * H), layer.inputNorm, config.rmsNormEps));
    expectClose(out, attentionRef(config, refLayer, normed).flatMap((r) => Array.from(r)));
  });

  it('attention through the KV cache, one position at a time, equals recomputing the whole sequence', async () => {
    const whole = await attentionOutput([T]);
    const stepwise = await attentionOutput([2, 1, 1, 1, 1]);
    expectClose(stepwise, whole, 1e-6);
  });

  it('post-attention gives the residual, its norm and the router logits', async () => {
    const post = await createSession(postAttentionGraph(config, layer), 1);
    const attn = random(T * nH * D, 40, 1);
    const { h, normed, router_logits } = await runFloat(post, { x: floatTensor(x, [T, H]), attn: floatTensor(attn, [T, nH * D]) });
    for (let t = 0; t < T; t++) {
      const o = linear(layer.o, attn.subarray(t * nH * D, (t + 1) * nH * D), H, nH * D);
      const hRef = Float64Array.from(x.subarray(t * H, (t + 1) * H), (v, i) => v + o[i]);
      const nRef = rmsNorm(hRef, layer.postNorm, config.rmsNormEps);
      expectClose(h.subarray(t * H, (t + 1) * H), hRef);
      expectClose(normed.subarray(t * H, (t + 1) * H), nRef);
      expectClose(router_logits.subarray(t * 4, (t + 1) * 4), linear(layer.router, nRef, 4, H));
    }
  });

  it('the head applies the final norm and the LM head', async () => {
    const norm = random(H, 50, 0.2).map((v) => 1 + v);
    const lmHead = random(config.vocabSize * H, 51);
    const head = await createSession(headGraph(config, norm, lmHead), 1);
    const { logits } = await runFloat(head, { x: floatTensor(x.subarray(0, 2 * H), [2, H]) });
    for (let t = 0; t < 2; t++) {
      expectClose(logits.subarray(t * 50, (t + 1) * 50), linear(lmHead, rmsNorm(x.subarray(t * H, (t + 1) * H), norm, 1e-5), 50, H));
    }
  });
});
