// The messages actors exchange: dispatches, generate requests and lifecycle events, checked on arrival.
import { MalformedMessageError } from './errors.js';
import { isLatencyBin, LATENCY_BINS, type LatencyBins } from '../../observability/load-window.js';
import { decodeMessage, decodeTensor, encodeMessage, encodeTensor, type WireDtype } from '../../runtime/transport/codec.js';

/**
 * Rows for several experts of one layer on one instance: x holds them back to back (expert after expert). With
 * `index`, x holds each distinct row once, and row r of that layout is x's row index[r]: a token routed to two
 * experts of the same instance travels once. Decoded, a dispatch always has every row laid out in x.
 */
export interface Dispatch {
  layer: number;
  experts: number[];
  rows: number[];
  x: Float32Array;
  index?: number[];
  /** Decoded: how x travelled, so that the answer goes back the same way. */
  wire?: WireDtype;
}

export function encodeDispatch(d: Dispatch, hidden: number, wire: WireDtype): Uint8Array {
  const sent = d.index ? d.x.length / hidden : d.rows.reduce((a, b) => a + b, 0);
  return encodeMessage({ layer: d.layer, experts: d.experts, rows: d.rows, x: encodeTensor(d.x, [sent, hidden], wire), ...(d.index ? { index: d.index } : {}) });
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Decodes and checks a dispatch against the model's hidden size. */
export function decodeDispatch(bytes: Uint8Array, hidden: number): Dispatch {
  const m = decodeMessage(bytes) as Record<string, unknown>;
  if (typeof m !== 'object' || m === null) throw new MalformedMessageError('dispatch must be a map {layer, experts, rows, x}');
  const { layer, experts, rows } = m;
  if (!isIndex(layer)) throw new MalformedMessageError(`dispatch layer must be a non-negative integer, got ${JSON.stringify(layer)}`);
  if (!Array.isArray(experts) || !experts.every(isIndex)) throw new MalformedMessageError('dispatch experts must be a list of expert indices');
  if (!Array.isArray(rows) || !rows.every(isIndex) || rows.length !== experts.length) {
    throw new MalformedMessageError('dispatch rows must list one non-negative row count per expert');
  }
  const x = decodeTensor(m.x);
  const total = rows.reduce((a: number, b: number) => a + b, 0);
  const { index } = m;
  if (index === undefined) {
    if (x.shape.length !== 2 || x.shape[0] !== total || x.shape[1] !== hidden) {
      throw new MalformedMessageError(`dispatch tensor shape [${x.shape.join(', ')}] does not match rows ${total} x hidden ${hidden}`);
    }
    return { layer, experts, rows, x: x.data, wire: x.dtype };
  }
  if (x.shape.length !== 2 || x.shape[1] !== hidden) throw new MalformedMessageError(`dispatch tensor shape [${x.shape.join(', ')}] is not [rows, hidden ${hidden}]`);
  const distinct = x.shape[0];
  if (!Array.isArray(index) || index.length !== total || !index.every((i) => isIndex(i) && i < distinct)) {
    throw new MalformedMessageError(`dispatch index must list, for each of its ${total} rows, one of the ${distinct} rows of x`);
  }
  // every row laid out, as the experts take them
  const all = new Float32Array(total * hidden);
  index.forEach((i: number, r: number) => all.set(x.data.subarray(i * hidden, (i + 1) * hidden), r * hidden));
  return { layer, experts, rows, x: all, wire: x.dtype };
}

export function encodeDispatchReply(y: Float32Array, hidden: number, wire: WireDtype): Uint8Array {
  return encodeMessage({ y: encodeTensor(y, [y.length / hidden, hidden], wire) });
}

export function decodeDispatchReply(bytes: Uint8Array, rows: number, hidden: number): Float32Array {
  const m = decodeMessage(bytes) as Record<string, unknown>;
  const y = decodeTensor(m?.y);
  if (y.shape[0] !== rows || y.shape[1] !== hidden) {
    throw new MalformedMessageError(`dispatch reply shape [${y.shape.join(', ')}] does not match rows ${rows} x hidden ${hidden}`);
  }
  return y.data;
}

/** A generate request: token ids, or text the gate tokenizes with the checkpoint's tokenizer. */
export interface GenerateRequest {
  prompt?: number[];
  text?: string;
  max_tokens: number;
  logits?: boolean;
  stop_at_eos?: boolean;
  /** Sampling; absent or 0 temperature: greedy. */
  temperature?: number;
  top_p?: number;
  top_k?: number;
  seed?: number;
  /** Each token's logprob and this many alternatives. */
  logprobs?: number;
  /** Answer with a stream of messages (start, one per token, end) instead of one reply. */
  stream?: boolean;
  /** Each prompt token's logprob after the ones before it (the reply's prompt_logprobs). */
  prompt_logprobs?: boolean;
  /** The client's id of a streamed request: the same id again takes up the same stream instead of a second generation. */
  id?: string;
  /** Applied to the logits before sampling (greedy too), as OpenAI and vLLM define them; the engine checks the ranges. */
  frequency_penalty?: number;
  presence_penalty?: number;
  repetition_penalty?: number;
  /** [token id, bias] pairs. */
  logit_bias?: [number, number][];
  min_tokens?: number;
}

const optionalNumber = (m: Record<string, unknown>, key: string, check: (v: number) => boolean, what: string): number | undefined => {
  const v = m[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !check(v)) throw new MalformedMessageError(`${key} must be ${what}, got ${JSON.stringify(v)}`);
  return v;
};

export function decodeGenerateRequest(bytes: Uint8Array): GenerateRequest {
  const m = decodeMessage(bytes) as Record<string, unknown>;
  if (typeof m !== 'object' || m === null) throw new MalformedMessageError('generate request must be a map {prompt | text, max_tokens}');
  const { prompt, text, max_tokens: maxTokens } = m;
  if ((prompt === undefined) === (text === undefined)) throw new MalformedMessageError('generate request needs exactly one of prompt (token ids) or text');
  if (prompt !== undefined && (!Array.isArray(prompt) || !prompt.every((v) => Number.isInteger(v)))) {
    throw new MalformedMessageError('generate prompt must be a list of integer token ids');
  }
  if (text !== undefined && typeof text !== 'string') throw new MalformedMessageError('generate text must be a string');
  if (!isIndex(maxTokens) || maxTokens < 1) throw new MalformedMessageError(`max_tokens must be a positive integer, got ${JSON.stringify(maxTokens)}`);
  return {
    prompt: prompt as number[] | undefined,
    text: text as string | undefined,
    max_tokens: maxTokens,
    logits: m.logits === true,
    stop_at_eos: m.stop_at_eos !== false,
    temperature: optionalNumber(m, 'temperature', Number.isFinite, 'a number'),
    top_p: optionalNumber(m, 'top_p', Number.isFinite, 'a number'),
    top_k: optionalNumber(m, 'top_k', Number.isInteger, 'an integer'),
    seed: optionalNumber(m, 'seed', Number.isSafeInteger, 'an integer'),
    logprobs: optionalNumber(m, 'logprobs', Number.isInteger, 'an integer'),
    stream: m.stream === true,
    prompt_logprobs: m.prompt_logprobs === true,
    id: optionalString(m, 'id'),
    frequency_penalty: optionalNumber(m, 'frequency_penalty', Number.isFinite, 'a number'),
    presence_penalty: optionalNumber(m, 'presence_penalty', Number.isFinite, 'a number'),
    repetition_penalty: optionalNumber(m, 'repetition_penalty', Number.isFinite, 'a number'),
    logit_bias: logitBias(m.logit_bias),
    min_tokens: optionalNumber(m, 'min_tokens', Number.isSafeInteger, 'an integer'),
  };
}

function optionalString(m: Record<string, unknown>, key: string): string | undefined {
  const v = m[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > 256) throw new MalformedMessageError(`${key} must be a string of 1 to 256 characters`);
  return v;
}

function logitBias(v: unknown): [number, number][] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((p) => Array.isArray(p) && p.length === 2 && Number.isInteger(p[0]) && typeof p[1] === 'number')) {
    throw new MalformedMessageError('logit_bias must be a list of [token id, bias] pairs');
  }
  return v as [number, number][];
}

