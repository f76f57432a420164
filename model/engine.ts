// Generation with continuous batching: every waiting request joins the next forward step; each sequence picks its
// tokens with its own sampler, reports them as they come, and leaves at once when its caller aborts.
import type { ModelConfig } from './config.js';
import { attentionRows } from './families/shape.js';
import { GenerationCancelledError, ModelInputError } from './errors.js';
import type { Forward } from './forward.js';
import { KvCache } from './kv-cache.js';
import { logSumExp, MAX_LOGPROBS, tokenLogprobs, type TokenLogprob } from './logprobs.js';
import { LogitsAdjuster, type LogitsAdjustments } from './logits-adjustments.js';
import { createSampler, type Sampler, type SamplingParams } from './sampling.js';
import { EOS_ID } from './byte-tokenizer.js';

export { argmax } from './sampling.js';
export type { SamplingParams, TokenLogprob };

/** Most sequences in one forward step; the rest wait for the next. Env: EAAS_MAX_BATCH. */
export const DEFAULT_MAX_BATCH = 64;

/** A generated token as it is reported: with `logprobs` asked for, its logprob and the top alternatives. */
export interface TokenEvent {
  id: number;
  logprob?: number;
  top?: TokenLogprob[];
}

export interface GenerateOptions {
  maxTokens: number;
  /** Stop at the end-of-sequence id (default true). */
  stopAtEos?: boolean;
  /** Return the logits of the last step. */
  logits?: boolean;
  /** Opaque tag handed to the step hook, e.g. a trace context. */
  tag?: unknown;
  /** Absent, or temperature absent or 0: greedy argmax. Seeded draws give the same tokens alone or batched. */
  sampling?: SamplingParams;
  /** Logit bias, min tokens and penalties, applied before the sampler (greedy too). */
  adjust?: LogitsAdjustments;
  /** Undefined: none; 0..20: each token's logprob (log-softmax of the raw logits) and this many top alternatives. */
  logprobs?: number;
  /** Each prompt token's logprob given the tokens before it (from the second on): what perplexity is made of. */
  promptLogprobs?: boolean;
  /** Called synchronously with each token as it is generated, in order, before `generate` resolves; a throw fails the request. */
  onToken?: (t: TokenEvent) => void;
  /** Abort: the sequence leaves at once (waiting or running), its KV cache is dropped, `generate` rejects with GenerationCancelledError. */
  signal?: AbortSignal;
}

export interface GenerateResult {
  promptTokens: number[];
  tokens: number[];
  finishReason: 'length' | 'eos';
  logits?: Float32Array;
  /** With `logprobs` asked for: one per generated token. */
  logprobs?: TokenEvent[];
  /** With `promptLogprobs` asked for: the logprob of prompt[i + 1] after prompt[0..i], float64. */
  promptLogprobs?: number[];
}

export interface EngineHooks {
  /** Wraps one forward step; `tags` are those of the requests in it. Must call `run` once. */
  step?<T>(tags: unknown[], run: () => Promise<T>): Promise<T>;
  /** A sequence joined the running batch after waiting `ms` since it was submitted. */
  admitted?(ms: number): void;
  /** A sequence's token came `ms` after its previous one (its first token, after the prompt, is not one). */
  interToken?(ms: number): void;
}

interface Sequence {
  prompt: number[];
  opts: GenerateOptions;
  /** Dropped when the sequence ends, so that a cancelled one frees its memory at once. */
  cache?: KvCache;
  next: number[];
  generated: number[];
  sampler: Sampler;
  adjuster?: LogitsAdjuster;
  logprobs?: TokenEvent[];
  promptLogprobs?: number[];
  /** When it was submitted (performance.now()), for its queue time. */
  submitted: number;
  /** When its last token came (performance.now()), for the inter-token latency. */
  lastTokenAt?: number;
  /** Resolved, rejected or cancelled: it takes no further part. */
  done: boolean;
  resolve(r: GenerateResult): void;
  reject(e: unknown): void;
  onAbort?: () => void;
}

