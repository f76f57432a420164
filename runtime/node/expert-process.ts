// Entry point of an expert actor child process: configuration comes from the environment its supervisor
// sets; liveness goes back to the supervisor over the IPC channel.
import { DEFAULT_EXPERT_THREADS, ExpertCompute } from '../../actors/expert/compute.js';
import { ExpertActor } from '../../actors/expert/expert.js';
import type { ChildMessage } from '../../actors/protocol/messages.js';
import { Checkpoint } from '../../model/checkpoint.js';
import { quantBitsOf } from '../../model/quantize.js';
import { startTracing } from '../../observability/tracing.js';
import { closeNats, connectNats } from '../transport/connection.js';
import { EXPERT_ENV } from './expert-env.js';
import { settingsFromEnv } from './settings.js';


function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: expert actors are started by a supervisor (eaas up / eaas node)`);
  return v;
}

const tell = (m: ChildMessage) => process.send?.(m);

async function main(): Promise<void> {
  const settings = settingsFromEnv();
  const instance = env(EXPERT_ENV.instance);
  const modelDir = env(EXPERT_ENV.modelDir);
  const tracing = await startTracing('eaas-expert');
  const keys = env(EXPERT_ENV.experts)
    .split(',')
    .map((id) => id.split(':').map(Number))
    .map(([layer, expert]) => ({ layer, expert }));
  const checkpoint = Checkpoint.open(modelDir);
  const hidden = checkpoint.config.hiddenSize;
  checkpoint.close();
  // beats start at once: loading a big checkpoint is not hanging
  let actor: ExpertActor | undefined;
  const beat = setInterval(() => tell({ kind: 'beat', ...(actor?.health() ?? { state: 'loading', linked: false, inflight: 0, served: 0, errors: 0 }) }), settings.heartbeatMs);
  const quantize = process.env[EXPERT_ENV.quantize];
  const bits = quantize ? quantBitsOf(quantize) : undefined;
  const compute = await ExpertCompute.start({ modelDir, keys, threads: settings.ortThreads ?? DEFAULT_EXPERT_THREADS, bits });
  // the first connection is retried like any reconnection: a flaky link delays an actor, it does not kill it
  const nc = await connectNats(env(EXPERT_ENV.nats), `eaas-expert-${instance}`, { waitOnFirstConnect: true }, { creds: process.env[EXPERT_ENV.creds], tlsCa: process.env[EXPERT_ENV.tlsCa] });
  actor = new ExpertActor({ nc, model: env(EXPERT_ENV.model), instance, node: env(EXPERT_ENV.node), keys, hidden, compute, delayMs: settings.expertDelayMs, loadReportMs: settings.loadReportMs, loadWindowMs: settings.loadWindowMs });
  await actor.start();
  tell({ kind: 'ready' });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await actor!.drain().catch(() => undefined);
      clearInterval(beat);
      await closeNats(nc);
      await compute.stop();
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
