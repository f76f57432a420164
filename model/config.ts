// The config.json of a Hugging Face checkpoint, parsed and checked; the family comes from `architectures` / `model_type`.
import { CheckpointError } from './errors.js';
import { FAMILIES, familyOfJson } from './families/registry.js';
import { ConfigReader } from './families/read.js';
import type { FamilyName, FamilySpec } from './families/spec.js';
import type { ModelConfig } from './model-config.js';

// ModelConfig lives in model-config.ts so that the families, which this file loads, need not import this file
export type { FamilyName, FamilySpec, ModelConfig };

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
