// Which tensors a checkpoint of each family holds, by Hugging Face name and shape, under the roles the graphs use.
import type { ModelConfig } from '../model-config.js';
import { attentionRows, isMoeLayer } from './shape.js';

/** How a tensor is used; random initialisation scales each kind differently. */
export type TensorKind = 'embedding' | 'norm' | 'linear' | 'bias';

export interface TensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly kind: TensorKind;
}

/** Mixtral's decoder layer: the weights of its attention and router; Linear weights are [out, in]. */
export interface LayerWeights {
  inputNorm: Float32Array;
  postNorm: Float32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  o: Float32Array;
  router: Float32Array;
}

/** Roles beyond Mixtral's; which a layer has depends on its family and on whether it is dense. */
export type ExtraRole =
  | 'qBias' | 'kBias' | 'vBias' // Qwen2-MoE qkv_bias
  | 'qNorm' | 'kNorm' // Qwen3-MoE per head, OLMoE over the whole projection
  | 'qA' | 'qANorm' | 'qB' | 'kvA' | 'kvANorm' | 'kvB' // DeepSeek MLA (q: q_proj when q_lora_rank is null)
  | 'routerBias' // DeepSeek e_score_correction_bias
  | 'sharedGate' | 'sharedUp' | 'sharedDown' | 'sharedExpertGate' // shared expert(s); the gate is Qwen2-MoE's
  | 'mlpGate' | 'mlpUp' | 'mlpDown'; // a dense layer's MLP
export type LayerRole = keyof LayerWeights | ExtraRole;

/** The weights of a decoder layer of any family, by role. */
export type FamilyLayerWeights = Partial<Record<LayerRole, Float32Array>>;

/** One SwiGLU expert: w1 (gate) and w3 (up) are [intermediate, hidden], w2 (down) [hidden, intermediate]. */
export interface ExpertWeights {
  w1: Float32Array;
  w2: Float32Array;
  w3: Float32Array;
}

const spec = (name: string, shape: number[], kind: TensorKind): TensorSpec => ({ name, shape, kind });

export const embeddingsTensor = (c: ModelConfig): TensorSpec => spec('model.embed_tokens.weight', [c.vocabSize, c.hiddenSize], 'embedding');
export const finalNormTensor = (c: ModelConfig): TensorSpec => spec('model.norm.weight', [c.hiddenSize], 'norm');
export const lmHeadTensor = (c: ModelConfig): TensorSpec => spec('lm_head.weight', [c.vocabSize, c.hiddenSize], 'linear');

