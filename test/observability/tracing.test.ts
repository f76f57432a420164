import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { headers } from 'nats';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import {
  ATTR_EXPERTS,
  ATTR_INSTANCE,
  ATTR_LAYER,
  ATTR_TOKENS,
  recordError,
  startProcessSpan,
  startPublishSpan,
} from '../../observability/messaging-spans.js';
import { extractContext, injectContext } from '../../observability/nats-propagation.js';
import { TRACER_NAME, startTracing, tracer } from '../../observability/tracing.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = join(ROOT, 'test', 'fixtures', 'traced-child.mjs');
const CHILD_SERVICE_NAME = 'eaas-traced-child';
const CHILD_TIMEOUT_MS = 30_000;
/** Bounds the exporter's retries against a collector that is down. */
const DEAD_COLLECTOR_TIMEOUT_MS = 300;
/** What the child fixture imports from dist/. */
const CHILD_MODULES = ['observability/tracing', 'observability/messaging-spans', 'observability/nats-propagation'];
const SUBJECT = 'eaas.v1.test.expert.e0.dispatch';

const execFileAsync = promisify(execFile);

function newTraceId(): string {
  return randomBytes(16).toString('hex');
}

function newSpanId(): string {
  return randomBytes(8).toString('hex');
}

function traceparentOf(traceId: string, spanId: string): string {
  return `00-${traceId}-${spanId}-01`;
}

/** Clears every OTEL_* variable so the developer's environment cannot change the outcome. */
function clearOtelEnv(): void {
  for (const key of Object.keys(process.env).filter((k) => k.startsWith('OTEL_'))) {
    vi.stubEnv(key, undefined);
  }
}

interface InMemoryTracing {
  finishedSpans(): Promise<ReadableSpan[]>;
  shutdown(): Promise<void>;
}

/** Tracing into memory; finishedSpans() waits for exports held back by async resource detection. */
async function startInMemoryTracing(): Promise<InMemoryTracing> {
  const exporter = new InMemorySpanExporter();
  const processor = new SimpleSpanProcessor({ exporter });
  const tracing = await startTracing('eaas-test', { spanProcessors: [processor] });
  return {
    finishedSpans: async () => {
      await processor.forceFlush();
      return exporter.getFinishedSpans();
    },
    shutdown: () => tracing.shutdown(),
  };
}

function spanNamed(spans: ReadableSpan[], name: string): ReadableSpan {
  const span = spans.find((s) => s.name === name);
  expect(span, `span ${name}`).toBeDefined();
  return span!;
}

