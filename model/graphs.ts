// The ONNX graphs of a model: one routed expert, and the dense parts the gate runs (grouped-query attention here,
// DeepSeek's latent attention in graphs-mla.ts). Mixtral's graphs are the plain path; family features add nodes.
import type { ExpertWeights, FamilyLayerWeights } from './checkpoint.js';
import type { ModelConfig } from './config.js';
import { attentionRows } from './families/shape.js';
import { GraphBuilder } from './onnx-graph.js';
import type { QuantBits } from './quantize.js';

/**
 * w_down(silu(w_gate·x) ⊙ w_up·x), the SwiGLU MLP of every family's experts, shared experts and dense layers;
 * with `bits`, its three projections are quantized (MatMulNBits).
 */
export function swiglu(g: GraphBuilder, x: string, names: [string, string, string], F: number, H: number, gate: Float32Array, up: Float32Array, down: Float32Array, bits?: QuantBits): string {
  const a = g.linear(x, names[0], F, H, gate, bits);
  const b = g.linear(x, names[1], F, H, up, bits);
  const silu = g.op('Mul', [a, g.op('Sigmoid', [a])]);
  return g.linear(g.op('Mul', [silu, b]), names[2], H, F, down, bits);
}

/** SwiGLU expert: x [n, H] -> w2(silu(w1·x) ⊙ w3·x) [n, H]; with `bits`, w1, w3, w2 quantized. */
export function expertGraph(c: ModelConfig, w: ExpertWeights, bits?: QuantBits): Uint8Array {
  const H = c.hiddenSize;
  const g = new GraphBuilder('expert');
  const x = g.input('x', 'float', ['n', H]);
  const y = swiglu(g, x, ['w1', 'w3', 'w2'], c.intermediateSize, H, w.w1, w.w3, w.w2, bits);
  g.output(y, 'y', 'float', ['n', H]);
  return g.toBytes();
}

/** HF rotate-half RoPE on x [T, heads, D] with cos, sin [T, 1, D]. */
export function rope(g: GraphBuilder, x: string, cos: string, sin: string, half: number): string {
  const lo = g.op('Slice', [x, g.ints(`${x}.lo.s`, [0]), g.ints(`${x}.lo.e`, [half]), g.ints(`${x}.ax`, [2])]);
  const hi = g.op('Slice', [x, g.ints(`${x}.hi.s`, [half]), g.ints(`${x}.hi.e`, [2 * half]), `${x}.ax`]);
  const rotated = g.op('Concat', [g.op('Neg', [hi]), lo], { axis: 2 });
  return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])]);
}

/** x·Wᵀ (+ b when the layer has that bias); with `bits`, W quantized. */
function projection(g: GraphBuilder, x: string, name: string, out: number, inp: number, weight: Float32Array, bias: Float32Array | undefined, bits: QuantBits | undefined): string {
  const y = g.linear(x, name, out, inp, weight, bits);
  return bias ? g.op('Add', [y, g.floats(`${name}.bias`, [out], bias)]) : y;
}

export function need(w: FamilyLayerWeights, role: keyof FamilyLayerWeights): Float32Array {
  const t = w[role];
  if (!t) throw new Error(`layer weights lack ${role}`);
  return t;
}

/**
 * Before attention: x [T, H], cos/sin [T, D] ->
 * q [T, heads, D], k [T, kvHeads, D] (both rotated), v [T, kvHeads, D].
 * Qwen2-MoE adds the q/k/v biases; Qwen3-MoE normalises each head of q and k, OLMoE the whole q and k
 * projections (then clamps q, k, v to ±clip_qkv), all before RoPE. With `bits`, the q/k/v projections are quantized.
 */
export function preAttentionGraph(c: ModelConfig, w: FamilyLayerWeights, bits?: QuantBits): Uint8Array {
  const { hiddenSize: H, numAttentionHeads: nH, numKeyValueHeads: nKV, headDim: D } = c;
  const f = c.family;
  const g = new GraphBuilder('pre_attention');
  const x = g.input('x', 'float', ['T', H]);
  const cos2 = g.input('cos', 'float', ['T', D]);
  const sin2 = g.input('sin', 'float', ['T', D]);
  const cos = g.op('Unsqueeze', [cos2, g.ints('ax1', [1])]);
  const sin = g.op('Unsqueeze', [sin2, 'ax1']);
  const normed = g.rmsNorm(x, 'input_norm', need(w, 'inputNorm'), c.rmsNormEps);
  const limit = f?.clipQkv ?? null;
  const clip = (t: string): string => (limit !== null ? g.op('Clip', [t, g.scalar(`${t}.min`, -limit), g.scalar(`${t}.max`, limit)]) : t);
  const heads = (t: string, n: number, name: string, norm?: Float32Array) => {
    const whole = f?.qkNorm === 'whole' && norm ? g.rmsNorm(t, `${name}_norm`, norm, c.rmsNormEps) : t;
    const split = g.op('Reshape', [clip(whole), g.ints(`${name}.shape`, [-1, n, D])]);
    return f?.qkNorm === 'per_head' && norm ? g.rmsNorm(split, `${name}_norm`, norm, c.rmsNormEps) : split;
  };
  const q = heads(projection(g, normed, 'q_proj', nH * D, H, need(w, 'q'), w.qBias, bits), nH, 'q', w.qNorm);
  const k = heads(projection(g, normed, 'k_proj', nKV * D, H, need(w, 'k'), w.kBias, bits), nKV, 'k', w.kNorm);
  const v = heads(projection(g, normed, 'v_proj', nKV * D, H, need(w, 'v'), w.vBias, bits), nKV, 'v');
  g.output(rope(g, q, cos, sin, D / 2), 'q', 'float', ['T', nH, D]);
  g.output(rope(g, k, cos, sin, D / 2), 'k', 'float', ['T', nKV, D]);
  g.output(v, 'v', 'float', ['T', nKV, D]);
  return g.toBytes();
}

