/**
 * OpenTelemetry setup for one eaas process: traces only, configured by the
 * standard OTEL_* environment variables, exported over OTLP when (and only
 * when) an endpoint is configured.
 */

import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import {
  W3CTraceContextPropagator,
  getBooleanFromEnv,
  getNumberFromEnv,
  getStringFromEnv,
  getStringListFromEnv,
  globalErrorHandler,
} from '@opentelemetry/core';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import { PACKAGE_VERSION } from './version.js';

/** Instrumentation scope of every span eaas creates. */
export const TRACER_NAME = 'eaas';

/** The OTLP spec's default transport. */
const DEFAULT_OTLP_PROTOCOL = 'http/protobuf';

/** The OTEL_TRACES_EXPORTER value that turns trace export off. */
const TRACES_EXPORTER_NONE = 'none';

export interface TracingOptions {
  /** Extra processors, e.g. a SimpleSpanProcessor over an InMemorySpanExporter in tests. */
  spanProcessors?: SpanProcessor[];
}

export interface TracingHandle {
  /** Flushes every pending span to its exporter, then stops tracing in this process. Never rejects. */
  shutdown(): Promise<void>;
}

const INSTRUMENTATION_VERSION = PACKAGE_VERSION;

/** The tracer for eaas spans; resolves against whatever provider is registered now. */
export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME, INSTRUMENTATION_VERSION);
}

/**
 * Starts tracing for this process. One per process at a time: call shutdown()
 * before starting again. With no OTLP endpoint configured (and no extra
 * processors) no tracer provider is registered and the SDK is not even loaded,
 * so spans cost nothing and incoming trace context is passed through unchanged.
 */
export async function startTracing(serviceName: string, opts: TracingOptions = {}): Promise<TracingHandle> {
  if (getBooleanFromEnv('OTEL_SDK_DISABLED')) {
    return { shutdown: async () => {} };
  }
  const processors = [...(await otlpSpanProcessorsFromEnv()), ...(opts.spanProcessors ?? [])];
  if (processors.length === 0) return passThrough();
  // loaded only when spans go somewhere: the SDK costs ~0.35 s of CPU at every process start (an expert restart)
  const { NodeSDK, resources } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({
    // every process says which eaas it is; OTEL_RESOURCE_ATTRIBUTES, detected after, may still say otherwise
    resource: resources.resourceFromAttributes({ 'service.version': PACKAGE_VERSION }),
    // The environment wins over the name the code picks, as the OTel spec asks.
    serviceName: getStringFromEnv('OTEL_SERVICE_NAME') ?? serviceName,
    spanProcessors: processors,
    // Our wire format is W3C trace context, so OTEL_PROPAGATORS must not change it.
    textMapPropagator: new W3CTraceContextPropagator(),
    // Manual spans only: no http/fs/dns noise.
    instrumentations: [],
    // Traces only; left unset, the SDK would export metrics and logs to localhost:4318.
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  return {
    shutdown: async () => {
      try {
        // TracerProvider.shutdown flushes every batch processor and waits for the exports.
        await sdk.shutdown();
      } catch (err) {
        // An unreachable collector must not fail the caller's own shutdown: report it
        // the way OTel reports every failed export (diag, silent unless OTEL_LOG_LEVEL).
        globalErrorHandler(err instanceof Error ? err : String(err));
      } finally {
        // NodeSDK leaves its globals registered; drop them so tracing can be started again.
        trace.disable();
        propagation.disable();
        context.disable();
      }
    },
  };
}

/**
 * No spans are recorded, but W3C trace context still flows from incoming messages to outgoing ones (the
 * spans are non-recording and carry their parent's context), so a traced caller's trace is not cut here.
 */
function passThrough(): TracingHandle {
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  return {
    shutdown: async () => {
      propagation.disable();
      context.disable();
    },
  };
}

/** A batch processor over the OTLP exporter the environment asks for, or none without an endpoint. */
async function otlpSpanProcessorsFromEnv(): Promise<SpanProcessor[]> {
  const endpoint =
    getStringFromEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? getStringFromEnv('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (endpoint === undefined || getStringListFromEnv('OTEL_TRACES_EXPORTER')?.includes(TRACES_EXPORTER_NONE)) {
    return [];
  }
  // The exporters read endpoint, headers, timeout and compression from the environment themselves.
  const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace');
  return [
    new BatchSpanProcessor({
      exporter: await otlpExporterFromEnv(),
      maxQueueSize: getNumberFromEnv('OTEL_BSP_MAX_QUEUE_SIZE'),
      maxExportBatchSize: getNumberFromEnv('OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
      scheduledDelayMillis: getNumberFromEnv('OTEL_BSP_SCHEDULE_DELAY'),
      exportTimeoutMillis: getNumberFromEnv('OTEL_BSP_EXPORT_TIMEOUT'),
    }),
  ];
}

async function otlpExporterFromEnv(): Promise<SpanExporter> {
  const protocol =
    getStringFromEnv('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ??
    getStringFromEnv('OTEL_EXPORTER_OTLP_PROTOCOL') ??
    DEFAULT_OTLP_PROTOCOL;
  switch (protocol) {
    case 'grpc':
      return new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter();
    case 'http/json':
      return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
    default:
      // Unknown values fall back to the default, as the SDK's own env setup does.
      return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();
  }
}

