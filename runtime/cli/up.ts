// `eaas up`: the local cluster in one command (embedded NATS, supervisor with expert actors, gate, API front), or
// with --monolithic the same front on a gate that computes the experts in its own process.
import { resolve } from 'node:path';
import { progressCallback, SHOW_AFTER_MS } from '../../observability/progress.js';
import { DEFAULT_EXPERTS_PER_ACTOR, DEFAULT_HTTP_PORT, DEFAULT_REPLICAS, defaultStateDir, startLocalCluster } from '../node/cluster.js';
import { API_KEY_FLAGS, apiKeysFromFlags } from './api-key-flags.js';
import { LOG_FLAGS, loggerFromFlags } from './log-flags.js';
import { intFlag, parseFlags, stringFlag, type FlagTable } from './flags.js';
import { loadingLabel, QUANTIZE_FLAGS, quantizationFromFlags } from './quantize-flags.js';
import { AUTOSCALE_FLAGS, policyFromFlags } from './autoscale-flags.js';
import { serveUntilSignal } from './serve.js';
import { WIRE_FLAGS, wireFromFlags } from './wire-flags.js';
import { exitOnEscalation, SUPERVISION_FLAGS, supervisionFromFlags } from './supervision-flags.js';
import { UsageError } from './usage.js';

export const FLAGS = {
  model: { type: 'string', arg: 'DIR', help: 'the checkpoint directory to serve', default: 'the shipped model, model/checkpoints/sotu-moe' },
  name: { type: 'string', arg: 'NAME', help: 'the served model\'s name: its NATS subjects and the API\'s "model"', default: 'the checkpoint directory\'s name' },
  replicas: { type: 'string', arg: 'R', help: 'expert actors hosting each expert', default: String(DEFAULT_REPLICAS) },
  'experts-per-actor': { type: 'string', arg: 'N', help: 'experts each expert actor holds', default: `sized to the host, about one actor per core; ${DEFAULT_EXPERTS_PER_ACTOR} with --autoscale` },
  nats: { type: 'string', arg: 'URL', help: 'use this NATS server instead of starting one', default: 'an embedded nats-server' },
  'nats-port': { type: 'string', arg: 'P', help: 'the embedded nats-server\'s client port', default: 'a free loopback port' },
  'http-port': { type: 'string', arg: 'P', help: 'the OpenAI-compatible HTTP front\'s port; 0 picks a free one', default: String(DEFAULT_HTTP_PORT) },
  'http-host': { type: 'string', arg: 'H', help: 'the HTTP front\'s address; 0.0.0.0 serves other hosts', default: '127.0.0.1' },
  ...API_KEY_FLAGS,
  ...LOG_FLAGS,
  cluster: { type: 'string', arg: 'N', help: 'embedded nats-servers joined in a route cluster on loopback ports', default: '1' },
  secure: { type: 'boolean', help: 'TLS and a least-privilege NATS user per role (see README "Security")' },
  state: { type: 'string', arg: 'DIR', help: 'where --secure keeps its CA, keys and credentials', default: '$XDG_STATE_HOME/eaas/secure' },
  monolithic: { type: 'boolean', help: 'every expert computed inside the gate process: no supervisor, no expert actors' },
  ...SUPERVISION_FLAGS,
  ...QUANTIZE_FLAGS,
  ...WIRE_FLAGS,
  ...AUTOSCALE_FLAGS,
} as const satisfies FlagTable;

/** The flags that shape expert actors, which a monolithic gate does not have. */
const ACTOR_FLAGS = ['replicas', 'experts-per-actor', 'wire-dtype', ...Object.keys(SUPERVISION_FLAGS), ...Object.keys(AUTOSCALE_FLAGS)];