export class Engine {
  private waitingSeqs: Sequence[] = [];
  /** The sequences of the step in progress (or the next one); a cancelled one is taken out at once. */
  private runningSeqs: Sequence[] = [];
  private looping = false;
  /** The batch of the step in progress, until its sequences are advanced. */
  private stepping: Sequence[] = [];

  constructor(
    private readonly config: ModelConfig,
    private readonly forward: Forward,
    private readonly hooks: EngineHooks = {},
    private readonly maxBatch = DEFAULT_MAX_BATCH,
    /** The ids that end a sequence (see eos.ts). */
    private readonly eosIds: readonly number[] = [EOS_ID],
  ) {}

  /** Sequences in the running batch. */
  get running(): number {
    return this.runningSeqs.length;
  }

  /** Sequences waiting for room in the batch. */
  get waiting(): number {
    return this.waitingSeqs.length;
  }

  /** Positions held in the KV caches of the sequences in progress, and what a full batch of full-length sequences would hold. */
  get kvCache(): { positions: number; capacity: number } {
    let positions = 0;
    for (const s of new Set([...this.stepping, ...this.runningSeqs])) positions += s.cache?.length ?? 0;
    return { positions, capacity: this.maxBatch * this.config.maxPositionEmbeddings };
  }

  /** Sequences waiting or in progress (cancelled ones not counted). */
  get load(): number {
    return this.waitingSeqs.length + this.runningSeqs.length;
  }

  generate(prompt: number[], opts: GenerateOptions): Promise<GenerateResult> {
    let sampler: Sampler;
    let adjuster: LogitsAdjuster | undefined;
    try {
      this.check(prompt, opts);
      sampler = createSampler(opts.sampling);
      adjuster = LogitsAdjuster.create(opts.adjust, prompt, opts.stopAtEos === false ? [] : this.eosIds, this.config.vocabSize);
    } catch (err) {
      return Promise.reject(err);
    }
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(new GenerationCancelledError('the generation was cancelled before it started', { cause: signal.reason }));
    return new Promise((resolve, reject) => {
      const c = this.config;
      const rows = attentionRows(c);
      const s: Sequence = {
        prompt,
        opts,
        cache: new KvCache(c.numHiddenLayers, rows.cacheA, rows.cacheB),
        next: prompt,
        generated: [],
        sampler,
        adjuster,
        logprobs: opts.logprobs !== undefined ? [] : undefined,
        submitted: performance.now(),
        done: false,
        resolve,
        reject,
      };
      if (signal) {
        s.onAbort = () => this.cancel(s, signal);
        signal.addEventListener('abort', s.onAbort, { once: true });
      }
      this.waitingSeqs.push(s);
      if (!this.looping) void this.loop();
    });
  }