describe('tracing in one process', () => {
  beforeEach(clearOtelEnv);
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('makes the process span a child of the publish span through NATS headers', async () => {
    const tracing = await startInMemoryTracing();
    try {
      const publish = startPublishSpan(SUBJECT, { [ATTR_LAYER]: 2, [ATTR_EXPERTS]: [1, 4], [ATTR_TOKENS]: 3 });
      const hdrs = headers();
      injectContext(publish.ctx, hdrs);
      const consume = startProcessSpan(SUBJECT, { [ATTR_INSTANCE]: 'e0' }, hdrs);
      consume.span.end();
      publish.span.end();

      const spans = await tracing.finishedSpans();
      const sent = spanNamed(spans, `publish ${SUBJECT}`);
      const received = spanNamed(spans, `process ${SUBJECT}`);
      expect(hdrs.get('traceparent')).toBe(traceparentOf(sent.spanContext().traceId, sent.spanContext().spanId));
      expect(received.spanContext().traceId).toBe(sent.spanContext().traceId);
      expect(received.parentSpanContext?.spanId).toBe(sent.spanContext().spanId);
      expect(received.parentSpanContext?.isRemote).toBe(true);
      expect(sent.kind).toBe(SpanKind.PRODUCER);
      expect(received.kind).toBe(SpanKind.CONSUMER);
      expect(sent.attributes).toMatchObject({
        'messaging.system': 'nats',
        'messaging.destination.name': SUBJECT,
        'messaging.operation.name': 'publish',
        'messaging.operation.type': 'send',
        [ATTR_LAYER]: 2,
        [ATTR_EXPERTS]: [1, 4],
        [ATTR_TOKENS]: 3,
      });
      expect(received.attributes).toMatchObject({
        'messaging.system': 'nats',
        'messaging.destination.name': SUBJECT,
        'messaging.operation.name': 'process',
        'messaging.operation.type': 'process',
        [ATTR_INSTANCE]: 'e0',
      });
      const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
      expect(received.instrumentationScope).toMatchObject({ name: TRACER_NAME, version });
      expect(received.resource.attributes['service.name']).toBe('eaas-test');
    } finally {
      await tracing.shutdown();
    }
  });

  it('reads and replaces trace headers whatever case another client gave their names', async () => {
    const tracing = await startTracing('eaas-test');
    try {
      const traceId = newTraceId();
      const hdrs = headers();
      hdrs.set('Traceparent', traceparentOf(traceId, newSpanId()));
      expect(trace.getSpanContext(extractContext(hdrs))?.traceId).toBe(traceId);

      const spanId = newSpanId();
      injectContext(trace.setSpanContext(context.active(), { traceId, spanId, traceFlags: 1 }), hdrs);
      expect(hdrs.keys()).toEqual(['traceparent']);
      expect(hdrs.get('traceparent')).toBe(traceparentOf(traceId, spanId));
    } finally {
      await tracing.shutdown();
    }
  });

  it('starts a new trace for a message without trace context, whatever span is active', async () => {
    const tracing = await startInMemoryTracing();
    try {
      const outer = tracer().startSpan('subscription setup');
      context.with(trace.setSpan(context.active(), outer), () => {
        startProcessSpan(SUBJECT, {}, undefined).span.end();
        startProcessSpan(SUBJECT, {}, headers()).span.end();
      });
      outer.end();

      const processed = (await tracing.finishedSpans()).filter((s) => s.name === `process ${SUBJECT}`);
      expect(processed).toHaveLength(2);
      for (const span of processed) {
        expect(span.parentSpanContext).toBeUndefined();
        expect(span.spanContext().traceId).not.toBe(outer.spanContext().traceId);
      }
    } finally {
      await tracing.shutdown();
    }
  });

  it('recordError marks the span failed and records the exception', async () => {
    const tracing = await startInMemoryTracing();
    try {
      const { span } = startPublishSpan(SUBJECT, {});
      recordError(span, new TypeError('wrong dtype'));
      span.end();

      const [failed] = await tracing.finishedSpans();
      expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'wrong dtype' });
      expect(failed.attributes['error.type']).toBe('TypeError');
      expect(failed.events.map((e) => e.name)).toEqual(['exception']);
      expect(failed.events[0].attributes).toMatchObject({
        'exception.type': 'TypeError',
        'exception.message': 'wrong dtype',
      });
    } finally {
      await tracing.shutdown();
    }
  });

  it('without an OTLP endpoint records nothing, says nothing and passes trace context through', async () => {
    const consoleCalls = (['log', 'info', 'warn', 'error', 'debug'] as const).map((level) =>
      vi.spyOn(console, level),
    );
    const tracing = await startTracing('eaas-test');
    const incoming = headers();
    const traceparent = traceparentOf(newTraceId(), newSpanId());
    incoming.set('traceparent', traceparent);

    const { span, ctx } = startProcessSpan(SUBJECT, {}, incoming);
    span.end();
    const outgoing = headers();
    injectContext(ctx, outgoing);
    await tracing.shutdown();

    expect(span.isRecording()).toBe(false);
    expect(outgoing.get('traceparent')).toBe(traceparent);
    for (const call of consoleCalls) {
      expect(call).not.toHaveBeenCalled();
    }
  });

  it('OTEL_SDK_DISABLED=true turns tracing off, even with processors given', async () => {
    vi.stubEnv('OTEL_SDK_DISABLED', 'true');
    const tracing = await startInMemoryTracing();
    const { span } = startPublishSpan(SUBJECT, {});
    span.end();

    expect(span.isRecording()).toBe(false);
    expect(await tracing.finishedSpans()).toEqual([]);
    await tracing.shutdown();
  });
});

/** True when dist/ holds a build of every module the child imports, newer than its source. */
function childModulesBuilt(): boolean {
  return CHILD_MODULES.every((module) => {
    const built = join(ROOT, 'dist', `${module}.js`);
    return existsSync(built) && statSync(built).mtimeMs >= statSync(join(ROOT, `${module}.ts`)).mtimeMs;
  });
}