/** A layer's tensors by role (not its routed experts), in Hugging Face's order. */
export function layerTensors(c: ModelConfig, i: number): Partial<Record<LayerRole, TensorSpec>> {
  const { hiddenSize: H, numAttentionHeads: nH, numKeyValueHeads: nKV, headDim: D } = c;
  const p = `model.layers.${i}`;
  const f = c.family;
  if (!f) {
    return {
      inputNorm: spec(`${p}.input_layernorm.weight`, [H], 'norm'),
      q: spec(`${p}.self_attn.q_proj.weight`, [nH * D, H], 'linear'),
      k: spec(`${p}.self_attn.k_proj.weight`, [nKV * D, H], 'linear'),
      v: spec(`${p}.self_attn.v_proj.weight`, [nKV * D, H], 'linear'),
      o: spec(`${p}.self_attn.o_proj.weight`, [H, nH * D], 'linear'),
      postNorm: spec(`${p}.post_attention_layernorm.weight`, [H], 'norm'),
      router: spec(`${p}.block_sparse_moe.gate.weight`, [c.numLocalExperts, H], 'linear'),
    };
  }
  const a = `${p}.self_attn`;
  const rows = attentionRows(c);
  const out: Partial<Record<LayerRole, TensorSpec>> = { inputNorm: spec(`${p}.input_layernorm.weight`, [H], 'norm') };
  if (f.mla) {
    const m = f.mla;
    if (m.qLoraRank === null) out.q = spec(`${a}.q_proj.weight`, [rows.q, H], 'linear');
    else {
      out.qA = spec(`${a}.q_a_proj.weight`, [m.qLoraRank, H], 'linear');
      out.qANorm = spec(`${a}.q_a_layernorm.weight`, [m.qLoraRank], 'norm');
      out.qB = spec(`${a}.q_b_proj.weight`, [rows.q, m.qLoraRank], 'linear');
    }
    out.kvA = spec(`${a}.kv_a_proj_with_mqa.weight`, [m.kvLoraRank + m.qkRopeHeadDim, H], 'linear');
    out.kvANorm = spec(`${a}.kv_a_layernorm.weight`, [m.kvLoraRank], 'norm');
    out.kvB = spec(`${a}.kv_b_proj.weight`, [nH * (m.qkNopeHeadDim + m.vHeadDim), m.kvLoraRank], 'linear');
  } else {
    out.q = spec(`${a}.q_proj.weight`, [nH * D, H], 'linear');
    if (f.qkvBias) out.qBias = spec(`${a}.q_proj.bias`, [nH * D], 'bias');
    out.k = spec(`${a}.k_proj.weight`, [nKV * D, H], 'linear');
    if (f.qkvBias) out.kBias = spec(`${a}.k_proj.bias`, [nKV * D], 'bias');
    out.v = spec(`${a}.v_proj.weight`, [nKV * D, H], 'linear');
    if (f.qkvBias) out.vBias = spec(`${a}.v_proj.bias`, [nKV * D], 'bias');
    if (f.qkNorm === 'per_head') {
      out.qNorm = spec(`${a}.q_norm.weight`, [D], 'norm');
      out.kNorm = spec(`${a}.k_norm.weight`, [D], 'norm');
    } else if (f.qkNorm === 'whole') {
      out.qNorm = spec(`${a}.q_norm.weight`, [nH * D], 'norm');
      out.kNorm = spec(`${a}.k_norm.weight`, [nKV * D], 'norm');
    }
  }
  out.o = spec(`${a}.o_proj.weight`, [H, rows.out], 'linear');
  out.postNorm = spec(`${p}.post_attention_layernorm.weight`, [H], 'norm');
  if (!isMoeLayer(c, i)) {
    const F = f.denseIntermediateSize;
    out.mlpGate = spec(`${p}.mlp.gate_proj.weight`, [F, H], 'linear');
    out.mlpUp = spec(`${p}.mlp.up_proj.weight`, [F, H], 'linear');
    out.mlpDown = spec(`${p}.mlp.down_proj.weight`, [H, F], 'linear');
    return out;
  }
  out.router = spec(`${p}.mlp.gate.weight`, [c.numLocalExperts, H], 'linear');
  if (f.groupRouting) out.routerBias = spec(`${p}.mlp.gate.e_score_correction_bias`, [c.numLocalExperts], 'bias');
  if (f.sharedExpert) {
    const S = f.sharedExpert.intermediateSize;
    const s = `${p}.mlp.${f.sharedExpert.gated ? 'shared_expert' : 'shared_experts'}`;
    out.sharedGate = spec(`${s}.gate_proj.weight`, [S, H], 'linear');
    out.sharedUp = spec(`${s}.up_proj.weight`, [S, H], 'linear');
    out.sharedDown = spec(`${s}.down_proj.weight`, [H, S], 'linear');
    if (f.sharedExpert.gated) out.sharedExpertGate = spec(`${p}.mlp.shared_expert_gate.weight`, [1, H], 'linear');
  }
  return out;
}

/** A routed expert's tensors (MoE layers only). */
export function expertTensors(c: ModelConfig, layer: number, j: number): Record<keyof ExpertWeights, TensorSpec> {
  const { hiddenSize: H, intermediateSize: I } = c;
  if (!c.family) {
    const p = `model.layers.${layer}.block_sparse_moe.experts.${j}`;
    return { w1: spec(`${p}.w1.weight`, [I, H], 'linear'), w2: spec(`${p}.w2.weight`, [H, I], 'linear'), w3: spec(`${p}.w3.weight`, [I, H], 'linear') };
  }
  const p = `model.layers.${layer}.mlp.experts.${j}`;
  return { w1: spec(`${p}.gate_proj.weight`, [I, H], 'linear'), w2: spec(`${p}.down_proj.weight`, [H, I], 'linear'), w3: spec(`${p}.up_proj.weight`, [I, H], 'linear') };
}

/** Every tensor the config requires, in Hugging Face's order. */
export function modelTensors(c: ModelConfig): TensorSpec[] {
  const out = [embeddingsTensor(c)];
  for (let i = 0; i < c.numHiddenLayers; i++) {
    out.push(...(Object.values(layerTensors(c, i)) as TensorSpec[]));
    if (isMoeLayer(c, i)) for (let j = 0; j < c.numLocalExperts; j++) out.push(...Object.values(expertTensors(c, i, j)));
  }
  out.push(finalNormTensor(c));
  if (!c.tieWordEmbeddings) out.push(lmHeadTensor(c));
  return out;
}
