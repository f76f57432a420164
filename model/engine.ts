// Greedy generation with continuous batching: every waiting request joins the next forward step.
import type { MixtralConfig } from './config.js';
import { ModelInputError } from './errors.js';
import type { Forward } from './forward.js';
import { KvCache } from './kv-cache.js';
import { EOS_ID } from './tokenizer.js';

/** Most sequences in one forward step; the rest wait for the next. Env: EAAS_MAX_BATCH. */
export const DEFAULT_MAX_BATCH = 64;

export interface GenerateOptions {
  maxTokens: number;
  /** Stop at the end-of-sequence id (default true). */
  stopAtEos?: boolean;
  /** Return the logits of the last step. */
  logits?: boolean;
  /** Opaque tag handed to the step hook, e.g. a trace context. */
  tag?: unknown;
}

export interface GenerateResult {
  promptTokens: number[];
  tokens: number[];
  finishReason: 'length' | 'eos';
  logits?: Float32Array;
}

export interface EngineHooks {
  /** Wraps one forward step; `tags` are those of the requests in it. Must call `run` once. */
  step?<T>(tags: unknown[], run: () => Promise<T>): Promise<T>;
}

interface Sequence {
  prompt: number[];
  opts: GenerateOptions;
  cache: KvCache;
  next: number[];
  generated: number[];
  resolve(r: GenerateResult): void;
  reject(e: unknown): void;
}

export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

export class Engine {
  private waiting: Sequence[] = [];
  private running: Sequence[] = [];
  private looping = false;

  constructor(
    private readonly config: MixtralConfig,
    private readonly forward: Forward,
    private readonly hooks: EngineHooks = {},
    private readonly maxBatch = DEFAULT_MAX_BATCH,
  ) {}

  /** Sequences waiting or in progress. */
  get load(): number {
    return this.waiting.length + this.running.length;
  }

  generate(prompt: number[], opts: GenerateOptions): Promise<GenerateResult> {
    try {
      this.check(prompt, opts);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const c = this.config;
      this.waiting.push({
        prompt,
        opts,
        cache: new KvCache(c.numHiddenLayers, c.numKeyValueHeads * c.headDim),
        next: prompt,
        generated: [],
        resolve,
        reject,
      });
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
  }

  private async loop(): Promise<void> {
    this.looping = true;
    try {
      while (this.waiting.length + this.running.length > 0) {
        const room = this.maxBatch - this.running.length;
        this.running.push(...this.waiting.splice(0, Math.max(0, room)));
        const batch = this.running;
        const run = () => this.forward.step(batch.map((s) => ({ cache: s.cache, tokens: s.next })));
        let logits: Float32Array[];
        try {
          logits = this.hooks.step ? await this.hooks.step(batch.map((s) => s.opts.tag), run) : await run();
        } catch (err) {
          // the caches of this batch are now partial: fail its requests, keep serving others
          this.running = [];
          for (const s of batch) s.reject(err);
          continue;
        }
        this.running = [];
        for (const [i, s] of batch.entries()) {
          try {
            this.advance(s, logits[i]);
          } catch (err) {
            s.reject(err);
          }
        }
      }
    } finally {
      this.looping = false;
    }
  }

  private advance(s: Sequence, logits: Float32Array): void {
    const token = argmax(logits);
    s.generated.push(token);
    s.next = [token];
    const eos = token === EOS_ID && s.opts.stopAtEos !== false;
    if (!eos && s.generated.length < s.opts.maxTokens) {
      this.running.push(s);
      return;
    }
    s.resolve({
      promptTokens: s.prompt,
      tokens: s.generated,
      finishReason: eos ? 'eos' : 'length',
      logits: s.opts.logits ? logits.slice() : undefined,
    });
  }
}
