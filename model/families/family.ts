// What each family file provides: its Hugging Face names, config.json parsing and writing, and its presets.
import type { ModelConfig } from '../model-config.js';
import type { ConfigReader } from './read.js';
import type { FamilyName } from './spec.js';

export interface Family {
  architecture: string;
  modelType: FamilyName;
  parse(r: ConfigReader): ModelConfig;
  toJson(c: ModelConfig): Record<string, unknown>;
  /** `eaas model init` presets: tiny (tests) and bench. */
  presets: { tiny: ModelConfig; bench: ModelConfig };
}
