// The API front actor: OpenAI-compatible HTTP (completions, chat, SSE streaming, /metrics) over the gates' NATS.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { nuid, type NatsConnection } from 'nats';
import type { Tokenizer } from '../../model/tokenizer.js';
import { context, trace, type Span } from '@opentelemetry/api';
import { setGenAiRequest, setGenAiUsage, startHttpServerSpan } from '../../observability/http-spans.js';
import { recordError } from '../../observability/messaging-spans.js';
import { PACKAGE_VERSION } from '../../observability/version.js';
import { servedModels } from '../gate/client.js';
import { ApiKeys } from '../protocol/api-keys.js';
import { Dashboard, isDashboardPath } from '../dashboard/client.js';
import { InvalidRequestError, ModelNotFoundError, OverCapacityError, serviceErrorCode } from '../protocol/errors.js';
import { runChoice, type ChoiceDelta, type ChoiceResult } from './choice.js';
import { DEFAULT_MAX_INFLIGHT, MAX_BODY_BYTES } from './limits.js';
import { FrontMetrics } from './metrics.js';
import { chatRequest, completionRequest, detokenizeRequest, parseBody, tokenizeRequest, type ChatRequest, type CompletionRequest, type GenerationParams } from './requests.js';
import { chatChoice, chatChunk, completionChoice, completionChunk, errorBody, usage, type ResponseContext } from './responses.js';
import { SseWriter } from './sse.js';

/** What a client is told to wait before trying again when the cluster is full or has no gate. */
const RETRY_AFTER_S = 1;
/** max_tokens when a request gives none: what is left of the model's positions, at most this. */
const DEFAULT_MAX_TOKENS = 256;
/** The OpenAI error type of each HTTP status the front fails with; any other status is an InternalServerError. */
const ERROR_TYPES: Readonly<Record<number, string>> = { 400: 'BadRequestError', 404: 'NotFoundError', 429: 'RateLimitError', 503: 'ServiceUnavailableError' };

export interface FrontOptions {
  nc: NatsConnection;
  /** The served model's name (the subject token gates serve it under). */
  model: string;
  /** The checkpoint's tokenizer; without one only token-id prompts are served. */
  tokenizer?: Tokenizer;
  vocabSize: number;
  maxModelLen: number;
  host?: string;
  /** 0: a free port. */
  port: number;
  maxInflight?: number;
  generateTimeoutMs?: number;
  /** Called once per finished generation request, for the request log. */
  onRequest?: (r: RequestRecord) => void;
  /** With keys, /v1/*, /tokenize, /detokenize and /dashboard need `Authorization: Bearer KEY` (/health and /metrics stay open). */
  apiKeys?: readonly string[];
  /** The dashboard's expert grid: the model's layers and experts per layer. */
  dims?: { layers: number; experts: number };
}

/** What a generation used: its output tokens, each choice's finish reason in choice order, the first token's time. */
interface Used {
  outputTokens: number;
  finishReasons: string[];
  ttftMs?: number;
}

/** One finished generation request, as the request log shows it. */
export interface RequestRecord {
  method: string;
  path: string;
  model: string;
  status: number;
  prompt_tokens?: number;
  completion_tokens?: number;
  ttft_ms?: number;
  total_ms: number;
}

const firstToken = (results: { ttftMs?: number }[]) => {
  const t = results.map((r) => r.ttftMs).filter((v): v is number => v !== undefined);
  return t.length > 0 ? Math.min(...t) : undefined;
};
const ms = (v: number | undefined) => (v === undefined ? undefined : Math.round(v * 10) / 10);

/** Every route's methods, for a 405 with Allow on a known path. */
const ROUTES: Record<string, string[]> = {
  '/v1/completions': ['POST'],
  '/v1/chat/completions': ['POST'],
  '/v1/models': ['GET', 'HEAD'],
  '/health': ['GET', 'HEAD'],
  '/metrics': ['GET', 'HEAD'],
  '/version': ['GET', 'HEAD'],
  '/tokenize': ['POST'],
  '/detokenize': ['POST'],
};

/** The paths a key guards, as vLLM's --api-key does. */
const guarded = (path: string) => path.startsWith('/v1/') || path === '/tokenize' || path === '/detokenize';

export class ApiFront {
  private readonly metrics: FrontMetrics;
  private inflight = 0;
  private readonly started = Math.floor(Date.now() / 1000);

  private constructor(
    private readonly o: FrontOptions,
    private readonly server: Server,
    private readonly keys: ApiKeys,
    private readonly dashboard: Dashboard,
  ) {
    this.metrics = new FrontMetrics(o.model);
  }

