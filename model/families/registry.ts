// The families eaas serves, and which one a config.json describes.
import { CheckpointError } from '../errors.js';
import { deepseekV3 } from './deepseek-v3.js';
import type { Family } from './family.js';
import { mixtral } from './mixtral.js';
import { olmoe } from './olmoe.js';
import { qwen2Moe } from './qwen2-moe.js';
import { qwen3Moe } from './qwen3-moe.js';
import type { FamilyName } from './spec.js';

export const FAMILIES: Record<FamilyName, Family> = {
  mixtral,
  qwen2_moe: qwen2Moe,
  qwen3_moe: qwen3Moe,
  olmoe,
  deepseek_v3: deepseekV3,
};

const SUPPORTED = Object.values(FAMILIES).map((f) => f.architecture).join(', ');

/** The family of a config.json: its `architectures`, else its `model_type`, else Mixtral (older configs name neither). */
export function familyOfJson(raw: Record<string, unknown>, file: string): FamilyName {
  const archs = raw.architectures;
  if (Array.isArray(archs) && archs.length > 0) {
    const found = Object.values(FAMILIES).find((f) => archs.includes(f.architecture));
    if (!found) throw new CheckpointError(file, `architecture ${JSON.stringify(archs)} is not supported (supported: ${SUPPORTED})`);
    return found.modelType;
  }
  const type = raw.model_type;
  if (type === undefined) return 'mixtral';
  const found = Object.values(FAMILIES).find((f) => f.modelType === type);
  if (!found) throw new CheckpointError(file, `model_type ${JSON.stringify(type)} is not supported (supported: ${Object.keys(FAMILIES).join(', ')})`);
  return found.modelType;
}
