// Logit bias, min tokens and the repetition, frequency and presence penalties: their arithmetic against vLLM's
// definitions written out plainly, and the engine's tokens against the raw logits of each step adjusted that way.
import { describe, expect, it } from 'vitest';
import { argmax } from '../../model/engine.js';
import { ModelInputError } from '../../model/errors.js';
import { LogitsAdjuster, type LogitsAdjustments } from '../../model/logits-adjustments.js';
import { prng } from '../../runtime/simulate/prng.js';
import { useTinyMonolith } from '../helpers/tiny-model.js';

const EOS = 2;

/**
 * vLLM's order and definitions, one token at a time in float64: bias; no EOS before min_tokens; repetition
 * (prompt and output tokens: positive logits divided, negative multiplied); frequency × count and presence once
 * for each output token.
 */
function adjustPlainly(raw: Float32Array, prompt: number[], generated: number[], a: LogitsAdjustments): Float32Array {
  const out = Float32Array.from(raw);
  for (const [id, b] of a.logitBias ?? []) out[id] = out[id] + b;
  if (generated.length < (a.minTokens ?? 0)) out[EOS] = -Infinity;
  const rep = a.repetitionPenalty ?? 1;
  for (const id of new Set([...prompt, ...generated])) if (rep !== 1) out[id] = out[id] > 0 ? out[id] / rep : out[id] * rep;
  for (const id of new Set(generated)) {
    const count = generated.filter((t) => t === id).length;
    out[id] = out[id] - ((a.frequencyPenalty ?? 0) * count + (a.presencePenalty ?? 0));
  }
  return out;
}

describe('logits adjustments', () => {
  it('computes what vLLM defines, on a copy, and leaves the raw logits alone', () => {
    const rand = prng(3);
    const V = 64;
    const a: LogitsAdjustments = { frequencyPenalty: 0.7, presencePenalty: -0.3, repetitionPenalty: 1.4, logitBias: [[5, 3], [9, -100]], minTokens: 4 };
    const prompt = [1, 7, 7, 20];
    const adjuster = LogitsAdjuster.create(a, prompt, [EOS], V)!;
    const generated: number[] = [];
    for (let step = 0; step < 8; step++) {
      const raw = Float32Array.from({ length: V }, () => (rand() - 0.5) * 8);
      const before = raw.slice();
      expect(adjuster.apply(raw, generated)).toEqual(adjustPlainly(raw, prompt, generated, a));
      expect(raw).toEqual(before);
      generated.push([7, 5, 33, 7, EOS, 7, 40, 5][step]);
    }
  });

  it('is absent when nothing would change, and refuses values out of range naming the field', () => {
    expect(LogitsAdjuster.create({ frequencyPenalty: 0, presencePenalty: 0, repetitionPenalty: 1, logitBias: [], minTokens: 0 }, [1], [EOS], 10)).toBeUndefined();
    const refused: [LogitsAdjustments, RegExp][] = [
      [{ frequencyPenalty: 2.5 }, /frequency penalty/],
      [{ presencePenalty: -3 }, /presence penalty/],
      [{ repetitionPenalty: 0 }, /repetition penalty/],
      [{ logitBias: [[10, 1]] }, /token id 10, outside the vocabulary \[0, 10\)/],
      [{ logitBias: [[3, 101]] }, /logit bias of token 3/],
      [{ minTokens: -1 }, /min tokens/],
    ];
    for (const [a, message] of refused) {
      expect(() => LogitsAdjuster.create(a, [1], [EOS], 10)).toThrow(ModelInputError);
      expect(() => LogitsAdjuster.create(a, [1], [EOS], 10)).toThrow(message);
    }
  });
});

describe('the engine with adjustments (tiny model)', () => {
  const tiny = useTinyMonolith();

  /** The raw logits after `tokens`, from a fresh one-token generation. */
  const rawAfter = async (tokens: number[]) => (await tiny.model.engine.generate(tokens, { maxTokens: 1, stopAtEos: false, logits: true })).logits!;

  it('picks each greedy token as the argmax of that step’s raw logits adjusted by vLLM’s definitions', async () => {
    const prompt = [1, 72, 101, 108, 108, 111];
    const a: LogitsAdjustments = { frequencyPenalty: 1.2, presencePenalty: 0.4, repetitionPenalty: 1.3, logitBias: [[65, 2]] };
    const plain = await tiny.model.engine.generate(prompt, { maxTokens: 10, stopAtEos: false });
    const r = await tiny.model.engine.generate(prompt, { maxTokens: 10, stopAtEos: false, adjust: a });
    // the penalties change what a random model repeats
    expect(r.tokens).not.toEqual(plain.tokens);
    for (let i = 0; i < r.tokens.length; i++) {
      const raw = await rawAfter([...prompt, ...r.tokens.slice(0, i)]);
      expect(r.tokens[i], `token ${i}`).toBe(argmax(adjustPlainly(raw, prompt, r.tokens.slice(0, i), a)));
    }
  });

  it('forces a token with a logit bias of 100, and holds the end of sequence back until min_tokens', async () => {
    expect((await tiny.model.engine.generate([1, 2, 3], { maxTokens: 5, stopAtEos: false, adjust: { logitBias: [[42, 100]] } })).tokens).toEqual([42, 42, 42, 42, 42]);
    const r = await tiny.model.engine.generate([1, 2, 3], { maxTokens: 10, adjust: { logitBias: [[EOS, 100]], minTokens: 3 } });
    expect(r.tokens).toHaveLength(4);
    expect(r.tokens.slice(0, 3)).not.toContain(EOS);
    expect(r.tokens[3]).toBe(EOS);
    expect(r.finishReason).toBe('eos');
  });

  it('samples the same tokens by seed with adjustments, alone or batched', async () => {
    const opts = { maxTokens: 8, stopAtEos: false, sampling: { temperature: 0.9, seed: 11 }, adjust: { frequencyPenalty: 0.5, repetitionPenalty: 1.2 } };
    const alone = await tiny.model.engine.generate([1, 300, 17], opts);
    const [batched] = await Promise.all([tiny.model.engine.generate([1, 300, 17], opts), tiny.model.engine.generate([5, 6], opts)]);
    expect(batched.tokens).toEqual(alone.tokens);
  });
});
