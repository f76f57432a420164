// The eaas command line as users run it: real child processes from dist/, a real nats-server via `eaas up`.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Tokenizer } from '../model/tokenizer.js';
import { CLI, ensureBuilt } from './helpers/build.js';

const CLI_TIMEOUT_MS = 30_000;
const UP_READY_TIMEOUT_MS = 60_000;
const UP_EXIT_TIMEOUT_MS = 20_000;
const TINY_VOCAB = 512;
const BOS = 1;
const BYTE_OFFSET = 3;

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Children still running, killed in afterAll whatever happened to the tests. */
const running = new Set<ChildProcess>();

/** Our environment without EAAS_* and OTEL_* variables, so the developer's own cannot change the outcome. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EAAS_') && !k.startsWith('OTEL_')));
}

function startCli(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Runs `eaas ARGS...` to completion (killed after CLI_TIMEOUT_MS). */
function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = startCli(args);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A successful run that printed exactly one JSON object on stdout. */
function jsonOf(r: CliResult): Record<string, unknown> {
  expect(r.code, r.stderr).toBe(0);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]) as Record<string, unknown>;
}

/** A failure reported the CLI way: non-zero exit, nothing on stdout, one `eaas: ` line on stderr, no stack. */
function expectOneLineError(r: CliResult, message: RegExp): void {
  expect(r.signal).toBeNull();
  expect(r.code).not.toBe(0);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^eaas: /);
  expect(lines[0]).toMatch(message);
}

function expectTokenIds(tokens: unknown, count: number): void {
  expect(tokens).toHaveLength(count);
  for (const t of tokens as unknown[]) {
    expect(Number.isInteger(t)).toBe(true);
    expect(t).toBeGreaterThanOrEqual(0);
    expect(t).toBeLessThan(TINY_VOCAB);
  }
}

/** A process's identity: its pid and start time, so a recycled pid is never mistaken for it. */
interface Proc {
  pid: number;
  start: string;
}

