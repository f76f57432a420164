/**
 * Spans for NATS messages after the OTel messaging semantic conventions:
 * `publish <subject>` (PRODUCER) on the sending side, `process <subject>`
 * (CONSUMER) on the receiving side, linked through the message headers.
 */
import { SpanKind, SpanStatusCode, context, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import type { MsgHdrs } from 'nats';

import { extractContext } from './nats-propagation.js';
import { tracer } from './tracing.js';

/** MoE layer index a message belongs to. */
export const ATTR_LAYER = 'eaas.layer';
/** Expert indices a dispatch carries. */
export const ATTR_EXPERTS = 'eaas.experts';
/** Number of token rows a dispatch carries. */
export const ATTR_TOKENS = 'eaas.tokens';
/** Expert instance (actor) a dispatch goes to or runs on. */
export const ATTR_INSTANCE = 'eaas.instance';
/** The instance token of a destination template (the conventions' `{placeholder}` form). */
export const INSTANCE_TEMPLATE = '{instance}';

// Semantic-convention names, copied rather than imported: the messaging ones
// live only in the unstable "incubating" entry point.
const ATTR_MESSAGING_SYSTEM = 'messaging.system';
const ATTR_MESSAGING_DESTINATION_NAME = 'messaging.destination.name';
const ATTR_MESSAGING_DESTINATION_TEMPLATE = 'messaging.destination.template';
const ATTR_MESSAGING_BODY_SIZE = 'messaging.message.body.size';
const ATTR_SERVER_ADDRESS = 'server.address';
const ATTR_SERVER_PORT = 'server.port';
const ATTR_MESSAGING_OPERATION_NAME = 'messaging.operation.name';
const ATTR_MESSAGING_OPERATION_TYPE = 'messaging.operation.type';
const ATTR_ERROR_TYPE = 'error.type';

const MESSAGING_SYSTEM_NATS = 'nats';
const OPERATION_PUBLISH = 'publish';
const OPERATION_PROCESS = 'process';
const OPERATION_TYPE_SEND = 'send';
const OPERATION_TYPE_PROCESS = 'process';
/** The convention's value when an error has no meaningful type. */
const ERROR_TYPE_OTHER = '_OTHER';

/**
 * Where a message goes: its subject, and the template it is an instance of (`eaas.v1.m.expert.{instance}.dispatch`).
 * The span is named after the template, as the conventions ask, so that span names do not grow with the actors.
 */
export interface Destination {
  subject: string;
  template: string;
}

/** The NATS server a connection talks to (`host:port`) and a message's body size, as the conventions' attributes. */
export function messageAttributes(server: string, bodyBytes: number): Attributes {
  const colon = server.lastIndexOf(':');
  const port = Number(server.slice(colon + 1));
  return {
    [ATTR_SERVER_ADDRESS]: colon > 0 ? server.slice(0, colon).replace(/^\[|\]$/g, '') : server,
    ...(colon > 0 && Number.isInteger(port) ? { [ATTR_SERVER_PORT]: port } : {}),
    [ATTR_MESSAGING_BODY_SIZE]: bodyBytes,
  };
}

export interface StartedSpan {
  span: Span;
  /** The parent context with `span` set: inject it into headers, or run children in it. */
  ctx: Context;
}

/** A PRODUCER span for a message about to be sent to `to` (a subject, or a subject and its template); a child of `parent` (default: the active context). */
export function startPublishSpan(to: string | Destination, attrs: Attributes, parent: Context = context.active()): StartedSpan {
  return startMessagingSpan(to, attrs, parent, SpanKind.PRODUCER, OPERATION_PUBLISH, OPERATION_TYPE_SEND);
}

/** A CONSUMER span for a message received on `on` (a subject, or a subject and its template); a child of the context its headers carry. */
export function startProcessSpan(on: string | Destination, attrs: Attributes, hdrs: MsgHdrs | undefined): StartedSpan {
  return startMessagingSpan(
    on,
    attrs,
    extractContext(hdrs),
    SpanKind.CONSUMER,
    OPERATION_PROCESS,
    OPERATION_TYPE_PROCESS,
  );
}

/** Marks `span` failed with `err`; does not end it. */
export function recordError(span: Span, err: unknown): void {
  if (err instanceof Error) {
    span.recordException(err);
    span.setAttribute(ATTR_ERROR_TYPE, err.name);
    span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
  } else {
    span.recordException(String(err));
    span.setAttribute(ATTR_ERROR_TYPE, ERROR_TYPE_OTHER);
    span.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
  }
}

function startMessagingSpan(
  to: string | Destination,
  attrs: Attributes,
  parent: Context,
  kind: SpanKind,
  operationName: string,
  operationType: string,
): StartedSpan {
  const { subject, template } = typeof to === 'string' ? { subject: to, template: undefined } : to;
  const span = tracer().startSpan(
    `${operationName} ${template ?? subject}`,
    {
      kind,
      attributes: {
        ...attrs,
        [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_NATS,
        [ATTR_MESSAGING_DESTINATION_NAME]: subject,
        ...(template !== undefined ? { [ATTR_MESSAGING_DESTINATION_TEMPLATE]: template } : {}),
        [ATTR_MESSAGING_OPERATION_NAME]: operationName,
        [ATTR_MESSAGING_OPERATION_TYPE]: operationType,
      },
    },
    parent,
  );
  return { span, ctx: trace.setSpan(parent, span) };
}
