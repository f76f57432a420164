// Tuning knobs of a node from EAAS_* environment variables, each defaulting to the named constant.
import { DEFAULT_DISCOVERY_MS } from '../../actors/directory.js';
import { DEFAULT_DISPATCH_TIMEOUT_MS, DEFAULT_NO_REPLICA_WAIT_MS } from '../../actors/dispatcher.js';
import { DEFAULT_HEARTBEAT_MS } from '../../actors/expert.js';
import { DEFAULT_GENERATE_TIMEOUT_MS } from '../../actors/gate-client.js';
import { DEFAULT_HANG_MS } from '../../actors/supervisor.js';
import { DEFAULT_MAX_BATCH } from '../../model/engine.js';

export class SettingError extends Error {
  override readonly name = 'SettingError';
}

export const SETTINGS = {
  dispatchTimeoutMs: ['EAAS_DISPATCH_TIMEOUT_MS', DEFAULT_DISPATCH_TIMEOUT_MS],
  noReplicaWaitMs: ['EAAS_NO_REPLICA_WAIT_MS', DEFAULT_NO_REPLICA_WAIT_MS],
  heartbeatMs: ['EAAS_HEARTBEAT_MS', DEFAULT_HEARTBEAT_MS],
  hangMs: ['EAAS_HANG_MS', DEFAULT_HANG_MS],
  discoveryMs: ['EAAS_DISCOVERY_MS', DEFAULT_DISCOVERY_MS],
  generateTimeoutMs: ['EAAS_GENERATE_TIMEOUT_MS', DEFAULT_GENERATE_TIMEOUT_MS],
  maxBatch: ['EAAS_MAX_BATCH', DEFAULT_MAX_BATCH],
} as const;

export type Settings = { -readonly [K in keyof typeof SETTINGS]: number };

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): Settings {
  const out = {} as Settings;
  for (const [key, [name, fallback]] of Object.entries(SETTINGS) as [keyof Settings, readonly [string, number]][]) {
    const raw = env[name];
    const v = raw === undefined || raw === '' ? fallback : Number(raw);
    if (!Number.isInteger(v) || v < 1) throw new SettingError(`${name} must be a positive integer, got "${raw}"`);
    out[key] = v;
  }
  return out;
}
