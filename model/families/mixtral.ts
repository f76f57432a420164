// Mixtral (MixtralForCausalLM): the first family; its configs carry no `family`.
import type { ModelConfig } from '../model-config.js';
import { baseJson, parseBase, tinyPreset, type ExpertKeys } from './base.js';
import type { Family } from './family.js';

const EXPERT_KEYS: ExpertKeys = { experts: 'num_local_experts', expertSize: 'intermediate_size' };

export const mixtral: Family = {
  architecture: 'MixtralForCausalLM',
  modelType: 'mixtral',
  parse: (r) => parseBase(r, { ropeTheta: 1e6, rmsNormEps: 1e-5, maxPositions: 32768 }, EXPERT_KEYS),
  toJson: (c: ModelConfig) => ({ ...baseJson(c, 'MixtralForCausalLM', 'mixtral', EXPERT_KEYS), torch_dtype: 'float32' }),
  presets: {
    tiny: tinyPreset({ intermediateSize: 128, numHiddenLayers: 2, numKeyValueHeads: 2, headDim: 16, rmsNormEps: 1e-5, tieWordEmbeddings: false }),
    // not base.ts's benchPreset: 8 experts of 2816 top-2, where the later families have 16 of 704 top-4
    bench: {
      vocabSize: 32_000,
      hiddenSize: 1024,
      intermediateSize: 2816,
      numHiddenLayers: 4,
      numAttentionHeads: 16,
      numKeyValueHeads: 4,
      headDim: 64,
      numLocalExperts: 8,
      numExpertsPerTok: 2,
      rmsNormEps: 1e-5,
      ropeTheta: 1e6,
      tieWordEmbeddings: false,
      maxPositionEmbeddings: 4096,
    },
  },
};