  static async start(o: FrontOptions): Promise<ApiFront> {
    const server = createServer();
    const keys = new ApiKeys(o.apiKeys);
    const front = new ApiFront(o, server, keys, await Dashboard.start({ nc: o.nc, model: o.model, keys, dims: o.dims }));
    server.on('request', (req, res) => void front.route(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return front;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  async stop(): Promise<void> {
    await this.dashboard.stop();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    try {
      // the dashboard says who may watch (a browser signs in with a key once)
      if (isDashboardPath(path)) return await this.dashboard.handle(req, res, path);
      if (guarded(path) && !this.keys.authorizes(req)) {
        return this.error(res, 401, 'a valid API key is required: send it as Authorization: Bearer KEY', 'AuthenticationError', null, { 'www-authenticate': 'Bearer' });
      }
      // HEAD is GET without the body (Node's server sends none for HEAD)
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      const key = `${method} ${path}`;
      if (key === 'POST /v1/completions') return await this.generate(req, res, 'completion');
      if (key === 'POST /v1/chat/completions') return await this.generate(req, res, 'chat');
      if (key === 'GET /v1/models') return this.json(res, 200, { object: 'list', data: [this.modelCard()] });
      if (method === 'GET' && path.startsWith('/v1/models/')) return this.model(res, decodeURIComponent(path.slice('/v1/models/'.length)));
      if (key === 'GET /health') return await this.health(res);
      if (key === 'GET /metrics') return await this.prometheus(res);
      if (key === 'GET /version') return this.json(res, 200, { version: PACKAGE_VERSION });
      if (key === 'POST /tokenize') return this.json(res, 200, this.tokenize(parseBody(await readBody(req))));
      if (key === 'POST /detokenize') return this.json(res, 200, this.detokenize(parseBody(await readBody(req))));
      const allowed = ROUTES[path] ?? (path.startsWith('/v1/models/') ? ['GET', 'HEAD'] : undefined);
      if (allowed) return this.error(res, 405, `${req.method} is not allowed on ${path}: use ${allowed.join(' or ')}`, 'MethodNotAllowedError', null, { allow: allowed.join(', ') });
      this.error(res, 404, `no route ${req.method} ${path}`, 'NotFoundError', null);
    } catch (err) {
      this.fail(res, err);
    }
  }

  private modelCard() {
    return { id: this.o.model, object: 'model', created: this.started, owned_by: 'eaas', root: this.o.model, max_model_len: this.o.maxModelLen };
  }

  private model(res: ServerResponse, id: string): void {
    if (id !== this.o.model) return this.fail(res, new ModelNotFoundError(`the model \`${id}\` does not exist here: this front serves \`${this.o.model}\``));
    this.json(res, 200, this.modelCard());
  }

  private async health(res: ServerResponse): Promise<void> {
    const up = (await servedModels(this.o.nc).catch(() => [] as string[])).includes(this.o.model);
    res.writeHead(up ? 200 : 503, { 'content-type': 'application/json', ...(up ? {} : { 'retry-after': String(RETRY_AFTER_S) }) });
    res.end(JSON.stringify(up ? { status: 'ok' } : { status: 'unavailable', reason: `no gate answers for model ${this.o.model}` }));
  }

  private async prometheus(res: ServerResponse): Promise<void> {
    res.writeHead(200, { 'content-type': this.metrics.exposed.contentType });
    res.end(await this.metrics.exposed.metrics());
  }

  private checkModel(model: string | undefined): void {
    if (model !== undefined && model !== this.o.model) throw new ModelNotFoundError(`the model \`${model}\` does not exist here: this front serves \`${this.o.model}\``);
  }

  private needTokenizer(): Tokenizer {
    if (!this.o.tokenizer) throw new InvalidRequestError(`model ${this.o.model} has no tokenizer.json: give the prompt as token ids`, 'prompt');
    return this.o.tokenizer;
  }

  /** Token ids of a prompt, checked against the vocabulary and the model's positions. */
  private promptIds(prompt: string | number[], maxTokens: number, addSpecialTokens = true): number[] {
    const ids = typeof prompt === 'string' ? this.needTokenizer().encode(prompt, { addSpecialTokens }) : prompt;
    if (ids.length === 0) throw new InvalidRequestError('the prompt is empty', 'prompt');
    const bad = ids.find((id) => id >= this.o.vocabSize);
    if (bad !== undefined) throw new InvalidRequestError(`token id ${bad} is outside the vocabulary [0, ${this.o.vocabSize})`, 'prompt');
    if (ids.length + maxTokens > this.o.maxModelLen) {
      throw new InvalidRequestError(
        `this model's maximum context length is ${this.o.maxModelLen} tokens; the prompt has ${ids.length} and max_tokens asks for ${maxTokens}: shorten the prompt or lower max_tokens`,
        'max_tokens',
      );
    }
    return ids;
  }

  private tokenize(body: Record<string, unknown>) {
    const r = tokenizeRequest(body);
    this.checkModel(r.model);
    const tokenizer = this.needTokenizer();
    const text = r.messages ? tokenizer.applyChatTemplate(r.messages, { addGenerationPrompt: true }) : r.prompt!;
    const tokens = tokenizer.encode(text, { addSpecialTokens: r.messages ? false : r.addSpecialTokens });
    return { count: tokens.length, max_model_len: this.o.maxModelLen, tokens };
  }

  private detokenize(body: Record<string, unknown>) {
    const r = detokenizeRequest(body);
    this.checkModel(r.model);
    const bad = r.tokens.find((id) => id >= this.o.vocabSize);
    if (bad !== undefined) throw new InvalidRequestError(`token id ${bad} is outside the vocabulary [0, ${this.o.vocabSize})`, 'tokens');
    return { prompt: this.needTokenizer().decode(r.tokens, { skipSpecialTokens: false }) };
  }

  /** One generation request in its SERVER span: the gate's generate span and everything below it are its children. */
  private async generate(req: IncomingMessage, res: ServerResponse, kind: 'completion' | 'chat'): Promise<void> {
    const route = kind === 'chat' ? '/v1/chat/completions' : '/v1/completions';
    const { span, ctx } = startHttpServerSpan('POST', route, route, req.headers);
    const started = performance.now();
    const record: Partial<RequestRecord> = {};
    try {
      await context.with(ctx, () => this.generateIn(span, req, res, kind, record));
    } catch (err) {
      recordError(span, err);
      throw err;
    } finally {
      // a failure's answer is written after this (route's fail): the span ends when the response does
      const end = () => {
        span.setAttribute('http.response.status_code', res.statusCode);
        span.end();
        this.o.onRequest?.({ method: 'POST', path: route, model: this.o.model, status: res.statusCode, ...record, total_ms: ms(performance.now() - started)! });
      };
      if (res.writableFinished || res.destroyed) end();
      else res.once('close', end);
    }
  }

  private async generateIn(span: Span, req: IncomingMessage, res: ServerResponse, kind: 'completion' | 'chat', record: Partial<RequestRecord>): Promise<void> {
    if (this.inflight >= (this.o.maxInflight ?? DEFAULT_MAX_INFLIGHT)) throw new OverCapacityError(`this front has ${this.inflight} requests in progress, its bound (EAAS_API_MAX_INFLIGHT): try again shortly`);
    this.inflight++;
    // a client that goes away cancels its sequences in the gate
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    try {
      const body = parseBody(await readBody(req));
      const defaultMax = Math.min(DEFAULT_MAX_TOKENS, this.o.maxModelLen);
      const r: CompletionRequest | ChatRequest = kind === 'chat' ? chatRequest(body, defaultMax) : completionRequest(body, defaultMax);
      this.checkModel(r.model);
      setGenAiRequest(span, { operation: kind === 'chat' ? 'chat' : 'text_completion', model: this.o.model, maxTokens: r.maxTokens, temperature: r.temperature, topP: r.topP });
      const prompts =
        'messages' in r
          ? [this.promptIds(this.needTokenizer().applyChatTemplate(r.messages, { addGenerationPrompt: true }), r.maxTokens, false)]
          : r.prompts.map((p) => this.promptIds(p, r.maxTokens));
      const ctx: ResponseContext = { id: `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${nuid.next()}`, created: Math.floor(Date.now() / 1000), model: this.o.model, returnTokenIds: r.returnTokenIds };
      const used = r.stream ? await this.stream(res, kind, ctx, prompts, r, gone.signal) : await this.complete(res, kind, ctx, prompts, r, gone.signal);
      record.prompt_tokens = prompts.reduce((a, q) => a + q.length, 0) * r.n;
      if (used) {
        setGenAiUsage(span, record.prompt_tokens, used.outputTokens, used.finishReasons);
        Object.assign(record, { completion_tokens: used.outputTokens, ttft_ms: ms(used.ttftMs) });
      }
    } finally {
      this.inflight--;
    }
  }

  /** Every (prompt, n) choice, in OpenAI's order: choice index = prompt index × n + j. Seeds differ per choice. */
  private choices(prompts: number[][], p: GenerationParams) {
    return prompts.flatMap((prompt, i) => Array.from({ length: p.n }, (_, j) => ({ index: i * p.n + j, prompt, seed: p.seed === undefined ? undefined : p.seed + j })));
  }

  private choiceContext() {
    return { nc: this.o.nc, model: this.o.model, tokenizer: this.o.tokenizer, metrics: this.metrics, timeoutMs: this.o.generateTimeoutMs };
  }

  private async complete(res: ServerResponse, kind: 'completion' | 'chat', ctx: ResponseContext, prompts: number[][], p: GenerationParams, signal: AbortSignal): Promise<Used> {
    const all = this.choices(prompts, p);
    const results: ChoiceResult[] = await Promise.all(all.map((c) => runChoice(this.choiceContext(), c.prompt, p, c.seed, signal)));
    const promptTokens = prompts.reduce((a, q) => a + q.length, 0);
    const completionTokens = results.reduce((a, r) => a + r.tokens.length, 0);
    const withLogprobs = p.logprobs !== undefined;
    const body =
      kind === 'chat'
        ? {
            id: ctx.id,
            object: 'chat.completion',
            created: ctx.created,
            model: ctx.model,
            choices: results.map((r, i) => chatChoice(ctx, all[i].index, r, withLogprobs)),
            usage: usage(promptTokens, completionTokens),
            ...(ctx.returnTokenIds ? { prompt_token_ids: prompts[0] } : {}),
          }
        : {
            id: ctx.id,
            object: 'text_completion',
            created: ctx.created,
            model: ctx.model,
            choices: results.map((r, i) => completionChoice(ctx, all[i].index, r, all[i].prompt, withLogprobs)),
            usage: usage(promptTokens, completionTokens),
          };
    this.json(res, 200, body);
    return { outputTokens: completionTokens, finishReasons: results.map((r) => r.finishReason), ttftMs: firstToken(results) };
  }

  /** Streams every choice; what was used, or undefined when the stream failed midway (its error event says why). */
  private async stream(res: ServerResponse, kind: 'completion' | 'chat', ctx: ResponseContext, prompts: number[][], p: GenerationParams, signal: AbortSignal): Promise<Used | undefined> {
    const sse = new SseWriter(res);
    const withLogprobs = p.logprobs !== undefined;
    let completionTokens = 0;
    const finishReasons: string[] = [];
    const results: ChoiceResult[] = [];
    try {
      await Promise.all(
        this.choices(prompts, p).map(async (c) => {
          let offset = 0;
          let first = true;
          const send = (d: ChoiceDelta | undefined, finish: string | null) => {
            const prompt = first ? c.prompt : undefined;
            if (kind === 'chat') sse.send(chatChunk(ctx, c.index, first ? { role: 'assistant', content: d?.text ?? '' } : d ? { content: d.text } : {}, d, withLogprobs, finish, prompt));
            else sse.send(completionChunk(ctx, c.index, d, offset, withLogprobs, finish, prompt));
            offset += d?.text.length ?? 0;
            first = false;
          };
          // the first chunk of a chat choice carries the role before any token
          if (kind === 'chat') send(undefined, null);
          // a delta with no text (a character still missing bytes) goes out only when it carries ids or logprobs
          const r = await runChoice(this.choiceContext(), c.prompt, p, c.seed, signal, (d) => (d.text !== '' || ctx.returnTokenIds || withLogprobs) && send(d, null));
          completionTokens += r.tokens.length;
          finishReasons[c.index] = r.finishReason;
          results.push(r);
          send(undefined, r.finishReason);
        }),
      );
      if (p.includeUsage) {
        const promptTokens = prompts.reduce((a, q) => a + q.length, 0) * p.n;
        sse.send({ id: ctx.id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created: ctx.created, model: ctx.model, choices: [], usage: usage(promptTokens, completionTokens) });
      }
      return { outputTokens: completionTokens, finishReasons, ttftMs: firstToken(results) };
    } catch (err) {
      // a failure in the middle of a stream: an error event, then [DONE]
      if (!signal.aborted) sse.send(this.errorOf(err).body);
      const span = trace.getActiveSpan();
      if (span) recordError(span, err);
      return undefined;
    } finally {
      sse.done();
    }
  }

  private json(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...extra });
    res.end(JSON.stringify(body));
  }

  private error(res: ServerResponse, status: number, message: string, type: string, param: string | null, extra: Record<string, string> = {}): void {
    this.json(res, status, errorBody(message, type, param, status), extra);
  }

  /** The HTTP status and OpenAI error body of a failure. */
  private errorOf(err: unknown): { status: number; body: ReturnType<typeof errorBody> } {
    const message = err instanceof Error ? err.message : String(err);
    const code = serviceErrorCode(err);
    // OpenAI answers a prompt too long with 400
    const status = code === 413 ? 400 : code;
    const type = ERROR_TYPES[status] ?? 'InternalServerError';
    const param = err instanceof InvalidRequestError ? (err.param ?? null) : null;
    return { status, body: errorBody(message, type, param, status) };
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    const { status, body } = this.errorOf(err);
    this.json(res, status, body, status === 429 || status === 503 ? { 'retry-after': String(RETRY_AFTER_S) } : {});
  }
}

/** The request body as text, refused past MAX_BODY_BYTES before it is all read. */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new InvalidRequestError(`the request body is over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
