// `eaas eval`: the perplexity of a text under a model, computed in this process or through a running cluster.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { progressCallback, SHOW_AFTER_MS } from '../../observability/progress.js';
import { Checkpoint } from '../../model/checkpoint.js';
import { defaultContext, engineScorer, HELD_OUT_FILE, perplexityOf, type WindowScorer } from '../../model/perplexity.js';
import { requireTokenizer, Tokenizer } from '../../model/tokenizer.js';
import { shippedModelDir, modelName } from '../node/cluster.js';
import { AUTH_FLAGS, authFromFlags } from './auth-flags.js';
import { intFlag, parseFlags, stringFlag, type FlagTable } from './flags.js';
import { loadingLabel, QUANTIZE_FLAGS, quantizationFromFlags } from './quantize-flags.js';
import { UsageError } from './usage.js';

export const FLAGS = {
  model: { type: 'string', arg: 'DIR', help: 'the checkpoint directory; with --nats, the one the cluster serves', default: 'the shipped model, model/checkpoints/sotu-moe' },
  file: { type: 'string', arg: 'TEXT', help: 'the text file to score', default: `the checkpoint's ${HELD_OUT_FILE}` },
  context: { type: 'string', arg: 'N', help: 'tokens per window', default: "256, or the model's positions less one if fewer" },
  nats: { type: 'string', arg: 'URL', help: 'score through the running cluster at this NATS URL', default: 'in this process' },
  name: { type: 'string', arg: 'NAME', help: 'with --nats: the name the cluster serves the checkpoint under', default: 'the checkpoint directory\'s name' },
  json: { type: 'boolean', help: 'print one JSON object' },
  ...AUTH_FLAGS,
  ...QUANTIZE_FLAGS,
} as const satisfies FlagTable;

export async function evalCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, FLAGS);
  const dir = resolve(stringFlag(values, 'model') ?? shippedModelDir());
  const file = resolve(stringFlag(values, 'file') ?? join(dir, HELD_OUT_FILE));
  if (!existsSync(file)) throw new UsageError(`no text to score at ${file}: give --file TEXT`);
  const checkpoint = Checkpoint.open(dir);
  const config = checkpoint.config;
  checkpoint.close();
  const context = intFlag(values, 'context', defaultContext(config.maxPositionEmbeddings), 2);
  if (context >= config.maxPositionEmbeddings) throw new UsageError(`--context ${context} leaves no room in the model's ${config.maxPositionEmbeddings} positions for the token a scoring request generates: at most ${config.maxPositionEmbeddings - 1}`);
  const ids = requireTokenizer(Tokenizer.load(dir)).encode(readFileSync(file, 'utf8'));
  const quantization = quantizationFromFlags(values);
  const nats = stringFlag(values, 'nats');
  const started = performance.now();
  const progress = (done: number, of: number) => {
    if (done === of || done % Math.max(1, Math.ceil(of / 4)) === 0) process.stderr.write(`eval: ${done}/${of} windows\n`);
  };
  let result;
  if (nats) {
    if (quantization) throw new UsageError('--quantize applies without --nats: a cluster is quantized by its eaas up / eaas node');
    const { requestGenerate } = await import('../../actors/gate/client.js');
    const { closeNats, connectNats } = await import('../transport/connection.js');
    const { settingsFromEnv } = await import('../node/settings.js');
    const nc = await connectNats(nats, 'eaas-eval', {}, authFromFlags(values));
    const name = modelName(dir, stringFlag(values, 'name'));
    const score: WindowScorer = async (window) => (await requestGenerate(nc, name, { prompt: window, max_tokens: 1, stop_at_eos: false, prompt_logprobs: true }, settingsFromEnv().generateTimeoutMs)).prompt_logprobs ?? [];
    try {
      result = await perplexityOf(ids, context, score, undefined, progress);
    } finally {
      await closeNats(nc);
    }
  } else {
    const { openMonolithic } = await import('../../model/monolithic.js');
    const { settingsFromEnv } = await import('../node/settings.js');
    const model = await openMonolithic(dir, settingsFromEnv().ortThreads, {}, quantization, progressCallback(loadingLabel(quantization), { afterMs: SHOW_AFTER_MS }));
    try {
      result = await perplexityOf(ids, context, engineScorer(model.engine), undefined, progress);
    } finally {
      await model.close();
    }
  }
  const elapsedMs = Math.round(performance.now() - started);
  if (values.json === true) process.stdout.write(`${JSON.stringify({ ...result, context, file, elapsed_ms: elapsedMs })}\n`);
  else process.stdout.write(`perplexity ${result.perplexity.toFixed(4)} (${result.nll.toFixed(4)} nats a token) over ${result.tokens} tokens in ${result.windows} windows of up to ${context}, ${(elapsedMs / 1000).toFixed(1)} s\n`);
}
