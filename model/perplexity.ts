// Perplexity of a token sequence: cut into windows of the model's context, each scored on its own (every
// token after a window's first, given the ones before it in the window), the logprobs summed in order.
import type { Engine } from './engine.js';
import { WindowScoreError } from './errors.js';

/** The logprob of window[i + 1] after window[0..i], for each i: what a model says of one window. */
export type WindowScorer = (window: number[]) => Promise<number[]>;

/** Scores windows with an engine in this process: each window a prompt whose logprobs are asked for, one token generated. */
export const engineScorer = (engine: Engine): WindowScorer => async (window) =>
  (await engine.generate(window, { maxTokens: 1, stopAtEos: false, promptLogprobs: true })).promptLogprobs!;

export interface Perplexity {
  perplexity: number;
  /** Mean negative log-likelihood per scored token (nats). */
  nll: number;
  tokens: number;
  windows: number;
}

/** Consecutive windows of `context` tokens (the last may be shorter); a window of one token scores nothing and is left out. */
export function windowsOf(ids: readonly number[], context: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i + 1 < ids.length; i += context) out.push(ids.slice(i, i + context));
  return out.filter((w) => w.length > 1);
}

/** Scores every window, `inFlight` at a time, and sums in window order, so the result does not depend on which answered first. */
export async function perplexityOf(ids: readonly number[], context: number, score: WindowScorer, inFlight = 8, onWindow?: (done: number, of: number) => void): Promise<Perplexity> {
  const windows = windowsOf(ids, context);
  const scores: number[][] = new Array(windows.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < windows.length) {
      const i = next++;
      const s = await score(windows[i]);
      if (s.length !== windows[i].length - 1) throw new WindowScoreError(`window ${i} got ${s.length} logprobs for its ${windows[i].length - 1} tokens after the first`);
      scores[i] = s;
      onWindow?.(++done, windows.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, windows.length) }, worker));
  let sum = 0;
  let tokens = 0;
  for (const s of scores) {
    for (const lp of s) sum -= lp;
    tokens += s.length;
  }
  const nll = sum / tokens;
  return { perplexity: Math.exp(nll), nll, tokens, windows: windows.length };
}

/** Windows longer than this cost more memory than they tell. */
const DEFAULT_CONTEXT = 256;

/** The default window: DEFAULT_CONTEXT, or what fits the model's positions beside the one token a scoring request generates. */
export const defaultContext = (maxPositions: number) => Math.min(DEFAULT_CONTEXT, maxPositions - 1);

/** The held-out text a checkpoint of ours ships beside its weights: `eaas eval`'s default. */
export const HELD_OUT_FILE = 'heldout.txt';
