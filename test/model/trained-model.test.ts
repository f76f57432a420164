// The shipped model (model/checkpoints/sotu-moe, trained by ops/train/) speaks: greedy continuations are English
// words, its held-out perplexity is under a bound, PyTorch's own forward pass on the same weights agrees, and
// `eaas up` with no --model serves it, scoring the held-out text through the cluster bit for bit as the monolith.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestGenerate } from '../../actors/gate/client.js';
import { openMonolithic, type MonolithicModel } from '../../model/monolithic.js';
import { engineScorer, HELD_OUT_FILE, perplexityOf, windowsOf, type WindowScorer } from '../../model/perplexity.js';
import { Tokenizer } from '../../model/tokenizer.js';
import { modelName, shippedModelDir } from '../../runtime/node/cluster.js';
import { closeNats, connectNats } from '../../runtime/transport/connection.js';
import { ensureBuilt } from '../helpers/build.js';
import { killStarted, startUp } from '../helpers/cli.js';

const DIR = shippedModelDir();
/** `eaas eval`'s window for this model: its 256 positions less the token a scoring request generates. */
const CONTEXT = 255;
/** The measured held-out perplexity is 48.75 (its model card); the bound leaves room for other CPUs' rounding, not for a worse model. */
const PERPLEXITY_BOUND = 50;
/** Windows of the held-out text the slower checks (PyTorch, the cluster) score. */
const CHECKED_WINDOWS = 8;
const PROMPTS = ['The President of the United States', 'Call me Ishmael.', 'The whale', 'Our nation must', 'In the year'];
const DICTIONARY = '/usr/share/dict/words';

let model: MonolithicModel;
let tokenizer: Tokenizer;
let heldOut: number[];

beforeAll(async () => {
  ensureBuilt();
  model = await openMonolithic(DIR);
  tokenizer = Tokenizer.load(DIR)!;
  heldOut = tokenizer.encode(readFileSync(join(DIR, HELD_OUT_FILE), 'utf8'));
});

afterAll(async () => {
  killStarted();
  await model?.close();
});

const monolithScore: WindowScorer = (w) => engineScorer(model.engine)(w);

/** The words of `text` (letters, inner apostrophes) and how many of them the dictionary knows, case aside. */
function dictionaryWords(text: string): { words: string[]; known: number } {
  const dict = new Set(readFileSync(DICTIONARY, 'utf8').split('\n').map((w) => w.toLowerCase()));
  const words = text.match(/[A-Za-z]+(?:'[A-Za-z]+)*/g) ?? [];
  const known = words.filter((w) => dict.has(w.toLowerCase()) || dict.has(w.toLowerCase().replace(/'s$/, ''))).length;
  return { words, known };
}

describe('the shipped model', () => {
  it('writes English: 90% or more of the words of greedy continuations are in the dictionary', async () => {
    const texts = await Promise.all(
      PROMPTS.map(async (p) => tokenizer.decode((await model.engine.generate(tokenizer.encode(p), { maxTokens: 32, stopAtEos: false })).tokens, { skipSpecialTokens: true })),
    );
    const { words, known } = dictionaryWords(texts.join(' '));
    console.log(PROMPTS.map((p, i) => `${p} →${texts[i]}`).join('\n'));
    expect(words.length).toBeGreaterThanOrEqual(PROMPTS.length * 12);
    expect(known / words.length).toBeGreaterThanOrEqual(0.9);
  });

  it('has a held-out perplexity under its bound', async () => {
    const r = await perplexityOf(heldOut, CONTEXT, monolithScore);
    console.log(`held-out perplexity ${r.perplexity} over ${r.tokens} tokens`);
    expect(r.tokens).toBeGreaterThan(40_000);
    expect(r.perplexity).toBeLessThan(PERPLEXITY_BOUND);
  }, 120_000);

  it("gives PyTorch's perplexity within 1e-3 and its greedy tokens (ops/train/check.py on the same weights)", async () => {
    const windows = windowsOf(heldOut, CONTEXT).slice(0, CHECKED_WINDOWS);
    const prompts = PROMPTS.map((p) => tokenizer.encode(p));
    const maxTokens = 8;
    const check = spawnSync('/usr/bin/python3', [join(import.meta.dirname, '..', '..', 'ops', 'train', 'check.py'), DIR], {
      input: JSON.stringify({ windows, prompts, max_tokens: maxTokens }),
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    expect(check.status, check.stderr).toBe(0);
    const torch = JSON.parse(check.stdout) as { nll_sum: number; tokens: number; greedy: number[][] };
    const ours = await perplexityOf(windows.flat(), CONTEXT, monolithScore);
    expect(torch.tokens).toBe(ours.tokens);
    const torchPerplexity = Math.exp(torch.nll_sum / torch.tokens);
    expect(Math.abs(torchPerplexity - ours.perplexity) / torchPerplexity).toBeLessThan(1e-3);
    // greedy tokens agree up to the first near-tie (two tokens within 1e-3 in logprob), which float rounding of two
    // correct implementations may break either way; every prompt must get most of its tokens compared
    for (const [i, p] of prompts.entries()) {
      const ours = await model.engine.generate(p, { maxTokens, stopAtEos: false, logprobs: 2 });
      const clear = ours.logprobs!.findIndex((t) => t.top![0].logprob - t.top![1].logprob < 1e-3);
      const n = clear < 0 ? maxTokens : clear;
      expect(n, `prompt ${i}: a near-tie at token ${clear}`).toBeGreaterThanOrEqual(maxTokens / 2);
      expect(ours.tokens.slice(0, n)).toEqual(torch.greedy[i].slice(0, n));
    }
  }, 120_000);

  it('is what `eaas up` serves with no --model: English through the OpenAI client, the same perplexity bits over NATS', async () => {
    const up = startUp(['--http-port', '0']);
    const { nats, http } = await up.ready;
    const client = new OpenAI({ baseURL: `${http}/v1`, apiKey: 'unused' });
    const r = await client.completions.create({ model: modelName(DIR), prompt: PROMPTS[0], max_tokens: 24, temperature: 0 });
    const { words, known } = dictionaryWords(r.choices[0].text);
    expect(words.length).toBeGreaterThanOrEqual(8);
    expect(known / words.length).toBeGreaterThanOrEqual(0.8);

    const windows = windowsOf(heldOut, CONTEXT).slice(0, CHECKED_WINDOWS).flat();
    const nc = await connectNats(nats, 'trained-model-test');
    try {
      const overNats: WindowScorer = async (w) => (await requestGenerate(nc, modelName(DIR), { prompt: w, max_tokens: 1, stop_at_eos: false, prompt_logprobs: true })).prompt_logprobs ?? [];
      const [cluster, monolith] = [await perplexityOf(windows, CONTEXT, overNats), await perplexityOf(windows, CONTEXT, monolithScore)];
      expect(cluster.tokens).toBe(monolith.tokens);
      expect(cluster.nll).toBe(monolith.nll);
    } finally {
      await closeNats(nc);
      up.child.kill('SIGTERM');
    }
  }, 120_000);
});