/** /proc/PID/stat after the command name, which may itself hold spaces and parentheses. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
const PPID = 1; // fields after the name: state, ppid, ... (stat(5) fields 3, 4, ...)
const STARTTIME = 19; // stat(5) field 22

function procOf(pid: number): Proc | undefined {
  const f = statFields(pid);
  return f && { pid, start: f[STARTTIME] };
}

/** Every living descendant of `root` (children, their children, ...), from the ppid of each /proc entry. */
function descendants(root: number): Proc[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(statFields(Number(entry))?.[PPID]);
    if (ppid) children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const found: Proc[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    const proc = procOf(pid);
    if (proc) found.push(proc);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

/** Whether the process still exists (a zombie counts: nobody has reaped it). */
function alive(p: Proc): boolean {
  try {
    process.kill(p.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
  return procOf(p.pid)?.start === p.start;
}

function waitForExit(child: ChildProcess, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pid ${child.pid} still running after ${ms} ms`)), ms);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

const root = mkdtempSync(join(tmpdir(), 'eaas-cli-'));
/** A tiny checkpoint written by `eaas model init`; the model is named after the directory. */
const MODEL = join(root, 'tiny');

beforeAll(async () => {
  ensureBuilt();
  const init = await runCli(['model', 'init', MODEL]);
  expect(init.code, init.stderr).toBe(0);
});

afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

describe('eaas model init', () => {
  it('writes config.json, model.safetensors and the tokenizer files of the tiny preset', () => {
    for (const file of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) expect(existsSync(join(MODEL, file)), file).toBe(true);
    const config = JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'mixtral', vocab_size: TINY_VOCAB });
  });

  it('refuses a directory that is not empty, with one line', async () => {
    const before = readFileSync(join(MODEL, 'model.safetensors'));
    expectOneLineError(await runCli(['model', 'init', MODEL]), /not empty/);
    expect(readFileSync(join(MODEL, 'model.safetensors')).equals(before)).toBe(true);
  });
});

describe('eaas generate --monolithic', () => {
  const generate = (...extra: string[]) =>
    runCli(['generate', '--monolithic', '--model', MODEL, '--max-tokens', '5', '--json', ...extra]);

  it('prints one JSON object with the generated and prompt tokens, the same every run', async () => {
    const [first, second] = await Promise.all([generate('--prompt-ids', '1,2,3'), generate('--prompt-ids', '1,2,3')]);
    const a = jsonOf(first);
    expectTokenIds(a.tokens, 5);
    expect(a.prompt_tokens).toEqual([1, 2, 3]);
    expect(a).not.toHaveProperty('logits');
    expect(jsonOf(second).tokens).toEqual(a.tokens);
  });

  it('adds the last logits with --logits, and prints bare token ids without --json', async () => {
    const [plain, withLogits, text] = await Promise.all([
      generate('--prompt-ids', '1,2,3'),
      generate('--prompt-ids', '1,2,3', '--logits'),
      runCli(['generate', '--monolithic', '--model', MODEL, '--max-tokens', '5', '--prompt-ids', '1,2,3']),
    ]);
    const tokens = jsonOf(plain).tokens as number[];
    const r = jsonOf(withLogits);
    expect(r.tokens).toEqual(tokens);
    expect(r.logits).toHaveLength(TINY_VOCAB);
    expect((r.logits as unknown[]).every((x) => typeof x === 'number' && Number.isFinite(x))).toBe(true);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toBe(`${tokens.join(',')}\n`);
  });

  it("encodes --prompt TEXT with the checkpoint's tokenizer.json and decodes the answer with it", async () => {
    const [json, plain] = await Promise.all([
      generate('--prompt', 'hi', '--no-eos'),
      runCli(['generate', '--monolithic', '--model', MODEL, '--max-tokens', '5', '--no-eos', '--prompt', 'hi']),
    ]);
    const r = jsonOf(json);
    // the generated byte tokenizer gives the ids the byte tokenizer always gave
    expect(r.prompt_tokens).toEqual([BOS, 'h'.charCodeAt(0) + BYTE_OFFSET, 'i'.charCodeAt(0) + BYTE_OFFSET]);
    expectTokenIds(r.tokens, 5);
    const text = Tokenizer.load(MODEL)!.decode(r.tokens as number[], { skipSpecialTokens: true });
    expect(r.text).toBe(text);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toBe(`${(r.tokens as number[]).join(',')}\n${text}\n`);
  });
});

describe('bad input is answered with one line on stderr', () => {
  const brokenJson = join(root, 'broken-json');
  const truncated = join(root, 'truncated');
  const noTokenizer = join(root, 'no-tokenizer');
  const brokenTokenizer = join(root, 'broken-tokenizer');
  const badPolicy = join(root, 'bad-policy.json');

  beforeAll(() => {
    for (const dir of [noTokenizer, brokenTokenizer]) {
      mkdirSync(dir);
      for (const file of ['config.json', 'model.safetensors']) writeFileSync(join(dir, file), readFileSync(join(MODEL, file)));
    }
    writeFileSync(join(brokenTokenizer, 'tokenizer.json'), '{"model": {"type": "BPE"');
    writeFileSync(badPolicy, '{"maxReplicas": 3}');
    mkdirSync(brokenJson);
    writeFileSync(join(brokenJson, 'config.json'), '{"vocab_size": 512');
    writeFileSync(join(brokenJson, 'model.safetensors'), readFileSync(join(MODEL, 'model.safetensors')));
    mkdirSync(truncated);
    writeFileSync(join(truncated, 'config.json'), readFileSync(join(MODEL, 'config.json')));
    const weights = readFileSync(join(MODEL, 'model.safetensors'));
    writeFileSync(join(truncated, 'model.safetensors'), weights.subarray(0, weights.length >> 1));
  });

  const mono = (...args: string[]) => ['generate', '--monolithic', '--model', MODEL, ...args];
  const cases: [string, () => string[], number, RegExp][] = [
    ['an unknown flag', () => mono('--prompt-ids', '1,2,3', '--max-tokens', '5', '--bogus'), 2, /'--bogus'/],
    ['a missing --max-tokens', () => mono('--prompt-ids', '1,2,3'), 2, /--max-tokens is required/],
    ['--max-tokens 0', () => mono('--prompt-ids', '1,2,3', '--max-tokens', '0'), 2, /--max-tokens must be an integer >= 1/],
    ['a malformed --prompt-ids', () => mono('--prompt-ids', '1,x', '--max-tokens', '5'), 2, /--prompt-ids/],
    ['a prompt id outside the vocabulary', () => mono('--prompt-ids', '1,999,3', '--max-tokens', '5'), 1, /999.*vocabulary/],
    [
      'a missing model directory',
      () => ['generate', '--monolithic', '--model', join(root, 'nowhere'), '--prompt-ids', '1', '--max-tokens', '5'],
      1,
      /nowhere.*does not exist/,
    ],
    [
      'a config.json that is not JSON',
      () => ['generate', '--monolithic', '--model', brokenJson, '--prompt-ids', '1', '--max-tokens', '5'],
      1,
      /config\.json.*not valid JSON/,
    ],
    [
      'a truncated model.safetensors',
      () => ['generate', '--monolithic', '--model', truncated, '--prompt-ids', '1', '--max-tokens', '5'],
      1,
      /model\.safetensors/,
    ],
    [
      'a text prompt for a checkpoint without tokenizer.json',
      () => ['generate', '--monolithic', '--model', noTokenizer, '--prompt', 'hi', '--max-tokens', '5'],
      1,
      /this checkpoint has no tokenizer\.json: give token ids/,
    ],
    [
      'a text prompt for a checkpoint whose tokenizer.json is broken',
      () => ['generate', '--monolithic', '--model', brokenTokenizer, '--prompt', 'hi', '--max-tokens', '5'],
      1,
      /broken-tokenizer\/tokenizer\.json: tokenizer\.json is not valid JSON/,
    ],
    ['model init without a directory', () => ['model', 'init'], 2, /usage: eaas model init DIR/],
    ['--placement-policy without --autoscale', () => ['up', '--model', MODEL, '--placement-policy', join(root, 'p.json')], 2, /--placement-policy is the policy of --autoscale/],
    ['a placement policy that is not JSON', () => ['up', '--autoscale', '--model', MODEL, '--placement-policy', join(root, 'nowhere.json')], 2, /--placement-policy .*nowhere\.json: ENOENT/],
    ['a placement policy with an unknown key', () => ['up', '--autoscale', '--model', MODEL, '--placement-policy', badPolicy], 1, /unknown placement policy key "maxReplicas"/],
    ['model init --skew -1', () => ['model', 'init', join(root, 'skewed'), '--skew', '-1'], 2, /--skew must be a number >= 0, got "-1"/],
    ['model init --skew abc', () => ['model', 'init', join(root, 'skewed'), '--skew', 'abc'], 2, /--skew must be a number >= 0, got "abc"/],
    ['an unknown command', () => ['frobnicate', '--fast'], 2, /unknown command "frobnicate"/],
    [
      'a NATS URL where nothing listens',
      () => ['generate', '--nats', 'nats://127.0.0.1:1', '--prompt-ids', '1,2,3', '--max-tokens', '5', '--json'],
      1,
      /cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/,
    ],
  ];

  it.each(cases)('%s', async (_, args, code, message) => {
    const r = await runCli(args());
    expectOneLineError(r, message);
    expect(r.code).toBe(code);
  });

  it('adds the stack trace with --verbose', async () => {
    const r = await runCli(mono('--prompt-ids', '1,999,3', '--max-tokens', '5', '--verbose'));
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n');
    expect(lines[0]).toMatch(/^eaas: .*999/);
    expect(lines.some((l) => /^\s+at .*engine\.js/.test(l))).toBe(true);
  });
});

describe('eaas up, then generate and status over its NATS', () => {
  let up: ChildProcess;
  let upOut = '';
  let upErr = '';
  let url: string;
  /** The processes `up` started (nats-server, expert actors), recorded while it runs. */
  const tree = new Map<string, Proc>();
  const recordTree = (): Proc[] => {
    const now = up.pid === undefined || up.exitCode !== null || up.signalCode !== null ? [] : descendants(up.pid);
    for (const p of now) tree.set(`${p.pid}@${p.start}`, p);
    return now;
  };

  beforeAll(async () => {
    up = startCli(['up', '--model', MODEL, '--http-port', '0']);
    up.stdout!.setEncoding('utf8').on('data', (d: string) => (upOut += d));
    up.stderr!.setEncoding('utf8').on('data', (d: string) => (upErr += d));
    url = await new Promise<string>((resolve, reject) => {
      const fail = (why: string) => reject(new Error(`eaas up ${why}\nstdout: ${upOut}\nstderr: ${upErr}`));
      const timer = setTimeout(() => fail(`printed no ready line within ${UP_READY_TIMEOUT_MS} ms`), UP_READY_TIMEOUT_MS);
      up.once('exit', (code, signal) => fail(`exited (${code ?? signal}) before it was ready`));
      up.stdout!.on('data', () => {
        // complete lines only: a chunk may end in the middle of the port
        const ready = upOut.split('\n').slice(0, -1).find((l) => l.includes('ready'));
        const m = ready?.match(/nats:\/\/127\.0\.0\.1:\d+/);
        if (!m) return;
        clearTimeout(timer);
        resolve(m[0]);
      });
    });
    recordTree();
  }, UP_READY_TIMEOUT_MS + 10_000);

  afterAll(async () => {
    // normally the last test stopped everything; this is for when it failed or did not run
    if (!up) return;
    recordTree();
    const left = () => [...tree.values()].filter(alive);
    for (const p of left()) process.kill(p.pid, 'SIGKILL');
    // while `up` lives it reaps its killed children; killed after it, they would stay zombies
    for (let waited = 0; left().length > 0 && waited < 3_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    up.kill('SIGKILL');
    await waitForExit(up, UP_EXIT_TIMEOUT_MS);
  });

  it('generates exactly the tokens and logits of the monolithic run', async () => {
    const args = ['--max-tokens', '5', '--json', '--logits', '--no-eos'];
    const [remote, local, remoteText, localText] = await Promise.all([
      runCli(['generate', '--nats', url, '--prompt-ids', '1,2,3', ...args]),
      runCli(['generate', '--monolithic', '--model', MODEL, '--prompt-ids', '1,2,3', ...args]),
      runCli(['generate', '--nats', url, '--prompt', 'hi', ...args]),
      runCli(['generate', '--monolithic', '--model', MODEL, '--prompt', 'hi', ...args]),
    ]);
    const [r, l] = [jsonOf(remote), jsonOf(local)];
    expectTokenIds(r.tokens, 5);
    expect(r.prompt_tokens).toEqual([1, 2, 3]);
    expect(r.tokens).toEqual(l.tokens);
    expect(r.logits).toHaveLength(TINY_VOCAB);
    expect(r.logits).toEqual(l.logits);
    const [rt, lt] = [jsonOf(remoteText), jsonOf(localText)];
    expect(rt.prompt_tokens).toEqual(lt.prompt_tokens);
    expect(rt.tokens).toEqual(lt.tokens);
    expect(rt.text).toBe(lt.text);
  });

  it('names its HTTP front in the ready line, and the README’s curl example works against it', async () => {
    const ready = upOut.split('\n').find((l) => l.includes('ready'))!;
    const http = /http:\/\/127\.0\.0\.1:\d+/.exec(ready)?.[0];
    expect(http).toBeDefined();
    const res = await fetch(`${http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', prompt: 'Hello', max_tokens: 4 }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { object: string; choices: { text: string }[]; usage: { completion_tokens: number } };
    expect(body.object).toBe('text_completion');
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
  });

  it('shows a gate, a supervisor and two replicas of every expert in eaas status', async () => {
    const s = jsonOf(await runCli(['status', '--nats', url, '--json'])) as {
      actors: { service: string; model: string; experts: string[] }[];
      replicas: Record<string, number>;
    };
    const count = (service: string) => s.actors.filter((a) => a.service === service).length;
    expect(count('eaas-gate')).toBe(1);
    expect(count('eaas-supervisor')).toBe(1);
    // 2 layers x 8 experts x 2 replicas, 8 experts per actor
    expect(count('eaas-expert')).toBe(4);
    expect(s.actors.every((a) => a.model === 'tiny')).toBe(true);
    const { num_hidden_layers: layers, num_local_experts: experts } = JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8'));
    const expected: Record<string, number> = {};
    for (let l = 0; l < layers; l++) for (let e = 0; e < experts; e++) expected[`tiny/${l}:${e}`] = 2;
    expect(s.replicas).toEqual(expected);
  });

  it('stops with every process it started on SIGTERM', async () => {
    const started = recordTree();
    const commands = started.map((p) => readFileSync(`/proc/${p.pid}/cmdline`, 'utf8'));
    expect(commands.filter((c) => c.includes('nats-server'))).toHaveLength(1);
    expect(commands.filter((c) => c.includes('expert-process.js'))).toHaveLength(4);

    up.kill('SIGTERM');
    const exit = await waitForExit(up, UP_EXIT_TIMEOUT_MS);
    expect(exit, upErr).toEqual({ code: 0, signal: null });
    expect([...tree.values()].filter(alive).map((p) => p.pid)).toEqual([]);
    expect(upErr).toMatch(/SIGTERM, stopping/);
  }, UP_EXIT_TIMEOUT_MS + 10_000);
});

describe('eaas up and Ctrl-C', () => {
  it('stops everything when the whole process group gets SIGINT (the terminal’s Ctrl-C)', async () => {
    // detached: its own process group, as a terminal gives a foreground job
    const up = spawn(process.execPath, [CLI, 'up', '--model', MODEL, '--replicas', '1', '--experts-per-actor', '16', '--http-port', '0'], {
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    up.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    try {
      await vi.waitFor(() => expect(out.includes('ready') || up.exitCode !== null).toBe(true), { timeout: UP_READY_TIMEOUT_MS, interval: 100 });
      expect(up.exitCode, 'eaas up exited before it was ready').toBeNull();
      expect(out).toMatch(/ready/);
      const tree = descendants(up.pid!);
      // what it started: one nats-server and one expert actor (one replica, all 16 experts in one actor)
      const commands = tree.map((p) => readFileSync(`/proc/${p.pid}/cmdline`, 'utf8'));
      expect(commands.filter((c) => c.includes('nats-server'))).toHaveLength(1);
      expect(commands.filter((c) => c.includes('expert-process.js'))).toHaveLength(1);
      process.kill(-up.pid!, 'SIGINT');
      const exit = await waitForExit(up, UP_EXIT_TIMEOUT_MS);
      expect(exit.code).toBe(0);
      expect(tree.filter(alive)).toEqual([]);
    } finally {
      if (up.exitCode === null) process.kill(-up.pid!, 'SIGKILL');
    }
  }, UP_READY_TIMEOUT_MS + UP_EXIT_TIMEOUT_MS);
});

describe('eaas up --autoscale, then eaas placement', () => {
  it('carries out the controller’s first placement and shows desired next to actual, serving the monolith’s tokens', async () => {
    // at most 4 experts per actor: the static start (8 per actor) breaks the policy, so the first decision repairs it
    const policy = join(root, 'policy.json');
    writeFileSync(policy, JSON.stringify({ perActor: 4 }));
    const up = startCli(['up', '--autoscale', '--placement-policy', policy, '--model', MODEL, '--http-port', '0']);
    let out = '';
    let err = '';
    up.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    up.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    try {
      await vi.waitFor(() => expect(/nats:\/\/127\.0\.0\.1:\d+/.test(out) || up.exitCode !== null).toBe(true), { timeout: UP_READY_TIMEOUT_MS, interval: 100 });
      const url = /nats:\/\/127\.0\.0\.1:\d+/.exec(out)?.[0];
      expect(url, err).toBeDefined();
      let view: Record<string, any> = {};
      await vi.waitFor(async () => {
        view = jsonOf(await runCli(['placement', '--nats', url!, '--json']));
        expect(view.desired?.revision).toBe(1);
        expect(view.actual[0].revision).toBe(1);
        // the controller notices the change carried out on its next decision
        expect(view.controller?.lastChange?.durationMs).toBeGreaterThan(0);
      }, { timeout: 40_000, interval: 500 });
      expect(view.desired.reason).toBe('repair');
      // 16 experts, 2 replicas each, at most 4 per actor: 8 actors, each running, none of the static ones left
      expect(view.actors).toHaveLength(8);
      expect(view.actors.every((a: { desired: boolean; running: boolean; experts: string[] }) => a.desired && a.running && a.experts.length <= 4)).toBe(true);
      expect(view.experts.every((e: { desiredReplicas: number; runningReplicas: number }) => e.desiredReplicas === 2 && e.runningReplicas === 2)).toBe(true);
      expect(err).toMatch(/placement revision 1 \(repair\): started 8, retired 4/);

      const table = await runCli(['placement', '--nats', url!]);
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toMatch(/^desired: revision 1, 8 actors \(repair/m);
      expect(table.stdout).toMatch(/^last change: revision 1 \(repair, .*carried out in/m);

      const args = ['--prompt-ids', '1,2,3', '--max-tokens', '6', '--json', '--no-eos'];
      const [remote, local] = await Promise.all([runCli(['generate', '--nats', url!, ...args]), runCli(['generate', '--monolithic', '--model', MODEL, ...args])]);
      expect(jsonOf(remote).tokens).toEqual(jsonOf(local).tokens);
      up.kill('SIGTERM');
      expect(await waitForExit(up, UP_EXIT_TIMEOUT_MS)).toEqual({ code: 0, signal: null });
    } finally {
      if (up.exitCode === null) up.kill('SIGKILL');
    }
  }, UP_READY_TIMEOUT_MS + 60_000);
});
