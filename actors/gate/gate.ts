// The gate actor: runs the dense part of the model, serves generate requests, hands MoE rows to the experts it is given.
import { SpanKind, context, trace, type Context } from '@opentelemetry/api';
import { headers, nuid, type NatsConnection, type Service, type ServiceMsg } from 'nats';
import type { Checkpoint } from '../../model/checkpoint.js';
import { DenseModel } from '../../model/dense.js';
import { Engine, type GenerateOptions, type TokenEvent } from '../../model/engine.js';
import { endOfSequenceIds } from '../../model/eos.js';
import { GenerationCancelledError } from '../../model/errors.js';
import { Forward } from '../../model/forward.js';
import { randomSeed } from '../../model/sampling.js';
import type { QuantBits } from '../../model/quantize.js';
import { requireTokenizer, type Tokenizer } from '../../model/tokenizer.js';
import { DEFAULT_LOAD_REPORT_MS } from '../../observability/load-window.js';
import { observeQueueTime, showGateEngine } from '../../observability/metrics.js';
import { ATTR_LAYER, ATTR_TOKENS, recordError } from '../../observability/messaging-spans.js';
import { extractContext } from '../../observability/nats-propagation.js';
import { tracer } from '../../observability/tracing.js';
import { decodeMessage, encodeMessage } from '../../runtime/transport/codec.js';
import * as subjects from '../../runtime/transport/subjects.js';
import type { GateExperts } from './experts.js';
import { DEFAULT_PULSE_MS, PulseTracker } from './pulse.js';
import { RecentReplies } from './replies.js';
import { STREAM_KEEP_MS, StreamBook } from './streams.js';
import { GATE_SERVICE, SERVICE_VERSION } from '../protocol/services.js';
import { MalformedMessageError, OverCapacityError, UnknownStreamError, serviceErrorCode, serviceErrorHeaders } from '../protocol/errors.js';
import { decodeGenerateRequest, encodeGenerateReply, encodeGatePulse, encodeLoadReport, encodeStreamMessage, type CancelRequest, type WireToken } from '../protocol/messages.js';
import { checkRequestBytes, checkTextLength, DEFAULT_MAX_QUEUED, DEFAULT_MAX_REQUEST_BYTES } from './limits.js';


export interface GateOptions {
  nc: NatsConnection;
  model: string;
  node: string;
  checkpoint: Checkpoint;
  threads?: number;
  /** The dense projections and LM head quantized to these bits (the experts are quantized where they run). */
  denseBits?: QuantBits;
  /** Where the MoE rows go: expert actors over NATS, or experts in this process (monolithic). The gate stops them. */
  experts: GateExperts;
  maxBatch?: number;
  /** Generate requests larger than this are refused before they are decoded. */
  maxRequestBytes?: number;
  /** Sequences waiting or running past which new requests are refused (429). */
  maxQueued?: number;
  /** How often the gate publishes its load report (0: never). */
  loadReportMs?: number;
  /** How often the gate publishes its pulse (0: never). */
  pulseMs?: number;
  /** The checkpoint's tokenizer, for text prompts; without one the gate takes token ids only. */
  tokenizer?: Tokenizer;
}

/** A token as the wire carries it. */
const wireToken = (t: TokenEvent): WireToken => ({ id: t.id, logprob: t.logprob, top: t.top?.map((a) => [a.id, a.logprob] as [number, number]) });

export class GateActor {
  private service?: Service;
  private loadTimer?: NodeJS.Timeout;
  private pulseTimer?: NodeJS.Timeout;
  /** Tokens, latencies and incidents since the last pulse. */
  private readonly pulse = new PulseTracker();
  /** Takes the engine out of the process's metrics. */
  private unshow?: () => void;
  /** Streams by request id, kept a while after they end: to cancel, resume and send again after a reconnect. */
  private readonly book: StreamBook;
  /** nats.js counts errors only of handlers that throw; ours answer asynchronously. */
  private readonly served = { requests: 0, errors: 0 };
  /** Answers sent again after a reconnect, in case they died with the server. */
  private readonly replies: RecentReplies;

  private constructor(
    private readonly o: GateOptions,
    readonly engine: Engine,
    private readonly dense: DenseModel,
  ) {
    this.replies = new RecentReplies(o.nc, subjects.gateReconnected(o.model, o.node));
    this.book = new StreamBook(o.nc);
    o.experts.incidents = this.pulse;
  }

  get experts(): GateExperts {
    return this.o.experts;
  }

  /** Loads the dense part and serves; on failure it lets go of the experts it was given too. */
  static async start(o: GateOptions): Promise<GateActor> {
    let dense: DenseModel | undefined;
    try {
      dense = await DenseModel.load(o.checkpoint, o.threads, o.denseBits);
      const gate = new GateActor(o, GateActor.tracedEngine(o, dense), dense);
      await gate.serve();
      gate.reportLoad();
      gate.publishPulse();
      const { engine } = gate;
      gate.unshow = showGateEngine({ model: o.model, node: o.node, running: () => engine.running, waiting: () => engine.waiting, kvCache: () => engine.kvCache });
      return gate;
    } catch (err) {
      await dense?.release();
      await o.experts.stop();
      throw err;
    }
  }

