// `eaas dashboard`: serves the live dashboard of a cluster reached over NATS, for a cluster without an API front.
import { ApiKeys } from '../../actors/protocol/api-keys.js';
import { DashboardServer } from '../../actors/dashboard/server.js';
import { closeNats, connectNats } from '../transport/connection.js';
import { API_KEY_FLAGS, apiKeysFromFlags } from './api-key-flags.js';
import { AUTH_FLAGS, authFromFlags } from './auth-flags.js';
import { intFlag, parseFlags, requiredString, stringFlag, type FlagTable } from './flags.js';
import { serveUntilSignal } from './serve.js';
import { servedModel } from './served-model.js';

/** The dashboard's port when none is given (the API front's is 8000). */
export const DEFAULT_DASHBOARD_PORT = 8080;

export const FLAGS = {
  nats: { type: 'string', arg: 'URL', help: 'the cluster\'s NATS URL (required)' },
  name: { type: 'string', arg: 'MODEL', help: 'the served model to show', default: 'the only one served' },
  'http-port': { type: 'string', arg: 'P', help: 'the dashboard\'s port; 0 picks a free one', default: String(DEFAULT_DASHBOARD_PORT) },
  'http-host': { type: 'string', arg: 'H', help: 'the dashboard\'s address; 0.0.0.0 serves other hosts', default: '127.0.0.1' },
  ...API_KEY_FLAGS,
  ...AUTH_FLAGS,
} as const satisfies FlagTable;

export async function dashboardCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, FLAGS);
  const keys = new ApiKeys(apiKeysFromFlags(values));
  const port = intFlag(values, 'http-port', DEFAULT_DASHBOARD_PORT, 0);
  const nc = await connectNats(requiredString(values, 'nats', 'the cluster’s NATS URL'), 'eaas-dashboard', {}, authFromFlags(values));
  let server: DashboardServer;
  try {
    const model = await servedModel(nc, stringFlag(values, 'name'));
    server = await DashboardServer.start({ nc, model, keys, host: stringFlag(values, 'http-host'), port });
    process.stdout.write(`eaas dashboard of model ${model} ready at ${server.url}\n`);
  } catch (err) {
    await closeNats(nc);
    throw err;
  }
  await serveUntilSignal(async () => {
    await server.stop();
    await closeNats(nc);
  });
}
