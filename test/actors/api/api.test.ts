// The OpenAI-compatible front, driven by the official `openai` client against a real cluster.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { ApiFront } from '../../../actors/api/front.js';
import type { GenerateResult } from '../../../model/engine.js';
import { Tokenizer } from '../../../model/tokenizer.js';
import { monolithicReference } from '../../helpers/reference.js';
import { useTinyNode } from '../../helpers/tiny-node.js';

const PROMPT = 'The experts';
const MAX_TOKENS = 12;

/** vLLM's extensions ride in the body next to OpenAI's fields. */
type Extra = { ignore_eos?: boolean; return_token_ids?: boolean; top_k?: number };
type WithIds = { token_ids: number[]; prompt_token_ids?: number[] };

describe('OpenAI-compatible front', () => {
  const setup = useTinyNode({ roles: ['supervisor', 'gate', 'api'], node: 'api', replicas: 1, expertsPerActor: 16, httpPort: 0 }, { EAAS_NO_REPLICA_WAIT_MS: '500' });
  let openai: OpenAI;
  let base: string;
  let tokenizer: Tokenizer;
  let greedy: GenerateResult;
  let promptIds: number[];

  beforeAll(async () => {
    tokenizer = Tokenizer.load(setup.dir)!;
    promptIds = tokenizer.encode(PROMPT);
    [greedy] = await monolithicReference(setup.dir, [promptIds], { maxTokens: MAX_TOKENS, stopAtEos: false });
    base = setup.node.api!.url;
    openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 });
  });

  const completion = (extra: Partial<OpenAI.CompletionCreateParamsNonStreaming> & Extra = {}) =>
    openai.completions.create({ model: setup.node.model, prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0, ignore_eos: true, return_token_ids: true, ...extra } as OpenAI.CompletionCreateParamsNonStreaming);

  it('answers 405 with Allow for a wrong method on a known path, HEAD where GET works, /version and /v1/models/{id}', async () => {
    const wrong = await fetch(`${base}/v1/completions`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect(await wrong.json()).toMatchObject({ error: { code: 405 } });
    expect((await fetch(`${base}/health`, { method: 'POST' })).status).toBe(405);
    const head = await fetch(`${base}/health`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect(await (await fetch(`${base}/version`)).json()).toEqual({ version: JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', '..', 'package.json'), 'utf8')).version });
    expect((await openai.models.retrieve(setup.node.model)).id).toBe(setup.node.model);
    await expect(openai.models.retrieve('other')).rejects.toMatchObject({ status: 404 });
  });

  it('lists its model and answers /health', async () => {
    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toEqual([setup.node.model]);
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });

  it('completes greedily with exactly the monolithic tokens, the text they decode to, and usage', async () => {
    const r = await completion();
    const choice = r.choices[0] as (typeof r.choices)[0] & WithIds;
    expect(choice.token_ids).toEqual(greedy.tokens);
    expect(choice.prompt_token_ids).toEqual(promptIds);
    expect(choice.text).toBe(tokenizer.decode(greedy.tokens, { skipSpecialTokens: true }));
    expect(choice.finish_reason).toBe('length');
    expect(r.usage).toEqual({ prompt_tokens: promptIds.length, completion_tokens: MAX_TOKENS, total_tokens: promptIds.length + MAX_TOKENS });
  });

  it('streams the same tokens as they come, then a usage chunk, then [DONE]', async () => {
    const stream = await openai.completions.create({ model: setup.node.model, prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0, stream: true, stream_options: { include_usage: true }, ignore_eos: true, return_token_ids: true } as OpenAI.CompletionCreateParamsStreaming);
    let text = '';
    const ids: number[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        text += c.text;
        ids.push(...((c as unknown as WithIds).token_ids ?? []));
        finish = c.finish_reason ?? finish;
      }
    }
    expect(ids).toEqual(greedy.tokens);
    expect(text).toBe(tokenizer.decode(greedy.tokens, { skipSpecialTokens: true }));
    expect(finish).toBe('length');
    expect(usage?.completion_tokens).toBe(MAX_TOKENS);
    // streamed token by token, not in one piece at the end
    expect(chunks).toBeGreaterThan(MAX_TOKENS / 2);
  });

  it('refuses with a 400 naming the field what it does not carry out (tools, response_format, echo, ...), and takes their no-op values', async () => {
    await expect(completion({ echo: true } as never)).rejects.toMatchObject({ status: 400, error: { param: 'echo' } });
    const tools: OpenAI.ChatCompletionTool[] = [{ type: 'function', function: { name: 'f', parameters: {} } }];
    await expect(openai.chat.completions.create({ model: setup.node.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, tools })).rejects.toMatchObject({ status: 400, error: { param: 'tools' } });
    await expect(openai.chat.completions.create({ model: setup.node.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, response_format: { type: 'json_object' } })).rejects.toMatchObject({ status: 400, error: { param: 'response_format' } });
    const r = await completion({ frequency_penalty: 0, presence_penalty: 0, logit_bias: {}, echo: false } as never);
    expect(r.choices[0].text).toBe(tokenizer.decode(greedy.tokens, { skipSpecialTokens: true }));
  });

  it('carries out penalties, logit_bias and min_tokens as the monolith does, and refuses them out of range naming the field', async () => {
    const body = { frequency_penalty: 1.1, presence_penalty: 0.3, repetition_penalty: 1.25, logit_bias: { '70': 4, '101': -100 }, min_tokens: 2, temperature: 0.8, seed: 5 };
    const r = await completion(body as never);
    const [reference] = await monolithicReference(setup.dir, [promptIds], {
      maxTokens: MAX_TOKENS,
      stopAtEos: false,
      sampling: { temperature: 0.8, seed: 5 },
      adjust: { frequencyPenalty: 1.1, presencePenalty: 0.3, repetitionPenalty: 1.25, logitBias: [[70, 4], [101, -100]], minTokens: 2 },
    });
    expect((r.choices[0] as unknown as WithIds).token_ids).toEqual(reference.tokens);
    expect(reference.tokens).not.toContain(101);
    const refused: [string, unknown][] = [['frequency_penalty', 2.5], ['presence_penalty', -3], ['repetition_penalty', 0], ['logit_bias', { x: 1 }], ['logit_bias', { '5': 101 }], ['min_tokens', MAX_TOKENS + 1]];
    for (const [param, value] of refused) {
      await expect(completion({ [param]: value } as never)).rejects.toMatchObject({ status: 400, error: { param } });
    }
    // a token outside the vocabulary is the gate's to refuse: still a 400
    await expect(completion({ logit_bias: { '999999': 1 } } as never)).rejects.toMatchObject({ status: 400 });
  });

  it('accepts token-id prompts and lists of prompts, one choice per prompt', async () => {
    const r = await completion({ prompt: [promptIds, promptIds] as unknown as string });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1]);
    for (const c of r.choices) expect((c as unknown as WithIds).token_ids).toEqual(greedy.tokens);
  });

  it('samples reproducibly by seed, alone or beside other requests', async () => {
    const seeded = { temperature: 1, top_p: 0.95, seed: 1234 };
    const alone = await completion(seeded);
    const crowd = await Promise.all([completion(seeded), completion({ ...seeded, seed: 99 }), completion({ temperature: 0.7 }), completion(seeded)]);
    const ids = (r: OpenAI.Completion) => (r.choices[0] as unknown as WithIds).token_ids;
    expect(ids(crowd[0])).toEqual(ids(alone));
    expect(ids(crowd[3])).toEqual(ids(alone));
    expect(ids(crowd[1])).not.toEqual(ids(alone));
    // and the same as the monolith samples with that seed
    const [mono] = await monolithicReference(setup.dir, [promptIds], { maxTokens: MAX_TOKENS, stopAtEos: false, sampling: { temperature: 1, topP: 0.95, seed: 1234 } });
    expect(ids(alone)).toEqual(mono.tokens);
  });

  it('stops at a stop string, which is not part of the text', async () => {
    const full = tokenizer.decode(greedy.tokens, { skipSpecialTokens: true });
    const stop = full.slice(4, 6);
    const r = await completion({ stop: [stop] });
    expect(r.choices[0].text).toBe(full.slice(0, full.indexOf(stop)));
    expect(r.choices[0].finish_reason).toBe('stop');
  });

  it('returns logprobs: one per token, the alternatives sorted', async () => {
    const r = await completion({ logprobs: 3 });
    const lp = r.choices[0].logprobs!;
    expect(lp.token_logprobs).toHaveLength(MAX_TOKENS);
    for (const [i, top] of lp.top_logprobs!.entries()) {
      // a map from token text to logprob (tokens with the same text share a key)
      const values = Object.values(top);
      expect(values.length).toBeGreaterThan(0);
      expect(values.every((v) => v <= 0)).toBe(true);
      // greedy: the chosen token is the most likely one
      expect(lp.token_logprobs![i]).toBeCloseTo(Math.max(...values), 5);
    }
  });

  it('chats, streamed and not, with the role first and the same content', async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Hello there' }];
    const whole = await openai.chat.completions.create({ model: setup.node.model, messages, max_tokens: MAX_TOKENS, temperature: 0, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(whole.object).toBe('chat.completion');
    expect(whole.choices[0].message.role).toBe('assistant');
    const stream = await openai.chat.completions.create({ model: setup.node.model, messages, max_tokens: MAX_TOKENS, temperature: 0, stream: true, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsStreaming);
    const deltas: OpenAI.ChatCompletionChunk.Choice.Delta[] = [];
    for await (const chunk of stream) deltas.push(...chunk.choices.map((c) => c.delta));
    expect(deltas[0].role).toBe('assistant');
    expect(deltas.map((d) => d.content ?? '').join('')).toBe(whole.choices[0].message.content);
    // the prompt is the chat template applied to the messages
    const tokenized = (await (await fetch(`${base}/tokenize`, { method: 'POST', body: JSON.stringify({ messages }) })).json()) as { count: number };
    expect(whole.usage?.prompt_tokens).toBe(tokenized.count);
  });

  it('tokenizes and detokenizes', async () => {
    const t = (await (await fetch(`${base}/tokenize`, { method: 'POST', body: JSON.stringify({ prompt: PROMPT }) })).json()) as { tokens: number[] };
    expect(t.tokens).toEqual(promptIds);
    const d = (await (await fetch(`${base}/detokenize`, { method: 'POST', body: JSON.stringify({ tokens: greedy.tokens }) })).json()) as { prompt: string };
    expect(d.prompt).toBe(tokenizer.decode(greedy.tokens, { skipSpecialTokens: false }));
  });

  it.each([
    ['malformed JSON', 400, '{"model": ', null],
    ['an unknown model', 404, JSON.stringify({ model: 'nope', prompt: 'x' }), null],
    ['a bad temperature', 400, JSON.stringify({ prompt: 'x', temperature: -1 }), 'temperature'],
    ['a prompt id outside the vocabulary', 400, JSON.stringify({ prompt: [1, 100000] }), 'prompt'],
    ['a prompt too long for the model', 400, JSON.stringify({ prompt: [1, 2, 3], max_tokens: 1_000_000 }), 'max_tokens'],
  ])('answers %s with OpenAI’s error shape and status %i', async (_name, status, body, param) => {
    const res = await fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(status);
    const e = (await res.json()) as { error: { message: string; type: string; param: string | null; code: number } };
    expect(e.error.message.length).toBeGreaterThan(0);
    expect(e.error.code).toBe(status);
    expect(e.error.param).toBe(param);
  });

  it('cancels the sequence in the gate when the client disconnects', async () => {
    const abort = new AbortController();
    const res = await fetch(`${base}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: setup.node.model, prompt: PROMPT, max_tokens: 1500, ignore_eos: true, stream: true }),
      signal: abort.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    expect(setup.node.gate!.engine.load).toBe(1);
    abort.abort();
    await vi.waitFor(() => expect(setup.node.gate!.engine.load).toBe(0), { timeout: 5_000 });
  });

  it('answers 429 with Retry-After past its bound of requests in progress', async () => {
    const small = await ApiFront.start({ nc: await setup.nats.connect(), model: setup.node.model, tokenizer, vocabSize: 512, maxModelLen: 2048, port: 0, maxInflight: 1 });
    try {
      const body = JSON.stringify({ prompt: PROMPT, max_tokens: 200, ignore_eos: true });
      const [a, b] = await Promise.all([0, 1].map(() => fetch(`${small.url}/v1/completions`, { method: 'POST', body })));
      const statuses = [a.status, b.status].sort();
      expect(statuses).toEqual([200, 429]);
      const refused = a.status === 429 ? a : b;
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(((await refused.json()) as { error: { type: string } }).error.type).toBe('RateLimitError');
    } finally {
      await small.stop();
    }
  });

  it('counts tokens and latencies in /metrics under vLLM’s names', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name}\\{model_name="${setup.node.model}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('eaas:generation_tokens_total')).toBeGreaterThan(0);
    expect(value('eaas:prompt_tokens_total')).toBeGreaterThan(0);
    expect(text).toMatch(/^eaas:time_to_first_token_seconds_bucket\{le="0\.001",model_name=/m);
    // the process's own metrics, as every Node exporter shows them
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) expect(text).toMatch(new RegExp(`^${name} `, 'm'));
    expect(text).toMatch(/^eaas:request_success_total\{model_name="\w+",finished_reason="length"\} \d+/m);
  });

  it('with --api-key, wants Authorization: Bearer KEY on /v1 and the tokenizer (401 in OpenAI’s shape otherwise); /health and /metrics stay open', async () => {
    const keyed = await ApiFront.start({ nc: await setup.nats.connect(), model: setup.node.model, tokenizer, vocabSize: 512, maxModelLen: 2048, port: 0, apiKeys: ['key-one', 'key-two'] });
    try {
      const client = (apiKey: string) => new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey, maxRetries: 0 });
      const ask = (apiKey: string) => client(apiKey).completions.create({ model: setup.node.model, prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0, ignore_eos: true } as OpenAI.CompletionCreateParamsNonStreaming);
      await expect(ask('key-three')).rejects.toMatchObject({ status: 401 });
      await expect(ask('key-one-')).rejects.toMatchObject({ status: 401 });
      expect((await ask('key-two')).choices[0].text).toBe(tokenizer.decode(greedy.tokens, { skipSpecialTokens: true }));
      const bare = await fetch(`${keyed.url}/v1/models`);
      expect(bare.status).toBe(401);
      expect(bare.headers.get('www-authenticate')).toBe('Bearer');
      expect(await bare.json()).toMatchObject({ error: { type: 'AuthenticationError', code: 401 } });
      const tokenize = (auth?: string) => fetch(`${keyed.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) }, body: JSON.stringify({ prompt: PROMPT }) });
      expect((await tokenize()).status).toBe(401);
      expect((await tokenize('Bearer key-one')).status).toBe(200);
      expect((await fetch(`${keyed.url}/health`)).status).toBe(200);
      expect((await fetch(`${keyed.url}/metrics`)).status).toBe(200);
    } finally {
      await keyed.stop();
    }
  });

  // stops the supervisor: the tests after it have no expert actors
  it('ends a stream that fails midway with an error event, then [DONE]', async () => {
    const res = await fetch(`${base}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: PROMPT, max_tokens: 1500, ignore_eos: true, stream: true }) });
    const reader = res.body!.getReader();
    await reader.read();
    await setup.node.supervisor!.stop();
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    const events = rest.split('\n\n').filter(Boolean);
    expect(events[events.length - 1]).toBe('data: [DONE]');
    expect(JSON.parse(events[events.length - 2].replace(/^data: /, ''))).toMatchObject({ error: { code: 503 } });
  });

  it('answers /health with 503 and Retry-After when no gate serves its model', async () => {
    const orphan = await ApiFront.start({ nc: await setup.nats.connect(), model: 'nogate', tokenizer, vocabSize: 512, maxModelLen: 2048, port: 0 });
    try {
      const res = await fetch(`${orphan.url}/health`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
    } finally {
      await orphan.stop();
    }
  });
});
