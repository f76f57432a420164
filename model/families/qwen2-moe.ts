// Qwen2-MoE (Qwen2MoeForCausalLM): qkv bias, a gated shared expert, softmax routing without renormalisation by default,
// dense MLP layers per mlp_only_layers / decoder_sparse_step.
import type { ModelConfig } from '../model-config.js';
import { baseJson, benchPreset, parseBase, tinyPreset } from './base.js';
import type { Family } from './family.js';
import { qwenDenseLayers } from './qwen-layers.js';
import type { FamilySpec } from './spec.js';

const spec = (s: Pick<FamilySpec, 'qkvBias' | 'normTopkProb' | 'denseLayers' | 'denseIntermediateSize' | 'sharedExpert'>): FamilySpec => ({
  name: 'qwen2_moe',
  qkNorm: 'none',
  clipQkv: null,
  groupRouting: null,
  mla: null,
  ...s,
});

export const qwen2Moe: Family = {
  architecture: 'Qwen2MoeForCausalLM',
  modelType: 'qwen2_moe',
  parse(r) {
    const c = parseBase(r, { ropeTheta: 10_000, rmsNormEps: 1e-6, maxPositions: 32768 }, { experts: 'num_experts', expertSize: 'moe_intermediate_size' });
    return {
      ...c,
      family: spec({
        qkvBias: r.bool('qkv_bias', true),
        normTopkProb: r.bool('norm_topk_prob', false),
        denseLayers: qwenDenseLayers(r, c.numHiddenLayers),
        denseIntermediateSize: r.int('intermediate_size'),
        sharedExpert: { intermediateSize: r.int('shared_expert_intermediate_size'), gated: true },
      }),
    };
  },
  toJson: (c: ModelConfig) => ({
    ...baseJson(c, 'Qwen2MoeForCausalLM', 'qwen2_moe'),
    intermediate_size: c.family!.denseIntermediateSize,
    moe_intermediate_size: c.intermediateSize,
    shared_expert_intermediate_size: c.family!.sharedExpert!.intermediateSize,
    num_experts: c.numLocalExperts,
    norm_topk_prob: c.family!.normTopkProb,
    qkv_bias: c.family!.qkvBias,
    decoder_sparse_step: 1,
    mlp_only_layers: c.family!.denseLayers,
    use_sliding_window: false,
  }),
  presets: {
    tiny: tinyPreset({
      intermediateSize: 32,
      numHiddenLayers: 3,
      numKeyValueHeads: 2,
      headDim: 16,
      rmsNormEps: 1e-6,
      tieWordEmbeddings: false,
      // layer 1 is a dense MLP, so that the tiny model exercises mlp_only_layers
      family: spec({ qkvBias: true, normTopkProb: false, denseLayers: [1], denseIntermediateSize: 128, sharedExpert: { intermediateSize: 96, gated: true } }),
    }),
    bench: benchPreset({
      numKeyValueHeads: 16,
      headDim: 64,
      rmsNormEps: 1e-6,
      ropeTheta: 1e6,
      family: spec({ qkvBias: true, normTopkProb: false, denseLayers: [], denseIntermediateSize: 2816, sharedExpert: { intermediateSize: 2816, gated: true } }),
    }),
  },
};
