// Client side of the gate: send a generate request (re-sent when the client's own link drops), find which models a cluster serves.
import { context, trace } from '@opentelemetry/api';
import { ErrorCode, Events, headers, nuid, type Msg, type MsgHdrs, type NatsConnection, type NatsError } from 'nats';
import { randomSeed } from '../../model/sampling.js';
import { injectContext } from '../../observability/nats-propagation.js';
import { encodeMessage } from '../../runtime/transport/codec.js';
import { newInbox } from '../../runtime/transport/connection.js';
import { serviceInfos, serviceStats } from '../../runtime/transport/discovery.js';
import * as subjects from '../../runtime/transport/subjects.js';
import { answerError, GenerateError } from '../protocol/errors.js';
import { decodeGateReconnected, decodeGenerateReply, decodeStreamMessage, type CancelRequest, type GenerateReply, type GenerateRequest, type WireToken } from '../protocol/messages.js';
import { GATE_SERVICE } from '../protocol/services.js';
import { REPLY_RESEND_WINDOW_MS } from './replies.js';

/** How long a generate request may take end to end. Env: EAAS_GENERATE_TIMEOUT_MS. */
export const DEFAULT_GENERATE_TIMEOUT_MS = 120_000;

/**
 * Sends a generate request and resolves with the first answer. When the connection drops while it is
 * out, the request is sent again once reconnected (the reply may have been lost with the old server;
 * a gate may compute twice, the first answer wins); so it is when a gate of the model announces it
 * reconnected and the request was sent while that gate was away or just before (it may have died with that
 * gate's server on its way there). Never waits past `timeoutMs`.
 */
export async function requestGenerate(nc: NatsConnection, model: string, req: GenerateRequest, timeoutMs = DEFAULT_GENERATE_TIMEOUT_MS): Promise<GenerateReply> {
  const payload = encodeMessage(req);
  const deadline = Date.now() + timeoutMs;
  watchReconnects(nc);
  const status = nc.status() as AsyncIterable<{ type: string }> & { stop(): void };
  const reply = await new Promise<Msg>((resolve, reject) => {
    let done = false;
    let outstanding = 0;
    let lastError: GenerateError | undefined;
    let lastSent = 0;
    let unlisten: () => void;
    const finish = (f: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      status.stop();
      unlisten();
      f();
    };
    const send = () => {
      outstanding++;
      lastSent = performance.now();
      nc.request(subjects.generate(model), payload, { timeout: Math.max(1, deadline - Date.now()), headers: traceHeaders() }).then(
        (m) => finish(() => resolve(m)),
        (err: NatsError) => {
          outstanding--;
          // a server just reconnected to that does not know the gates yet: ask again shortly
          if (err.code === ErrorCode.NoResponders && settling(nc) && Date.now() < deadline) return void setTimeout(() => !done && send(), NO_GATE_RETRY_MS);
          lastError = generateError(err, model, timeoutMs);
          // a copy lost with a dropped connection does not end the request while another is out
          if (outstanding === 0) finish(() => reject(lastError));
        },
      );
    };
    try {
      // a copy sent while that gate was away, or just before, may have died with its server; older ones reached a gate
      unlisten = onGateReconnect(nc, model, (downMs) => {
        if (!done && performance.now() - lastSent <= downMs + REPLY_RESEND_WINDOW_MS) send();
      });
    } catch (err) {
      // a closed connection: the same error the request itself would have met
      status.stop();
      reject(generateError(err as NatsError, model, timeoutMs));
      return;
    }
    const timer = setTimeout(() => finish(() => reject(new GenerateError(`generate on model "${model}" timed out after ${timeoutMs} ms`, 504))), timeoutMs);
    void (async () => {
      for await (const s of status) if (s.type === Events.Reconnect && !done) send();
    })();
    send();
  });
  const err = answerError(reply);
  if (err) throw new GenerateError(`gate answered ${err.code}: ${err.message}`, err.code, { cause: err, missingExperts: err.missingExperts });
  return decodeGenerateReply(reply.data);
}

/**
 * Right after a reconnect, the new server may not know the gates' subscriptions yet (they come over its routes): a
 * "no responders" then is tried again every NO_GATE_RETRY_MS for this long, not taken as "no gate".
 */
const SETTLE_AFTER_RECONNECT_MS = 5_000;
const NO_GATE_RETRY_MS = 200;
const reconnectedAt = new WeakMap<NatsConnection, number>();

/** Notes each reconnect of `nc` (one watcher per connection, started by its first request). */
function watchReconnects(nc: NatsConnection): void {
  if (reconnectedAt.has(nc)) return;
  reconnectedAt.set(nc, -Infinity);
  void (async () => {
    for await (const s of nc.status()) if (s.type === Events.Reconnect) reconnectedAt.set(nc, Date.now());
  })();
}

