// The dense part of a model as ONNX Runtime sessions: embeddings, attention, router logits, shared experts,
// dense MLP layers, LM head. Everything but the routed experts.
import type { Checkpoint } from './checkpoint.js';
import type { ModelConfig } from './config.js';
import { attentionRows, isMoeLayer, type AttentionRows } from './families/shape.js';
import { mlaAttentionGraph, mlaPreAttentionGraph } from './graphs-mla.js';
import { attentionGraph, headGraph, postAttentionGraph, preAttentionGraph } from './graphs.js';
import { createSession, floatTensor, runFloat, type Session } from './ort.js';
import type { QuantBits } from './quantize.js';

interface LayerSessions {
  pre: Session;
  post: Session;
  /** Latent attention carries kv_b_proj: a session per layer; grouped-query attention shares one. */
  attention: Session;
  moe: boolean;
  /** DeepSeek's e_score_correction_bias. */
  routerBias?: Float32Array;
}

export class DenseModel {
  private readonly rows: AttentionRows;

  private constructor(
    readonly config: ModelConfig,
    private readonly embeddings: Float32Array,
    private readonly layers: LayerSessions[],
    private readonly head: Session,
    private readonly invFreq: Float32Array,
  ) {
    this.rows = attentionRows(config);
  }

  /** With `bits`, the projections (q/k/v/o, MLA's, shared experts, dense MLPs) and the LM head are quantized; routers stay float32. */
  static async load(ckpt: Checkpoint, threads?: number, bits?: QuantBits): Promise<DenseModel> {
    const c = ckpt.config;
    const mla = c.family?.mla != null;
    const shared = mla ? undefined : await createSession(attentionGraph(c), threads);
    const layers: LayerSessions[] = [];
    for (let i = 0; i < c.numHiddenLayers; i++) {
      const w = ckpt.layerWeights(i);
      const moe = isMoeLayer(c, i);
      layers.push({
        pre: await createSession(mla ? mlaPreAttentionGraph(c, w, bits) : preAttentionGraph(c, w, bits), threads),
        post: await createSession(postAttentionGraph(c, w, moe, bits), threads),
        attention: shared ?? (await createSession(mlaAttentionGraph(c, w, bits), threads)),
        moe,
        routerBias: w.routerBias,
      });
    }
    const head = await createSession(headGraph(c, ckpt.finalNorm(), ckpt.lmHead(), bits), threads);
    const D = attentionRows(c).rope;
    const half = D / 2;
    const invFreq = new Float32Array(half);
    for (let i = 0; i < half; i++) invFreq[i] = 1 / Math.pow(c.ropeTheta, (2 * i) / D);
    return new DenseModel(c, ckpt.embeddings(), layers, head, invFreq);
  }

  /** Whether the layer routes to experts (else its MLP is dense and runs in postAttention). */
  isMoe(layer: number): boolean {
    return this.layers[layer].moe;
  }

  routerBias(layer: number): Float32Array | undefined {
    return this.layers[layer].routerBias;
  }

  /** Embedding rows of the token ids: [T, H]. */
  embed(ids: ArrayLike<number>): Float32Array {
    const H = this.config.hiddenSize;
    const out = new Float32Array(ids.length * H);
    for (let t = 0; t < ids.length; t++) out.set(this.embeddings.subarray(ids[t] * H, (ids[t] + 1) * H), t * H);
    return out;
  }

  /** RoPE tables for the positions: cos, sin [T, D] in HF's cat(freqs, freqs) layout (D: the rotated dims). */
  rope(positions: ArrayLike<number>): { cos: Float32Array; sin: Float32Array } {
    const D = this.rows.rope;
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

  /** q [T, heads, qHead] and the two rows the cache keeps, k [T, cacheA] and v [T, cacheB]. */
  async preAttention(layer: number, x: Float32Array, cos: Float32Array, sin: Float32Array): Promise<Record<string, Float32Array>> {
    const H = this.config.hiddenSize;
    const D = this.rows.rope;
    const T = x.length / H;
    return runFloat(this.layers[layer].pre, {
      x: floatTensor(x, [T, H]),
      cos: floatTensor(cos, [T, D]),
      sin: floatTensor(sin, [T, D]),
    });
  }

  /** Attention of one sequence's new rows q [t, heads, qHead] over its whole cache k [s, cacheA], v [s, cacheB]. */
  async attend(layer: number, q: Float32Array, k: Float32Array, v: Float32Array): Promise<Float32Array> {
    const c = this.config;
    const r = this.rows;
    const t = q.length / r.q;
    const s = k.length / r.cacheA;
    const past = s - t;
    const mask = new Float32Array(t * s);
    for (let i = 0; i < t; i++) mask.fill(-Infinity, i * s + past + i + 1, (i + 1) * s);
    const mla = c.family?.mla != null;
    const kvHeads = c.numKeyValueHeads;
    const out = await runFloat(this.layers[layer].attention, {
      q: floatTensor(q, [t, c.numAttentionHeads, r.qHead]),
      k: floatTensor(k, mla ? [s, r.cacheA] : [s, kvHeads, c.headDim]),
      v: floatTensor(v, mla ? [s, r.cacheB] : [s, kvHeads, c.headDim]),
      mask: floatTensor(mask, [t, s]),
    });
    return out.out;
  }

  /** MoE layer: h, normed, router_logits (and shared); dense layer: out (the layer's output). */
  async postAttention(layer: number, x: Float32Array, attn: Float32Array): Promise<Record<string, Float32Array>> {
    const H = this.config.hiddenSize;
    const T = x.length / H;
    return runFloat(this.layers[layer].post, { x: floatTensor(x, [T, H]), attn: floatTensor(attn, [T, this.rows.out]) });
  }

  /** Final norm and LM head: x [n, H] -> logits [n, V]. */
  async logits(x: Float32Array): Promise<Float32Array> {
    const H = this.config.hiddenSize;
    return (await runFloat(this.head, { x: floatTensor(x, [x.length / H, H]) })).logits;
  }

  async release(): Promise<void> {
    const sessions = new Set<Session>([this.head]);
    for (const l of this.layers) [l.pre, l.post, l.attention].forEach((s) => sessions.add(s));
    await Promise.all([...sessions].map((s) => s.release()));
  }
}
