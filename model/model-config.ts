// A model's shape (`ModelConfig`), in the same fields for every family; config.ts reads it from config.json.
import type { FamilySpec } from './families/spec.js';

/**
 * A model's shape. The fields below `family` mean the same in every family: `intermediateSize` is the
 * size of a routed expert, `numLocalExperts` the routed experts per MoE layer, `headDim` the head size of
 * grouped-query attention (for MLA, the query/key head size: nope + rope).
 */
export interface ModelConfig {
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
  /** Absent: Mixtral. */
  family?: FamilySpec;
}
