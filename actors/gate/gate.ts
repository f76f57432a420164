// The gate actor: runs the dense part of the model, serves generate requests, dispatches MoE rows to experts.
import { SpanKind, context, trace, type Context } from '@opentelemetry/api';
import { headers, type NatsConnection, type Service, type ServiceMsg } from 'nats';
import type { Checkpoint } from '../../model/checkpoint.js';
import { DenseModel } from '../../model/dense.js';
import { Engine } from '../../model/engine.js';
import { Forward } from '../../model/forward.js';
import { encodeText } from '../../model/tokenizer.js';
import { ATTR_LAYER, ATTR_TOKENS, recordError } from '../../observability/messaging-spans.js';
import { extractContext } from '../../observability/nats-propagation.js';
import { tracer } from '../../observability/tracing.js';
import * as subjects from '../../runtime/transport/subjects.js';
import { Directory } from './directory.js';
import { RemoteExperts, type DispatchOptions } from './dispatcher.js';
import { GATE_SERVICE, SERVICE_VERSION } from '../protocol/services.js';
import { serviceErrorCode, serviceErrorHeaders } from '../protocol/errors.js';
import { decodeGenerateRequest, encodeGenerateReply } from '../protocol/messages.js';
import { checkRequestBytes, checkTextLength, DEFAULT_MAX_REQUEST_BYTES } from './limits.js';


export interface GateOptions extends DispatchOptions {
  nc: NatsConnection;
  model: string;
  node: string;
  checkpoint: Checkpoint;
  threads?: number;
  discoveryMs?: number;
  maxBatch?: number;
  /** Generate requests larger than this are refused before they are decoded. */
  maxRequestBytes?: number;
}

export class GateActor {
  private service?: Service;
  /** nats.js counts errors only of handlers that throw; ours answer asynchronously. */
  private readonly served = { requests: 0, errors: 0 };

  private constructor(
    private readonly o: GateOptions,
    readonly directory: Directory,
    readonly experts: RemoteExperts,
    readonly engine: Engine,
    private readonly dense: DenseModel,
  ) {}

  static async start(o: GateOptions): Promise<GateActor> {
    const c = o.checkpoint.config;
    const dense = await DenseModel.load(o.checkpoint, o.threads);
    const directory = new Directory(o.nc, o.model, o.discoveryMs);
    await directory.start();
    const experts = new RemoteExperts(o.nc, o.model, directory, c.hiddenSize, o);
    const forward = new Forward(dense, experts, {
      layer: (layer, tokens, run) =>
        tracer().startActiveSpan(`layer ${layer}`, { attributes: { [ATTR_LAYER]: layer, [ATTR_TOKENS]: tokens } }, (span) =>
          run().finally(() => span.end()),
        ),
    });
    const engine = new Engine(c, forward, {
      // a step serves several requests: it joins the first one's trace and links the others
      step: (tags, run) => {
        const [first, ...rest] = tags as Context[];
        const links = rest.filter((ctx) => ctx !== undefined).map((ctx) => trace.getSpanContext(ctx)).filter((s) => s !== undefined).map((s) => ({ context: s! }));
        return tracer().startActiveSpan('step', { links, attributes: { 'eaas.requests': tags.length } }, first ?? context.active(), (span) =>
          run().finally(() => span.end()),
        );
      },
    }, o.maxBatch);
    const gate = new GateActor(o, directory, experts, engine, dense);
    await gate.serve();
    return gate;
  }

  private async serve(): Promise<void> {
    const { nc, model } = this.o;
    this.service = await nc.services.add({
      name: GATE_SERVICE,
      version: SERVICE_VERSION,
      description: `eaas gate of ${model}`,
      metadata: { model, node: this.o.node },
      statsHandler: async () => ({ ...this.experts.counters, ...this.served, load: this.engine.load }),
    });
    this.service.addEndpoint('generate', {
      subject: subjects.generate(model),
      handler: (err, msg) => {
        if (!err) void this.handle(msg);
      },
    });
    // the gate counts as started once the server has its subscription: a request right after gets an answer
    await nc.flush();
  }

  private async handle(msg: ServiceMsg): Promise<void> {
    const span = tracer().startSpan(`generate ${this.o.model}`, { kind: SpanKind.SERVER }, extractContext(msg.headers));
    try {
      this.served.requests++;
      // what a request may cost is bounded before any work is done for it
      checkRequestBytes(msg.data.byteLength, this.o.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES);
      const req = decodeGenerateRequest(msg.data);
      if (req.text !== undefined) checkTextLength(req.text, this.o.checkpoint.config);
      const prompt = req.prompt ?? encodeText(req.text ?? '', this.o.checkpoint.config.vocabSize);
      span.setAttribute(ATTR_TOKENS, prompt.length);
      const r = await this.engine.generate(prompt, {
        maxTokens: req.max_tokens,
        logits: req.logits,
        stopAtEos: req.stop_at_eos,
        tag: trace.setSpan(context.active(), span),
      });
      msg.respond(encodeGenerateReply({ tokens: r.tokens, prompt_tokens: r.promptTokens, finish_reason: r.finishReason, logits: r.logits }));
    } catch (err) {
      this.served.errors++;
      recordError(span, err);
      const h = headers();
      serviceErrorHeaders(err, h);
      msg.respondError(serviceErrorCode(err), err instanceof Error ? err.message : String(err), undefined, { headers: h });
    } finally {
      span.end();
    }
  }

  async stop(): Promise<void> {
    await this.service?.stop();
    this.directory.stop();
    await this.dense.release();
  }
}
