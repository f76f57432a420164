// Qwen3-MoE (Qwen3MoeForCausalLM): RMSNorm per head on q and k before RoPE, head_dim from the config, no shared expert.
import type { ModelConfig } from '../model-config.js';
import { baseJson, benchPreset, parseBase, tinyPreset } from './base.js';
import type { Family } from './family.js';
import { qwenDenseLayers } from './qwen-layers.js';
import type { FamilySpec } from './spec.js';

const spec = (s: Pick<FamilySpec, 'normTopkProb' | 'denseLayers' | 'denseIntermediateSize'>): FamilySpec => ({
  name: 'qwen3_moe',
  qkvBias: false,
  qkNorm: 'per_head',
  clipQkv: null,
  sharedExpert: null,
  groupRouting: null,
  mla: null,
  ...s,
});

export const qwen3Moe: Family = {
  architecture: 'Qwen3MoeForCausalLM',
  modelType: 'qwen3_moe',
  parse(r) {
    r.noAttentionBias();
    const c = parseBase(r, { ropeTheta: 10_000, rmsNormEps: 1e-6, maxPositions: 32768 }, { experts: 'num_experts', expertSize: 'moe_intermediate_size' });
    return {
      ...c,
      family: spec({
        normTopkProb: r.bool('norm_topk_prob', false),
        denseLayers: qwenDenseLayers(r, c.numHiddenLayers),
        denseIntermediateSize: r.int('intermediate_size'),
      }),
    };
  },
  toJson: (c: ModelConfig) => ({
    ...baseJson(c, 'Qwen3MoeForCausalLM', 'qwen3_moe'),
    intermediate_size: c.family!.denseIntermediateSize,
    moe_intermediate_size: c.intermediateSize,
    num_experts: c.numLocalExperts,
    norm_topk_prob: c.family!.normTopkProb,
    decoder_sparse_step: 1,
    mlp_only_layers: c.family!.denseLayers,
    attention_bias: false,
    use_sliding_window: false,
  }),
  presets: {
    tiny: tinyPreset({
      intermediateSize: 64,
      numHiddenLayers: 2,
      numKeyValueHeads: 2,
      // not hidden / heads: head_dim comes from the config
      headDim: 32,
      rmsNormEps: 1e-6,
      tieWordEmbeddings: true,
      family: spec({ normTopkProb: true, denseLayers: [], denseIntermediateSize: 128 }),
    }),
    bench: benchPreset({
      numKeyValueHeads: 4,
      headDim: 128,
      rmsNormEps: 1e-6,
      ropeTheta: 1e6,
      family: spec({ normTopkProb: true, denseLayers: [], denseIntermediateSize: 2816 }),
    }),
  },
};