  /** The engine over the dense model and the given experts, with a span per step and per layer. */
  private static tracedEngine(o: GateOptions, dense: DenseModel): Engine {
    const forward = new Forward(dense, o.experts, {
      layer: (layer, tokens, run) =>
        tracer().startActiveSpan(`layer ${layer}`, { attributes: { [ATTR_LAYER]: layer, [ATTR_TOKENS]: tokens } }, (span) =>
          run().finally(() => span.end()),
        ),
    });
    return new Engine(o.checkpoint.config, forward, {
      admitted: (ms) => observeQueueTime(o.model, ms / 1000),
      interToken: (ms) => o.experts.load.interToken(ms),
      // a step serves several requests: it joins the first one's trace and links the others
      step: (tags, run) => {
        const [first, ...rest] = tags as Context[];
        const links = rest.filter((ctx) => ctx !== undefined).map((ctx) => trace.getSpanContext(ctx)).filter((s) => s !== undefined).map((s) => ({ context: s! }));
        return tracer().startActiveSpan('step', { links, attributes: { 'eaas.requests': tags.length } }, first ?? context.active(), (span) =>
          run().finally(() => span.end()),
        );
      },
    }, o.maxBatch, endOfSequenceIds(o.checkpoint.dir, o.tokenizer));
  }

  private async serve(): Promise<void> {
    const { nc, model } = this.o;
    this.service = await nc.services.add({
      name: GATE_SERVICE,
      version: SERVICE_VERSION,
      description: `eaas gate of ${model}`,
      metadata: { model, node: this.o.node },
      // the counts belong to the generate endpoint; cancel keeps nats.js's own
      statsHandler: async (endpoint) =>
        endpoint.subject === subjects.generate(model) ? { ...this.experts.counters, ...this.served, load: this.engine.load, routes: this.experts.routable() } : null,
    });
    this.service.addEndpoint('generate', {
      subject: subjects.generate(model),
      handler: (err, msg) => {
        if (!err) void this.handle(msg);
      },
    });
    this.service.addEndpoint('cancel', {
      subject: subjects.gateCancel(model, this.o.node),
      handler: (err, msg) => {
        if (!err) this.cancel(msg);
      },
    });
    this.service.addEndpoint('resume', {
      subject: subjects.gateResume(model, this.o.node),
      handler: (err, msg) => {
        if (!err) this.resume(msg);
      },
    });
    // the gate counts as started once the server has its subscription: a request right after gets an answer
    await nc.flush();
  }

  private async handle(msg: ServiceMsg): Promise<void> {
    const span = tracer().startSpan(`generate ${this.o.model}`, { kind: SpanKind.SERVER }, extractContext(msg.headers));
    let stream: { id: string; abort: AbortController } | undefined;
    try {
      this.served.requests++;
      // what a request may cost is bounded before any work is done for it
      checkRequestBytes(msg.data.byteLength, this.o.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES);
      const req = decodeGenerateRequest(msg.data);
      // the same streamed request again (a client that lost its stream): it gets the stream, not a second generation
      if (req.stream && req.id !== undefined && msg.reply && this.book.attach(req.id, msg.reply)) return;
      if (this.engine.load >= (this.o.maxQueued ?? DEFAULT_MAX_QUEUED)) {
        throw new OverCapacityError(`gate ${this.o.node} holds ${this.engine.load} sequences, its bound (EAAS_MAX_QUEUED): try again shortly`);
      }
      const prompt = req.prompt ?? this.tokenize(req.text ?? '');
      span.setAttribute(ATTR_TOKENS, prompt.length);
      // a sampled stream says its seed: generated again elsewhere after a failover, it gives the same tokens
      const seed = req.seed ?? (req.stream && req.temperature ? randomSeed() : undefined);
      const opts: GenerateOptions = {
        maxTokens: req.max_tokens,
        logits: req.logits,
        stopAtEos: req.stop_at_eos,
        sampling: { temperature: req.temperature, topP: req.top_p, topK: req.top_k, seed },
        adjust: { frequencyPenalty: req.frequency_penalty, presencePenalty: req.presence_penalty, repetitionPenalty: req.repetition_penalty, logitBias: req.logit_bias, minTokens: req.min_tokens },
        logprobs: req.logprobs,
        promptLogprobs: req.prompt_logprobs,
        tag: trace.setSpan(context.active(), span),
        onToken: this.timeTokens(),
      };
      if (req.stream) {
        if (!msg.reply) throw new MalformedMessageError('a streamed generate request needs a reply subject');
        const s = (stream = { id: req.id ?? nuid.next(), abort: new AbortController() });
        this.book.open(s.id, msg.reply, s.abort);
        this.book.send(s.id, encodeStreamMessage({ kind: 'start', request: s.id, cancel: subjects.gateCancel(this.o.model, this.o.node), resume: subjects.gateResume(this.o.model, this.o.node), seed, prompt_tokens: prompt }));
        opts.signal = s.abort.signal;
        const timed = opts.onToken!;
        let index = 0;
        opts.onToken = (t) => {
          timed(t);
          this.book.send(s.id, encodeStreamMessage({ kind: 'token', index: index++, ...wireToken(t) }));
        };
      }
      const r = await this.engine.generate(prompt, opts);
      if (stream) this.book.send(stream.id, encodeStreamMessage({ kind: 'end', finish_reason: r.finishReason, tokens: r.tokens.length }), true);
      else {
        const text = req.text !== undefined && this.o.tokenizer ? this.o.tokenizer.decode(r.tokens, { skipSpecialTokens: true }) : undefined;
        const reply = encodeGenerateReply({ tokens: r.tokens, prompt_tokens: r.promptTokens, finish_reason: r.finishReason, logits: r.logits, logprobs: r.logprobs?.map(wireToken), prompt_logprobs: r.promptLogprobs, text });
        msg.respond(reply);
        this.replies.record(msg.reply, reply);
      }
    } catch (err) {
      // a failed or cancelled stream is not taken up again
      if (stream) this.book.drop(stream.id);
      // a cancelled stream has nobody left to tell
      if (err instanceof GenerationCancelledError) return;
      this.served.errors++;
      recordError(span, err);
      const h = headers();
      serviceErrorHeaders(err, h);
      msg.respondError(serviceErrorCode(err), err instanceof Error ? err.message : String(err), undefined, { headers: h });
      this.replies.record(msg.reply, new Uint8Array(0), h);
    } finally {
      span.end();
    }
  }

