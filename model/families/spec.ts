// What sets a model family apart from Mixtral: a plain description the graphs, the router and the cache read.

export const FAMILY_NAMES = ['mixtral', 'qwen2_moe', 'qwen3_moe', 'olmoe', 'deepseek_v3'] as const;
export type FamilyName = (typeof FAMILY_NAMES)[number];

/** DeepSeek's multi-head latent attention (MLA) sizes. */
export interface MlaSpec {
  /** null: one q_proj; else q_a_proj -> q_a_layernorm -> q_b_proj through this rank. */
  qLoraRank: number | null;
  kvLoraRank: number;
  qkNopeHeadDim: number;
  qkRopeHeadDim: number;
  vHeadDim: number;
  /** RoPE on interleaved pairs (de-interleaved first, as HF's apply_rotary_pos_emb_interleave). */
  ropeInterleave: boolean;
}

/** DeepSeek-V3's router: sigmoid scores, a bias for choosing only, group-limited top-k, a scale. */
export interface GroupRoutingSpec {
  nGroup: number;
  topkGroup: number;
  routedScalingFactor: number;
}

/** A family other than Mixtral; a config without one is Mixtral. */
export interface FamilySpec {
  name: Exclude<FamilyName, 'mixtral'>;
  /** q/k/v projections with a bias (Qwen2-MoE's qkv_bias). */
  qkvBias: boolean;
  /** RMSNorm of q and k before RoPE: per head of head_dim (Qwen3-MoE), over the whole projection (OLMoE), none. */
  qkNorm: 'none' | 'per_head' | 'whole';
  /** q, k, v clamped to ±clipQkv after the norms (OLMoE's clip_qkv); null: not clamped. */
  clipQkv: number | null;
  /** The top-k weights renormalised to sum to 1. */
  normTopkProb: boolean;
  /** Layers with a dense MLP (SwiGLU of denseIntermediateSize) instead of experts, ascending. */
  denseLayers: number[];
  denseIntermediateSize: number;
  /** An MLP on every token of a MoE layer, added to the routed sum; gated: scaled by sigmoid(shared_expert_gate(x)). */
  sharedExpert: { intermediateSize: number; gated: boolean } | null;
  /** null: softmax routing. */
  groupRouting: GroupRoutingSpec | null;
  /** null: grouped-query attention with per-head keys and values. */
  mla: MlaSpec | null;
}
