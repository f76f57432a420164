// The HTTP front's SERVER span (OTel HTTP semantic conventions), continuing a client's W3C traceparent, and the
// GenAI semantic conventions' attributes of an OpenAI-style generation.
import { context, propagation, SpanKind, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http';
import type { StartedSpan } from './messaging-spans.js';
import { tracer } from './tracing.js';

/** A SERVER span named `METHOD route`, a child of the context the request's headers carry (none: a new trace). */
export function startHttpServerSpan(method: string, route: string, path: string, headers: IncomingHttpHeaders): StartedSpan {
  const parent = propagation.extract(context.active(), headers);
  const span = tracer().startSpan(`${method} ${route}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'http.route': route, 'url.path': path } }, parent);
  return { span, ctx: trace.setSpan(parent, span) };
}

/** What a generation request asked for, as gen_ai.request.* (absent fields are left out). */
export interface GenAiRequest {
  operation: 'text_completion' | 'chat';
  model: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
}

export function setGenAiRequest(span: Span, r: GenAiRequest): void {
  const attrs: Attributes = { 'gen_ai.operation.name': r.operation, 'gen_ai.request.model': r.model };
  if (r.maxTokens !== undefined) attrs['gen_ai.request.max_tokens'] = r.maxTokens;
  if (r.temperature !== undefined) attrs['gen_ai.request.temperature'] = r.temperature;
  if (r.topP !== undefined) attrs['gen_ai.request.top_p'] = r.topP;
  span.setAttributes(attrs);
}

/** What the generation used and how each choice ended. */
export function setGenAiUsage(span: Span, inputTokens: number, outputTokens: number, finishReasons: string[]): void {
  span.setAttributes({ 'gen_ai.usage.input_tokens': inputTokens, 'gen_ai.usage.output_tokens': outputTokens, 'gen_ai.response.finish_reasons': finishReasons });
}
