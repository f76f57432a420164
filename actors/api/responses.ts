// OpenAI response bodies (and vLLM's extensions) built from finished or streaming choices.
import type { ChoiceDelta, ChoiceResult, TokenInfo } from './choice.js';

export interface ResponseContext {
  id: string;
  created: number;
  model: string;
  returnTokenIds: boolean;
}

export const usage = (prompt: number, completion: number) => ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });

/** Completions' logprobs: parallel lists of tokens, their logprobs, their top alternatives and text offsets. */
function completionLogprobs(tokens: TokenInfo[], offset: number) {
  const textOffset: number[] = [];
  let at = offset;
  for (const t of tokens) {
    textOffset.push(at);
    at += t.text.length;
  }
  return {
    tokens: tokens.map((t) => t.text),
    token_logprobs: tokens.map((t) => t.logprob ?? null),
    top_logprobs: tokens.map((t) => Object.fromEntries((t.top ?? []).map((a) => [a.text, a.logprob]))),
    text_offset: textOffset,
  };
}

/** Chat's logprobs: one entry per token with its bytes and top alternatives. */
function chatLogprobs(tokens: TokenInfo[]) {
  const bytes = (s: string) => Array.from(new TextEncoder().encode(s));
  return {
    content: tokens.map((t) => ({
      token: t.text,
      logprob: t.logprob ?? 0,
      bytes: bytes(t.text),
      top_logprobs: (t.top ?? []).map((a) => ({ token: a.text, logprob: a.logprob, bytes: bytes(a.text) })),
    })),
  };
}

export function completionChoice(c: ResponseContext, index: number, r: ChoiceResult, prompt: number[], withLogprobs: boolean) {
  return {
    index,
    text: r.text,
    logprobs: withLogprobs ? completionLogprobs(r.tokens, 0) : null,
    finish_reason: r.finishReason,
    ...(c.returnTokenIds ? { prompt_token_ids: prompt, token_ids: r.tokens.map((t) => t.id) } : {}),
  };
}

export function completionChunk(c: ResponseContext, index: number, d: ChoiceDelta | undefined, offset: number, withLogprobs: boolean, finishReason: string | null, prompt?: number[]) {
  return {
    id: c.id,
    object: 'text_completion',
    created: c.created,
    model: c.model,
    choices: [
      {
        index,
        text: d?.text ?? '',
        logprobs: withLogprobs && d ? completionLogprobs(d.tokens, offset) : null,
        finish_reason: finishReason,
        ...(c.returnTokenIds ? { token_ids: d?.tokens.map((t) => t.id) ?? [], ...(prompt ? { prompt_token_ids: prompt } : {}) } : {}),
      },
    ],
  };
}

export function chatChoice(c: ResponseContext, index: number, r: ChoiceResult, withLogprobs: boolean) {
  return {
    index,
    message: { role: 'assistant', content: r.text },
    logprobs: withLogprobs ? chatLogprobs(r.tokens) : null,
    finish_reason: r.finishReason,
    ...(c.returnTokenIds ? { token_ids: r.tokens.map((t) => t.id) } : {}),
  };
}

export function chatChunk(c: ResponseContext, index: number, delta: Record<string, unknown>, d: ChoiceDelta | undefined, withLogprobs: boolean, finishReason: string | null, prompt?: number[]) {
  return {
    id: c.id,
    object: 'chat.completion.chunk',
    created: c.created,
    model: c.model,
    ...(prompt && c.returnTokenIds ? { prompt_token_ids: prompt } : {}),
    choices: [
      {
        index,
        delta,
        logprobs: withLogprobs && d ? chatLogprobs(d.tokens) : null,
        finish_reason: finishReason,
        ...(c.returnTokenIds ? { token_ids: d?.tokens.map((t) => t.id) ?? [] } : {}),
      },
    ],
  };
}

/** OpenAI's error body. */
export function errorBody(message: string, type: string, param: string | null, code: number) {
  return { error: { message, type, param, code } };
}