const settling = (nc: NatsConnection) => Date.now() - (reconnectedAt.get(nc) ?? -Infinity) < SETTLE_AFTER_RECONNECT_MS;

/** The requests waiting on a connection for each model's gates, told of every reconnect notice. */
const noticeListeners = new WeakMap<NatsConnection, Map<string, Set<(downMs: number) => void>>>();

/**
 * Calls `listener` with how long the gate was away on each reconnect notice of a gate of `model`, until the returned
 * function is called. One subscription per connection and model serves every request: it stays for the connection's
 * life rather than coming and going with each request (every subscribe and unsubscribe crosses the cluster's routes).
 */
function onGateReconnect(nc: NatsConnection, model: string, listener: (downMs: number) => void): () => void {
  let models = noticeListeners.get(nc);
  if (!models) noticeListeners.set(nc, (models = new Map()));
  let listeners = models.get(model);
  if (!listeners) {
    const waiting = new Set<(downMs: number) => void>();
    nc.subscribe(subjects.gateReconnectedWildcard(model), {
      callback: (err, m) => {
        // an error (say, a user whose permissions predate the notice) only means no re-send on a notice
        if (err) return;
        let downMs: number;
        try {
          downMs = decodeGateReconnected(m.data).down_ms;
        } catch {
          return; // a malformed notice says nothing
        }
        for (const l of [...waiting]) l(downMs);
      },
    });
    models.set(model, (listeners = waiting));
  }
  const mine = listeners;
  mine.add(listener);
  return () => mine.delete(listener);
}

function generateError(err: NatsError, model: string, timeoutMs: number): GenerateError {
  if (err.code === ErrorCode.NoResponders) return noGate(model, err);
  if (err.code === ErrorCode.Timeout) return new GenerateError(`generate on model "${model}" timed out after ${timeoutMs} ms`, 504, { cause: err });
  return new GenerateError(`generate on model "${model}" failed: ${err.message}`, 500, { cause: err });
}

const noGate = (model: string, cause?: unknown) =>
  new GenerateError(`no gate serves model "${model}" (start one with eaas up or eaas node --role gate)`, 503, { cause });

/** No-responders comes back to an inbox as a bare status message. */
const isNoResponders = (m: Msg) => m.data.length === 0 && m.headers?.code === 503;

export interface StreamHandlers {
  /** The gate took the request (its prompt tokens). */
  start?(promptTokens: number[]): void;
  /** One generated token, in order. */
  token(t: WireToken): void;
}

/** The caller's trace context (an HTTP request's span, say), so the gate's generate span continues its trace; none when it has none. */
function traceHeaders(): MsgHdrs | undefined {
  if (!trace.getSpan(context.active())) return undefined;
  const h = headers();
  injectContext(context.active(), h);
  return h;
}

/** A stream that hears nothing for this long is taken up again (resumed at its gate, or sent again). */
export const STREAM_STALL_MS = 5_000;

/**
 * Sends a streamed generate request and calls `on` as the gate answers; resolves with the finish reason once
 * the last token came. Aborting `signal` cancels the sequence in the gate (its slot and KV cache are freed)
 * and rejects with code 499; nothing waits past `timeoutMs`.
 *
 * The stream survives a failover: the request carries an id and a seed, and each token its index. When this
 * connection reconnects, or the stream hears nothing for `stallMs`, the client asks its gate to resume the stream
 * on its inbox (the gate sends it again from the start); a gate that is gone or no longer knows the stream gets the
 * request sent again, to any gate, which generates the same tokens (the same seed, bit-identical experts). The
 * gate also sends its streams again after its own reconnect. Tokens are kept by index: none twice, none out of
 * order, and the stream ends once every token up to the end's count is in.
 */
