// `eaas node`: join an existing cluster as a gate, a supervisor with expert actors, or both.
import { resolve } from 'node:path';
import { DEFAULT_EXPERTS_PER_ACTOR, DEFAULT_HTTP_PORT, DEFAULT_REPLICAS, startNode, type Role } from '../node/cluster.js';
import { AUTH_FLAGS, authFromFlags } from './auth-flags.js';
import { API_KEY_FLAGS, apiKeysFromFlags } from './api-key-flags.js';
import { intFlag, parseFlags, requiredString, stringFlag } from './flags.js';
import { QUANTIZE_FLAGS, quantizationFromFlags } from './quantize-flags.js';
import { AUTOSCALE_FLAGS, policyFromFlags } from './autoscale-flags.js';
import { serveUntilSignal } from './serve.js';
import { exitOnEscalation, SUPERVISION_FLAGS, supervisionFromFlags } from './supervision-flags.js';
import { UsageError } from './usage.js';

const FLAGS = {
  nats: { type: 'string' },
  model: { type: 'string' },
  name: { type: 'string' },
  role: { type: 'string' },
  experts: { type: 'string' },
  replicas: { type: 'string' },
  'experts-per-actor': { type: 'string' },
  'node-name': { type: 'string' },
  'http-port': { type: 'string' },
  'http-host': { type: 'string' },
  ...API_KEY_FLAGS,
  ...AUTH_FLAGS,
  ...SUPERVISION_FLAGS,
  ...QUANTIZE_FLAGS,
  ...AUTOSCALE_FLAGS,
} as const;

const ROLES: Role[] = ['gate', 'supervisor', 'api', 'controller'];

export async function nodeCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, FLAGS);
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
    onEscalate: exitOnEscalation(() => stopAll()),
    nats: requiredString(values, 'nats', 'the cluster’s NATS URL(s), e.g. nats://10.0.0.1:4222,nats://10.0.0.2:4222'),
    modelDir: resolve(requiredString(values, 'model', 'the checkpoint directory')),
    model: stringFlag(values, 'name'),
    roles: roles as Role[],
    experts: stringFlag(values, 'experts'),
    replicas,
    expertsPerActor,
    followPlacement: values.autoscale === true,
    placementPolicy: roles.includes('controller') ? policyFromFlags(values, replicas, expertsPerActor ?? DEFAULT_EXPERTS_PER_ACTOR) : undefined,
    log: (line) => process.stderr.write(`eaas: ${line}\n`),
    node: stringFlag(values, 'node-name'),
    httpPort: intFlag(values, 'http-port', DEFAULT_HTTP_PORT, 0),
    httpHost: stringFlag(values, 'http-host'),
    apiKeys: apiKeysFromFlags(values),
    auth: authFromFlags(values),
  });
  stopAll = () => node.stop();
  process.stdout.write(`eaas node ${node.node} ready: ${roles.join(',')} of model ${node.model}${node.api ? ` at ${node.api.url}/v1` : ''}\n`);
  await serveUntilSignal(() => node.stop());
}
