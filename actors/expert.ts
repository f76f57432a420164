// The expert actor: hosts experts as ONNX sessions behind a NATS micro service and answers dispatches.
import { SpanStatusCode, context } from '@opentelemetry/api';
import type { NatsConnection, Service, ServiceMsg } from 'nats';
import { createActor } from 'xstate';
import type { ExpertSet } from '../model/experts.js';
import { expertId } from '../model/experts.js';
import { ATTR_EXPERTS, ATTR_INSTANCE, ATTR_LAYER, ATTR_TOKENS, recordError, startProcessSpan } from '../observability/messaging-spans.js';
import { tracer } from '../observability/tracing.js';
import { CodecError, encodeMessage, type WireDtype } from '../runtime/codec.js';
import * as subjects from '../runtime/subjects.js';
import { expertMachine } from './expert-machine.js';
import { decodeDispatch, encodeDispatchReply, encodeEvent, ProtocolError, type InstanceEvent } from './protocol.js';

export const EXPERT_SERVICE = 'eaas-expert';
export const SERVICE_VERSION = '0.1.0';
/** How often an expert says it is alive. Env: EAAS_HEARTBEAT_MS. */
export const DEFAULT_HEARTBEAT_MS = 250;

export interface ExpertActorOptions {
  nc: NatsConnection;
  model: string;
  instance: string;
  node: string;
  experts: ExpertSet;
  wire?: WireDtype;
  heartbeatMs?: number;
  /** Test knob: wait this long before answering each dispatch (simulates a slow replica). */
  delayMs?: number;
}

export class ExpertActor {
  private readonly lifecycle = createActor(expertMachine).start();
  private service?: Service;
  private heartbeat?: NodeJS.Timeout;
  private inflight = 0;
  private served = 0;
  private idle?: () => void;

  constructor(private readonly o: ExpertActorOptions) {
    this.lifecycle.send({ type: 'CONNECTED' });
  }

  get state(): string {
    return String(this.lifecycle.getSnapshot().value);
  }

  private get hosted(): string[] {
    return this.o.experts.keys().map(expertId);
  }

  /** Registers the micro service and announces the instance as up. */
  async start(): Promise<void> {
    const { nc, model, instance } = this.o;
    this.lifecycle.send({ type: 'LOADED' });
    this.service = await nc.services.add({
      name: EXPERT_SERVICE,
      version: SERVICE_VERSION,
      description: `eaas expert actor hosting ${this.hosted.length} experts of ${model}`,
      metadata: { model, instance, node: this.o.node, experts: this.hosted.join(',') },
    });
    this.service.addEndpoint('dispatch', {
      subject: subjects.expertDispatch(model, instance),
      handler: (err, msg) => {
        if (!err) void this.handle(msg);
      },
      metadata: { experts: this.hosted.join(',') },
    });
    const beat = () => nc.publish(subjects.heartbeat(model, instance), encodeMessage({ instance, inflight: this.inflight, served: this.served }));
    beat();
    this.heartbeat = setInterval(beat, this.o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    this.announce('up');
  }

  private announce(kind: InstanceEvent['kind']): void {
    const e: InstanceEvent = { kind, instance: this.o.instance, experts: this.hosted, node: this.o.node, at: Date.now() };
    this.o.nc.publish(subjects.eventSubject(this.o.model, kind), encodeEvent(e));
  }

  private async handle(msg: ServiceMsg): Promise<void> {
    const H = this.o.experts.config.hiddenSize;
    const { span, ctx } = startProcessSpan(msg.subject, { [ATTR_INSTANCE]: this.o.instance }, msg.headers);
    this.inflight++;
    try {
      const d = decodeDispatch(msg.data, H);
      span.setAttributes({ [ATTR_LAYER]: d.layer, [ATTR_EXPERTS]: d.experts.join(','), [ATTR_TOKENS]: d.x.length / H });
      for (const expert of d.experts) {
        if (!this.o.experts.has({ layer: d.layer, expert })) {
          throw new ProtocolError(`expert ${expert} of layer ${d.layer} is not hosted by ${this.o.instance} (hosts ${this.hosted.join(',')})`, 404);
        }
      }
      const y = await context.with(ctx, () => this.compute(d.layer, d.experts, d.rows, d.x));
      if (this.o.delayMs) await new Promise((r) => setTimeout(r, this.o.delayMs));
      msg.respond(encodeDispatchReply(y, H, this.o.wire ?? 'f32'));
      this.served++;
    } catch (err) {
      recordError(span, err);
      const code = err instanceof ProtocolError ? err.code : err instanceof CodecError ? 400 : 500;
      msg.respondError(code, err instanceof Error ? err.message : String(err));
    } finally {
      span.end();
      this.inflight--;
      if (this.inflight === 0) this.idle?.();
    }
  }

  private async compute(layer: number, experts: number[], rows: number[], x: Float32Array): Promise<Float32Array> {
    const H = this.o.experts.config.hiddenSize;
    const y = new Float32Array(x.length);
    let offset = 0;
    for (let i = 0; i < experts.length; i++) {
      const part = x.subarray(offset * H, (offset + rows[i]) * H);
      const span = tracer().startSpan(`expert ${layer}:${experts[i]}`, {
        attributes: { [ATTR_LAYER]: layer, [ATTR_EXPERTS]: String(experts[i]), [ATTR_TOKENS]: rows[i], [ATTR_INSTANCE]: this.o.instance },
      });
      try {
        y.set(await this.o.experts.run({ layer, expert: experts[i] }, part), offset * H);
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw err;
      } finally {
        span.end();
      }
      offset += rows[i];
    }
    return y;
  }

  /** Stops taking dispatches, finishes the ones in flight, then stops. */
  async drain(): Promise<void> {
    if (this.state !== 'ready') return;
    this.lifecycle.send({ type: 'DRAIN' });
    this.announce('draining');
    clearInterval(this.heartbeat);
    await this.service?.stop();
    if (this.inflight > 0) await new Promise<void>((r) => (this.idle = r));
    await this.o.nc.flush();
    this.lifecycle.send({ type: 'DRAINED' });
  }
}

