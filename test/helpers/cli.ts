// The eaas CLI as a child process: run a command to its end, or start `eaas up` and wait for its ready line;
// the processes a command started, found in /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { CLI } from './build.js';

const CLI_TIMEOUT_MS = 30_000;
export const UP_READY_TIMEOUT_MS = 60_000;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Children still running, killed in afterAll whatever happened to the tests. */
const running = new Set<ChildProcess>();

/** Our environment without EAAS_* and OTEL_* variables, so the developer's own cannot change the outcome. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EAAS_') && !k.startsWith('OTEL_')));
}

/** Starts `eaas ARGS...` from dist/ with a clean environment plus `env`. */
export function startCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Runs `eaas ARGS...` to completion (killed after CLI_TIMEOUT_MS). */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = startCli(args, env);
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
export function jsonOf(r: CliResult): Record<string, unknown> {
  expect(r.code, r.stderr).toBe(0);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]) as Record<string, unknown>;
}

/** A failure reported the CLI way: non-zero exit, nothing on stdout, one `eaas: ` line on stderr, no stack. */
export function expectOneLineError(r: CliResult, message: RegExp): void {
  expect(r.signal).toBeNull();
  expect(r.code).not.toBe(0);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^eaas: /);
  expect(lines[0]).toMatch(message);
}

/** A process's identity: its pid and start time, so a recycled pid is never mistaken for it. */
export interface Proc {
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
export function descendants(root: number): Proc[] {
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
export function alive(p: Proc): boolean {
  try {
    process.kill(p.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
  return procOf(p.pid)?.start === p.start;
}

export function waitForExit(child: ChildProcess, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pid ${child.pid} still running after ${ms} ms`)), ms);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** Kills every child started here that still runs (for afterAll, whatever happened to the tests). */
export function killStarted(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** A running `eaas up`: its output so far and, once it printed it, its ready line. */
export interface Up {
  child: ChildProcess;
  out(): string;
  err(): string;
  /** The ready line, and the NATS and HTTP URLs in it. */
  ready: Promise<{ line: string; nats: string; http: string }>;
}

export function startUp(args: string[], env: Record<string, string> = {}): Up {
  const child = startCli(['up', ...args], env);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const ready = new Promise<{ line: string; nats: string; http: string }>((resolve, reject) => {
    const fail = (why: string) => reject(new Error(`eaas up ${why}\nstdout: ${out}\nstderr: ${err}`));
    const timer = setTimeout(() => fail(`printed no ready line within ${UP_READY_TIMEOUT_MS} ms`), UP_READY_TIMEOUT_MS);
    child.once('exit', (code, signal) => fail(`exited (${code ?? signal}) before it was ready`));
    child.stdout!.on('data', () => {
      // complete lines only: a chunk may end in the middle of the port
      const line = out.split('\n').slice(0, -1).find((l) => l.includes('ready'));
      const nats = line?.match(/nats:\/\/127\.0\.0\.1:\d+/)?.[0];
      if (!line || !nats) return;
      clearTimeout(timer);
      resolve({ line, nats, http: /http:\/\/127\.0\.0\.1:\d+/.exec(line)?.[0] ?? '' });
    });
  });
  return { child, out: () => out, err: () => err, ready };
}
