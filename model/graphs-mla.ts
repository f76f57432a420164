// DeepSeek's multi-head latent attention (MLA) as ONNX graphs: the cache holds the normed latent and the rotated
// shared rope key of each position; attention expands the latent through kv_b_proj per sequence.
import type { FamilyLayerWeights } from './checkpoint.js';
import type { ModelConfig } from './config.js';
import { attentionRows } from './families/shape.js';
import { need, rope } from './graphs.js';
import { GraphBuilder } from './onnx-graph.js';
import type { QuantBits } from './quantize.js';

function mlaOf(c: ModelConfig) {
  const m = c.family?.mla;
  if (!m) throw new Error('not a latent-attention (MLA) config');
  return m;
}

/** HF's apply_rotary_pos_emb_interleave reorders each rope vector to (even dims, odd dims) before rotate-half. */
function deinterleave(g: GraphBuilder, x: string, d: number): string {
  const order = [...Array.from({ length: d / 2 }, (_, i) => 2 * i), ...Array.from({ length: d / 2 }, (_, i) => 2 * i + 1)];
  return g.op('Gather', [x, g.ints(`${x}.perm`, order)], { axis: 2 });
}

/**
 * Before attention: x [T, H], cos/sin [T, r] (r = qk_rope_head_dim) ->
 * q [T, heads, nope + r] (rope part rotated), k = the normed latent [T, kv_lora_rank], v = the rotated rope key [T, r].
 * `k` and `v` are the two rows the KV cache keeps. With `bits`, the q and kv_a projections are quantized.
 */
export function mlaPreAttentionGraph(c: ModelConfig, w: FamilyLayerWeights, bits?: QuantBits): Uint8Array {
  const m = mlaOf(c);
  const { hiddenSize: H, numAttentionHeads: nH } = c;
  const rows = attentionRows(c);
  const r = m.qkRopeHeadDim;
  const g = new GraphBuilder('mla_pre_attention');
  const x = g.input('x', 'float', ['T', H]);
  const cos = g.op('Unsqueeze', [g.input('cos', 'float', ['T', r]), g.ints('ax1', [1])]);
  const sin = g.op('Unsqueeze', [g.input('sin', 'float', ['T', r]), 'ax1']);
  const normed = g.rmsNorm(x, 'input_norm', need(w, 'inputNorm'), c.rmsNormEps);
  const qFlat =
    m.qLoraRank === null
      ? g.linear(normed, 'q_proj', rows.q, H, need(w, 'q'), bits)
      : g.linear(g.rmsNorm(g.linear(normed, 'q_a_proj', m.qLoraRank, H, need(w, 'qA'), bits), 'q_a_norm', need(w, 'qANorm'), c.rmsNormEps), 'q_b_proj', rows.q, m.qLoraRank, need(w, 'qB'), bits);
  const q = g.op('Reshape', [qFlat, g.ints('q.shape', [-1, nH, rows.qHead])]);
  const qPass = g.op('Slice', [q, g.ints('qp.s', [0]), g.ints('qp.e', [m.qkNopeHeadDim]), g.ints('ax2', [2])]);
  let qRot = g.op('Slice', [q, g.ints('qr.s', [m.qkNopeHeadDim]), g.ints('qr.e', [rows.qHead]), 'ax2']);
  const ckv = g.linear(normed, 'kv_a_proj_with_mqa', m.kvLoraRank + r, H, need(w, 'kvA'), bits);
  const latent = g.op('Slice', [ckv, g.ints('lat.s', [0]), g.ints('lat.e', [m.kvLoraRank]), g.ints('ax_1', [1])]);
  let kRot = g.op('Reshape', [g.op('Slice', [ckv, g.ints('kr.s', [m.kvLoraRank]), g.ints('kr.e', [m.kvLoraRank + r]), 'ax_1']), g.ints('kr.shape', [-1, 1, r])]);
  if (m.ropeInterleave) {
    qRot = deinterleave(g, qRot, r);
    kRot = deinterleave(g, kRot, r);
  }
  g.output(g.op('Concat', [qPass, rope(g, qRot, cos, sin, r / 2)], { axis: 2 }), 'q', 'float', ['T', nH, rows.qHead]);
  g.output(g.rmsNorm(latent, 'kv_a_norm', need(w, 'kvANorm'), c.rmsNormEps), 'k', 'float', ['T', m.kvLoraRank]);
  g.output(g.op('Reshape', [rope(g, kRot, cos, sin, r / 2), g.ints('kr.out', [-1, r])]), 'v', 'float', ['T', r]);
  return g.toBytes();
}

/**
 * Latent attention of one sequence: q [t, heads, nope + r] against its whole cache, latent k [s, kv_lora_rank]
 * and rope key v [s, r], with an additive mask [t, s] -> out [t, heads·v_head_dim]. Keys are
 * (kv_b_proj(latent) nope part, the shared rope key), values kv_b_proj(latent)'s value part; scale (nope + r)^-½.
 * With `bits`, kv_b_proj is quantized.
 */
export function mlaAttentionGraph(c: ModelConfig, w: FamilyLayerWeights, bits?: QuantBits): Uint8Array {
  const m = mlaOf(c);
  const nH = c.numAttentionHeads;
  const rows = attentionRows(c);
  const r = m.qkRopeHeadDim;
  const per = m.qkNopeHeadDim + m.vHeadDim;
  const g = new GraphBuilder('mla_attention');
  const q = g.input('q', 'float', ['t', nH, rows.qHead]);
  const latent = g.input('k', 'float', ['s', m.kvLoraRank]);
  const kRot = g.input('v', 'float', ['s', r]);
  const mask = g.input('mask', 'float', ['t', 's']);
  const kv = g.op('Reshape', [g.linear(latent, 'kv_b_proj', nH * per, m.kvLoraRank, need(w, 'kvB'), bits), g.ints('kv.shape', [-1, nH, per])]);
  const kNope = g.op('Slice', [kv, g.ints('kn.s', [0]), g.ints('kn.e', [m.qkNopeHeadDim]), g.ints('ax2', [2])]);
  const v = g.op('Slice', [kv, g.ints('v.s', [m.qkNopeHeadDim]), g.ints('v.e', [per]), 'ax2']);
  const kRotHeads = g.op('Expand', [g.op('Unsqueeze', [kRot, g.ints('ax1', [1])]), g.ints('kr.expand', [1, nH, 1])]);
  const k = g.op('Concat', [kNope, kRotHeads], { axis: 2 });
  const qh = g.op('Transpose', [q], { perm: [1, 0, 2] }); // [heads, t, D]
  const kt = g.op('Transpose', [k], { perm: [1, 2, 0] }); // [heads, D, s]
  const vh = g.op('Transpose', [v], { perm: [1, 0, 2] }); // [heads, s, vD]
  const scores = g.op('Mul', [g.op('MatMul', [qh, kt]), g.scalar('scale', 1 / Math.sqrt(rows.qHead))]);
  const probs = g.op('Softmax', [g.op('Add', [scores, mask])], { axis: -1 });
  const ctx = g.op('Transpose', [g.op('MatMul', [probs, vh])], { perm: [1, 0, 2] }); // [t, heads, vD]
  g.output(g.op('Reshape', [ctx, g.ints('out.shape', [-1, rows.out])]), 'out', 'float', ['t', rows.out]);
  return g.toBytes();
}
