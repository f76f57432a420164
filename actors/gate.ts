// The gate actor: runs the dense part of the model, serves generate requests, dispatches MoE rows to experts.
import { SpanKind, context, trace, type Context } from '@opentelemetry/api';
import type { NatsConnection, Service, ServiceMsg } from 'nats';
import type { Checkpoint } from '../model/checkpoint.js';
import { DenseModel } from '../model/dense.js';
import { Engine } from '../model/engine.js';
import { ModelInputError } from '../model/errors.js';
import { Forward } from '../model/forward.js';
import { encodeText } from '../model/tokenizer.js';
import { ATTR_LAYER, ATTR_TOKENS, recordError } from '../observability/messaging-spans.js';
import { extractContext } from '../observability/nats-propagation.js';
import { tracer } from '../observability/tracing.js';
import { CodecError } from '../runtime/codec.js';
import * as subjects from '../runtime/subjects.js';
import { Directory } from './directory.js';
import { RemoteExperts, type DispatchOptions } from './dispatcher.js';
import { SERVICE_VERSION } from './expert.js';
import { decodeGenerateRequest, encodeGenerateReply, ProtocolError } from './protocol.js';

export const GATE_SERVICE = 'eaas-gate';

export interface GateOptions extends DispatchOptions {
  nc: NatsConnection;
  model: string;
  node: string;
  checkpoint: Checkpoint;
  threads?: number;
  discoveryMs?: number;
  maxBatch?: number;
}

export class GateActor {
  private service?: Service;

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
      statsHandler: async () => ({ ...this.experts.counters, load: this.engine.load }),
    });
    this.service.addEndpoint('generate', {
      subject: subjects.generate(model),
      handler: (err, msg) => {
        if (!err) void this.handle(msg);
      },
    });
  }

  private async handle(msg: ServiceMsg): Promise<void> {
    const span = tracer().startSpan(`generate ${this.o.model}`, { kind: SpanKind.SERVER }, extractContext(msg.headers));
    try {
      const req = decodeGenerateRequest(msg.data);
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
      recordError(span, err);
      const bad = err instanceof ProtocolError || err instanceof CodecError || err instanceof ModelInputError;
      msg.respondError(bad ? 400 : 500, err instanceof Error ? err.message : String(err));
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
