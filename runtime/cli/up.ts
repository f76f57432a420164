// `eaas up`: the local cluster in one command (embedded NATS, supervisor with expert actors, gate).
import { resolve } from 'node:path';
import { DEFAULT_EXPERTS_PER_ACTOR, DEFAULT_REPLICAS, startLocalCluster } from '../node/cluster.js';
import { intFlag, parseFlags, stringFlag } from './flags.js';
import { serveUntilSignal } from './serve.js';
import { exitOnEscalation, SUPERVISION_FLAGS, supervisionFromFlags } from './supervision-flags.js';

const FLAGS = {
  model: { type: 'string' },
  name: { type: 'string' },
  replicas: { type: 'string' },
  'experts-per-actor': { type: 'string' },
  nats: { type: 'string' },
  'nats-port': { type: 'string' },
  ...SUPERVISION_FLAGS,
} as const;

export async function upCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, FLAGS);
  const modelDir = stringFlag(values, 'model');
  let stopAll = async () => {};
  const cluster = await startLocalCluster({
    supervision: supervisionFromFlags(values),
    onEscalate: exitOnEscalation(() => stopAll()),
    modelDir: modelDir ? resolve(modelDir) : undefined,
    model: stringFlag(values, 'name'),
    replicas: intFlag(values, 'replicas', DEFAULT_REPLICAS, 1),
    expertsPerActor: intFlag(values, 'experts-per-actor', DEFAULT_EXPERTS_PER_ACTOR, 1),
    nats: stringFlag(values, 'nats'),
    natsPort: values['nats-port'] === undefined ? undefined : intFlag(values, 'nats-port', 0, 1),
    onServerRestart: (why) => process.stderr.write(`eaas: ${why}\n`),
    onServerLost: (err) => {
      process.stderr.write(`eaas: ${err.message}; stopping\n`);
      void stopAll().finally(() => process.exit(1));
    },
  });
  stopAll = () => cluster.stop();
  const actors = cluster.supervisor?.status().children.length ?? 0;
  process.stdout.write(
    `eaas ready: model ${cluster.model} served at ${cluster.url} by a gate and ${actors} expert actors\n` +
      `  try: npx eaas generate --nats ${cluster.url} --prompt "Hello" --max-tokens 16\n`,
  );
  await serveUntilSignal(() => cluster.stop());
}