/** A token as it travels: its id, and with logprobs its logprob and the top alternatives as [id, logprob] pairs. */
export interface WireToken {
  id: number;
  logprob?: number;
  top?: [number, number][];
}

export interface GenerateReply {
  tokens: number[];
  prompt_tokens: number[];
  finish_reason: 'length' | 'eos';
  logits?: Float32Array;
  logprobs?: WireToken[];
  /** With prompt_logprobs asked for: the logprob of prompt_tokens[i + 1] after the tokens before it. */
  prompt_logprobs?: number[];
  /** With a text prompt: the generated tokens as text (the client may have no tokenizer). */
  text?: string;
}

export function encodeGenerateReply(r: GenerateReply): Uint8Array {
  const { logits, ...rest } = r;
  return encodeMessage({ ...rest, ...(logits ? { logits: encodeTensor(logits, [logits.length], 'f32') } : {}) });
}

export function decodeGenerateReply(bytes: Uint8Array): GenerateReply {
  const m = decodeMessage(bytes) as Record<string, unknown> & GenerateReply;
  return { ...m, logits: m.logits ? decodeTensor(m.logits).data : undefined };
}

/**
 * The messages of a streamed generate on the requester's inbox: `start` (the request id, where to cancel and to
 * resume it, the seed it samples with), one `token` per generated token with its index, then `end` with how many
 * tokens there were; or an error answer (service error headers) at any point. After a failover a message may
 * come twice or late: a client keeps tokens by index.
 */
