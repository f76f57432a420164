// Sizes that follow from a config: which layers have experts, the rows attention moves, the KV cache per token.
import type { ExpertKey } from '../expert-key.js';
import type { ModelConfig } from '../model-config.js';

export const isMoeLayer = (c: ModelConfig, layer: number): boolean => !(c.family?.denseLayers.includes(layer) ?? false);

/** Layers with routed experts, ascending. */
export const moeLayers = (c: ModelConfig): number[] => Array.from({ length: c.numHiddenLayers }, (_, i) => i).filter((i) => isMoeLayer(c, i));

/** Every routed expert of the model, layer-major. */
export function allExpertKeys(c: ModelConfig): ExpertKey[] {
  return moeLayers(c).flatMap((layer) => Array.from({ length: c.numLocalExperts }, (_, expert) => ({ layer, expert })));
}

/**
 * Per token: q [heads·qHead] into attention, the two cached rows (GQA: k and v [kvHeads·D]; MLA: the normed
 * latent [kv_lora_rank] and the rotated shared rope key [qk_rope_head_dim]), and attention's output [heads·vHead].
 */
export interface AttentionRows {
  qHead: number;
  q: number;
  cacheA: number;
  cacheB: number;
  out: number;
  /** Dimensions RoPE rotates per head. */
  rope: number;
}

export function attentionRows(c: ModelConfig): AttentionRows {
  const nH = c.numAttentionHeads;
  const mla = c.family?.mla;
  if (mla) {
    const qHead = mla.qkNopeHeadDim + mla.qkRopeHeadDim;
    return { qHead, q: nH * qHead, cacheA: mla.kvLoraRank, cacheB: mla.qkRopeHeadDim, out: nH * mla.vHeadDim, rope: mla.qkRopeHeadDim };
  }
  const kv = c.numKeyValueHeads * c.headDim;
  return { qHead: c.headDim, q: nH * c.headDim, cacheA: kv, cacheB: kv, out: nH * c.headDim, rope: c.headDim };
}

/** Bytes of KV cache one token takes over all layers (float32, as the gate keeps it). */
export function kvBytesPerToken(c: ModelConfig): number {
  const r = attentionRows(c);
  return c.numHiddenLayers * (r.cacheA + r.cacheB) * Float32Array.BYTES_PER_ELEMENT;
}