  private check(prompt: number[], opts: GenerateOptions): void {
    const c = this.config;
    if (prompt.length === 0) throw new ModelInputError('the prompt is empty: give at least one token');
    const bad = prompt.find((id) => !Number.isInteger(id) || id < 0 || id >= c.vocabSize);
    if (bad !== undefined) throw new ModelInputError(`prompt id ${bad} is outside the vocabulary [0, ${c.vocabSize})`);
    if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 1) throw new ModelInputError(`max tokens must be a positive integer, got ${opts.maxTokens}`);
    if (prompt.length + opts.maxTokens > c.maxPositionEmbeddings) {
      throw new ModelInputError(`prompt (${prompt.length}) + max tokens (${opts.maxTokens}) exceeds the model's ${c.maxPositionEmbeddings} positions`);
    }
    const { logprobs } = opts;
    if (logprobs !== undefined && !(Number.isInteger(logprobs) && logprobs >= 0 && logprobs <= MAX_LOGPROBS)) {
      throw new ModelInputError(`logprobs must be an integer in [0, ${MAX_LOGPROBS}], got ${String(logprobs)}`);
    }
  }

  private async loop(): Promise<void> {
    this.looping = true;
    try {
      while (this.waitingSeqs.length + this.runningSeqs.length > 0) {
        const room = this.maxBatch - this.runningSeqs.length;
        const admitted = this.waitingSeqs.splice(0, Math.max(0, room));
        if (this.hooks.admitted) for (const s of admitted) this.hooks.admitted(performance.now() - s.submitted);
        this.runningSeqs.push(...admitted);
        // a copy: a sequence cancelled during the step leaves `running`, not the batch the logits line up with
        const batch = this.runningSeqs.slice();
        this.stepping = batch;
        // taken now: a sequence cancelled before the hook calls `run` has already let go of its cache
        const inputs = batch.map((s) => ({ cache: s.cache!, tokens: s.next, allLogits: s.opts.promptLogprobs === true && s.generated.length === 0 }));
        const run = () => this.forward.step(inputs);
        let logits: Float32Array[];
        try {
          logits = this.hooks.step ? await this.hooks.step(batch.map((s) => s.opts.tag), run) : await run();
        } catch (err) {
          // the caches of this batch are now partial: fail its requests, keep serving others
          this.runningSeqs = [];
          for (const s of batch) this.fail(s, err);
          continue;
        }
        this.runningSeqs = [];
        for (const [i, s] of batch.entries()) {
          // cancelled during the step: its result is ignored
          if (s.done) continue;
          try {
            this.advance(s, logits[i]);
          } catch (err) {
            this.fail(s, err);
          }
        }
      }
    } finally {
      this.looping = false;
      this.stepping = [];
    }
  }

  private advance(s: Sequence, stepLogits: Float32Array): void {
    const V = this.config.vocabSize;
    if (stepLogits.length > V) s.promptLogprobs = promptLogprobs(s.prompt, stepLogits, V);
    const logits = stepLogits.subarray(stepLogits.length - V);
    const token = s.sampler.next(s.adjuster ? s.adjuster.apply(logits, s.generated) : logits);
    s.generated.push(token);
    s.next = [token];
    const now = performance.now();
    if (s.lastTokenAt !== undefined) this.hooks.interToken?.(now - s.lastTokenAt);
    s.lastTokenAt = now;
    let event: TokenEvent = { id: token };
    if (s.logprobs) {
      event = { id: token, ...tokenLogprobs(logits, token, s.opts.logprobs!) };
      s.logprobs.push(event);
    }
    s.opts.onToken?.(event);
    // the callback may have aborted the sequence
    if (s.done) return;
    const eos = this.eosIds.includes(token) && s.opts.stopAtEos !== false;
    if (!eos && s.generated.length < s.opts.maxTokens) {
      this.runningSeqs.push(s);
      return;
    }
    this.end(s);
    s.resolve({
      promptTokens: s.prompt,
      tokens: s.generated,
      finishReason: eos ? 'eos' : 'length',
      logits: s.opts.logits ? logits.slice() : undefined,
      logprobs: s.logprobs,
      promptLogprobs: s.promptLogprobs,
    });
  }

  private fail(s: Sequence, err: unknown): void {
    if (s.done) return;
    this.end(s);
    s.reject(err);
  }

  private cancel(s: Sequence, signal: AbortSignal): void {
    if (s.done) return;
    remove(this.waitingSeqs, s);
    remove(this.runningSeqs, s);
    this.end(s);
    s.reject(new GenerationCancelledError(`the generation was cancelled after ${s.generated.length} tokens`, { cause: signal.reason }));
  }

  /** The sequence takes no further part: no listener left on its signal, its KV cache dropped. */
  private end(s: Sequence): void {
    s.done = true;
    s.cache = undefined;
    if (s.onAbort) s.opts.signal?.removeEventListener('abort', s.onAbort);
  }
}

/** The logprob of each prompt token after the first, from the logits of the prompt's rows [n·V]. */
function promptLogprobs(prompt: number[], logits: Float32Array, V: number): number[] {
  return prompt.slice(1).map((id, i) => {
    const row = logits.subarray(i * V, (i + 1) * V);
    return row[id] - logSumExp(row);
  });
}

function remove(list: Sequence[], s: Sequence): void {
  const i = list.indexOf(s);
  if (i >= 0) list.splice(i, 1);
}
