// Entry point of an expert actor child process: configuration comes from the environment its supervisor sets.
import { ExpertActor } from '../../actors/expert.js';
import { Checkpoint } from '../../model/checkpoint.js';
import { ExpertSet } from '../../model/experts.js';
import { startTracing } from '../../observability/tracing.js';
import { closeNats, connectNats } from '../connection.js';
import { EXPERT_ENV } from './expert-env.js';
import { settingsFromEnv } from './settings.js';


function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: expert actors are started by a supervisor (eaas up / eaas node)`);
  return v;
}

async function main(): Promise<void> {
  const instance = env(EXPERT_ENV.instance);
  const tracing = await startTracing('eaas-expert');
  const checkpoint = Checkpoint.open(env(EXPERT_ENV.modelDir));
  const keys = env(EXPERT_ENV.experts)
    .split(',')
    .map((id) => id.split(':').map(Number))
    .map(([layer, expert]) => ({ layer, expert }));
  const experts = await ExpertSet.load(checkpoint, keys);
  checkpoint.close();
  const nc = await connectNats(env(EXPERT_ENV.nats), `eaas-expert-${instance}`);
  const actor = new ExpertActor({
    nc,
    model: env(EXPERT_ENV.model),
    instance,
    node: env(EXPERT_ENV.node),
    experts,
    heartbeatMs: settingsFromEnv().heartbeatMs,
    delayMs: Number(process.env[EXPERT_ENV.delayMs] ?? 0) || undefined,
  });
  await actor.start();
  const stop = async () => {
    try {
      await actor.drain().catch(() => undefined);
      await closeNats(nc);
      await tracing.shutdown();
    } finally {
      process.exit(0);
    }
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  // an orphan (its supervisor died) must not serve forever unsupervised
  process.on('disconnect', () => void stop());
}

main().catch((err: unknown) => {
  process.stderr.write(`eaas expert: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