  /** A request's token callback that times its tokens for the pulse: the first from its arrival, the others apart. */
  private timeTokens(): (t: TokenEvent) => void {
    let last = performance.now();
    let first = true;
    return () => {
      const now = performance.now();
      this.pulse.token(first, now - last);
      first = false;
      last = now;
    };
  }

  /** A text prompt through the checkpoint's tokenizer, bounded before the work. */
  private tokenize(text: string): number[] {
    const tokenizer = requireTokenizer(this.o.tokenizer);
    checkTextLength(text, tokenizer, this.o.checkpoint.config);
    return tokenizer.encode(text);
  }

  /** A cancel of one of this gate's streams: the sequence leaves the engine at once. */
  private cancel(msg: ServiceMsg): void {
    try {
      const { request } = decodeMessage(msg.data) as Partial<CancelRequest>;
      if (typeof request !== 'string') throw new MalformedMessageError('cancel must be a map {request}');
      const found = this.book.running(request);
      found?.abort();
      msg.respond(encodeMessage({ cancelled: found !== undefined }));
    } catch (err) {
      msg.respondError(serviceErrorCode(err), err instanceof Error ? err.message : String(err));
    }
  }

  /** A client takes one of this gate's streams up again on its reply inbox: every message from the start, then the rest as it comes. */
  private resume(msg: ServiceMsg): void {
    try {
      const { request } = decodeMessage(msg.data) as Partial<CancelRequest>;
      if (typeof request !== 'string' || !msg.reply) throw new MalformedMessageError('resume must be a map {request} with a reply subject');
      if (!this.book.attach(request, msg.reply)) throw new UnknownStreamError(`gate ${this.o.node} has no stream ${request}: it ended over ${STREAM_KEEP_MS / 1000} s ago, or the gate restarted`);
    } catch (err) {
      msg.respondError(serviceErrorCode(err), err instanceof Error ? err.message : String(err));
    }
  }

  /** Publishes the load this gate saw on its load subject, every `loadReportMs`. */
  private reportLoad(): void {
    const every = this.o.loadReportMs ?? DEFAULT_LOAD_REPORT_MS;
    if (every <= 0) return;
    this.loadTimer = setInterval(() => {
      if (!this.o.nc.isClosed()) this.o.nc.publish(subjects.loadReport(this.o.model, this.o.node), encodeLoadReport(this.experts.load.report(this.o.node)));
    }, every);
  }

  /** Publishes what this gate did in the last second on its pulse subject, every `pulseMs`. */
  private publishPulse(): void {
    const every = this.o.pulseMs ?? DEFAULT_PULSE_MS;
    if (every <= 0) return;
    this.pulseTimer = setInterval(() => {
      const pulse = this.pulse.take(this.o.node, this.engine.running, this.engine.waiting);
      if (!this.o.nc.isClosed()) this.o.nc.publish(subjects.gatePulse(this.o.model, this.o.node), encodeGatePulse(pulse));
    }, every);
  }

  async stop(): Promise<void> {
    clearInterval(this.loadTimer);
    clearInterval(this.pulseTimer);
    this.unshow?.();
    this.book.stop();
    this.replies.stop();
    await this.service?.stop();
    await this.o.experts.stop();
    await this.dense.release();
  }
}
