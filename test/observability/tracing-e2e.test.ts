import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PACKAGE_VERSION } from '../../observability/version.js';
import { formatExpertKey } from '../../model/expert-key.js';
import { requestGenerate } from '../../actors/gate/client.js';
import { startNode, type RunningNode } from '../../runtime/node/cluster.js';
import { ensureBuilt } from '../helpers/build.js';
import { useNatsServer } from '../helpers/nats.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { tinyCheckpointDir } from '../helpers/tiny-model.js';

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
      roles: ['supervisor', 'gate', 'api'],
      httpPort: 0,
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
    // every layer step dispatched its rows
    for (const l of layers) expect(dispatches.some((d) => parentOf(d) === l), `a dispatch under ${l.name}`).toBe(true);
    for (const d of dispatches) {
      // named by the destination template, not per actor; the subject itself is an attribute
      expect(d.name).toBe('publish eaas.v1.tiny.expert.{instance}.dispatch');
      expect(parentOf(d)?.name).toMatch(/^layer /);
      expect(d.attributes['messaging.system']).toBe('nats');
      expect(d.attributes['messaging.destination.template']).toBe('eaas.v1.tiny.expert.{instance}.dispatch');
      expect(d.attributes['messaging.destination.name']).toBe(`eaas.v1.tiny.expert.${d.attributes['eaas.instance']}.dispatch`);
      expect(d.attributes['server.address']).toBe('127.0.0.1');
      expect(d.attributes['server.port']).toBe(Number(new URL(nats.url).port));
      expect(d.attributes['messaging.message.body.size']).toBeGreaterThan(0);
      for (const a of ['eaas.layer', 'eaas.experts', 'eaas.tokens', 'eaas.instance']) expect(d.attributes[a]).toBeDefined();
    }

    // every dispatch hop has its process span in an expert process, a child through traceparent, and under it
    // one compute span per expert of the dispatch; the expert processes export in batches: poll the receiver
    const processOf = (spanId: string) => receiver.spans().find((s) => s.parentSpanId === spanId && s.kind === SpanKind.CONSUMER);
    const computesOf = (spanId: string) => receiver.spans().filter((s) => s.parentSpanId === spanId);
    const poll = { timeout: 15_000, interval: 100 };
    for (const d of dispatches) {
      const p = await vi.waitFor(() => {
        const found = processOf(d.spanContext().spanId);
        expect(found, `process span for ${d.name}`).toBeDefined();
        return found!;
      }, poll);
      expect(p.traceId).toBe(traceId);
      expect(p.serviceName).toBe('eaas-expert');
      expect(p.resource['service.version']).toBe(PACKAGE_VERSION);
      expect(p.name).toBe('process eaas.v1.tiny.expert.{instance}.dispatch');
      expect(p.attributes['messaging.destination.name']).toBe(d.attributes['messaging.destination.name']);
      expect(p.attributes['messaging.message.body.size']).toBe(d.attributes['messaging.message.body.size']);
      expect(p.attributes['eaas.instance']).toBe(d.attributes['eaas.instance']);
      const experts = String(d.attributes['eaas.experts']).split(',');
      await vi.waitFor(() => expect(computesOf(p.spanId)).toHaveLength(experts.length), poll);
      expect(computesOf(p.spanId).map((c) => c.name).sort()).toEqual(experts.map((e) => `expert ${formatExpertKey({ layer: Number(d.attributes['eaas.layer']), expert: Number(e) })}`).sort());
    }
  });

  it("continues an HTTP client's traceparent: the front's SERVER span with GenAI attributes, the gate's generate span under it, down to an expert span", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const clientSpan = '00f067aa0ba902b7';
    const res = await fetch(`${node.api!.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${clientSpan}-01` },
      body: JSON.stringify({ model: node.model, prompt: [1, 2, 3], max_tokens: 2, temperature: 0, ignore_eos: true }),
    });
    expect(res.status).toBe(200);
    await processor.forceFlush();
    const ofTrace = () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const front = await vi.waitFor(() => {
      const found = ofTrace().find((s) => s.name === 'POST /v1/completions');
      expect(found).toBeDefined();
      return found!;
    });
    expect(front.kind).toBe(SpanKind.SERVER);
    expect(front.parentSpanContext?.spanId).toBe(clientSpan);
    expect(front.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/v1/completions',
      'http.response.status_code': 200,
      'gen_ai.operation.name': 'text_completion',
      'gen_ai.request.model': node.model,
      'gen_ai.request.max_tokens': 2,
      'gen_ai.request.temperature': 0,
      'gen_ai.usage.input_tokens': 3,
      'gen_ai.usage.output_tokens': 2,
      'gen_ai.response.finish_reasons': ['length'],
    });
    const generate = ofTrace().find((s) => s.name === 'generate tiny')!;
    expect(generate.parentSpanContext?.spanId).toBe(front.spanContext().spanId);
    // the expert processes export over OTLP: an expert span of the same trace arrives at the receiver
    await vi.waitFor(() => expect(receiver.spans().some((s) => s.traceId === traceId && /^expert \d+:\d+$/.test(s.name))).toBe(true), { timeout: 15_000, interval: 100 });
  });
});
