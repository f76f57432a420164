// The config.json of a Hugging Face checkpoint, parsed and checked; the family comes from `architectures` / `model_type`.
import { CheckpointError } from './errors.js';
import { FAMILIES, familyOfJson } from './families/registry.js';
import { ConfigReader } from './families/read.js';
import type { FamilyName, FamilySpec } from './families/spec.js';

export type { FamilyName, FamilySpec };

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

/** The name the code used before other families: a ModelConfig without `family` is Mixtral. */
export type MixtralConfig = ModelConfig;

export const familyName = (c: ModelConfig): FamilyName => c.family?.name ?? 'mixtral';

/** Parses a config.json object; `file` names the file in error messages. */
export function parseConfig(json: unknown, file: string): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CheckpointError(file, 'config.json must be a JSON object');
  }
  const raw = json as Record<string, unknown>;
  const name = familyOfJson(raw, file);
  return FAMILIES[name].parse(new ConfigReader(raw, file, name));
}

/** The config.json object for a config, in Hugging Face's names. */
export function configToJson(c: ModelConfig): Record<string, unknown> {
  return FAMILIES[familyName(c)].toJson(c);
}
