// `eaas generate --nats URL`: one prompt through a running cluster's gate.
import { requestGenerate, servedModels } from '../../actors/gate/client.js';
import { closeNats, connectNats, type NatsAuth } from '../transport/connection.js';
import { settingsFromEnv } from '../node/settings.js';
import { subjectToken } from '../transport/subjects.js';
import { printResult, type PromptSpec } from './generate-io.js';
import { UsageError } from './usage.js';

export async function generateOverNats(
  nats: string,
  model: string | undefined,
  spec: PromptSpec,
  opts: { maxTokens: number; logits: boolean; stopAtEos: boolean },
  json: boolean,
  auth: NatsAuth = {},
): Promise<void> {
  const nc = await connectNats(nats, 'eaas-cli', {}, auth);
  try {
    let name = model ? subjectToken(model) : undefined;
    if (!name) {
      const models = await servedModels(nc);
      if (models.length !== 1) {
        throw new UsageError(models.length === 0 ? `no gate answers at ${nats}: is the cluster up?` : `the cluster serves ${models.join(', ')}: pick one with --name NAME`);
      }
      name = models[0];
    }
    const started = performance.now();
    const r = await requestGenerate(nc, name, {
      ...(spec.ids ? { prompt: spec.ids } : { text: spec.text }),
      max_tokens: opts.maxTokens,
      logits: opts.logits,
      stop_at_eos: opts.stopAtEos,
    }, settingsFromEnv().generateTimeoutMs);
    // the CLI has no checkpoint here: the text of a text prompt's answer is the gate's, when its reply carries one
    const { text } = r;
    printResult(
      { tokens: r.tokens, promptTokens: r.prompt_tokens, finishReason: r.finish_reason, logits: r.logits },
      performance.now() - started,
      json,
      spec.text !== undefined && typeof text === 'string' ? text : undefined,
    );
  } finally {
    await closeNats(nc);
  }
}