export async function upCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, FLAGS);
  const { logger, logRequests } = loggerFromFlags(values);
  const monolithic = values.monolithic === true;
  const actorFlags = ACTOR_FLAGS.filter((f) => values[f] !== undefined).map((f) => `--${f}`);
  if (monolithic && actorFlags.length > 0) {
    throw new UsageError(`--monolithic starts no expert actors: drop ${actorFlags.join(', ')} (a flag or its EAAS_ variable), or drop --monolithic`);
  }
  const modelDir = stringFlag(values, 'model');
  const replicas = intFlag(values, 'replicas', DEFAULT_REPLICAS, 1);
  // absent: sized to this host's cores (the policy's own default with --autoscale)
  const expertsPerActor = values['experts-per-actor'] === undefined ? undefined : intFlag(values, 'experts-per-actor', undefined, 1);
  if (!values.autoscale && values['placement-policy'] !== undefined) throw new UsageError('--placement-policy is the policy of --autoscale: add --autoscale');
  if (values.autoscale && values.nats !== undefined) throw new UsageError('--autoscale runs its own JetStream-enabled nats-server: drop --nats, or run `eaas node --role controller` and `--autoscale` supervisors against your JetStream cluster');
  const autoscale = values.autoscale ? policyFromFlags(values, replicas, expertsPerActor ?? DEFAULT_EXPERTS_PER_ACTOR) : undefined;
  let stopAll = async () => {};
  const cluster = await startLocalCluster({
    supervision: supervisionFromFlags(values),
    quantization: quantizationFromFlags(values),
    wire: wireFromFlags(values),
    monolithic,
    onEscalate: exitOnEscalation(() => stopAll()),
    onActorsStarted: progressCallback('starting expert actors', { afterMs: SHOW_AFTER_MS }),
    onExpertsLoaded: progressCallback(loadingLabel(quantizationFromFlags(values)), { afterMs: SHOW_AFTER_MS }),
    modelDir: modelDir ? resolve(modelDir) : undefined,
    model: stringFlag(values, 'name'),
    replicas,
    expertsPerActor,
    autoscale,
    log: (line) => logger.info(line),
    nats: stringFlag(values, 'nats'),
    natsPort: values['nats-port'] === undefined ? undefined : intFlag(values, 'nats-port', 0, 1),
    httpPort: intFlag(values, 'http-port', DEFAULT_HTTP_PORT, 0),
    httpHost: stringFlag(values, 'http-host'),
    apiKeys: apiKeysFromFlags(values),
    onRequest: logRequests ? (r) => logger.info('request', { ...r }) : undefined,
    clusterSize: intFlag(values, 'cluster', 1, 1),
    secureStateDir: values.secure ? resolve(stringFlag(values, 'state') ?? defaultStateDir()) : undefined,
    onServerRestart: (why) => logger.warn(why),
    onServerLost: (err) => {
      logger.error(`${err.message}; stopping`);
      void stopAll().finally(() => process.exit(1));
    },
  });
  stopAll = () => cluster.stop();
  const actors = cluster.supervisor?.status().children.length ?? 0;
  const http = cluster.api!.url;
  const s = cluster.secure;
  // said after the counts, as the secure part is: a script reading the line's shape still reads it
  const mono = monolithic ? '; monolithic: the experts run in the gate process' : '';
  // a client of a secure deployment needs these two files: the ready line names them
  const secure = s ? `; TLS CA ${s.tls.ca}, client credentials ${s.users.client} (status: ${s.users.monitor}, retire: ${s.users.operator})` : '';
  const authFlags = s ? ` --creds ${s.users.client} --tls-ca ${s.tls.ca}` : '';
  const bearer = apiKeysFromFlags(values) ? ` -H 'authorization: Bearer <an --api-key>'` : '';
  process.stdout.write(
    `eaas ready: model ${cluster.model} served at ${cluster.url} and ${http}/v1 by a gate and ${actors} expert actors${mono}${secure}\n` +
      `  try: curl ${http}/v1/completions -H 'content-type: application/json'${bearer} -d '{"model": "${cluster.model}", "prompt": "Hello", "max_tokens": 16}'\n` +
      `   or: npx eaas generate --nats ${cluster.url}${authFlags} --prompt "Hello" --max-tokens 16\n`,
  );
  await serveUntilSignal(() => cluster.stop());
}
