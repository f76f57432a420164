// `eaas model init` presets with the shapes of real models (random weights, bf16, sharded like their checkpoints on
// the Hugging Face hub): what the multi-host work measures memory, loading and the wire on.
import type { ModelConfig } from '../model-config.js';
import { FAMILIES } from './registry.js';
import type { FamilyName } from './spec.js';

export interface RealPreset {
  family: FamilyName;
  config: ModelConfig;
  /** The real checkpoint's shard count. */
  shards: number;
  /** What it is, said by `model init`: the model it is shaped after, and what differs. */
  about: string;
}

export const REAL_PRESETS = {
  // allenai/OLMoE-1B-7B-0924's config.json: 64 experts of 1024 top-8, hidden 2048, 16 layers, 6.92B parameters
  'olmoe-1b-7b': {
    family: 'olmoe',
    config: {
      vocabSize: 50_304,
      hiddenSize: 2048,
      intermediateSize: 1024,
      numHiddenLayers: 16,
      numAttentionHeads: 16,
      numKeyValueHeads: 16,
      headDim: 128,
      numLocalExperts: 64,
      numExpertsPerTok: 8,
      rmsNormEps: 1e-5,
      ropeTheta: 10_000,
      tieWordEmbeddings: false,
      maxPositionEmbeddings: 4096,
      family: { ...FAMILIES.olmoe.presets.bench.family!, normTopkProb: false, clipQkv: null, denseIntermediateSize: 1024 },
    },
    shards: 3,
    about: 'the shapes of allenai/OLMoE-1B-7B-0924, all 16 layers',
  },
  // mistralai/Mixtral-8x7B-v0.1's layer shapes, 4 of its 32 layers: 8 experts of 14336 top-2, hidden 4096, 6.07B parameters
  'mixtral-8x7b-4l': {
    family: 'mixtral',
    config: {
      vocabSize: 32_000,
      hiddenSize: 4096,
      intermediateSize: 14_336,
      numHiddenLayers: 4,
      numAttentionHeads: 32,
      numKeyValueHeads: 8,
      headDim: 128,
      numLocalExperts: 8,
      numExpertsPerTok: 2,
      rmsNormEps: 1e-5,
      ropeTheta: 1e6,
      tieWordEmbeddings: false,
      maxPositionEmbeddings: 32_768,
    },
    shards: 3,
    about: 'the layer shapes of mistralai/Mixtral-8x7B-v0.1, truncated to 4 of its 32 layers',
  },
} as const satisfies Record<string, RealPreset>;

export type RealPresetName = keyof typeof REAL_PRESETS;

export const isRealPreset = (name: string): name is RealPresetName => Object.hasOwn(REAL_PRESETS, name);
