// A steady, seeded stream of generate requests through a real cluster, every request recorded.
import type { NatsConnection } from 'nats';
import { requestGenerate, streamGenerate } from '../../../actors/gate/client.js';
import { GenerateError } from '../../../actors/protocol/errors.js';
import { monolithicReference } from '../reference.js';
import { prng } from '../../../runtime/simulate/prng.js';

export const pick = <T>(rng: () => number, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;

export interface PromptSetOptions {
  count?: number;
  minLen?: number;
  maxLen?: number;
  vocab?: number;
}

/** Ids 0..2 are PAD/BOS/EOS in generated checkpoints; prompts use the rest of the vocabulary. */
const FIRST_ORDINARY_ID = 3;

export function makePrompts(seed: number, o: PromptSetOptions = {}): number[][] {
  const { count = 12, minLen = 3, maxLen = 20, vocab = 512 } = o;
  const rng = prng(seed);
  return Array.from({ length: count }, () => {
    const len = minLen + Math.floor(rng() * (maxLen - minLen + 1));
    return Array.from({ length: len }, () => FIRST_ORDINARY_ID + Math.floor(rng() * (vocab - FIRST_ORDINARY_ID)));
  });
}

export interface Expected {
  tokens: number[];
  logits: Float32Array;
}

/** The reference answers: the monolithic executor on the same checkpoint (test/helpers/reference.ts). */
export async function expectedOutputs(dir: string, prompts: number[][], maxTokens: number): Promise<Expected[]> {
  const results = await monolithicReference(dir, prompts, { maxTokens, logits: true, stopAtEos: false });
  return results.map((r) => ({ tokens: r.tokens, logits: r.logits! }));
}

export type Outcome = 'ok' | 'error' | 'unknown';

/** How a request was made: one NATS request and its answer, a NATS stream, or an HTTP SSE stream through an API front. */
export type Via = 'request' | 'stream' | 'sse';

export interface RequestRecord {
  id: number;
  via?: Via;
  /** Index into the prompt set. */
  prompt: number;
  worker: number;
  start: number;
  /** Unset while in flight; still unset after the run means the client call never settled (lost). */
  end?: number;
  outcome?: Outcome;
  tokens?: number[];
  logits?: Float32Array;
  error?: string;
  code?: number;
}

export interface WorkloadOptions {
  nc: NatsConnection;
  model: string;
  prompts: number[][];
  maxTokens: number;
  /** Requests in flight at once. */
  concurrency?: number;
  durationMs: number;
  /** Client-side bound of one request; no answer by then is an unknown outcome. */
  requestTimeoutMs: number;
  seed: number;
  /** Also streamed requests, in turn with plain ones: over NATS, and with `http` (an API front's URL) over SSE. */
  streams?: { http?: string };
}

export interface WorkloadRun {
  records: RequestRecord[];
  startedAt: number;
  /** When the last request was issued. */
  stoppedAt: number;
  /** When the last request settled. */
  finishedAt: number;
}

export interface RunningWorkload {
  readonly records: RequestRecord[];
  readonly startedAt: number;
  readonly deadline: number;
  /** Resolves when issuing has stopped and every request has settled (or was given up as lost). */
  readonly done: Promise<WorkloadRun>;
  /** Stop issuing new requests early. */
  stop(): void;
}

/** Extra time past the client bound after which a request whose call never settled is counted lost. */
const LOST_GRACE_MS = 5_000;

export function startWorkload(o: WorkloadOptions): RunningWorkload {
  const records: RequestRecord[] = [];
  const rng = prng(o.seed);
  const startedAt = Date.now();
  const deadline = startedAt + o.durationMs;
  let stopped = false;
  let stoppedAt = startedAt;
  let nextId = 0;

  const kinds: Via[] = o.streams ? ['request', 'stream', ...(o.streams.http ? (['sse'] as const) : [])] : ['request'];
  const one = async (worker: number): Promise<void> => {
    const rec: RequestRecord = { id: nextId++, prompt: Math.floor(rng() * o.prompts.length), worker, start: Date.now() };
    rec.via = kinds[rec.id % kinds.length];
    records.push(rec);
    const prompt = o.prompts[rec.prompt];
    const answer: Promise<{ tokens: number[]; logits?: Float32Array }> =
      rec.via === 'stream'
        ? streamTokens(o, prompt)
        : rec.via === 'sse'
          ? sseTokens(o.streams!.http!, o.model, prompt, o.maxTokens, o.requestTimeoutMs)
          : requestGenerate(o.nc, o.model, { prompt, max_tokens: o.maxTokens, logits: true, stop_at_eos: false }, o.requestTimeoutMs);
    const call = answer.then(
      (r) => {
        rec.end = Date.now();
        rec.outcome = 'ok';
        rec.tokens = r.tokens;
        rec.logits = r.logits;
      },
      (err: unknown) => {
        rec.end = Date.now();
        rec.error = err instanceof Error ? err.message : String(err);
        rec.code = err instanceof GenerateError ? err.code : (err as { code?: number }).code;
        // the client's own timeout: the cluster never answered within the bound
        rec.outcome = rec.code === 504 ? 'unknown' : 'error';
      },
    );
    // a call that never settles, even past its own bound, must not stall the workload: it stays lost
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([call, new Promise<void>((r) => (timer = setTimeout(r, o.requestTimeoutMs + LOST_GRACE_MS)))]);
    clearTimeout(timer);
  };

  const worker = async (w: number): Promise<void> => {
    while (!stopped && Date.now() < deadline) {
      stoppedAt = Date.now();
      await one(w);
    }
  };

  const done = Promise.all(Array.from({ length: o.concurrency ?? 4 }, (_, w) => worker(w))).then(() => ({
    records,
    startedAt,
    stoppedAt,
    finishedAt: Math.max(startedAt, ...records.map((r) => r.end ?? 0)),
  }));
  return {
    records,
    startedAt,
    deadline,
    done,
    stop: () => {
      stopped = true;
    },
  };
}

/** A NATS stream's tokens, in the order the client hands them on (it keeps them by index across a failover). */
async function streamTokens(o: WorkloadOptions, prompt: number[]): Promise<{ tokens: number[] }> {
  const tokens: number[] = [];
  await streamGenerate(o.nc, o.model, { prompt, max_tokens: o.maxTokens, stop_at_eos: false }, { token: (t) => tokens.push(t.id) }, { timeoutMs: o.requestTimeoutMs });
  return { tokens };
}

/** An HTTP SSE stream's tokens, as an OpenAI client reads them (vLLM's `token_ids` in each chunk), greedy. */
async function sseTokens(http: string, model: string, prompt: number[], maxTokens: number, timeoutMs: number): Promise<{ tokens: number[] }> {
  let res: Response;
  try {
    res = await fetch(`${http}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream: true, return_token_ids: true }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw Object.assign(new Error(`SSE request failed: ${(err as Error).message}`), { code: (err as Error).name === 'TimeoutError' ? 504 : 502 });
  }
  if (res.status !== 200) throw Object.assign(new Error(`SSE answered ${res.status}: ${await res.text()}`), { code: res.status });
  const tokens: number[] = [];
  let done = false;
  const text = await res.text();
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: ')) continue;
    const data = line.slice('data: '.length);
    if (data === '[DONE]') done = true;
    else {
      const chunk = JSON.parse(data) as { choices?: { token_ids?: number[] }[]; error?: { message: string; code: number } };
      if (chunk.error) throw Object.assign(new Error(`SSE stream failed: ${chunk.error.message}`), { code: chunk.error.code });
      for (const c of chunk.choices ?? []) tokens.push(...(c.token_ids ?? []));
    }
  }
  if (!done) throw Object.assign(new Error('SSE stream ended without [DONE]'), { code: 502 });
  return { tokens };
}
