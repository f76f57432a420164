// The flags every command that connects to a secure deployment takes: its `.creds` file and the CA.
import type { NatsAuth } from '../transport/connection.js';
import { stringFlag, type FlagTable } from './flags.js';

export const AUTH_FLAGS = {
  creds: { type: 'string', arg: 'FILE', help: 'the NATS .creds file of a secure deployment (eaas up --secure names them)' },
  'tls-ca': { type: 'string', arg: 'FILE', help: 'the CA certificate of a secure deployment\'s TLS' },
} as const satisfies FlagTable;

export function authFromFlags(values: Record<string, string | boolean | undefined>): NatsAuth {
  return { creds: stringFlag(values, 'creds'), tlsCa: stringFlag(values, 'tls-ca') };
}