/** Builds the project when the child's modules are missing or stale (`npm test` builds first anyway). */
function ensureChildModulesBuilt(): void {
  if (childModulesBuilt()) {
    return;
  }
  // Type errors elsewhere make tsc exit non-zero but it still emits; what counts is the check below.
  const tscBin = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const tsc = spawnSync(process.execPath, [tscBin, '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  const output = `${tsc.stdout}${tsc.stderr}`;
  expect(childModulesBuilt(), `dist/observability is missing or stale after tsc:\n${output}`).toBe(true);
}

interface ChildResult {
  /** The traceparent the child would propagate onward. */
  traceparent: string;
  stderr: string;
}

/** Runs the traced child with only the OTEL_* variables given, so the caller's own cannot leak in. */
async function runChild(
  traceparent: string,
  attributes: Record<string, unknown>,
  otelEnv: Record<string, string>,
): Promise<ChildResult> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OTEL_')));
  const { stdout, stderr } = await execFileAsync(
    process.execPath,
    [CHILD, traceparent, SUBJECT, JSON.stringify(attributes)],
    { env: { ...env, ...otelEnv }, timeout: CHILD_TIMEOUT_MS },
  );
  return { traceparent: (JSON.parse(stdout) as { traceparent: string }).traceparent, stderr };
}

describe('tracing across processes, exported over real OTLP/HTTP', () => {
  let receiver: OtlpReceiver;

  beforeAll(async () => {
    ensureChildModulesBuilt();
    receiver = await startOtlpReceiver();
  });
  afterAll(() => receiver?.close());

  function otlpEnv(): Record<string, string> {
    return { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' };
  }

  it('exports the child process span, parented across the process boundary, before the child exits', async () => {
    const traceId = newTraceId();
    const parentSpanId = newSpanId();
    const attributes = { [ATTR_LAYER]: 3, [ATTR_EXPERTS]: [1, 5], [ATTR_TOKENS]: 7, [ATTR_INSTANCE]: 'e0' };

    const child = await runChild(traceparentOf(traceId, parentSpanId), attributes, otlpEnv());

    expect(child.stderr).toBe('');
    const spans = receiver.spans().filter((s) => s.traceId === traceId);
    expect(spans).toHaveLength(1);
    const [span] = spans;
    expect(span).toMatchObject({
      parentSpanId,
      name: `process ${SUBJECT}`,
      kind: SpanKind.CONSUMER,
      serviceName: CHILD_SERVICE_NAME,
    });
    expect(span.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(span.attributes).toEqual({
      'messaging.system': 'nats',
      'messaging.destination.name': SUBJECT,
      'messaging.operation.name': 'process',
      'messaging.operation.type': 'process',
      ...attributes,
    });
    // The context the child would send on names the span it exported.
    expect(child.traceparent).toBe(traceparentOf(traceId, span.spanId));
  });

  it('takes the service name from OTEL_SERVICE_NAME over the one in code', async () => {
    const traceId = newTraceId();

    await runChild(traceparentOf(traceId, newSpanId()), {}, { ...otlpEnv(), OTEL_SERVICE_NAME: 'expert-node-7' });

    expect(receiver.spans().filter((s) => s.traceId === traceId).map((s) => s.serviceName)).toEqual(['expert-node-7']);
  });

  it('exports nothing with OTEL_SDK_DISABLED=true', async () => {
    const traceId = newTraceId();

    const child = await runChild(traceparentOf(traceId, newSpanId()), {}, { ...otlpEnv(), OTEL_SDK_DISABLED: 'true' });

    expect(child.stderr).toBe('');
    expect(receiver.spans().filter((s) => s.traceId === traceId)).toEqual([]);
  });

  it('shuts down cleanly when the collector is down', async () => {
    const gone = await startOtlpReceiver();
    await gone.close();
    const traceparent = traceparentOf(newTraceId(), newSpanId());

    // runChild rejects if the child exits non-zero, as an unhandled export error would make it.
    const child = await runChild(traceparent, {}, {
      OTEL_EXPORTER_OTLP_ENDPOINT: gone.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TIMEOUT: String(DEAD_COLLECTOR_TIMEOUT_MS),
    });

    expect(child.stderr).toBe('');
  });

  it('without an endpoint exits cleanly, silently, passing the trace context on unchanged', async () => {
    const traceparent = traceparentOf(newTraceId(), newSpanId());

    const child = await runChild(traceparent, {}, {});

    expect(child.stderr).toBe('');
    expect(child.traceparent).toBe(traceparent);
  });
});
