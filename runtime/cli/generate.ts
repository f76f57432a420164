// `eaas generate`: one prompt through a model in this process (--monolithic) or through a cluster (--nats).
import { resolve } from 'node:path';
import type { GenerateResult } from '../../model/engine.js';
import { requireTokenizer, Tokenizer } from '../../model/tokenizer.js';
import { AUTH_FLAGS, authFromFlags } from './auth-flags.js';
import { idList, intFlag, parseFlags, requiredString, stringFlag } from './flags.js';
import { QUANTIZE_FLAGS, quantizationFromFlags } from './quantize-flags.js';
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
  ...AUTH_FLAGS,
  ...QUANTIZE_FLAGS,
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

/** The prompt's token ids: given, or the text through the checkpoint's tokenizer.json. */
export function promptIds(spec: PromptSpec, tokenizer: Tokenizer | undefined): number[] {
  return spec.ids ?? requireTokenizer(tokenizer).encode(spec.text ?? '');
}

/** The JSON shape both generate paths print; `text` is the generated tokens decoded, for a text prompt. */
export function resultJson(r: GenerateResult, elapsedMs: number, text: string | undefined): Record<string, unknown> {
  return {
    tokens: r.tokens,
    prompt_tokens: r.promptTokens,
    finish_reason: r.finishReason,
    ...(text !== undefined ? { text } : {}),
    elapsed_ms: Math.round(elapsedMs * 1000) / 1000,
    ...(r.logits ? { logits: Array.from(r.logits) } : {}),
  };
}

export function printResult(r: GenerateResult, elapsedMs: number, json: boolean, text: string | undefined): void {
  if (json) process.stdout.write(JSON.stringify(resultJson(r, elapsedMs, text)) + '\n');
  else process.stdout.write(r.tokens.join(',') + (text !== undefined ? `\n${text}` : '') + '\n');
}

export async function generateCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, FLAGS);
  const spec = promptSpec(values);
  const maxTokens = intFlag(values, 'max-tokens', undefined, 1);
  const opts = { maxTokens, logits: values.logits === true, stopAtEos: values['no-eos'] !== true };
  const json = values.json === true;
  const quantization = quantizationFromFlags(values);
  if (quantization && !values.monolithic) throw new UsageError('--quantize (or EAAS_QUANTIZE) applies to --monolithic: a cluster is quantized by its eaas up / eaas node');
  if (values.monolithic) {
    const dir = resolve(requiredString(values, 'model', 'the checkpoint directory (create one with: eaas model init DIR)'));
    // loaded here only: `generate --nats` computes nothing and loads no ONNX Runtime
    const { openMonolithic } = await import('../../model/monolithic.js');
    const { settingsFromEnv } = await import('../node/settings.js');
    const model = await openMonolithic(dir, settingsFromEnv().ortThreads, {}, quantization);
    try {
      // read only for a text prompt: token ids need no tokenizer, and a broken one does not stop them
      const tokenizer = spec.text !== undefined ? Tokenizer.load(dir) : undefined;
      const started = performance.now();
      const r = await model.engine.generate(promptIds(spec, tokenizer), opts);
      printResult(r, performance.now() - started, json, tokenizer?.decode(r.tokens, { skipSpecialTokens: true }));
    } finally {
      await model.close();
    }
    return;
  }
  const nats = stringFlag(values, 'nats');
  if (!nats) throw new UsageError('give --monolithic --model DIR, or --nats URL to use a running cluster');
  const { generateOverNats } = await import('./generate-remote.js');
  await generateOverNats(nats, stringFlag(values, 'model'), spec, opts, json, authFromFlags(values));
}
