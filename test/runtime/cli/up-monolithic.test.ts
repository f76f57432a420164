// `eaas up --monolithic` as users run it: a child process serving a gate with the experts in its own process
// behind the same NATS service and HTTP front, giving the tokens and logits of `generate --monolithic` and of
// the cluster bit for bit.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requestGenerate, streamGenerate } from '../../../actors/gate/client.js';
import { decodeLoadReport, type LoadReport } from '../../../actors/protocol/messages.js';
import { GATE_SERVICE } from '../../../actors/protocol/services.js';
import { Tokenizer } from '../../../model/tokenizer.js';
import { startNode, type RunningNode } from '../../../runtime/node/cluster.js';
import { closeNats, connectNats } from '../../../runtime/transport/connection.js';
import { serviceStats } from '../../../runtime/transport/discovery.js';
import * as subjects from '../../../runtime/transport/subjects.js';
import { ensureBuilt } from '../../helpers/build.js';
import { alive, descendants, expectOneLineError, jsonOf, killStarted, runCli, startUp, UP_READY_TIMEOUT_MS, waitForExit, type Up } from '../../helpers/cli.js';
import { useNatsServer } from '../../helpers/nats.js';
import { tinyCheckpointDir } from '../../helpers/tiny-model.js';

const MAX_TOKENS = 8;
const UP_EXIT_TIMEOUT_MS = 20_000;
/** Prompts sent together, so that the gate batches them. */
const PROMPTS = [[1, 2, 3], [5, 6, 7, 8, 9], [42]];
const TEXT = 'The experts';

let tiny: ReturnType<typeof tinyCheckpointDir>;

beforeAll(() => {
  ensureBuilt();
  tiny = tinyCheckpointDir();
});

afterAll(() => {
  killStarted();
  tiny?.remove();
});

/** The fields of the checkpoint's config.json these tests use. */
const config = () => JSON.parse(readFileSync(join(tiny.dir, 'config.json'), 'utf8')) as { num_hidden_layers: number; num_experts_per_tok: number; max_position_embeddings: number };

/** `eaas generate --monolithic` of one prompt, with its last logits. */
async function cliMonolithic(prompt: number[], ...extra: string[]): Promise<{ tokens: number[]; logits: number[] }> {
  const r = await runCli(['generate', '--monolithic', '--model', tiny.dir, '--prompt-ids', prompt.join(','), '--max-tokens', String(MAX_TOKENS), '--no-eos', '--json', '--logits', ...extra]);
  const { tokens, logits } = jsonOf(r) as { tokens: number[]; logits: number[] };
  return { tokens, logits };
}

/** Greedy generation of each prompt at once over NATS, with the last logits as plain numbers. */
async function overNats(nc: NatsConnection, prompts: number[][]): Promise<{ tokens: number[]; logits: number[] }[]> {
  const replies = await Promise.all(prompts.map((prompt) => requestGenerate(nc, 'tiny', { prompt, max_tokens: MAX_TOKENS, stop_at_eos: false, logits: true })));
  return replies.map((r) => ({ tokens: r.tokens, logits: Array.from(r.logits!) }));
}

