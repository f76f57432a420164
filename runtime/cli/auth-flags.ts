// The flags every command that connects to a secure deployment takes: its `.creds` file and the CA.
import type { NatsAuth } from '../transport/connection.js';
import { stringFlag } from './flags.js';

export const AUTH_FLAGS = {
  creds: { type: 'string' },
  'tls-ca': { type: 'string' },
} as const;

export function authFromFlags(values: Record<string, string | boolean | undefined>): NatsAuth {
  return { creds: stringFlag(values, 'creds'), tlsCa: stringFlag(values, 'tls-ca') };
}
