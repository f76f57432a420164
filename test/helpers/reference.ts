// Reference answers for tests. monolithicReference: what the whole model in one process generates, the
// answer every distributed run must match bit for bit. The rest: a second, naive Mixtral forward pass in
// plain loops (float64), written from the HF modeling code, to check the ONNX graphs independently. Slow;
// for tiny models only.
import type { ExpertWeights, LayerWeights } from '../../model/checkpoint.js';
import type { ModelConfig } from '../../model/config.js';
import type { GenerateOptions, GenerateResult } from '../../model/engine.js';
import { openMonolithic } from '../../model/monolithic.js';

/**
 * The monolithic reference of `prompts`: the whole model of checkpoint `dir` in this process, each prompt
 * generated on its own (so the answers do not depend on how prompts were batched), in the order given.
 */
export async function monolithicReference(dir: string, prompts: number[][], opts: Omit<GenerateOptions, 'tag'>): Promise<GenerateResult[]> {
  const mono = await openMonolithic(dir);
  try {
    const out: GenerateResult[] = [];
    for (const p of prompts) out.push(await mono.engine.generate(p, opts));
    return out;
  } finally {
    await mono.close();
  }
}

export interface ReferenceWeights {
  embed: Float32Array;
  finalNorm: Float32Array;
  lmHead: Float32Array;
  layers: (LayerWeights & { experts: ExpertWeights[] })[];
}

/** y = W x for a HF Linear weight W [out, in]. */
export function linear(w: ArrayLike<number>, x: ArrayLike<number>, out: number, inp: number): Float64Array {
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = 0;
    for (let i = 0; i < inp; i++) s += w[o * inp + i] * x[i];
    y[o] = s;
  }
  return y;
}

export function rmsNorm(x: ArrayLike<number>, w: ArrayLike<number>, eps: number): Float64Array {
  let ms = 0;
  for (let i = 0; i < x.length; i++) ms += x[i] * x[i];
  const scale = 1 / Math.sqrt(ms / x.length + eps);
  return Float64Array.from(x, (v, i) => v * scale * w[i]);
}

export const silu = (a: number) => a / (1 + Math.exp(-a));

export function expertRef(c: ModelConfig, e: ExpertWeights, x: ArrayLike<number>): Float64Array {
  const a = linear(e.w1, x, c.intermediateSize, c.hiddenSize);
  const b = linear(e.w3, x, c.intermediateSize, c.hiddenSize);
  return linear(e.w2, a.map((v, i) => silu(v) * b[i]), c.hiddenSize, c.intermediateSize);
}

/** HF rotate-half RoPE of one head vector at a position. */
export function ropeRef(c: ModelConfig, x: Float64Array, pos: number): Float64Array {
  const D = c.headDim;
  const half = D / 2;
  const out = new Float64Array(D);
  for (let i = 0; i < half; i++) {
    const angle = pos / Math.pow(c.ropeTheta, (2 * i) / D);
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    out[i] = x[i] * cos - x[i + half] * sin;
    out[i + half] = x[i + half] * cos + x[i] * sin;
  }
  return out;
}

/** Causal grouped-query attention over a whole sequence; hidden [T][H] -> out [T][heads*D]. */
export function attentionRef(c: ModelConfig, l: ReferenceWeights['layers'][number], normed: Float64Array[]): Float64Array[] {
  const { hiddenSize: H, numAttentionHeads: nH, numKeyValueHeads: nKV, headDim: D } = c;
  const group = nH / nKV;
  const qs = normed.map((x, p) => {
    const q = linear(l.q, x, nH * D, H);
    return Array.from({ length: nH }, (_, h) => ropeRef(c, q.subarray(h * D, (h + 1) * D), p));
  });
  const ks = normed.map((x, p) => {
    const k = linear(l.k, x, nKV * D, H);
    return Array.from({ length: nKV }, (_, h) => ropeRef(c, k.subarray(h * D, (h + 1) * D), p));
  });
  const vs = normed.map((x) => linear(l.v, x, nKV * D, H));
  return qs.map((qh, t) => {
    const out = new Float64Array(nH * D);
    for (let h = 0; h < nH; h++) {
      const kv = Math.floor(h / group);
      const scores = Array.from({ length: t + 1 }, (_, s) => {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += qh[h][d] * ks[s][kv][d];
        return dot / Math.sqrt(D);
      });
      const max = Math.max(...scores);
      const exps = scores.map((s) => Math.exp(s - max));
      const sum = exps.reduce((a, b) => a + b, 0);
      for (let s = 0; s <= t; s++) for (let d = 0; d < D; d++) out[h * D + d] += (exps[s] / sum) * vs[s][kv * D + d];
    }
    return out;
  });
}

/** Softmax, top-k (ties to the lower index), renormalised. */
export function routeRef(logits: ArrayLike<number>, k: number): { experts: number[]; weights: number[] } {
  const max = Math.max(...Array.from(logits));
  const exps = Array.from(logits, (l) => Math.exp(l - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  const probs = exps.map((e) => e / sum);
  const order = probs.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k);
  const top = order.reduce((a, [p]) => a + p, 0);
  return { experts: order.map(([, i]) => i), weights: order.map(([p]) => p / top) };
}

/** Logits [V] of every position of a sequence, recomputed from scratch. */
export function forwardRef(c: ModelConfig, w: ReferenceWeights, ids: number[]): Float64Array[] {
  const H = c.hiddenSize;
  let hidden = ids.map((id) => Float64Array.from(w.embed.subarray(id * H, (id + 1) * H)));
  for (const l of w.layers) {
    const attn = attentionRef(c, l, hidden.map((x) => rmsNorm(x, l.inputNorm, c.rmsNormEps)));
    hidden = hidden.map((x, t) => {
      const o = linear(l.o, attn[t], H, c.numAttentionHeads * c.headDim);
      const h = x.map((v, i) => v + o[i]);
      const normed = rmsNorm(h, l.postNorm, c.rmsNormEps);
      const { experts, weights } = routeRef(linear(l.router, normed, c.numLocalExperts, H), c.numExpertsPerTok);
      experts.forEach((e, j) => {
        const y = expertRef(c, l.experts[e], normed);
        for (let i = 0; i < H; i++) h[i] += weights[j] * y[i];
      });
      return h;
    });
  }
  return hidden.map((x) => linear(w.lmHead, rmsNorm(x, w.finalNorm, c.rmsNormEps), c.vocabSize, H));
}

/** Greedy decoding by full recomputation; returns the tokens and the logits of the last step. */
export function generateRef(c: ModelConfig, w: ReferenceWeights, prompt: number[], maxTokens: number): { tokens: number[]; logits: Float64Array } {
  const seq = [...prompt];
  const tokens: number[] = [];
  let logits: Float64Array = new Float64Array(0);
  for (let i = 0; i < maxTokens; i++) {
    const all = forwardRef(c, w, seq);
    logits = all[all.length - 1];
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
    tokens.push(best);
    seq.push(best);
  }
  return { tokens, logits };
}
