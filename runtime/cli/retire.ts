// `eaas retire`: drain one expert actor (finish its in-flight dispatches) and stop it for good.
import { retireInstance } from '../../actors/supervisor/client.js';
import { closeNats, connectNats } from '../transport/connection.js';
import { AUTH_FLAGS, authFromFlags } from './auth-flags.js';
import { parseFlags, requiredString, type FlagTable } from './flags.js';

export const FLAGS = {
  nats: { type: 'string', arg: 'URL', help: 'the cluster\'s NATS URL (required)' },
  instance: { type: 'string', arg: 'NAME', help: 'the expert actor to retire, as eaas status names it (required)' },
  force: { type: 'boolean', help: 'retire it even when it is the last live replica of an expert' },
  ...AUTH_FLAGS,
} as const satisfies FlagTable;

export async function retireCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, FLAGS);
  const instance = requiredString(values, 'instance', 'the expert actor to retire (names: eaas status)');
  const nc = await connectNats(requiredString(values, 'nats', 'the cluster’s NATS URL'), 'eaas-retire', {}, authFromFlags(values));
  try {
    const { node } = await retireInstance(nc, instance, values.force === true);
    process.stdout.write(`retired ${instance} on node ${node}\n`);
  } finally {
    await closeNats(nc);
  }
}
