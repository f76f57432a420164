// `eaas generate`: one prompt through a model in this process (--monolithic) or through a cluster (--nats).
import { resolve } from 'node:path';
import type { GenerateResult } from '../../model/engine.js';
import { decodeText, encodeText } from '../../model/tokenizer.js';
import { idList, intFlag, parseFlags, requiredString, stringFlag } from './flags.js';
import { UsageError } from './usage.js';

const FLAGS = {
  monolithic: { type: 'boolean' },
  model: { type: 'string' },
  nats: { type: 'string' },
  'prompt-ids': { type: 'string' },
  prompt: { type: 'string' },
  'max-tokens': { type: 'string' },
  json: { type: 'boolean' },
  logits: { type: 'boolean' },
  'no-eos': { type: 'boolean' },
} as const;

export interface PromptSpec {
  ids?: number[];
  text?: string;
}

export function promptSpec(values: Record<string, unknown>): PromptSpec {
  const ids = values['prompt-ids'];
  const text = values.prompt;
  if ((ids === undefined) === (text === undefined)) throw new UsageError('give exactly one of --prompt-ids 1,2,3 or --prompt TEXT');
  return typeof ids === 'string' ? { ids: idList(ids, 'prompt-ids') } : { text: text as string };
}

export function promptIds(spec: PromptSpec, vocabSize: number): number[] {
  return spec.ids ?? encodeText(spec.text ?? '', vocabSize);
}

/** The JSON shape both generate paths print. */
export function resultJson(r: GenerateResult, elapsedMs: number, withText: boolean): Record<string, unknown> {
  return {
    tokens: r.tokens,
    prompt_tokens: r.promptTokens,
    finish_reason: r.finishReason,
    ...(withText ? { text: decodeText(r.tokens) } : {}),
    elapsed_ms: Math.round(elapsedMs * 1000) / 1000,
    ...(r.logits ? { logits: Array.from(r.logits) } : {}),
  };
}

export function printResult(r: GenerateResult, elapsedMs: number, json: boolean, spec: PromptSpec): void {
  if (json) process.stdout.write(JSON.stringify(resultJson(r, elapsedMs, spec.text !== undefined)) + '\n');
  else process.stdout.write(r.tokens.join(',') + (spec.text !== undefined ? `\n${decodeText(r.tokens)}` : '') + '\n');
}

export async function generateCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, FLAGS);
  const spec = promptSpec(values);
  const maxTokens = intFlag(values, 'max-tokens', undefined, 1);
  const opts = { maxTokens, logits: values.logits === true, stopAtEos: values['no-eos'] !== true };
  const json = values.json === true;
  if (values.monolithic) {
    const dir = resolve(requiredString(values, 'model', 'the checkpoint directory (create one with: eaas model init DIR)'));
    // loaded here only: `generate --nats` computes nothing and loads no ONNX Runtime
    const { openMonolithic } = await import('../../model/monolithic.js');
    const { settingsFromEnv } = await import('../node/settings.js');
    const model = await openMonolithic(dir, settingsFromEnv().ortThreads);
    try {
      const started = performance.now();
      const r = await model.engine.generate(promptIds(spec, model.checkpoint.config.vocabSize), opts);
      printResult(r, performance.now() - started, json, spec);
    } finally {
      await model.close();
    }
    return;
  }
  const nats = stringFlag(values, 'nats');
  if (!nats) throw new UsageError('give --monolithic --model DIR, or --nats URL to use a running cluster');
  const { generateOverNats } = await import('./generate-remote.js');
  await generateOverNats(nats, stringFlag(values, 'model'), spec, opts, json);
}
