// One choice of an API request: streams tokens from a gate, turns them into text deltas, applies stop strings.
import type { NatsConnection } from 'nats';
import { TextStream } from '../../model/text-stream.js';
import type { Tokenizer } from '../../model/tokenizer.js';
import { streamGenerate } from '../gate/client.js';
import type { WireToken } from '../protocol/messages.js';
import type { FinishedReason, FrontMetrics } from './metrics.js';
import type { GenerationParams } from './requests.js';

/** A generated token with its logprob and alternatives, as the responses show it. */
export interface TokenInfo {
  id: number;
  text: string;
  logprob?: number;
  top?: { id: number; text: string; logprob: number }[];
}

export interface ChoiceDelta {
  text: string;
  tokens: TokenInfo[];
}

export interface ChoiceResult {
  text: string;
  tokens: TokenInfo[];
  finishReason: 'stop' | 'length';
  /** From sending the request to the first token; undefined when none came. */
  ttftMs?: number;
}

export interface ChoiceContext {
  nc: NatsConnection;
  model: string;
  tokenizer?: Tokenizer;
  metrics: FrontMetrics;
  timeoutMs?: number;
}

/**
 * Runs one generation of `prompt`. Text is released as it becomes final: a character split over tokens waits
 * for its last byte, and the tail that could still begin a stop string waits until it cannot. A stop string
 * ends the choice (the gate's sequence is cancelled) and is not part of the text.
 */
export async function runChoice(ctx: ChoiceContext, prompt: number[], p: GenerationParams, seed: number | undefined, signal: AbortSignal, onDelta?: (d: ChoiceDelta) => void): Promise<ChoiceResult> {
  const tokens: TokenInfo[] = [];
  let text = '';
  let released = 0;
  let pendingTokens: TokenInfo[] = [];
  let stopped = false;
  const holdBack = p.stop.reduce((m, s) => Math.max(m, s.length - 1), 0);
  const cancel = new AbortController();
  const onAbort = () => cancel.abort();
  signal.addEventListener('abort', onAbort);
  const track = ctx.metrics.track(prompt.length);
  // logprobs name tokens by their vocabulary strings, as vLLM does: several ids can decode to the same text
  const tokenString = (id: number) => ctx.tokenizer?.tokenString(id) ?? `[${id}]`;
  const detokenizer = ctx.tokenizer ? new TextStream(ctx.tokenizer) : undefined;
  /** Ends the choice at the first stop string in the text; true when it did. */
  const stopAtStop = (): boolean => {
    const at = firstStop(text, p.stop, Math.max(0, released - holdBack));
    if (at === undefined) return false;
    stopped = true;
    text = text.slice(0, at);
    release(at);
    cancel.abort();
    return true;
  };
  const release = (upTo: number) => {
    if (upTo <= released && pendingTokens.length === 0) return;
    const delta = { text: text.slice(released, upTo), tokens: pendingTokens };
    released = Math.max(released, upTo);
    pendingTokens = [];
    onDelta?.(delta);
  };
  let reason: FinishedReason = 'error';
  const sent = performance.now();
  let firstAt: number | undefined;
  try {
    const finish = await streamGenerate(
      ctx.nc,
      ctx.model,
      {
        prompt,
        max_tokens: p.maxTokens,
        stop_at_eos: !p.ignoreEos,
        // OpenAI samples at temperature 1 unless told otherwise; the gate reads a missing temperature as greedy
        temperature: p.temperature ?? 1,
        top_p: p.topP,
        top_k: p.topK,
        seed,
        logprobs: p.logprobs,
        frequency_penalty: p.frequencyPenalty,
        presence_penalty: p.presencePenalty,
        repetition_penalty: p.repetitionPenalty,
        logit_bias: p.logitBias,
        min_tokens: p.minTokens,
      },
      {
        token: (t: WireToken) => {
          if (stopped) return;
          firstAt ??= performance.now();
          track.token();
          const info: TokenInfo = { id: t.id, text: tokenString(t.id) };
          if (t.logprob !== undefined) {
            info.logprob = t.logprob;
            info.top = (t.top ?? []).map(([id, logprob]) => ({ id, text: tokenString(id), logprob }));
          }
          tokens.push(info);
          pendingTokens.push(info);
          // the detokenizer holds back a character still missing bytes
          text += detokenizer?.push(t.id) ?? '';
          if (!stopAtStop()) release(Math.max(released, text.length - holdBack));
        },
      },
      { timeoutMs: ctx.timeoutMs, signal: cancel.signal },
    ).catch((err: unknown) => {
      if (stopped) return 'stop' as const;
      throw err;
    });
    if (!stopped) {
      text += detokenizer?.flush() ?? '';
      if (!stopAtStop()) release(text.length);
    }
    const finishReason = stopped || finish === 'eos' || finish === 'stop' ? 'stop' : 'length';
    reason = finishReason;
    return { text, tokens, finishReason, ttftMs: firstAt === undefined ? undefined : firstAt - sent };
  } catch (err) {
    reason = signal.aborted ? 'abort' : 'error';
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
    track.finish(reason);
  }
}

function firstStop(text: string, stops: string[], from: number): number | undefined {
  let best: number | undefined;
  for (const s of stops) {
    const i = text.indexOf(s, from);
    if (i >= 0 && (best === undefined || i < best)) best = i;
  }
  return best;
}
