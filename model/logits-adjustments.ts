// What a sequence's logits go through before its sampler, as vLLM does it: logit_bias, min_tokens (no end of
// sequence before), then the repetition, frequency and presence penalties. Logprobs stay those of the raw logits.
import { ModelInputError } from './errors.js';

export interface LogitsAdjustments {
  /** OpenAI's: subtracted once per time a token was generated; -2 to 2, 0 (default): off. */
  frequencyPenalty?: number;
  /** OpenAI's: subtracted once from every token generated at least once; -2 to 2, 0 (default): off. */
  presencePenalty?: number;
  /** vLLM's (CTRL's): a token seen in the prompt or the output has a positive logit divided by it, a negative one multiplied; > 0, 1 (default): off. */
  repetitionPenalty?: number;
  /** OpenAI's: added to the logit of each token id; -100 to 100. */
  logitBias?: [number, number][];
  /** vLLM's: no end-of-sequence token before this many tokens are generated; 0 (default): off. */
  minTokens?: number;
}

const MAX_PENALTY = 2;
const MAX_BIAS = 100;

/** Throws ModelInputError naming the first field outside its range. */
export function checkAdjustments(a: LogitsAdjustments | undefined, vocabSize: number): void {
  if (a === undefined) return;
  const inRange = (v: number | undefined, lo: number, hi: number) => v === undefined || (typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi);
  if (!inRange(a.frequencyPenalty, -MAX_PENALTY, MAX_PENALTY)) throw new ModelInputError(`frequency penalty must be a number from -2 to 2, got ${String(a.frequencyPenalty)}`);
  if (!inRange(a.presencePenalty, -MAX_PENALTY, MAX_PENALTY)) throw new ModelInputError(`presence penalty must be a number from -2 to 2, got ${String(a.presencePenalty)}`);
  if (a.repetitionPenalty !== undefined && !(typeof a.repetitionPenalty === 'number' && Number.isFinite(a.repetitionPenalty) && a.repetitionPenalty > 0)) {
    throw new ModelInputError(`repetition penalty must be a number > 0 (1: off), got ${String(a.repetitionPenalty)}`);
  }
  if (a.minTokens !== undefined && !(Number.isSafeInteger(a.minTokens) && a.minTokens >= 0)) throw new ModelInputError(`min tokens must be an integer >= 0, got ${String(a.minTokens)}`);
  for (const pair of a.logitBias ?? []) {
    const [id, bias] = Array.isArray(pair) ? pair : [undefined, undefined];
    if (!(typeof id === 'number' && Number.isInteger(id) && id >= 0 && id < vocabSize)) throw new ModelInputError(`logit bias names token id ${String(id)}, outside the vocabulary [0, ${vocabSize})`);
    if (!inRange(bias, -MAX_BIAS, MAX_BIAS)) throw new ModelInputError(`logit bias of token ${id} must be a number from -100 to 100, got ${String(bias)}`);
  }
}

/** The adjustments of one sequence, with the counts of what it generated so far. */
export class LogitsAdjuster {
  private readonly counts = new Map<number, number>();
  private counted = 0;
  private readonly seen: Set<number>;
  private scratch = new Float32Array(0);

  private constructor(
    private readonly a: LogitsAdjustments,
    prompt: readonly number[],
    private readonly eosIds: readonly number[],
  ) {
    this.seen = new Set(a.repetitionPenalty !== undefined && a.repetitionPenalty !== 1 ? prompt : []);
  }

  /** The sequence's adjuster, or undefined when nothing would change its logits (checked first: ModelInputError). */
  static create(a: LogitsAdjustments | undefined, prompt: readonly number[], eosIds: readonly number[], vocabSize: number): LogitsAdjuster | undefined {
    checkAdjustments(a, vocabSize);
    if (a === undefined) return undefined;
    const active = !!a.frequencyPenalty || !!a.presencePenalty || (a.repetitionPenalty ?? 1) !== 1 || (a.logitBias?.length ?? 0) > 0 || !!a.minTokens;
    return active ? new LogitsAdjuster(a, prompt, eosIds) : undefined;
  }

  /** The logits to sample from after `generated`: a copy (the raw ones still give the logprobs), valid until the next call. */
  apply(logits: Float32Array, generated: readonly number[]): Float32Array {
    for (; this.counted < generated.length; this.counted++) {
      const t = generated[this.counted];
      this.counts.set(t, (this.counts.get(t) ?? 0) + 1);
      this.seen.add(t);
    }
    if (this.scratch.length !== logits.length) this.scratch = new Float32Array(logits.length);
    const out = this.scratch;
    out.set(logits);
    for (const [id, bias] of this.a.logitBias ?? []) out[id] += bias;
    if (generated.length < (this.a.minTokens ?? 0)) for (const id of this.eosIds) if (id < out.length) out[id] = -Infinity;
    const rep = this.a.repetitionPenalty ?? 1;
    if (rep !== 1) for (const id of this.seen) out[id] = out[id] > 0 ? out[id] / rep : out[id] * rep;
    const freq = this.a.frequencyPenalty ?? 0;
    const presence = this.a.presencePenalty ?? 0;
    if (freq !== 0 || presence !== 0) for (const [id, n] of this.counts) out[id] -= freq * n + presence;
    return out;
  }
}
