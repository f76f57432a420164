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

// Semantic-convention names, copied rather than imported: the messaging ones
// live only in the unstable "incubating" entry point.
const ATTR_MESSAGING_SYSTEM = 'messaging.system';
const ATTR_MESSAGING_DESTINATION_NAME = 'messaging.destination.name';
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

export interface StartedSpan {
  span: Span;
  /** The parent context with `span` set: inject it into headers, or run children in it. */
  ctx: Context;
}

/** A PRODUCER span for a message about to be sent to `subject`; a child of `parent` (default: the active context). */
export function startPublishSpan(subject: string, attrs: Attributes, parent: Context = context.active()): StartedSpan {
  return startMessagingSpan(subject, attrs, parent, SpanKind.PRODUCER, OPERATION_PUBLISH, OPERATION_TYPE_SEND);
}

/** A CONSUMER span for a message received on `subject`; a child of the context its headers carry. */
export function startProcessSpan(subject: string, attrs: Attributes, hdrs: MsgHdrs | undefined): StartedSpan {
  return startMessagingSpan(
    subject,
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
  subject: string,
  attrs: Attributes,
  parent: Context,
  kind: SpanKind,
  operationName: string,
  operationType: string,
): StartedSpan {
  const span = tracer().startSpan(
    `${operationName} ${subject}`,
    {
      kind,
      attributes: {
        ...attrs,
        [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_NATS,
        [ATTR_MESSAGING_DESTINATION_NAME]: subject,
        [ATTR_MESSAGING_OPERATION_NAME]: operationName,
        [ATTR_MESSAGING_OPERATION_TYPE]: operationType,
      },
    },
    parent,
  );
  return { span, ctx: trace.setSpan(parent, span) };
}
