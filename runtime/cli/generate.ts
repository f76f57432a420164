// `eaas generate`: one prompt through a model in this process (--monolithic) or through a cluster (--nats).
import { resolve } from 'node:path';
import { requireTokenizer, Tokenizer } from '../../model/tokenizer.js';
import { AUTH_FLAGS, authFromFlags } from './auth-flags.js';
import { intFlag, parseFlags, requiredString, stringFlag } from './flags.js';
import { printResult, promptSpec, type PromptSpec } from './generate-io.js';
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

/** The prompt's token ids: given, or the text through the checkpoint's tokenizer.json. */
export function promptIds(spec: PromptSpec, tokenizer: Tokenizer | undefined): number[] {
  return spec.ids ?? requireTokenizer(tokenizer).encode(spec.text ?? '');
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