export async function streamGenerate(
  nc: NatsConnection,
  model: string,
  req: Omit<GenerateRequest, 'stream'>,
  on: StreamHandlers,
  o: { timeoutMs?: number; signal?: AbortSignal; stallMs?: number } = {},
): Promise<'length' | 'eos'> {
  const timeoutMs = o.timeoutMs ?? DEFAULT_GENERATE_TIMEOUT_MS;
  const stallMs = o.stallMs ?? STREAM_STALL_MS;
  // the same request, sent again, must mean the same stream and the same tokens
  const request: GenerateRequest = { ...req, stream: true, id: req.id ?? nuid.next(), seed: req.seed ?? (req.temperature ? randomSeed() : undefined) };
  const payload = encodeMessage(request);
  const headersOfCaller = traceHeaders();
  const inbox = newInbox(nc);
  watchReconnects(nc);
  let gate: { cancel: string; resume?: string } | undefined;
  const cancel = () => {
    if (gate && !nc.isClosed()) nc.publish(gate.cancel, encodeMessage({ request: request.id! } satisfies CancelRequest));
  };
  const status = nc.status() as AsyncIterable<{ type: string }> & { stop(): void };
  return new Promise<'length' | 'eos'>((resolve, reject) => {
    let done = false;
    let started = false;
    /** A resume is out: its gate's "no such stream" (or no gate) means send the request again. */
    let resuming = false;
    let heard = Date.now();
    /** The next token index to hand on, tokens that came early, and the end once it came. */
    let next = 0;
    const early = new Map<number, WireToken>();
    let end: { reason: 'length' | 'eos'; tokens: number } | undefined;
    const finish = (f: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(stall);
      sub.unsubscribe();
      status.stop();
      o.signal?.removeEventListener('abort', onAbort);
      f();
    };
    const fail = (err: GenerateError) => finish(() => reject(err));
    const onAbort = () => {
      cancel();
      fail(new GenerateError(`generate on model "${model}" was cancelled by the client`, 499));
    };
    const send = () => {
      resuming = false;
      if (!nc.isClosed()) nc.publish(subjects.generate(model), payload, { reply: inbox, headers: headersOfCaller });
    };
    const resume = () => {
      if (done || nc.isClosed()) return;
      heard = Date.now();
      if (!gate?.resume) return send();
      resuming = true;
      nc.publish(gate.resume, encodeMessage({ request: request.id! } satisfies CancelRequest), { reply: inbox });
    };
    const deliver = (t: WireToken & { index?: number }) => {
      const index = t.index ?? next;
      if (index < next) return; // had it already
      early.set(index, t);
      for (let n = early.get(next); n !== undefined; n = early.get(next)) {
        early.delete(next);
        next++;
        const { index: _, ...token } = n as WireToken & { index?: number };
        on.token(token);
      }
    };
    const sub = nc.subscribe(inbox, {
      callback: (_err, msg) => {
        heard = Date.now();
        // no gate at the resumed stream's subject: send the request again; none at all just after a reconnect: soon
        if (isNoResponders(msg)) return resuming ? send() : settling(nc) ? void setTimeout(() => !done && send(), NO_GATE_RETRY_MS) : fail(noGate(model));
        const err = answerError(msg);
        if (err) {
          if (resuming && err.code === 404) return send();
          return fail(new GenerateError(`gate answered ${err.code}: ${err.message}`, err.code, { cause: err, missingExperts: err.missingExperts }));
        }
        try {
          const m = decodeStreamMessage(msg.data);
          if (m.kind === 'start') {
            resuming = false;
            gate = { cancel: m.cancel, resume: m.resume };
            if (!started) on.start?.(m.prompt_tokens);
            started = true;
          } else if (m.kind === 'token') deliver(m);
          else end = { reason: m.finish_reason, tokens: m.tokens ?? next };
          if (end && next >= end.tokens) finish(() => resolve(end!.reason));
        } catch (cause) {
          cancel();
          fail(new GenerateError(`bad stream message from the gate: ${(cause as Error).message}`, 502, { cause }));
        }
      },
    });
    const timer = setTimeout(() => {
      cancel();
      fail(new GenerateError(`generate on model "${model}" timed out after ${timeoutMs} ms`, 504));
    }, timeoutMs);
    const stall = setInterval(() => Date.now() - heard >= stallMs && resume(), Math.max(50, Math.min(1_000, stallMs / 4)));
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener('abort', onAbort);
    void (async () => {
      // what went out or came in through the dropped connection may be lost: take the stream up again
      for await (const s of status) if (s.type === Events.Reconnect && !done) resume();
    })();
    send();
  });
}

/** The models served by the gates of a cluster. */
export async function servedModels(nc: NatsConnection): Promise<string[]> {
  const gates = await serviceInfos(nc, GATE_SERVICE, true);
  return [...new Set(gates.map((g) => g.metadata?.model).filter((m): m is string => !!m))].sort();
}

/** The instances each gate of `model` dispatches to now, one list per gate (from the gates' $SRV.STATS). */
export async function gateRoutes(nc: NatsConnection, model: string): Promise<string[][]> {
  // the full discovery wait: a gate busy serving may answer late, and a quick look would miss it
  const stats = (await serviceStats(nc)).filter((s) => s.name === GATE_SERVICE && s.metadata?.model === model);
  return stats.map((s) => {
    const data = s.endpoints?.find((e) => e.subject === subjects.generate(model))?.data as { routes?: unknown } | undefined;
    return Array.isArray(data?.routes) ? data.routes.filter((r): r is string => typeof r === 'string') : [];
  });
}
