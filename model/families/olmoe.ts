// OLMoE (OlmoeForCausalLM): RMSNorm over the whole q and k projections, clip_qkv, intermediate_size is the expert size.
import type { ModelConfig } from '../model-config.js';
import { baseJson, benchPreset, parseBase, tinyPreset } from './base.js';
import type { Family } from './family.js';
import type { FamilySpec } from './spec.js';

const spec = (s: Pick<FamilySpec, 'normTopkProb' | 'clipQkv' | 'denseIntermediateSize'>): FamilySpec => ({
  name: 'olmoe',
  qkvBias: false,
  qkNorm: 'whole',
  denseLayers: [],
  sharedExpert: null,
  groupRouting: null,
  mla: null,
  ...s,
});

export const olmoe: Family = {
  architecture: 'OlmoeForCausalLM',
  modelType: 'olmoe',
  parse(r) {
    r.noAttentionBias();
    const hidden = r.int('hidden_size');
    const heads = r.int('num_attention_heads');
    // OlmoeAttention: head_dim = hidden_size // num_attention_heads, whatever the config says
    if (hidden % heads !== 0) r.fail(`hidden_size ${hidden} must be a multiple of num_attention_heads ${heads}`);
    const c = parseBase(r, { ropeTheta: 10_000, rmsNormEps: 1e-5, maxPositions: 4096 }, { experts: 'num_experts', expertSize: 'intermediate_size', headDim: hidden / heads });
    const clip = r.raw.clip_qkv == null ? null : r.num('clip_qkv', 0);
    return { ...c, family: spec({ normTopkProb: r.bool('norm_topk_prob', false), clipQkv: clip, denseIntermediateSize: c.intermediateSize }) };
  },
  toJson: (c: ModelConfig) => ({
    ...baseJson(c, 'OlmoeForCausalLM', 'olmoe'),
    intermediate_size: c.intermediateSize,
    num_experts: c.numLocalExperts,
    norm_topk_prob: c.family!.normTopkProb,
    clip_qkv: c.family!.clipQkv,
    attention_bias: false,
  }),
  presets: {
    tiny: tinyPreset({
      intermediateSize: 64,
      numHiddenLayers: 2,
      numKeyValueHeads: 2,
      headDim: 16,
      rmsNormEps: 1e-5,
      tieWordEmbeddings: false,
      // clipping on, so that the tiny model exercises it
      family: spec({ normTopkProb: false, clipQkv: 2, denseIntermediateSize: 64 }),
    }),
    bench: benchPreset({
      numKeyValueHeads: 16,
      headDim: 64,
      rmsNormEps: 1e-5,
      ropeTheta: 10_000,
      family: spec({ normTopkProb: false, clipQkv: null, denseIntermediateSize: 704 }),
    }),
  },
};
