/**
 * W3C trace context (`traceparent`, `tracestate`) carried in NATS message headers.
 */
import { ROOT_CONTEXT, propagation, type Context, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import { Match, type MsgHdrs } from 'nats';

// Header names are matched ignoring case: nats.js matches them exactly by
// default, while other NATS clients may canonicalize them (`Traceparent`).

const setter: TextMapSetter<MsgHdrs> = {
  set(carrier, key, value) {
    carrier.set(key, value, Match.IgnoreCase);
  },
};

const getter: TextMapGetter<MsgHdrs> = {
  keys(carrier) {
    return carrier.keys();
  },
  get(carrier, key) {
    // All values: W3C asks for repeated `tracestate` lines to be joined.
    const values = carrier.values(key, Match.IgnoreCase);
    return values.length > 0 ? values : undefined;
  },
};

/** Writes the trace context of `ctx` into `hdrs`, replacing any already there. */
export function injectContext(ctx: Context, hdrs: MsgHdrs): void {
  propagation.inject(ctx, hdrs, setter);
}

/**
 * The context a received message carries. Extracted onto the root context, not
 * the active one: a subscription callback runs in whatever context created the
 * subscription, and that must not become the parent of every message.
 */
export function extractContext(hdrs: MsgHdrs | undefined): Context {
  return hdrs === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, hdrs, getter);
}
