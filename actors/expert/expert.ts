// The expert actor: hosts experts behind a NATS micro service and answers dispatches, computing them in its own
// thread (a worker thread of its process: the process's main thread keeps the heartbeats, see expert-process.ts).
import { Events, type NatsConnection, type Service, type ServiceMsg } from 'nats';
import { createActor } from 'xstate';
import { formatExpertKey, type ExpertKey } from '../../model/expert-key.js';
import { ATTR_EXPERTS, ATTR_INSTANCE, ATTR_LAYER, ATTR_TOKENS, INSTANCE_TEMPLATE, messageAttributes, recordError, startProcessSpan } from '../../observability/messaging-spans.js';
import { DEFAULT_LOAD_REPORT_MS, SlidingSums } from '../../observability/load-window.js';
import { tracer } from '../../observability/tracing.js';
import * as subjects from '../../runtime/transport/subjects.js';
import { ExpertNotHostedError, serviceErrorCode } from '../protocol/errors.js';
import { decodeDispatch, encodeActorLoad, encodeDispatchReply, encodeEvent, type ActorLoad, type ExpertHealth, type InstanceEvent } from '../protocol/messages.js';
import { EXPERT_SERVICE, SERVICE_VERSION } from '../protocol/services.js';
import { computeDispatch, type ExpertRunner } from './compute.js';
import { expertMachine } from './machine.js';

/** What answering a dispatch needs of its message: a micro service's message, or a plain one (warm-up.ts). */
export type DispatchRequest = Pick<ServiceMsg, 'subject' | 'data' | 'headers' | 'respond' | 'respondError'>;

export interface ExpertActorOptions {
  nc: NatsConnection;
  model: string;
  instance: string;
  node: string;
  keys: ExpertKey[];
  hidden: number;
  /** The ONNX Runtime sessions of `keys`, run in this thread. */
  experts: ExpertRunner;
  /** Test knob: wait this long before answering each dispatch (simulates a slow replica). */
  delayMs?: number;
  /** Test knob: block this thread this long in each dispatch (simulates a computation that does not return). */
  stallMs?: number;
  /** How often the actor publishes its load report (0: never), and the window it covers. */
  loadReportMs?: number;
  loadWindowMs?: number;
}

export class ExpertActor {
  private readonly lifecycle = createActor(expertMachine).start();
  private readonly hosted: Set<string>;
  private service?: Service;
  private linked = true;
  private inflight = 0;
  private served = 0;
  private errors = 0;
  private idle?: () => void;
  /** Compute time, rows and dispatches over the load window; the report timer reads it. */
  private readonly load: SlidingSums;
  private loadTimer?: NodeJS.Timeout;

  constructor(private readonly o: ExpertActorOptions) {
    this.hosted = new Set(o.keys.map(formatExpertKey));
    this.load = new SlidingSums(o.loadWindowMs);
    this.lifecycle.send({ type: 'CONNECTED' });
    void this.watchLink();
  }

  get state(): string {
    return String(this.lifecycle.getSnapshot().value);
  }

  health(): ExpertHealth {
    return { state: this.state, linked: this.linked, inflight: this.inflight, served: this.served, errors: this.errors };
  }

  /** Registers the micro service and announces the instance as up. */
  async start(): Promise<void> {
    const { nc, model, instance } = this.o;
    this.lifecycle.send({ type: 'LOADED' });
    const experts = [...this.hosted].join(',');
    this.service = await nc.services.add({
      name: EXPERT_SERVICE,
      version: SERVICE_VERSION,
      description: `eaas expert actor hosting ${this.hosted.size} experts of ${model}`,
      metadata: { model, instance, node: this.o.node, experts },
      // nats.js counts errors only of handlers that throw; ours answer asynchronously
      statsHandler: async () => ({ requests: this.served + this.errors, errors: this.errors, inflight: this.inflight }),
    });
    this.service.addEndpoint('dispatch', {
      subject: subjects.expertDispatch(model, instance),
      handler: (err, msg) => {
        if (!err) void this.answer(msg);
      },
      metadata: { experts },
    });
    // `up` only once the server has the dispatch subscription, so the first dispatch is not a no-responders
    await nc.flush();
    this.announce('up');
    this.reportLoad();
  }

  /** What this actor computed over the window. */
  private loadReport(): ActorLoad {
    const t = this.load.totals();
    return { instance: this.o.instance, node: this.o.node, windowMs: this.load.windowMs, busyMs: t.get('busyMs') ?? 0, rows: t.get('rows') ?? 0, dispatches: t.get('dispatches') ?? 0 };
  }

