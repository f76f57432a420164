// OpenAI request bodies, checked field by field into what the front runs: errors name the field (`param`).
import { InvalidRequestError } from '../protocol/errors.js';

/** The sampling and stopping fields shared by completions and chat. */
export interface GenerationParams {
  maxTokens: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop: string[];
  n: number;
  /** Applied to the logits before sampling, greedy too (see model/logits-adjustments.ts). */
  frequencyPenalty?: number;
  presencePenalty?: number;
  repetitionPenalty?: number;
  logitBias?: [number, number][];
  minTokens?: number;
  /** Top alternatives per token; undefined: no logprobs. */
  logprobs?: number;
  ignoreEos: boolean;
  stream: boolean;
  includeUsage: boolean;
  returnTokenIds: boolean;
}

/** A completions request: prompts are either text or token ids. */
export interface CompletionRequest extends GenerationParams {
  model?: string;
  prompts: (string | number[])[];
}

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatRequest extends GenerationParams {
  model?: string;
  messages: ChatMessage[];
}

/** The most choices one request may ask for. */
export const MAX_N = 16;
/** The most alternatives per token, as vLLM allows. */
export const MAX_LOGPROBS = 20;
const MAX_STOP = 4;

type Body = Record<string, unknown>;

const bad = (param: string, what: string, v: unknown) => new InvalidRequestError(`'${param}' must be ${what}, got ${JSON.stringify(v)?.slice(0, 80)}`, param);