export type StreamMessage =
  | { kind: 'start'; request: string; cancel: string; resume?: string; seed?: number; prompt_tokens: number[] }
  | ({ kind: 'token'; index?: number } & WireToken)
  | { kind: 'end'; finish_reason: 'length' | 'eos'; tokens?: number };

export const encodeStreamMessage = (m: StreamMessage): Uint8Array => encodeMessage(m);

export function decodeStreamMessage(bytes: Uint8Array): StreamMessage {
  const m = decodeMessage(bytes) as StreamMessage;
  if (typeof m !== 'object' || m === null || !['start', 'token', 'end'].includes((m as { kind?: string }).kind ?? '')) {
    throw new MalformedMessageError('stream message must be a map {kind: start | token | end, ...}');
  }
  return m;
}

/** Asks a gate to stop generating a streamed request: its slot and KV cache are freed at once. */
export interface CancelRequest {
  request: string;
}

/**
 * What a gate saw of the load over a window, published on `eaas.v1.<model>.load.<node>`: tokens it routed per
 * (layer, expert), the share of the window each expert instance spent answering it, and the time between its
 * sequences' tokens (the inter-token latency its clients saw) as latency bins (`observability/load-window.ts`;
 * absent when no sequence made a second token in the window). The placement controller sums the reports of all gates.
 */
export interface LoadReport {
  node: string;
  windowMs: number;
  experts: { layer: number; expert: number; tokens: number }[];
  actors: { instance: string; busy: number }[];
  itl?: LatencyBins;
}

export const encodeLoadReport = (r: LoadReport): Uint8Array => encodeMessage(r);

export function decodeLoadReport(bytes: Uint8Array): LoadReport {
  const m = decodeMessage(bytes) as LoadReport;
  if (typeof m?.node !== 'string' || !Array.isArray(m.experts) || !Array.isArray(m.actors) || typeof m.windowMs !== 'number') {
    throw new MalformedMessageError('load report must be a map {node, windowMs, experts, actors[, itl]}');
  }
  if (m.itl !== undefined && (!Array.isArray(m.itl) || !m.itl.every(isLatencyBin))) {
    throw new MalformedMessageError(`load report itl must be a list of [bin, count] pairs (an integer bin in ${LATENCY_BINS.min}..${LATENCY_BINS.max}, a non-negative count)`);
  }
  return m;
}

/**
 * What one expert actor did over a window, published by the actor on `eaas.v1.<model>.load.<node>.<instance>`:
 * the compute time its worker spent on dispatches (busy), the rows it computed, and the dispatches it answered.
 */
export interface ActorLoad {
  instance: string;
  node: string;
  windowMs: number;
  busyMs: number;
  rows: number;
  dispatches: number;
}

export const encodeActorLoad = (a: ActorLoad): Uint8Array => encodeMessage(a);