  /** Publishes the load report every `loadReportMs`, off the dispatch path (which only adds to the window). */
  private reportLoad(): void {
    const every = this.o.loadReportMs ?? DEFAULT_LOAD_REPORT_MS;
    if (every <= 0) return;
    this.loadTimer = setInterval(() => {
      if (!this.o.nc.isClosed()) this.o.nc.publish(subjects.actorLoad(this.o.model, this.o.node, this.o.instance), encodeActorLoad(this.loadReport()));
    }, every);
  }

  /** Follows the connection's status: a reconnected actor announces itself up again (the gate may have marked it down). */
  private async watchLink(): Promise<void> {
    for await (const s of this.o.nc.status()) {
      if (s.type === Events.Disconnect) this.linked = false;
      else if (s.type === Events.Reconnect) {
        this.linked = true;
        if (this.state === 'ready') this.announce('up');
      }
    }
  }

  private announce(kind: InstanceEvent['kind']): void {
    const e: InstanceEvent = { kind, instance: this.o.instance, experts: [...this.hosted], node: this.o.node, at: Date.now() };
    this.o.nc.publish(subjects.eventSubject(this.o.model, kind, this.o.node, this.o.instance), encodeEvent(e));
  }

  /** Answers one dispatch: its experts' rows computed, or an error with its service code. */
  async answer(msg: DispatchRequest): Promise<void> {
    const H = this.o.hidden;
    const { span, ctx } = startProcessSpan(
      { subject: msg.subject, template: subjects.expertDispatch(this.o.model, INSTANCE_TEMPLATE) },
      { [ATTR_INSTANCE]: this.o.instance, ...messageAttributes(this.o.nc.getServer(), msg.data.byteLength) },
      msg.headers,
    );
    this.inflight++;
    try {
      const d = decodeDispatch(msg.data, H);
      span.setAttributes({ [ATTR_LAYER]: d.layer, [ATTR_EXPERTS]: d.experts.join(','), [ATTR_TOKENS]: d.x.length / H });
      for (const expert of d.experts) {
        if (!this.hosted.has(formatExpertKey({ layer: d.layer, expert }))) {
          throw new ExpertNotHostedError(`expert ${expert} of layer ${d.layer} is not hosted by ${this.o.instance} (hosts ${[...this.hosted].join(',')})`);
        }
      }
      if (this.o.stallMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, this.o.stallMs);
      const r = await computeDispatch(this.o.experts, H, d);
      // one span per expert run, timed around its ONNX Runtime call, children of this dispatch's process span
      r.timings.forEach(([start, end], i) =>
        tracer()
          .startSpan(`expert ${formatExpertKey({ layer: d.layer, expert: d.experts[i] })}`, { startTime: start, attributes: { [ATTR_LAYER]: d.layer, [ATTR_EXPERTS]: String(d.experts[i]), [ATTR_TOKENS]: d.rows[i], [ATTR_INSTANCE]: this.o.instance } }, ctx)
          .end(end),
      );
      if (this.o.delayMs) await new Promise((r) => setTimeout(r, this.o.delayMs));
      // the answer goes back as the rows came: the gate chose the wire (--wire-dtype)
      msg.respond(encodeDispatchReply(r.y, H, d.wire ?? 'f32'));
      this.served++;
      // busy is the compute time, not the queueing before it
      this.load.add('busyMs', r.timings.reduce((a, [start, end]) => a + end - start, 0));
      this.load.add('rows', d.rows.reduce((a, b) => a + b, 0));
      this.load.add('dispatches', 1);
    } catch (err) {
      this.errors++;
      recordError(span, err);
      msg.respondError(serviceErrorCode(err), err instanceof Error ? err.message : String(err));
    } finally {
      span.end();
      this.inflight--;
      if (this.inflight === 0) this.idle?.();
    }
  }

  /** Stops taking dispatches, finishes the ones in flight, then stops. */
  async drain(): Promise<void> {
    if (this.state !== 'ready') return;
    this.lifecycle.send({ type: 'DRAIN' });
    this.announce('draining');
    clearInterval(this.loadTimer);
    await this.service?.stop();
    if (this.inflight > 0) await new Promise<void>((r) => (this.idle = r));
    await this.o.nc.flush();
    this.lifecycle.send({ type: 'DRAINED' });
  }
}
