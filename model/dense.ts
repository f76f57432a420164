// The dense part of a Mixtral model as ONNX Runtime sessions: embeddings, attention, router, LM head.
import type { Checkpoint } from './checkpoint.js';
import type { MixtralConfig } from './config.js';
import { attentionGraph, headGraph, postAttentionGraph, preAttentionGraph } from './graphs.js';
import { createSession, floatTensor, runFloat, type Session } from './ort.js';

interface LayerSessions {
  pre: Session;
  post: Session;
}

export class DenseModel {
  private constructor(
    readonly config: MixtralConfig,
    private readonly embeddings: Float32Array,
    private readonly layers: LayerSessions[],
    private readonly attention: Session,
    private readonly head: Session,
    private readonly invFreq: Float32Array,
  ) {}

  static async load(ckpt: Checkpoint, threads?: number): Promise<DenseModel> {
    const c = ckpt.config;
    const layers: LayerSessions[] = [];
    for (let i = 0; i < c.numHiddenLayers; i++) {
      const w = ckpt.layer(i);
      layers.push({
        pre: await createSession(preAttentionGraph(c, w), threads),
        post: await createSession(postAttentionGraph(c, w), threads),
      });
    }
    const attention = await createSession(attentionGraph(c), threads);
    const head = await createSession(headGraph(c, ckpt.finalNorm(), ckpt.lmHead()), threads);
    const half = c.headDim / 2;
    const invFreq = new Float32Array(half);
    for (let i = 0; i < half; i++) invFreq[i] = 1 / Math.pow(c.ropeTheta, (2 * i) / c.headDim);
    return new DenseModel(c, ckpt.embeddings(), layers, attention, head, invFreq);
  }

  /** Embedding rows of the token ids: [T, H]. */
  embed(ids: ArrayLike<number>): Float32Array {
    const H = this.config.hiddenSize;
    const out = new Float32Array(ids.length * H);
    for (let t = 0; t < ids.length; t++) out.set(this.embeddings.subarray(ids[t] * H, (ids[t] + 1) * H), t * H);
    return out;
  }

  /** RoPE tables for the positions: cos, sin [T, D] in HF's cat(freqs, freqs) layout. */
  rope(positions: ArrayLike<number>): { cos: Float32Array; sin: Float32Array } {
    const D = this.config.headDim;
    const half = D / 2;
    const cos = new Float32Array(positions.length * D);
    const sin = new Float32Array(positions.length * D);
    for (let t = 0; t < positions.length; t++) {
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(positions[t] * this.invFreq[i]);
        cos[t * D + i] = cos[t * D + half + i] = Math.cos(angle);
        sin[t * D + i] = sin[t * D + half + i] = Math.sin(angle);
      }
    }
    return { cos, sin };
  }

  async preAttention(layer: number, x: Float32Array, cos: Float32Array, sin: Float32Array): Promise<Record<string, Float32Array>> {
    const { hiddenSize: H, headDim: D } = this.config;
    const T = x.length / H;
    return runFloat(this.layers[layer].pre, {
      x: floatTensor(x, [T, H]),
      cos: floatTensor(cos, [T, D]),
      sin: floatTensor(sin, [T, D]),
    });
  }

  /** Attention of one sequence's new rows q [t, heads, D] over its cache k, v [s, kvHeads, D]. */
  async attend(q: Float32Array, k: Float32Array, v: Float32Array): Promise<Float32Array> {
    const { numAttentionHeads: nH, numKeyValueHeads: nKV, headDim: D } = this.config;
    const t = q.length / (nH * D);
    const s = k.length / (nKV * D);
    const past = s - t;
    const mask = new Float32Array(t * s);
    for (let i = 0; i < t; i++) mask.fill(-Infinity, i * s + past + i + 1, (i + 1) * s);
    const out = await runFloat(this.attention, {
      q: floatTensor(q, [t, nH, D]),
      k: floatTensor(k, [s, nKV, D]),
      v: floatTensor(v, [s, nKV, D]),
      mask: floatTensor(mask, [t, s]),
    });
    return out.out;
  }

  async postAttention(layer: number, x: Float32Array, attn: Float32Array): Promise<Record<string, Float32Array>> {
    const { hiddenSize: H, numAttentionHeads: nH, headDim: D } = this.config;
    const T = x.length / H;
    return runFloat(this.layers[layer].post, { x: floatTensor(x, [T, H]), attn: floatTensor(attn, [T, nH * D]) });
  }

  /** Final norm and LM head: x [n, H] -> logits [n, V]. */
  async logits(x: Float32Array): Promise<Float32Array> {
    const H = this.config.hiddenSize;
    return (await runFloat(this.head, { x: floatTensor(x, [x.length / H, H]) })).logits;
  }

  async release(): Promise<void> {
    for (const l of this.layers) await Promise.all([l.pre.release(), l.post.release()]);
    await Promise.all([this.attention.release(), this.head.release()]);
  }
}
