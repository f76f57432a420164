// `eaas generate`: one prompt through a model in this process (--monolithic) or through a cluster (--nats).
import { resolve } from 'node:path';
import { progressCallback, SHOW_AFTER_MS } from '../../observability/progress.js';
import { requireTokenizer, Tokenizer } from '../../model/tokenizer.js';
import { AUTH_FLAGS, authFromFlags } from './auth-flags.js';
import { intFlag, parseFlags, requiredString, stringFlag, type FlagTable, type Parsed } from './flags.js';
import { printResult, promptSpec, type PromptSpec } from './generate-io.js';
import { loadingLabel, QUANTIZE_FLAGS, quantizationFromFlags } from './quantize-flags.js';
import { UsageError } from './usage.js';

export const FLAGS = {
  monolithic: { type: 'boolean', help: 'run the model in this process (with --model DIR)' },
  model: { type: 'string', arg: 'DIR', help: 'the checkpoint directory of --monolithic' },
  nats: { type: 'string', arg: 'URL', help: 'generate through the running cluster at this NATS URL' },
  name: { type: 'string', arg: 'NAME', help: 'with --nats: the served model\'s name', default: 'the only one served' },
  'prompt-ids': { type: 'string', arg: '1,2,3', help: 'the prompt as comma-separated token ids (or --prompt)' },
  prompt: { type: 'string', arg: 'TEXT', help: 'the prompt as text, encoded with the checkpoint\'s tokenizer.json (or --prompt-ids)' },
  'max-tokens': { type: 'string', arg: 'N', help: 'tokens to generate (required)' },
  json: { type: 'boolean', help: 'print one JSON object: tokens, prompt_tokens, finish_reason, elapsed_ms (and text, logits)' },
  logits: { type: 'boolean', help: 'add the last step\'s logits (full vocabulary) to --json' },
  'no-eos': { type: 'boolean', help: 'do not stop at an end-of-sequence id' },
  ...AUTH_FLAGS,
  ...QUANTIZE_FLAGS,
} as const satisfies FlagTable;

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
    const model = await openMonolithic(dir, settingsFromEnv().ortThreads, {}, quantization, progressCallback(loadingLabel(quantization), { afterMs: SHOW_AFTER_MS }));
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
  await generateOverNats(nats, servedName(values), spec, opts, json, authFromFlags(values));
}

/** The model asked for over --nats: --name, or (the old spelling, which --model means elsewhere as a directory) --model. */
function servedName(values: Parsed['values']): string | undefined {
  const name = stringFlag(values, 'name');
  const model = stringFlag(values, 'model');
  if (name !== undefined || model === undefined) return name;
  process.stderr.write('eaas: --model NAME with --nats is deprecated: use --name NAME\n');
  return model;
}
