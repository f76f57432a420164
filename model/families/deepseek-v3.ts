// DeepSeek-V3 (DeepseekV3ForCausalLM): multi-head latent attention, a sigmoid router with a choice-only bias and
// group-limited top-k, shared experts without a gate, the first `first_k_dense_replace` layers dense.
import type { ModelConfig } from '../model-config.js';
import { baseJson, benchPreset, parseBase, tinyPreset } from './base.js';
import type { Family } from './family.js';
import type { FamilySpec, GroupRoutingSpec, MlaSpec } from './spec.js';

const spec = (s: Pick<FamilySpec, 'normTopkProb' | 'denseLayers' | 'denseIntermediateSize' | 'sharedExpert' | 'groupRouting' | 'mla'>): FamilySpec => ({
  name: 'deepseek_v3',
  qkvBias: false,
  qkNorm: 'none',
  clipQkv: null,
  ...s,
});

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export const deepseekV3: Family = {
  architecture: 'DeepseekV3ForCausalLM',
  modelType: 'deepseek_v3',
  parse(r) {
    r.noAttentionBias();
    const scoring = r.raw.scoring_func;
    if (scoring !== undefined && scoring !== 'sigmoid') r.refuse(`scoring_func ${JSON.stringify(scoring)}`, 'only sigmoid scoring is');
    const mla: MlaSpec = {
      qLoraRank: r.intOrNull('q_lora_rank'),
      kvLoraRank: r.int('kv_lora_rank'),
      qkNopeHeadDim: r.int('qk_nope_head_dim'),
      qkRopeHeadDim: r.int('qk_rope_head_dim'),
      vHeadDim: r.int('v_head_dim'),
      ropeInterleave: r.bool('rope_interleave', true),
    };
    if (mla.qkRopeHeadDim % 2 !== 0) r.fail(`qk_rope_head_dim ${mla.qkRopeHeadDim} must be even`);
    const heads = r.int('num_attention_heads');
    const c = parseBase(
      r,
      { ropeTheta: 10_000, rmsNormEps: 1e-6, maxPositions: 4096 },
      { experts: 'n_routed_experts', expertSize: 'moe_intermediate_size', headDim: mla.qkNopeHeadDim + mla.qkRopeHeadDim },
    );
    const E = c.numLocalExperts;
    const groups: GroupRoutingSpec = {
      nGroup: r.int('n_group', 1),
      topkGroup: r.int('topk_group', 1),
      routedScalingFactor: r.num('routed_scaling_factor', 1),
    };
    if (E % groups.nGroup !== 0 || E / groups.nGroup < 2) r.fail(`n_routed_experts ${E} must split into n_group ${groups.nGroup} groups of at least 2 experts`);
    if (groups.topkGroup > groups.nGroup) r.fail(`topk_group ${groups.topkGroup} exceeds n_group ${groups.nGroup}`);
    if (c.numExpertsPerTok > groups.topkGroup * (E / groups.nGroup)) r.fail(`num_experts_per_tok ${c.numExpertsPerTok} exceeds the experts of topk_group ${groups.topkGroup} groups`);
    const firstDense = r.count('first_k_dense_replace', 0);
    if (firstDense > c.numHiddenLayers) r.fail(`first_k_dense_replace ${firstDense} exceeds num_hidden_layers ${c.numHiddenLayers}`);
    const shared = r.int('n_shared_experts', 1);
    return {
      ...c,
      // MLA has no key/value heads of its own; every head reads the shared latent
      numKeyValueHeads: heads,
      family: spec({
        normTopkProb: r.bool('norm_topk_prob', true),
        denseLayers: range(firstDense),
        denseIntermediateSize: r.int('intermediate_size'),
        sharedExpert: { intermediateSize: c.intermediateSize * shared, gated: false },
        groupRouting: groups,
        mla,
      }),
    };
  },
  toJson(c: ModelConfig) {
    const f = c.family!;
    const { mla, groupRouting: g } = f;
    const json: Record<string, unknown> = {
      ...baseJson(c, 'DeepseekV3ForCausalLM', 'deepseek_v3'),
      intermediate_size: f.denseIntermediateSize,
      moe_intermediate_size: c.intermediateSize,
      n_routed_experts: c.numLocalExperts,
      n_shared_experts: f.sharedExpert!.intermediateSize / c.intermediateSize,
      routed_scaling_factor: g!.routedScalingFactor,
      n_group: g!.nGroup,
      topk_group: g!.topkGroup,
      norm_topk_prob: f.normTopkProb,
      first_k_dense_replace: f.denseLayers.length,
      q_lora_rank: mla!.qLoraRank,
      kv_lora_rank: mla!.kvLoraRank,
      qk_nope_head_dim: mla!.qkNopeHeadDim,
      qk_rope_head_dim: mla!.qkRopeHeadDim,
      v_head_dim: mla!.vHeadDim,
      rope_interleave: mla!.ropeInterleave,
      attention_bias: false,
    };
    // HF's DeepseekV3Config sets head_dim to qk_rope_head_dim itself: a head_dim key would override it
    delete json.head_dim;
    return json;
  },
  presets: {
    tiny: tinyPreset({
      intermediateSize: 32,
      numHiddenLayers: 3,
      numKeyValueHeads: 4,
      headDim: 24,
      rmsNormEps: 1e-6,
      tieWordEmbeddings: false,
      family: spec({
        normTopkProb: true,
        denseLayers: [0],
        denseIntermediateSize: 128,
        sharedExpert: { intermediateSize: 32, gated: false },
        groupRouting: { nGroup: 4, topkGroup: 2, routedScalingFactor: 2.5 },
        mla: { qLoraRank: 32, kvLoraRank: 32, qkNopeHeadDim: 16, qkRopeHeadDim: 8, vHeadDim: 16, ropeInterleave: true },
      }),
    }),
    bench: benchPreset({
      numKeyValueHeads: 16,
      headDim: 96,
      rmsNormEps: 1e-6,
      ropeTheta: 10_000,
      family: spec({
        normTopkProb: true,
        denseLayers: [0],
        denseIntermediateSize: 2816,
        sharedExpert: { intermediateSize: 704, gated: false },
        groupRouting: { nGroup: 4, topkGroup: 2, routedScalingFactor: 2.5 },
        mla: { qLoraRank: 384, kvLoraRank: 256, qkNopeHeadDim: 64, qkRopeHeadDim: 32, vHeadDim: 64, ropeInterleave: true },
      }),
    }),
  },
};
