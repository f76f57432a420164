// What every family's config.json holds the same way: sizes, attention heads, norms, RoPE.
import type { ModelConfig } from '../config.js';
import type { BaseDefaults, ConfigReader } from './read.js';

/** What the families share: sizes, attention heads, norms, RoPE; `experts`/`topK`/`expertSize` come from each family's keys. */
export function parseBase(
  r: ConfigReader,
  d: BaseDefaults,
  keys: { experts: string; expertSize: string; headDim?: number },
): ModelConfig {
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

/** The config.json fields every family writes the same way. */
export function baseJson(c: ModelConfig, architecture: string, modelType: string): Record<string, unknown> {
  return {
    architectures: [architecture],
    model_type: modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
    num_experts_per_tok: c.numExpertsPerTok,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    tie_word_embeddings: c.tieWordEmbeddings,
    max_position_embeddings: c.maxPositionEmbeddings,
    hidden_act: 'silu',
  };
}
