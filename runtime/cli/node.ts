// `eaas node`: join an existing cluster as a gate, a supervisor with expert actors, or both.
import { resolve } from 'node:path';
import { progressCallback, SHOW_AFTER_MS } from '../../observability/progress.js';
import { DEFAULT_EXPERTS_PER_ACTOR, DEFAULT_HTTP_PORT, DEFAULT_REPLICAS, startNode, type Role } from '../node/cluster.js';
import { AUTH_FLAGS, authFromFlags } from './auth-flags.js';
import { API_KEY_FLAGS, apiKeysFromFlags } from './api-key-flags.js';
import { LOG_FLAGS, loggerFromFlags } from './log-flags.js';
import { intFlag, parseFlags, requiredString, stringFlag, type FlagTable } from './flags.js';
import { QUANTIZE_FLAGS, quantizationFromFlags } from './quantize-flags.js';
import { AUTOSCALE_FLAGS, policyFromFlags } from './autoscale-flags.js';
import { serveUntilSignal } from './serve.js';
import { WIRE_FLAGS, wireFromFlags } from './wire-flags.js';
import { exitOnEscalation, SUPERVISION_FLAGS, supervisionFromFlags } from './supervision-flags.js';
import { UsageError } from './usage.js';

export const FLAGS = {
  nats: { type: 'string', arg: 'URL[,URL...]', help: 'the cluster\'s NATS server(s) (required)' },
  model: { type: 'string', arg: 'DIR', help: 'the checkpoint directory (required; --role api reads only its config and tokenizer)' },
  name: { type: 'string', arg: 'NAME', help: 'the served model\'s name: its NATS subjects and the API\'s "model"', default: 'the checkpoint directory\'s name' },
  role: { type: 'string', arg: 'ROLES', help: 'what this node runs: gate, supervisor, api, controller, or a list such as gate,supervisor (required)' },
  experts: { type: 'string', arg: 'SPEC', help: 'the experts this node\'s supervisor hosts: LAYER:EXPERT entries, each side N, A-B or *', default: '*:*' },
  replicas: { type: 'string', arg: 'R', help: 'expert actors hosting each expert', default: String(DEFAULT_REPLICAS) },
  'experts-per-actor': { type: 'string', arg: 'N', help: 'experts each expert actor holds', default: `sized to this node's cores and experts; ${DEFAULT_EXPERTS_PER_ACTOR} for a controller's policy` },
  'node-name': { type: 'string', arg: 'NAME', help: 'this node\'s name in eaas status', default: 'HOSTNAME-PID' },
  'http-port': { type: 'string', arg: 'P', help: 'the HTTP front\'s port (--role api); 0 picks a free one', default: String(DEFAULT_HTTP_PORT) },
  'http-host': { type: 'string', arg: 'H', help: 'the HTTP front\'s address; 0.0.0.0 serves other hosts', default: '127.0.0.1' },
  ...API_KEY_FLAGS,
  ...LOG_FLAGS,
  ...AUTH_FLAGS,
  ...SUPERVISION_FLAGS,
  ...QUANTIZE_FLAGS,
  ...WIRE_FLAGS,
  ...AUTOSCALE_FLAGS,
  autoscale: { ...AUTOSCALE_FLAGS.autoscale, help: 'this node\'s supervisor follows the controller\'s placement (the servers must run JetStream)' },
  'placement-policy': { ...AUTOSCALE_FLAGS['placement-policy'], help: 'the policy of this node\'s controller (--role controller): a JSON object of policy keys' },
} as const satisfies FlagTable;

const ROLES: Role[] = ['gate', 'supervisor', 'api', 'controller'];

export async function nodeCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, FLAGS);
  const { logger, logRequests } = loggerFromFlags(values);
  const roles = requiredString(values, 'role', 'gate, supervisor, api or a list such as gate,supervisor').split(',').map((r) => r.trim());
  const bad = roles.find((r) => !ROLES.includes(r as Role));
  if (bad !== undefined) throw new UsageError(`--role "${bad}" is not one of ${ROLES.join(', ')}`);
  const replicas = intFlag(values, 'replicas', DEFAULT_REPLICAS, 1);
  // absent: sized to this host's cores (the policy's own default with --autoscale)
  const expertsPerActor = values['experts-per-actor'] === undefined ? undefined : intFlag(values, 'experts-per-actor', undefined, 1);
  if (values['placement-policy'] !== undefined && !roles.includes('controller')) throw new UsageError('--placement-policy is the controller’s policy: add controller to --role');
  let stopAll = async () => {};
  const node = await startNode({
    supervision: supervisionFromFlags(values),
    quantization: quantizationFromFlags(values),
    wire: wireFromFlags(values),
    onEscalate: exitOnEscalation(() => stopAll()),
    onActorsStarted: progressCallback('starting expert actors', { afterMs: SHOW_AFTER_MS }),
    nats: requiredString(values, 'nats', 'the cluster’s NATS URL(s), e.g. nats://10.0.0.1:4222,nats://10.0.0.2:4222'),
    modelDir: resolve(requiredString(values, 'model', 'the checkpoint directory')),
    model: stringFlag(values, 'name'),
    roles: roles as Role[],
    experts: stringFlag(values, 'experts'),
    replicas,
    expertsPerActor,
    followPlacement: values.autoscale === true,
    placementPolicy: roles.includes('controller') ? policyFromFlags(values, replicas, expertsPerActor ?? DEFAULT_EXPERTS_PER_ACTOR) : undefined,
    log: (line) => logger.info(line),
    node: stringFlag(values, 'node-name'),
    httpPort: intFlag(values, 'http-port', DEFAULT_HTTP_PORT, 0),
    httpHost: stringFlag(values, 'http-host'),
    apiKeys: apiKeysFromFlags(values),
    onRequest: logRequests ? (r) => logger.info('request', { ...r }) : undefined,
    auth: authFromFlags(values),
  });
  stopAll = () => node.stop();
  process.stdout.write(`eaas node ${node.node} ready: ${roles.join(',')} of model ${node.model}${node.api ? ` at ${node.api.url}/v1` : ''}\n`);
  await serveUntilSignal(() => node.stop());
}