describe('eaas up --monolithic', () => {
  const nats = useNatsServer();
  let up: Up;
  let urls: { line: string; nats: string; http: string };
  let nc: NatsConnection;
  /** The same checkpoint served the disaggregated way: a gate and an expert actor, on another nats-server. */
  let cluster: RunningNode;

  beforeAll(async () => {
    // a window longer than the suite: each load report holds every token routed so far
    up = startUp(['--monolithic', '--model', tiny.dir, '--http-port', '0'], { EAAS_LOAD_REPORT_MS: '100', EAAS_LOAD_WINDOW_MS: '600000' });
    cluster = await startNode({ nats: nats.url, modelDir: tiny.dir, roles: ['supervisor', 'gate'], node: 'cluster', replicas: 1, expertsPerActor: 16 });
    urls = await up.ready;
    nc = await connectNats(urls.nats, 'eaas-test');
  }, UP_READY_TIMEOUT_MS + 10_000);

  afterAll(async () => {
    if (nc) await closeNats(nc);
    await cluster?.stop();
  });

  it('says so in its ready line, which keeps its shape', () => {
    expect(urls.line).toMatch(/^eaas ready: model tiny served at nats:\/\/127\.0\.0\.1:\d+ and http:\/\/127\.0\.0\.1:\d+\/v1 by a gate and 0 expert actors; monolithic/);
  });

  it('gives over NATS exactly the tokens and logits of generate --monolithic and of the cluster, batched or not', async () => {
    const [mono, disaggregated, single, cli] = await Promise.all([
      overNats(nc, PROMPTS),
      overNats(cluster.nc, PROMPTS),
      Promise.all(PROMPTS.map((p) => cliMonolithic(p))),
      runCli(['generate', '--nats', urls.nats, '--prompt-ids', PROMPTS[0].join(','), '--max-tokens', String(MAX_TOKENS), '--no-eos', '--json']),
    ]);
    expect(mono).toEqual(single);
    expect(disaggregated).toEqual(single);
    expect(mono[0].tokens).toHaveLength(MAX_TOKENS);
    expect(jsonOf(cli).tokens).toEqual(single[0].tokens);
  });

  it('streams the same tokens over NATS, and a cancelled stream leaves the gate', async () => {
    const [expected] = await overNats(cluster.nc, [PROMPTS[1]]);
    const streamed: number[] = [];
    const finish = await streamGenerate(nc, 'tiny', { prompt: PROMPTS[1], max_tokens: MAX_TOKENS, stop_at_eos: false }, { token: (t) => streamed.push(t.id) });
    expect(finish).toBe('length');
    expect(streamed).toEqual(expected.tokens);

    const abort = new AbortController();
    let seen = 0;
    // as long as the model allows: it is still running when cancelled
    const longest = config().max_position_embeddings - PROMPTS[0].length;
    const cancelled = streamGenerate(nc, 'tiny', { prompt: PROMPTS[0], max_tokens: longest, stop_at_eos: false }, {
      token: () => {
        if (++seen === 2) abort.abort();
      },
    }, { signal: abort.signal });
    await expect(cancelled).rejects.toMatchObject({ code: 499 });
    // the gate's stats say how many sequences it holds
    await vi.waitFor(async () => {
      const gate = (await serviceStats(nc, true)).find((s) => s.name === GATE_SERVICE);
      expect(gate?.endpoints?.find((e) => e.subject === subjects.generate('tiny'))?.data).toMatchObject({ load: 0 });
    }, { timeout: 5_000, interval: 100 });
  });

  it('serves the OpenAI front: the official client gets the greedy tokens, whole and streamed', async () => {
    const ids = Tokenizer.load(tiny.dir)!.encode(TEXT);
    const [expected] = await overNats(cluster.nc, [ids]);
    const openai = new OpenAI({ baseURL: `${urls.http}/v1`, apiKey: 'unused', maxRetries: 0 });
    const body = { model: 'tiny', prompt: TEXT, max_tokens: MAX_TOKENS, temperature: 0, ignore_eos: true, return_token_ids: true };
    const whole = await openai.completions.create(body as OpenAI.CompletionCreateParamsNonStreaming);
    expect((whole.choices[0] as unknown as { token_ids: number[] }).token_ids).toEqual(expected.tokens);
    const stream = await openai.completions.create({ ...body, stream: true } as OpenAI.CompletionCreateParamsStreaming);
    const streamed: number[] = [];
    for await (const chunk of stream) for (const c of chunk.choices) streamed.push(...((c as unknown as { token_ids?: number[] }).token_ids ?? []));
    expect(streamed).toEqual(expected.tokens);
  });

  it('counts the tokens it routes in its load reports, with no expert instances', async () => {
    const reports: LoadReport[] = [];
    const sub = nc.subscribe(subjects.loadReportWildcard('tiny'), { callback: (_e, m) => reports.push(decodeLoadReport(m.data)) });
    const total = (r: LoadReport | undefined) => r?.experts.reduce((a, e) => a + e.tokens, 0);
    try {
      await vi.waitFor(() => expect(reports.length).toBeGreaterThan(0), { timeout: 5_000 });
      const before = total(reports[reports.length - 1])!;
      const prompt = [7, 8, 9, 10];
      await requestGenerate(nc, 'tiny', { prompt, max_tokens: MAX_TOKENS, stop_at_eos: false });
      const { num_hidden_layers: layers, num_experts_per_tok: k } = config();
      // every prompt token, then every generated token but the last, goes through each MoE layer to top-k experts
      const routed = (prompt.length + MAX_TOKENS - 1) * layers * k;
      await vi.waitFor(() => expect(total(reports[reports.length - 1])).toBe(before + routed), { timeout: 5_000 });
      expect(reports[reports.length - 1].actors).toEqual([]);
    } finally {
      sub.unsubscribe();
    }
  });

  it('shows the gate and no supervisor or expert actor in eaas status', async () => {
    const s = jsonOf(await runCli(['status', '--nats', urls.nats, '--json'])) as { actors: { service: string; model: string }[]; replicas: Record<string, number> };
    expect(s.actors.map((a) => `${a.service} ${a.model}`)).toEqual([`${GATE_SERVICE} tiny`]);
    expect(s.replicas).toEqual({});
    const table = await runCli(['status', '--nats', urls.nats]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^${GATE_SERVICE} +tiny`, 'm'));
  });

  it('started a nats-server and no expert actor, and stops with it on SIGTERM', async () => {
    const started = descendants(up.child.pid!);
    const commands = started.map((p) => readFileSync(`/proc/${p.pid}/cmdline`, 'utf8'));
    expect(commands.filter((c) => c.includes('nats-server'))).toHaveLength(1);
    expect(commands.filter((c) => c.includes('expert-process.js'))).toHaveLength(0);
    await closeNats(nc);
    up.child.kill('SIGTERM');
    expect(await waitForExit(up.child, UP_EXIT_TIMEOUT_MS), up.err()).toEqual({ code: 0, signal: null });
    expect(started.filter(alive)).toEqual([]);
  }, UP_EXIT_TIMEOUT_MS + 10_000);
});

describe('eaas up --monolithic --quantize', () => {
  it('computes quantized experts (and dense part) in the gate: the tokens and logits of generate --monolithic --quantize', async () => {
    const quantize = ['--quantize', 'int4', '--quantize-dense'];
    const up = startUp(['--monolithic', '--model', tiny.dir, '--http-port', '0', ...quantize]);
    const { nats } = await up.ready;
    const nc = await connectNats(nats, 'eaas-test');
    try {
      const [served, [local, plain]] = await Promise.all([overNats(nc, [PROMPTS[1]]), Promise.all([cliMonolithic(PROMPTS[1], ...quantize), cliMonolithic(PROMPTS[1])])]);
      expect(served).toEqual([local]);
      // the flags took effect: quantized logits are not the float32 ones
      expect(served[0].logits).not.toEqual(plain.logits);
    } finally {
      await closeNats(nc);
      up.child.kill('SIGTERM');
      await waitForExit(up.child, UP_EXIT_TIMEOUT_MS);
    }
  }, UP_READY_TIMEOUT_MS + UP_EXIT_TIMEOUT_MS);
});

describe('eaas up --monolithic refuses what makes no sense with it', () => {
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ['--replicas', ['--replicas', '2'], {}, /--monolithic starts no expert actors: drop --replicas \(/],
    ['--experts-per-actor and --strategy', ['--experts-per-actor', '4', '--strategy', 'one_for_all'], {}, /drop --experts-per-actor, --strategy \(/],
    ['--supervision', ['--supervision', 'policy.json'], {}, /drop --supervision \(/],
    ['EAAS_REPLICAS', [], { EAAS_REPLICAS: '3' }, /drop --replicas \(a flag or its EAAS_ variable\)/],
    ['--autoscale', ['--autoscale'], {}, /drop --autoscale \(/],
  ];

  it.each(cases)('%s, with one line', async (_, flags, env, message) => {
    const r = await runCli(['up', '--monolithic', '--model', tiny.dir, '--http-port', '0', ...flags], env);
    expectOneLineError(r, message);
    expect(r.code).toBe(2);
  });
});
