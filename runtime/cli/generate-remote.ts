// `eaas generate --nats URL`: one prompt through a running cluster's gate.
import { requestGenerate } from '../../actors/gate/client.js';
import { closeNats, connectNats, type NatsAuth } from '../transport/connection.js';
import { settingsFromEnv } from '../node/settings.js';
import { printResult, type PromptSpec } from './generate-io.js';
import { servedModel } from './served-model.js';

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
    const name = await servedModel(nc, model);
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
