import { describe, expect, it } from 'vitest';
import { Checkpoint } from '../../model/checkpoint.js';
import type { GenerateResult } from '../../model/engine.js';
import { openMonolithic } from '../../model/monolithic.js';
import { generateRef } from '../helpers/reference.js';
import { referenceWeights, useTinyMonolith } from '../helpers/tiny-model.js';

const PROMPTS = [
  [1, 72, 101, 108, 108, 111],
  [1, 300, 17],
  [5],
  [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
];
const MAX_TOKENS = 8;

describe('monolithic generation', () => {
  const tiny = useTinyMonolith();

  const gen = (prompt: number[]) => tiny.model.engine.generate(prompt, { maxTokens: MAX_TOKENS, logits: true, stopAtEos: false });

  it('is deterministic across runs and across loads', async () => {
    const first = await gen(PROMPTS[0]);
    const second = await gen(PROMPTS[0]);
    const other = await openMonolithic(tiny.dir);
    const third = await other.engine.generate(PROMPTS[0], { maxTokens: MAX_TOKENS, logits: true, stopAtEos: false });
    await other.close();
    expect(first.tokens).toHaveLength(MAX_TOKENS);
    expect(second.tokens).toEqual(first.tokens);
    expect(third.tokens).toEqual(first.tokens);
    expect(Array.from(third.logits!)).toEqual(Array.from(first.logits!));
  });

  it('gives a prompt batched with others exactly the tokens and logits it gets alone', async () => {
    const alone: GenerateResult[] = [];
    for (const p of PROMPTS) alone.push(await gen(p));
    const batched = await Promise.all(PROMPTS.map(gen));
    batched.forEach((r, i) => {
      expect(r.tokens).toEqual(alone[i].tokens);
      expect(Array.from(r.logits!)).toEqual(Array.from(alone[i].logits!));
    });
    // the model is not degenerate: different prompts lead to different continuations
    expect(new Set(alone.map((r) => r.tokens.join(','))).size).toBeGreaterThan(1);
  });

  it('matches a naive TypeScript forward pass: same greedy tokens, logits within 1e-4', async () => {
    const weights = referenceWeights(tiny.dir);
    const config = Checkpoint.open(tiny.dir).config;
    for (const prompt of PROMPTS.slice(0, 2)) {
      const ours = await gen(prompt);
      const ref = generateRef(config, weights, prompt, MAX_TOKENS);
      expect(ours.tokens).toEqual(ref.tokens);
      let worst = 0;
      ours.logits!.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ref.logits[i]))));
      expect(worst).toBeLessThan(1e-4);
    }
  });

  it('rejects prompt ids outside the vocabulary and keeps serving', async () => {
    await expect(gen([1, 99999])).rejects.toThrow(/prompt id 99999 is outside the vocabulary/);
    await expect(gen([])).rejects.toThrow(/empty/);
    expect((await gen(PROMPTS[2])).tokens).toHaveLength(MAX_TOKENS);
  });
});
