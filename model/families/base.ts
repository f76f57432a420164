// What every family holds the same way: config.json's sizes, attention heads, norms and RoPE; the presets' scale.
import type { ModelConfig } from '../model-config.js';
import type { BaseDefaults, ConfigReader } from './read.js';
import type { FamilySpec } from './spec.js';

/** The config.json keys of a family's routed experts: how many per MoE layer, and the size of one. */
export interface ExpertKeys {
  experts: string;
  expertSize: string;
}

/** What the families share: sizes, attention heads, norms, RoPE; `experts`/`topK`/`expertSize` come from each family's keys. */
export function parseBase(r: ConfigReader, d: BaseDefaults, keys: ExpertKeys & { headDim?: number }): ModelConfig {
  r.siluOnly();
  r.noQuantization();
  const hiddenSize = r.int('hidden_size');
  const numAttentionHeads = r.int('num_attention_heads');
  const numKeyValueHeads = r.int('num_key_value_heads', numAttentionHeads);
  const headDim = keys.headDim ?? (r.raw.head_dim == null ? hiddenSize / numAttentionHeads : r.int('head_dim'));
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    r.fail(`head dimension ${headDim} must be an even integer (hidden_size / num_attention_heads or head_dim)`);
  }
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    r.fail(`num_attention_heads ${numAttentionHeads} must be a multiple of num_key_value_heads ${numKeyValueHeads}`);
  }
  const numLocalExperts = r.int(keys.experts);
  const numExpertsPerTok = r.int('num_experts_per_tok');
  if (numExpertsPerTok > numLocalExperts) {
    r.fail(`num_experts_per_tok ${numExpertsPerTok} exceeds ${keys.experts} ${numLocalExperts}`);
  }
  const maxPositionEmbeddings = r.int('max_position_embeddings', d.maxPositions);
  r.noSlidingWindow(maxPositionEmbeddings);
  return {
    vocabSize: r.int('vocab_size'),
    hiddenSize,
    intermediateSize: r.int(keys.expertSize),
    numHiddenLayers: r.int('num_hidden_layers'),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    numLocalExperts,
    numExpertsPerTok,
    rmsNormEps: r.num('rms_norm_eps', d.rmsNormEps),
    ropeTheta: r.ropeTheta(d.ropeTheta),
    tieWordEmbeddings: r.raw.tie_word_embeddings === true,
    maxPositionEmbeddings,
  };
}

/**
 * The config.json fields every family writes the same way. With `expertKeysAmong`, the expert size and count stand
 * among them (Mixtral's order); the other families write theirs after them, in their own order.
 */
export function baseJson(c: ModelConfig, architecture: string, modelType: string, expertKeysAmong?: ExpertKeys): Record<string, unknown> {
  return {
    architectures: [architecture],
    model_type: modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    ...(expertKeysAmong && { [expertKeysAmong.expertSize]: c.intermediateSize }),
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
    ...(expertKeysAmong && { [expertKeysAmong.experts]: c.numLocalExperts }),
    num_experts_per_tok: c.numExpertsPerTok,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    tie_word_embeddings: c.tieWordEmbeddings,
    max_position_embeddings: c.maxPositionEmbeddings,
    hidden_act: 'silu',
  };
}

/** The tiny preset (the tests' model) at the scale every family shares: vocabulary 512, hidden 64, 4 heads, 8 experts top-2. */
export function tinyPreset(own: Pick<ModelConfig, 'intermediateSize' | 'numHiddenLayers' | 'numKeyValueHeads' | 'headDim' | 'rmsNormEps' | 'tieWordEmbeddings' | 'family'>): ModelConfig {
  return {
    vocabSize: 512,
    hiddenSize: 64,
    numAttentionHeads: 4,
    numLocalExperts: 8,
    numExpertsPerTok: 2,
    ropeTheta: 10_000,
    maxPositionEmbeddings: 2048,
    ...own,
  };
}

/** The bench preset of the families after Mixtral: vocabulary 32 000, hidden 1024, 4 layers, 16 heads, 16 experts of 704 top-4. */
export function benchPreset(own: Pick<ModelConfig, 'numKeyValueHeads' | 'headDim' | 'rmsNormEps' | 'ropeTheta'> & { family: FamilySpec }): ModelConfig {
  return {
    vocabSize: 32_000,
    hiddenSize: 1024,
    intermediateSize: 704,
    numHiddenLayers: 4,
    numAttentionHeads: 16,
    numLocalExperts: 16,
    numExpertsPerTok: 4,
    tieWordEmbeddings: false,
    maxPositionEmbeddings: 4096,
    ...own,
  };
}
