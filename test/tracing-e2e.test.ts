import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestGenerate } from '../actors/gate/client.js';
import { startNode, type RunningNode } from '../runtime/node/cluster.js';
import { ensureBuilt } from './helpers/build.js';
import { useNatsServer } from './helpers/nats.js';
import { startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver.js';
import { tinyCheckpointDir } from './helpers/tiny-model.js';

describe('one generate request is one trace across processes', () => {
  const nats = useNatsServer();
  const exporter = new InMemorySpanExporter();
  const processor = new SimpleSpanProcessor({ exporter });
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let receiver: OtlpReceiver;
  let node: RunningNode;

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    receiver = await startOtlpReceiver();
    node = await startNode({
      nats: nats.url,
      modelDir: tiny.dir,
      roles: ['supervisor', 'gate'],
      replicas: 1,
      expertsPerActor: 8,
      spanProcessors: [processor],
      // the expert processes export for real, over OTLP/HTTP, to the receiver this test runs
      expertEnv: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '50' },
    });
  });
  afterAll(async () => {
    await node?.stop();
    await receiver?.close();
    tiny?.remove();
  });

  it('links request -> step -> layer -> dispatch (gate) -> process -> expert compute (expert processes)', async () => {
    const client = await nats.connect();
    await requestGenerate(client, node.model, { prompt: [1, 2, 3], max_tokens: 2, stop_at_eos: false });
    await processor.forceFlush();
    const gateSpans = exporter.getFinishedSpans();
    const request = gateSpans.find((s) => s.name === 'generate tiny')!;
    expect(request).toBeDefined();
    expect(request.kind).toBe(SpanKind.SERVER);
    const traceId = request.spanContext().traceId;
    const ofTrace = gateSpans.filter((s) => s.spanContext().traceId === traceId);
    const byId = new Map(ofTrace.map((s) => [s.spanContext().spanId, s]));
    const parentOf = (s: (typeof ofTrace)[number]) => byId.get(s.parentSpanContext?.spanId ?? '');

    const steps = ofTrace.filter((s) => s.name === 'step');
    expect(steps).toHaveLength(2);
    for (const s of steps) expect(parentOf(s)).toBe(request);
    const layers = ofTrace.filter((s) => s.name.startsWith('layer '));
    expect(layers).toHaveLength(2 * 2);
    for (const l of layers) expect(parentOf(l)?.name).toBe('step');

    const dispatches = ofTrace.filter((s) => s.kind === SpanKind.PRODUCER);
    expect(dispatches.length).toBeGreaterThanOrEqual(layers.length);
    for (const d of dispatches) {
      expect(d.name).toMatch(/^publish eaas\.v1\.tiny\.expert\.[^.]+\.dispatch$/);
      expect(parentOf(d)?.name).toMatch(/^layer /);
      expect(d.attributes['messaging.system']).toBe('nats');
      expect(d.attributes['messaging.destination.name']).toBe(d.name.slice('publish '.length));
      for (const a of ['eaas.layer', 'eaas.experts', 'eaas.tokens', 'eaas.instance']) expect(d.attributes[a]).toBeDefined();
    }

    // every dispatch hop has its process span in an expert process, a child through traceparent
    const deadline = Date.now() + 15_000;
    const processOf = (spanId: string) => receiver.spans().find((s) => s.parentSpanId === spanId && s.kind === SpanKind.CONSUMER);
    while (dispatches.some((d) => !processOf(d.spanContext().spanId)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    for (const d of dispatches) {
      const p = processOf(d.spanContext().spanId)!;
      expect(p, `process span for ${d.name}`).toBeDefined();
      expect(p.traceId).toBe(traceId);
      expect(p.serviceName).toBe('eaas-expert');
      expect(p.name).toBe(`process ${d.attributes['messaging.destination.name']}`);
      expect(p.attributes['eaas.instance']).toBe(d.attributes['eaas.instance']);
      while (!receiver.spans().some((s) => s.parentSpanId === p.spanId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const computes = receiver.spans().filter((s) => s.parentSpanId === p.spanId);
      expect(computes.map((c) => c.name).every((n) => /^expert \d+:\d+$/.test(n))).toBe(true);
      expect(computes.length).toBe(String(d.attributes['eaas.experts']).split(',').length);
    }
  });
});
