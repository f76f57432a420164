import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { argmax, DEFAULT_MAX_BATCH, type GenerateOptions, type GenerateResult, type TokenEvent } from '../../model/engine.js';
import { GenerationCancelledError } from '../../model/errors.js';
import { openMonolithic, type MonolithicModel } from '../../model/monolithic.js';
import { tinyCheckpointDir } from '../helpers/tiny-model.js';

const PROMPTS = [
  [1, 72, 101, 108, 108, 111],
  [1, 300, 17],
  [5],
  [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
];
const MAX_TOKENS = 8;
const SAMPLED = { temperature: 1, topK: 200, topP: 0.95 };

/** log-softmax of a row in float64, written plainly. */
function logSoftmax(logits: Float32Array): number[] {
  const max = Math.max(...logits);
  const lse = max + Math.log(Array.from(logits).reduce((a, l) => a + Math.exp(l - max), 0));
  return Array.from(logits, (l) => l - lse);
}

describe('engine: sampling, per-token streaming, cancellation', () => {
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let model: MonolithicModel;
  /** The tags of every forward step, in order. */
  let steps: unknown[][] = [];
  /** Every inter-token gap the engine reported, ms. */
  let gaps: number[] = [];

  beforeAll(async () => {
    tiny = tinyCheckpointDir();
    model = await openMonolithic(tiny.dir, undefined, {
      hooks: {
        step: (tags, run) => {
          steps.push(tags);
          return run();
        },
        interToken: (ms) => gaps.push(ms),
      },
    });
  });
  afterAll(async () => {
    await model?.close();
    tiny?.remove();
  });
  beforeEach(() => {
    steps = [];
    gaps = [];
  });

  const gen = (prompt: number[], opts: Partial<GenerateOptions> = {}) => model.engine.generate(prompt, { maxTokens: MAX_TOKENS, stopAtEos: false, ...opts });
  const stepsWith = (tag: unknown) => steps.filter((tags) => tags.includes(tag)).length;

  it('temperature 0 gives the greedy tokens and logits of a request without sampling', async () => {
    for (const prompt of PROMPTS) {
      const greedy = await gen(prompt, { logits: true });
      const zero = await gen(prompt, { logits: true, sampling: { temperature: 0, seed: 3, topK: 5, topP: 0.5 } });
      const undefinedFields = await gen(prompt, { logits: true, sampling: { temperature: undefined, seed: undefined } });
      expect(zero.tokens).toEqual(greedy.tokens);
      expect(undefinedFields.tokens).toEqual(greedy.tokens);
      expect(Array.from(zero.logits!)).toEqual(Array.from(greedy.logits!));
      expect(greedy.tokens.at(-1)).toBe(argmax(greedy.logits!));
      expect(greedy.logprobs).toBeUndefined();
    }
  });

  it('gives a seeded sequence the same tokens alone and batched with others', async () => {
    const opts = (i: number): Partial<GenerateOptions> => ({ sampling: { ...SAMPLED, seed: 100 + i }, logits: true });
    const alone: GenerateResult[] = [];
    for (const [i, p] of PROMPTS.entries()) alone.push(await gen(p, opts(i)));
    steps = [];
    // batched, started in another order, with greedy and other-seed sequences among them
    const others = [gen(PROMPTS[1]), gen(PROMPTS[0], { sampling: { temperature: 0.7, seed: 5 } })];
    const batched = await Promise.all([...PROMPTS.entries()].reverse().map(([i, p]) => gen(p, opts(i))));
    await Promise.all(others);
    batched.reverse().forEach((r, i) => {
      expect(r.tokens).toEqual(alone[i].tokens);
      expect(Array.from(r.logits!)).toEqual(Array.from(alone[i].logits!));
    });
    expect(Math.max(...steps.map((tags) => tags.length))).toBe(PROMPTS.length + 2);
    // sampling did happen: not the greedy tokens
    const greedy = await Promise.all(PROMPTS.map((p) => gen(p)));
    expect(alone.map((r) => r.tokens)).not.toEqual(greedy.map((r) => r.tokens));
  });

  it('reports the time between each sequence\'s tokens, not before its first', async () => {
    const started = performance.now();
    await Promise.all([gen(PROMPTS[0]), gen(PROMPTS[1], { maxTokens: 3 })]);
    const wall = performance.now() - started;
    expect(gaps).toHaveLength(MAX_TOKENS - 1 + 2);
    for (const ms of gaps) {
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThan(wall);
    }
  });

  it('gives the same seed the same tokens and different seeds different tokens', async () => {
    const run = (seed: number) => gen(PROMPTS[0], { sampling: { temperature: 1, seed } });
    const [a, again, b] = [await run(1), await run(1), await run(2)];
    expect(again.tokens).toEqual(a.tokens);
    expect(b.tokens).not.toEqual(a.tokens);
  });

  it('reports each token’s logprob (log-softmax of the raw logits) and the top alternatives, sorted', async () => {
    // temperature ≠ 1: the logprobs are of the raw logits, not the tempered ones
    const sampling = { ...SAMPLED, temperature: 0.7, seed: 42 };
    const full = await gen(PROMPTS[0], { sampling, logprobs: 5 });
    expect(full.logprobs).toHaveLength(MAX_TOKENS);
    expect(full.logprobs!.map((e) => e.id)).toEqual(full.tokens);
    // step j's logits: the same request cut at j + 1 tokens (seeded, so the same tokens up to there)
    for (let j = 0; j < MAX_TOKENS; j++) {
      const cut = await gen(PROMPTS[0], { sampling, logprobs: 5, logits: true, maxTokens: j + 1 });
      expect(cut.tokens).toEqual(full.tokens.slice(0, j + 1));
      const ref = logSoftmax(cut.logits!);
      const event = full.logprobs![j];
      expect(event.logprob).toBeCloseTo(ref[event.id], 10);
      const order = Array.from(ref.keys()).sort((a, b) => ref[b] - ref[a] || a - b);
      expect(event.top!.map((t) => t.id)).toEqual(order.slice(0, 5));
      event.top!.forEach((t, i) => {
        expect(t.logprob).toBeCloseTo(ref[t.id], 10);
        if (i > 0) expect(t.logprob).toBeLessThanOrEqual(event.top![i - 1].logprob);
      });
      const chosen = event.top!.find((t) => t.id === event.id);
      if (chosen) expect(chosen.logprob).toBe(event.logprob);
    }
    // greedy: the chosen token is the first alternative
    const greedy = await gen(PROMPTS[1], { logprobs: 3 });
    for (const e of greedy.logprobs!) {
      expect(e.top).toHaveLength(3);
      expect(e.top![0]).toEqual({ id: e.id, logprob: e.logprob });
    }
    const none = await gen(PROMPTS[1], { logprobs: 0 });
    expect(none.logprobs!.every((e) => e.top!.length === 0 && e.logprob! < 0)).toBe(true);
    await expect(gen(PROMPTS[1], { logprobs: 21 })).rejects.toThrow(/logprobs must be an integer in \[0, 20\]/);
    await expect(gen(PROMPTS[1], { sampling: { temperature: 1, topP: 2 } })).rejects.toThrow(/topP/);
    expect(model.engine.load).toBe(0);
  });

  it('calls onToken once per token, in order, as the steps go, before generate resolves', async () => {
    const log: string[] = [];
    const stream = (name: string, prompt: number[], opts: Partial<GenerateOptions>) => {
      const events: TokenEvent[] = [];
      let resolved = false;
      let lateTokens = 0;
      return gen(prompt, {
        ...opts,
        onToken: (t) => {
          if (resolved) lateTokens++;
          events.push(t);
          log.push(name);
        },
      }).then((r) => {
        resolved = true;
        return { r, events, lateTokens: () => lateTokens };
      });
    };
    const [a, b] = await Promise.all([
      stream('a', PROMPTS[0], { sampling: { temperature: 1, seed: 8 }, logprobs: 2 }),
      stream('b', PROMPTS[2], { maxTokens: 3 }),
    ]);
    expect([a.lateTokens(), b.lateTokens()]).toEqual([0, 0]);
    expect(a.events.map((e) => e.id)).toEqual(a.r.tokens);
    expect(a.events).toEqual(a.r.logprobs);
    expect(b.events).toEqual(b.r.tokens.map((id) => ({ id })));
    // one token of each per step while both run (b joins at a's second step): streamed, not delivered at the end
    expect(log.slice(0, 7).sort()).toEqual(['a', 'a', 'a', 'a', 'b', 'b', 'b']);
    expect(log).toHaveLength(MAX_TOKENS + 3);
  });

  it('counts the KV cache positions its sequences hold (the KV cache usage metric), and none once they are done', async () => {
    const prompt = PROMPTS[0];
    const held: number[] = [];
    const r = await gen(prompt, { onToken: () => held.push(model.engine.kvCache.positions) });
    // token i comes from the step that took the prompt (i = 0) or token i - 1 into the cache
    expect(held).toEqual(r.tokens.map((_, i) => prompt.length + i));
    expect(model.engine.kvCache).toEqual({ positions: 0, capacity: DEFAULT_MAX_BATCH * model.checkpoint.config.maxPositionEmbeddings });
  });

  it('fails a request whose onToken throws, and keeps serving', async () => {
    const boom = new Error('client went away');
    let calls = 0;
    const failing = gen(PROMPTS[0], {
      onToken: () => {
        if (++calls === 2) throw boom;
      },
    });
    const other = gen(PROMPTS[1]);
    await expect(failing).rejects.toBe(boom);
    expect(calls).toBe(2);
    expect((await other).tokens).toHaveLength(MAX_TOKENS);
    expect(model.engine.load).toBe(0);
  });

  it('cancels a running sequence at once: it leaves the batch, others finish with their normal tokens', async () => {
    const alone = [await gen(PROMPTS[1]), await gen(PROMPTS[3], { sampling: { ...SAMPLED, seed: 1 } })];
    steps = [];
    const ctrl = new AbortController();
    const reason = new Error('stop');
    let tokens = 0;
    let atAbort: { tokens: number; load: number; steps: number } | undefined;
    const cancelled = gen(PROMPTS[0], {
      maxTokens: 20,
      tag: 'cancelled',
      signal: ctrl.signal,
      // abort from outside while the next step runs
      onToken: () => {
        if (++tokens === 2)
          setImmediate(() => {
            ctrl.abort(reason);
            atAbort = { tokens, load: model.engine.load, steps: steps.length };
          });
      },
    });
    const others = Promise.all([gen(PROMPTS[1]), gen(PROMPTS[3], { sampling: { ...SAMPLED, seed: 1 } })]);
    const error = await cancelled.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GenerationCancelledError);
    expect((error as Error).cause).toBe(reason);
    // at the abort: two tokens out, the two others still counted, the cancelled one not
    expect(atAbort!.tokens).toBe(2);
    expect(atAbort!.load).toBe(2);
    const done = await others;
    expect(done.map((r) => r.tokens)).toEqual(alone.map((r) => r.tokens));
    // no token after the abort, and no step started after it carried the sequence
    expect(tokens).toBe(2);
    expect(steps.slice(atAbort!.steps).some((tags) => tags.includes('cancelled'))).toBe(false);
    expect(steps.length).toBeGreaterThan(atAbort!.steps);
    // the prompt's step, the second token's, and the one in progress at the abort (its result ignored)
    expect(stepsWith('cancelled')).toBe(3);
    expect(model.engine.load).toBe(0);
  });

  it('cancels a sequence from inside its own onToken', async () => {
    const ctrl = new AbortController();
    let tokens = 0;
    const cancelled = gen(PROMPTS[0], {
      tag: 'self',
      signal: ctrl.signal,
      onToken: () => {
        if (++tokens === 3) ctrl.abort();
      },
    });
    await expect(cancelled).rejects.toBeInstanceOf(GenerationCancelledError);
    expect(tokens).toBe(3);
    expect(stepsWith('self')).toBe(3);
    expect(model.engine.load).toBe(0);
  });

  it('cancels a waiting sequence before it runs a step', async () => {
    const ctrl = new AbortController();
    let waiting: Promise<unknown> | undefined;
    let loads: number[] = [];
    const first = gen(PROMPTS[1], {
      onToken: () => {
        if (waiting) return;
        // the engine is between steps: this one waits for the next
        waiting = gen(PROMPTS[2], { tag: 'waiting', signal: ctrl.signal }).catch((e: unknown) => e);
        loads = [model.engine.load];
        ctrl.abort();
        loads.push(model.engine.load);
      },
    });
    expect((await first).tokens).toHaveLength(MAX_TOKENS);
    expect(await waiting).toBeInstanceOf(GenerationCancelledError);
    expect(loads).toEqual([1, 0]);
    expect(stepsWith('waiting')).toBe(0);
    expect(model.engine.load).toBe(0);
  });

  it('rejects at once a request whose signal is already aborted', async () => {
    const ctrl = new AbortController();
    ctrl.abort('gone');
    const p = gen(PROMPTS[0], { tag: 'late', signal: ctrl.signal });
    expect(model.engine.load).toBe(0);
    const error = await p.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GenerationCancelledError);
    expect((error as Error).message).toMatch(/before it started/);
    expect((error as Error).cause).toBe('gone');
    expect(stepsWith('late')).toBe(0);
    // and the engine still serves
    expect((await gen(PROMPTS[2])).tokens).toHaveLength(MAX_TOKENS);
  });
});