function optional<T>(body: Body, param: string, check: (v: unknown) => v is T, what: string): T | undefined {
  const v = body[param];
  if (v === undefined || v === null) return undefined;
  if (!check(v)) throw bad(param, what, v);
  return v;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const inRange = (lo: number, hi: number) => (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi;
const intIn = (lo: number, hi: number) => (v: unknown): v is number => isInt(v) && v >= lo && v <= hi;
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isString = (v: unknown): v is string => typeof v === 'string';
const isIdList = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((x) => isInt(x) && x >= 0);

export function parseBody(raw: string): Body {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch (err) {
    throw new InvalidRequestError(`the request body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidRequestError('the request body must be a JSON object');
  return body as Body;
}

/**
 * OpenAI's and vLLM's fields this front does not carry out, each with the values that change nothing: any other
 * value is refused with a 400 naming the field, never answered as if it had been obeyed.
 */
const NOT_CARRIED_OUT: Record<string, { harmless: (v: unknown) => boolean; only: string }> = {
  tools: { harmless: (v) => Array.isArray(v) && v.length === 0, only: 'an empty list' },
  tool_choice: { harmless: (v) => v === 'none', only: '"none"' },
  functions: { harmless: (v) => Array.isArray(v) && v.length === 0, only: 'an empty list' },
  function_call: { harmless: (v) => v === 'none', only: '"none"' },
  response_format: { harmless: (v) => (v as Body)?.type === 'text', only: '{"type": "text"}' },
  best_of: { harmless: (v) => v === 1, only: '1' },
  echo: { harmless: (v) => v === false, only: 'false' },
  suffix: { harmless: (v) => v === '', only: 'an empty string' },
  modalities: { harmless: (v) => Array.isArray(v) && v.every((m) => m === 'text'), only: '["text"]' },
  audio: { harmless: () => false, only: 'absent' },
  prediction: { harmless: () => false, only: 'absent' },
};

function refuseNotCarriedOut(body: Body): void {
  for (const [param, { harmless, only }] of Object.entries(NOT_CARRIED_OUT)) {
    const v = body[param];
    if (v !== undefined && v !== null && !harmless(v)) throw new InvalidRequestError(`'${param}' is not supported by this server (only ${only}), got ${JSON.stringify(v)?.slice(0, 80)}`, param);
  }
}

function generationParams(body: Body, defaultMaxTokens: number, chat: boolean): GenerationParams {
  refuseNotCarriedOut(body);
  const maxTokens = optional(body, chat && body.max_completion_tokens !== undefined ? 'max_completion_tokens' : 'max_tokens', intIn(1, Number.MAX_SAFE_INTEGER), 'a positive integer') ?? defaultMaxTokens;
  const stopRaw = body.stop;
  let stop: string[] = [];
  if (typeof stopRaw === 'string') stop = [stopRaw];
  else if (Array.isArray(stopRaw) && stopRaw.length <= MAX_STOP && stopRaw.every(isString)) stop = stopRaw;
  else if (stopRaw !== undefined && stopRaw !== null) throw bad('stop', `a string or a list of at most ${MAX_STOP} strings`, stopRaw);
  stop = stop.filter((s) => s.length > 0);
  let logprobs: number | undefined;
  if (chat) {
    const want = optional(body, 'logprobs', isBool, 'a boolean') ?? false;
    const top = optional(body, 'top_logprobs', intIn(0, MAX_LOGPROBS), `an integer from 0 to ${MAX_LOGPROBS}`);
    if (top !== undefined && !want) throw new InvalidRequestError("'top_logprobs' needs 'logprobs': true", 'top_logprobs');
    logprobs = want ? (top ?? 0) : undefined;
  } else logprobs = optional(body, 'logprobs', intIn(0, MAX_LOGPROBS), `an integer from 0 to ${MAX_LOGPROBS}`);
  const streamOptions = optional(body, 'stream_options', (v): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v), 'an object');
  const stream = optional(body, 'stream', isBool, 'a boolean') ?? false;
  if (streamOptions && !stream) throw new InvalidRequestError("'stream_options' needs 'stream': true", 'stream_options');
  const includeUsage = streamOptions ? (optional(streamOptions, 'include_usage', isBool, 'a boolean') ?? false) : false;
  optional(body, 'user', isString, 'a string');
  return {
    maxTokens,
    temperature: optional(body, 'temperature', inRange(0, 2), 'a number from 0 to 2'),
    topP: optional(body, 'top_p', (v): v is number => typeof v === 'number' && v > 0 && v <= 1, 'a number in (0, 1]'),
    topK: optional(body, 'top_k', intIn(-1, Number.MAX_SAFE_INTEGER), 'an integer >= -1 (-1 or 0: no limit)'),
    seed: optional(body, 'seed', isInt, 'an integer'),
    stop,
    n: optional(body, 'n', intIn(1, MAX_N), `an integer from 1 to ${MAX_N}`) ?? 1,
    frequencyPenalty: optional(body, 'frequency_penalty', inRange(-2, 2), 'a number from -2 to 2'),
    presencePenalty: optional(body, 'presence_penalty', inRange(-2, 2), 'a number from -2 to 2'),
    repetitionPenalty: optional(body, 'repetition_penalty', (v): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0, 'a number > 0 (1: off)'),
    logitBias: logitBias(body),
    minTokens: minTokens(body, maxTokens),
    logprobs,
    ignoreEos: optional(body, 'ignore_eos', isBool, 'a boolean') ?? false,
    stream,
    includeUsage,
    returnTokenIds: optional(body, 'return_token_ids', isBool, 'a boolean') ?? false,
  };
}

/** OpenAI's logit_bias: {"token id": bias from -100 to 100}, as [id, bias] pairs in id order. */
function logitBias(body: Body): [number, number][] | undefined {
  const v = optional(body, 'logit_bias', (x): x is Body => typeof x === 'object' && x !== null && !Array.isArray(x), 'an object mapping token ids to biases');
  if (v === undefined) return undefined;
  const pairs = Object.entries(v).map(([k, b]): [number, number] => {
    if (!/^\d+$/.test(k) || !Number.isSafeInteger(Number(k))) throw bad('logit_bias', 'an object whose keys are token ids', k);
    if (!inRange(-100, 100)(b)) throw bad('logit_bias', `an object of biases from -100 to 100 (token ${k})`, b);
    return [Number(k), b];
  });
  return pairs.length > 0 ? pairs.sort((a, b) => a[0] - b[0]) : undefined;
}

/** vLLM's min_tokens: at most max_tokens. */
function minTokens(body: Body, maxTokens: number): number | undefined {
  const v = optional(body, 'min_tokens', intIn(0, Number.MAX_SAFE_INTEGER), 'an integer >= 0');
  if (v !== undefined && v > maxTokens) throw new InvalidRequestError(`'min_tokens' (${v}) must not exceed max_tokens (${maxTokens})`, 'min_tokens');
  return v;
}

export function completionRequest(body: Body, defaultMaxTokens: number): CompletionRequest {
  const p = body.prompt;
  let prompts: (string | number[])[];
  if (typeof p === 'string') prompts = [p];
  else if (isIdList(p)) prompts = [p];
  else if (Array.isArray(p) && p.length > 0 && p.every(isString)) prompts = p;
  else if (Array.isArray(p) && p.length > 0 && p.every(isIdList)) prompts = p;
  else throw bad('prompt', 'a string, a list of strings, a list of token ids or a list of lists of token ids', p);
  return { model: optional(body, 'model', isString, 'a string'), prompts, ...generationParams(body, defaultMaxTokens, false) };
}

export function chatRequest(body: Body, defaultMaxTokens: number): ChatRequest {
  const m = body.messages;
  if (!Array.isArray(m) || m.length === 0) throw bad('messages', 'a non-empty list of {role, content}', m);
  const messages = m.map((msg, i): ChatMessage => {
    const { role, content } = (msg ?? {}) as Body;
    if (!isString(role)) throw bad(`messages[${i}].role`, 'a string', role);
    // content as a string, or as OpenAI's list of text parts
    if (isString(content)) return { role, content };
    if (Array.isArray(content) && content.every((c) => (c as Body)?.type === 'text' && isString((c as Body).text))) {
      return { role, content: content.map((c) => (c as Body).text as string).join('') };
    }
    throw bad(`messages[${i}].content`, 'a string or a list of text parts', content);
  });
  return { model: optional(body, 'model', isString, 'a string'), messages, ...generationParams(body, defaultMaxTokens, true) };
}

/** `/tokenize`: a prompt, or chat messages (rendered with the chat template). */
export function tokenizeRequest(body: Body): { model?: string; prompt?: string; messages?: ChatMessage[]; addSpecialTokens: boolean } {
  const model = optional(body, 'model', isString, 'a string');
  const addSpecialTokens = optional(body, 'add_special_tokens', isBool, 'a boolean') ?? true;
  if (body.messages !== undefined) return { model, messages: chatRequest({ messages: body.messages }, 1).messages, addSpecialTokens };
  const prompt = body.prompt;
  if (!isString(prompt)) throw bad('prompt', 'a string', prompt);
  return { model, prompt, addSpecialTokens };
}

/** `/detokenize`: token ids to text. */
export function detokenizeRequest(body: Body): { model?: string; tokens: number[] } {
  const tokens = body.tokens;
  if (!Array.isArray(tokens) || !tokens.every((t) => isInt(t) && t >= 0)) throw bad('tokens', 'a list of token ids', tokens);
  return { model: optional(body, 'model', isString, 'a string'), tokens };
}
