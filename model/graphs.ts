// The ONNX graphs of a Mixtral model: one expert, and the dense parts the gate runs.
import type { ExpertWeights, LayerWeights } from './checkpoint.js';
import type { MixtralConfig } from './config.js';
import { GraphBuilder } from './onnx-graph.js';

/** SwiGLU expert: x [n, H] -> w2(silu(w1·x) ⊙ w3·x) [n, H]. */
export function expertGraph(c: MixtralConfig, w: ExpertWeights): Uint8Array {
  const H = c.hiddenSize;
  const F = c.intermediateSize;
  const g = new GraphBuilder('expert');
  const x = g.input('x', 'float', ['n', H]);
  const a = g.linear(x, 'w1', F, H, w.w1);
  const b = g.linear(x, 'w3', F, H, w.w3);
  const silu = g.op('Mul', [a, g.op('Sigmoid', [a])]);
  const y = g.linear(g.op('Mul', [silu, b]), 'w2', H, F, w.w2);
  g.output(y, 'y', 'float', ['n', H]);
  return g.toBytes();
}

/** HF rotate-half RoPE on x [T, heads, D] with cos, sin [T, 1, D]. */
function rope(g: GraphBuilder, x: string, cos: string, sin: string, half: number): string {
  const lo = g.op('Slice', [x, g.ints(`${x}.lo.s`, [0]), g.ints(`${x}.lo.e`, [half]), g.ints(`${x}.ax`, [2])]);
  const hi = g.op('Slice', [x, g.ints(`${x}.hi.s`, [half]), g.ints(`${x}.hi.e`, [2 * half]), `${x}.ax`]);
  const rotated = g.op('Concat', [g.op('Neg', [hi]), lo], { axis: 2 });
  return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])]);
}

/**
 * Before attention: x [T, H], cos/sin [T, D] ->
 * q [T, heads, D], k [T, kvHeads, D] (both rotated), v [T, kvHeads, D].
 */
export function preAttentionGraph(c: MixtralConfig, w: LayerWeights): Uint8Array {
  const { hiddenSize: H, numAttentionHeads: nH, numKeyValueHeads: nKV, headDim: D } = c;
  const g = new GraphBuilder('pre_attention');
  const x = g.input('x', 'float', ['T', H]);
  const cos2 = g.input('cos', 'float', ['T', D]);
  const sin2 = g.input('sin', 'float', ['T', D]);
  const cos = g.op('Unsqueeze', [cos2, g.ints('ax1', [1])]);
  const sin = g.op('Unsqueeze', [sin2, 'ax1']);
  const normed = g.rmsNorm(x, 'input_norm', w.inputNorm, c.rmsNormEps);
  const heads = (t: string, n: number, name: string) => g.op('Reshape', [t, g.ints(`${name}.shape`, [-1, n, D])]);
  const q = heads(g.linear(normed, 'q_proj', nH * D, H, w.q), nH, 'q');
  const k = heads(g.linear(normed, 'k_proj', nKV * D, H, w.k), nKV, 'k');
  const v = heads(g.linear(normed, 'v_proj', nKV * D, H, w.v), nKV, 'v');
  g.output(rope(g, q, cos, sin, D / 2), 'q', 'float', ['T', nH, D]);
  g.output(rope(g, k, cos, sin, D / 2), 'k', 'float', ['T', nKV, D]);
  g.output(v, 'v', 'float', ['T', nKV, D]);
  return g.toBytes();
}

/**
 * Grouped-query attention of one sequence: q [t, heads, D] against its whole
 * cache k, v [s, kvHeads, D] with an additive mask [t, s] -> out [t, heads·D].
 */
export function attentionGraph(c: MixtralConfig): Uint8Array {
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
 * After attention: residual x [T, H], attention out [T, heads·D] ->
 * h = x + o_proj(attn) [T, H], normed = rmsnorm(h) [T, H], router logits [T, E].
 */
export function postAttentionGraph(c: MixtralConfig, w: LayerWeights): Uint8Array {
  const { hiddenSize: H, numAttentionHeads: nH, headDim: D, numLocalExperts: E } = c;
  const g = new GraphBuilder('post_attention');
  const x = g.input('x', 'float', ['T', H]);
  const attn = g.input('attn', 'float', ['T', nH * D]);
  const h = g.op('Add', [x, g.linear(attn, 'o_proj', H, nH * D, w.o)]);
  const normed = g.rmsNorm(h, 'post_norm', w.postNorm, c.rmsNormEps);
  g.output(h, 'h', 'float', ['T', H]);
  g.output(normed, 'normed', 'float', ['T', H]);
  g.output(g.linear(normed, 'router', E, H, w.router), 'router_logits', 'float', ['T', E]);
  return g.toBytes();
}

/** Final norm and LM head: x [n, H] -> logits [n, V]. */
export function headGraph(c: MixtralConfig, finalNorm: Float32Array, lmHead: Float32Array): Uint8Array {
  const g = new GraphBuilder('lm_head');
  const x = g.input('x', 'float', ['n', c.hiddenSize]);
  const normed = g.rmsNorm(x, 'norm', finalNorm, c.rmsNormEps);
  g.output(g.linear(normed, 'lm_head', c.vocabSize, c.hiddenSize, lmHead), 'logits', 'float', ['n', c.vocabSize]);
  return g.toBytes();
}