export function decodeActorLoad(bytes: Uint8Array): ActorLoad {
  const m = decodeMessage(bytes) as Record<string, unknown>;
  if (typeof m !== 'object' || m === null || typeof m.instance !== 'string' || typeof m.node !== 'string') {
    throw new MalformedMessageError('actor load must be a map {instance, node, windowMs, busyMs, rows, dispatches}');
  }
  const amount = (key: string, check: (v: number) => boolean) => {
    const v = m[key];
    if (typeof v !== 'number' || !check(v)) throw new MalformedMessageError(`actor load ${key} must be a non-negative number, got ${JSON.stringify(v)}`);
    return v;
  };
  const finite = (v: number) => Number.isFinite(v) && v >= 0;
  return {
    instance: m.instance,
    node: m.node,
    windowMs: amount('windowMs', (v) => finite(v) && v > 0),
    busyMs: amount('busyMs', finite),
    rows: amount('rows', isIndex),
    dispatches: amount('dispatches', isIndex),
  };
}

/** Something a gate did about one expert instance: rows sent elsewhere after a failure, a straggler hedged, a timeout that suspected it. */
export type IncidentKind = 'redirect' | 'hedge' | 'suspected';

/**
 * A gate's last second, published on `eaas.v1.<model>.pulse.<node>` for live views: tokens generated, sequences
 * running and waiting, samples of time to first token and between tokens, and its incidents counted per instance.
 */
export interface GatePulse {
  node: string;
  intervalMs: number;
  tokens: number;
  running: number;
  waiting: number;
  ttftMs: number[];
  itlMs: number[];
  incidents: { kind: IncidentKind; instance: string; count: number; detail: string }[];
}

export const encodeGatePulse = (p: GatePulse): Uint8Array => encodeMessage(p);

export function decodeGatePulse(bytes: Uint8Array): GatePulse {
  const m = decodeMessage(bytes) as GatePulse;
  const counts = [m?.intervalMs, m?.tokens, m?.running, m?.waiting];
  if (typeof m?.node !== 'string' || !counts.every((v) => typeof v === 'number' && v >= 0) || ![m.ttftMs, m.itlMs, m.incidents].every(Array.isArray)) {
    throw new MalformedMessageError('gate pulse must be a map {node, intervalMs, tokens, running, waiting, ttftMs, itlMs, incidents}');
  }
  return m;
}

/** A lifecycle event of an expert instance, published on `eaas.v1.<model>.events.<kind>`. */
export interface InstanceEvent {
  kind: 'up' | 'down' | 'restarting' | 'failed' | 'draining';
  instance: string;
  /** "layer:expert" ids it hosts. */
  experts: string[];
  node: string;
  at: number;
  reason?: string;
}

export const encodeEvent = (e: InstanceEvent): Uint8Array => encodeMessage(e);

export function decodeEvent(bytes: Uint8Array): InstanceEvent {
  const m = decodeMessage(bytes) as InstanceEvent;
  if (typeof m?.instance !== 'string' || !Array.isArray(m.experts) || typeof m.kind !== 'string') {
    throw new MalformedMessageError('event must be a map {kind, instance, experts, node, at}');
  }
  return m;
}

/** A gate's reconnect notice (`eaas.v1.<model>.gate.<node>.reconnected`): how long its link was down, by its own clock. */
export interface GateReconnected {
  down_ms: number;
}

export const encodeGateReconnected = (n: GateReconnected): Uint8Array => encodeMessage(n);

export function decodeGateReconnected(bytes: Uint8Array): GateReconnected {
  const m = decodeMessage(bytes) as Partial<GateReconnected>;
  if (typeof m?.down_ms !== 'number' || !(m.down_ms >= 0)) throw new MalformedMessageError('gate reconnect notice must be a map {down_ms}');
  return { down_ms: m.down_ms };
}

/** What an expert actor reports with each heartbeat. */
export interface ExpertHealth {
  state: string;
  /** Its NATS connection is up (from nc.status() events). */
  linked: boolean;
  inflight: number;
  served: number;
  errors: number;
}

/** What an expert actor process tells its supervisor over the IPC channel: ready once it serves, then beats. */
export type ChildMessage = { kind: 'ready' } | ({ kind: 'beat' } & ExpertHealth);

export function isChildMessage(m: unknown): m is ChildMessage {
  const kind = (m as { kind?: unknown } | null)?.kind;
  return kind === 'ready' || kind === 'beat';
}
