// The Mixtral config.json of a Hugging Face checkpoint, parsed and checked.
import { CheckpointError } from './errors.js';

export interface MixtralConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  numLocalExperts: number;
  numExpertsPerTok: number;
  rmsNormEps: number;
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
}

const DEFAULT_ROPE_THETA = 1e6;
const DEFAULT_RMS_NORM_EPS = 1e-5;
const DEFAULT_MAX_POSITIONS = 32768;

/** Parses a config.json object; `file` names the file in error messages. */
export function parseConfig(json: unknown, file: string): MixtralConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CheckpointError(file, 'config.json must be a JSON object');
  }
  const raw = json as Record<string, unknown>;
  const archs = raw.architectures;
  if (Array.isArray(archs) && archs.length > 0 && !archs.includes('MixtralForCausalLM')) {
    throw new CheckpointError(file, `architecture ${JSON.stringify(archs)} is not supported (expected MixtralForCausalLM)`);
  }
  const int = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new CheckpointError(file, `"${key}" must be a positive integer, got ${JSON.stringify(raw[key])}`);
    }
    return v;
  };
  const num = (key: string, fallback: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new CheckpointError(file, `"${key}" must be a positive number, got ${JSON.stringify(raw[key])}`);
    }
    return v;
  };
  const hiddenSize = int('hidden_size');
  const numAttentionHeads = int('num_attention_heads');
  const numKeyValueHeads = int('num_key_value_heads', numAttentionHeads);
  const headDim = raw.head_dim == null ? hiddenSize / numAttentionHeads : int('head_dim');
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new CheckpointError(file, `head dimension ${headDim} must be an even integer (hidden_size / num_attention_heads or head_dim)`);
  }
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new CheckpointError(file, `num_attention_heads ${numAttentionHeads} must be a multiple of num_key_value_heads ${numKeyValueHeads}`);
  }
  const numLocalExperts = int('num_local_experts');
  const numExpertsPerTok = int('num_experts_per_tok');
  if (numExpertsPerTok > numLocalExperts) {
    throw new CheckpointError(file, `num_experts_per_tok ${numExpertsPerTok} exceeds num_local_experts ${numLocalExperts}`);
  }
  return {
    vocabSize: int('vocab_size'),
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numHiddenLayers: int('num_hidden_layers'),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    numLocalExperts,
    numExpertsPerTok,
    rmsNormEps: num('rms_norm_eps', DEFAULT_RMS_NORM_EPS),
    ropeTheta: num('rope_theta', DEFAULT_ROPE_THETA),
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    maxPositionEmbeddings: int('max_position_embeddings', DEFAULT_MAX_POSITIONS),
  };
}

/** The config.json object for a config, in Hugging Face's names. */
export function configToJson(c: MixtralConfig): Record<string, unknown> {
  return {
    architectures: ['MixtralForCausalLM'],
    model_type: 'mixtral',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
    num_local_experts: c.numLocalExperts,
    num_experts_per_tok: c.numExpertsPerTok,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    tie_word_embeddings: c.tieWordEmbeddings,
    max_position_embeddings: c.maxPositionEmbeddings,
    hidden_act: 'silu',
    torch_dtype: 'float32',
  };
}
