// The flag of every command that runs an HTTP front: `--api-key KEY`, repeatable, or EAAS_API_KEY (as vLLM takes it).
import type { FlagTable } from './flags.js';
import { UsageError } from './usage.js';

export const API_KEY_FLAGS = {
  'api-key': { type: 'string', multiple: true, arg: 'KEY', help: 'the HTTP front wants Authorization: Bearer KEY on /v1/*, the tokenizer routes and /dashboard; repeatable', default: 'an open front' },
} as const satisfies FlagTable;

/** The keys a client may present, or undefined: the front is open. */
export function apiKeysFromFlags(values: Record<string, unknown>): string[] | undefined {
  const v = values['api-key'];
  // from the environment the flag is one string
  const keys = Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : [];
  if (keys.some((k) => k.trim().length === 0)) throw new UsageError('--api-key (or EAAS_API_KEY) is empty: give the key clients must send as Authorization: Bearer KEY');
  return keys.length > 0 ? keys : undefined;
}
