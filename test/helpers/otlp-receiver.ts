/**
 * A real OTLP/HTTP trace receiver for tests: accepts OTLP/JSON on
 * `POST /v1/traces` on a free loopback port and keeps the spans it got.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

import { SpanKind } from '@opentelemetry/api';

export interface CollectedSpan {
  /** Hex, as OTLP/JSON sends ids (not base64 as plain proto3 JSON would). */
  traceId: string;
  spanId: string;
  /** Undefined for a root span: the exporter omits the field. */
  parentSpanId: string | undefined;
  name: string;
  /** The API's SpanKind; OTLP numbers kinds one higher (0 is UNSPECIFIED). */
  kind: SpanKind;
  attributes: Record<string, unknown>;
  serviceName: string | undefined;
  /** The exporting process's resource attributes (service.name, service.version, ...). */
  resource: Record<string, unknown>;
}

export interface OtlpReceiver {
  /** Base URL for OTEL_EXPORTER_OTLP_ENDPOINT; exporters append /v1/traces. */
  endpoint: string;
  spans(): CollectedSpan[];
  close(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';
const TRACES_PATH = '/v1/traces';
const JSON_CONTENT_TYPE = 'application/json';
const OTLP_KIND_OFFSET = 1;

// The slice of OTLP/JSON (ExportTraceServiceRequest) this receiver reads.
interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  bytesValue?: string;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
}
interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  attributes?: OtlpKeyValue[];
}
interface OtlpTraceRequest {
  resourceSpans?: {
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: { spans?: OtlpSpan[] }[];
  }[];
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const collected: CollectedSpan[] = [];
  const server = createServer((req, res) => {
    handle(req, res, collected).catch((err: unknown) => reply(res, 500, String(err)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${LOOPBACK}:${port}`,
    spans: () => [...collected],
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Exporters keep their connections alive; close() alone would wait for them.
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, collected: CollectedSpan[]): Promise<void> {
  if (req.method !== 'POST' || req.url !== TRACES_PATH) {
    return reply(res, 404, 'not found');
  }
  if (!req.headers['content-type']?.startsWith(JSON_CONTENT_TYPE)) {
    return reply(res, 415, 'only OTLP/JSON is supported');
  }
  let body = await readBody(req);
  if (req.headers['content-encoding'] === 'gzip') {
    body = gunzipSync(body);
  }
  let request: OtlpTraceRequest;
  try {
    request = JSON.parse(body.toString('utf8')) as OtlpTraceRequest;
  } catch (err) {
    return reply(res, 400, `bad JSON: ${String(err)}`);
  }
  collected.push(...collectSpans(request));
  // An empty ExportTraceServiceResponse: everything accepted.
  res.writeHead(200, { 'content-type': JSON_CONTENT_TYPE }).end('{}');
}

function collectSpans(request: OtlpTraceRequest): CollectedSpan[] {
  return (request.resourceSpans ?? []).flatMap((resourceSpans) => {
    const resource = toRecord(resourceSpans.resource?.attributes);
    const serviceName = typeof resource['service.name'] === 'string' ? resource['service.name'] : undefined;
    return (resourceSpans.scopeSpans ?? []).flatMap((scopeSpans) =>
      (scopeSpans.spans ?? []).map((span) => ({
        traceId: span.traceId,
        spanId: span.spanId,
        parentSpanId: span.parentSpanId || undefined,
        name: span.name,
        kind: ((span.kind ?? OTLP_KIND_OFFSET) - OTLP_KIND_OFFSET) as SpanKind,
        attributes: toRecord(span.attributes),
        serviceName,
        resource,
      })),
    );
  });
}

function toRecord(kvs: OtlpKeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((kvs ?? []).map((kv) => [kv.key, toValue(kv.value)]));
}

function toValue(v: OtlpAnyValue | undefined): unknown {
  if (v === undefined) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  // int64 may come as a decimal string (proto3 JSON); test values fit a double.
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.bytesValue !== undefined) return v.bytesValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(toValue);
  if (v.kvlistValue !== undefined) return toRecord(v.kvlistValue.values);
  return undefined;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function reply(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' }).end(message);
}