/**
 * Grouped-query attention of one sequence: q [t, heads, D] against its whole
 * cache k, v [s, kvHeads, D] with an additive mask [t, s] -> out [t, heads·D].
 */
export function attentionGraph(c: ModelConfig): Uint8Array {
  const { numAttentionHeads: nH, numKeyValueHeads: nKV, headDim: D } = c;
  const group = nH / nKV;
  const g = new GraphBuilder('attention');
  const q = g.input('q', 'float', ['t', nH, D]);
  const k = g.input('k', 'float', ['s', nKV, D]);
  const v = g.input('v', 'float', ['s', nKV, D]);
  const mask = g.input('mask', 'float', ['t', 's']);
  // heads are kv-major: head h uses kv head floor(h / group), as HF repeat_kv
  const qg = g.op('Transpose', [g.op('Reshape', [q, g.ints('qg.shape', [0, nKV, group, D])])], { perm: [1, 2, 0, 3] });
  const kt = g.op('Unsqueeze', [g.op('Transpose', [k], { perm: [1, 2, 0] }), g.ints('ax1', [1])]);
  const vg = g.op('Unsqueeze', [g.op('Transpose', [v], { perm: [1, 0, 2] }), 'ax1']);
  const scores = g.op('Mul', [g.op('MatMul', [qg, kt]), g.scalar('scale', 1 / Math.sqrt(D))]);
  const probs = g.op('Softmax', [g.op('Add', [scores, mask])], { axis: -1 });
  const ctx = g.op('Transpose', [g.op('MatMul', [probs, vg])], { perm: [2, 0, 1, 3] });
  g.output(g.op('Reshape', [ctx, g.ints('out.shape', [-1, nH * D])]), 'out', 'float', ['t', nH * D]);
  return g.toBytes();
}

/**
 * After attention: residual x [T, H], attention out [T, A] (A: heads·D, or heads·v_head_dim for MLA) ->
 * MoE layer: h = x + o_proj(attn) [T, H], normed = rmsnorm(h) [T, H], router logits [T, E], and with a shared
 * expert `shared` [T, H] (Qwen2-MoE: scaled by sigmoid(shared_expert_gate(normed))).
 * Dense layer (isMoe false): out = h + mlp(normed) [T, H].
 * With `bits`, o_proj, the dense MLP and the shared expert are quantized; the router and the shared expert's
 * gate stay float32 (tiny, and they choose experts).
 */
export function postAttentionGraph(c: ModelConfig, w: FamilyLayerWeights, isMoe = true, bits?: QuantBits): Uint8Array {
  const { hiddenSize: H, numLocalExperts: E } = c;
  const A = attentionRows(c).out;
  const g = new GraphBuilder('post_attention');
  const x = g.input('x', 'float', ['T', H]);
  const attn = g.input('attn', 'float', ['T', A]);
  const h = g.op('Add', [x, g.linear(attn, 'o_proj', H, A, need(w, 'o'), bits)]);
  const normed = g.rmsNorm(h, 'post_norm', need(w, 'postNorm'), c.rmsNormEps);
  if (!isMoe) {
    const F = c.family!.denseIntermediateSize;
    const mlp = swiglu(g, normed, ['mlp_gate', 'mlp_up', 'mlp_down'], F, H, need(w, 'mlpGate'), need(w, 'mlpUp'), need(w, 'mlpDown'), bits);
    g.output(g.op('Add', [h, mlp]), 'out', 'float', ['T', H]);
    return g.toBytes();
  }
  g.output(h, 'h', 'float', ['T', H]);
  g.output(normed, 'normed', 'float', ['T', H]);
  g.output(g.linear(normed, 'router', E, H, need(w, 'router')), 'router_logits', 'float', ['T', E]);
  const shared = c.family?.sharedExpert;
  if (shared) {
    let s = swiglu(g, normed, ['shared_gate', 'shared_up', 'shared_down'], shared.intermediateSize, H, need(w, 'sharedGate'), need(w, 'sharedUp'), need(w, 'sharedDown'), bits);
    if (shared.gated) s = g.op('Mul', [g.op('Sigmoid', [g.linear(normed, 'shared_expert_gate', 1, H, need(w, 'sharedExpertGate'))]), s]);
    g.output(s, 'shared', 'float', ['T', H]);
  }
  return g.toBytes();
}

/** Final norm and LM head: x [n, H] -> logits [n, V]; with `bits`, the LM head quantized. */
export function headGraph(c: ModelConfig, finalNorm: Float32Array, lmHead: Float32Array, bits?: QuantBits): Uint8Array {
  const g = new GraphBuilder('lm_head');
  const x = g.input('x', 'float', ['n', c.hiddenSize]);
  const normed = g.rmsNorm(x, 'norm', finalNorm, c.rmsNormEps);
  g.output(g.linear(normed, 'lm_head', c.vocabSize, c.hiddenSize, lmHead, bits), 'logits', 'float', ['n', c.vocabSize]);
  return g.toBytes();
}
