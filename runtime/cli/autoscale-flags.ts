// --autoscale and --placement-policy: the elastic placement's flags, shared by `eaas up` and `eaas node`.
import { readFileSync } from 'node:fs';
import { policyConfig, type PolicyConfig } from '../../actors/controller/policy.js';
import { UsageError } from './usage.js';
import type { FlagTable, Parsed } from './flags.js';

export const AUTOSCALE_FLAGS = {
  autoscale: { type: 'boolean', help: 'elastic experts: replicas and actors follow the measured load (see README "Elastic placement")' },
  'placement-policy': { type: 'string', arg: 'FILE', help: 'a JSON object of the controller\'s policy keys, each optional', default: 'the policy of README "Elastic placement"' },
} as const satisfies FlagTable;

/**
 * The controller's policy: the file's keys over the defaults, the minimum replicas and experts per actor
 * taken from --replicas and --experts-per-actor unless the file sets them.
 */
export function policyFromFlags(values: Parsed['values'], replicas: number, perActor: number): PolicyConfig {
  const file = values['placement-policy'];
  if (typeof file !== 'string') return policyConfig({ minReplicas: replicas, perActor }, 'the placement policy');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--placement-policy ${file}: ${(err as Error).message.split('\n')[0]} (a JSON object of policy keys, see the README)`);
  }
  return policyConfig(raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? { minReplicas: replicas, perActor, ...raw } : raw, file);
}
