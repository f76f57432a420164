// Builds dist/ for tests that run the real thing as child processes (the CLI, expert actor processes).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DIST = join(ROOT, 'dist');
/** The eaas CLI entry point (package.json "bin"). */
export const CLI = join(DIST, 'runtime', 'cli', 'main.js');

const TSCONFIG = join(ROOT, 'tsconfig.json');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
/** Test files run in parallel forks: one builds while the others wait for it. */
const LOCK = join(tmpdir(), `eaas-build-${createHash('sha256').update(ROOT).digest('hex').slice(0, 12)}.lock`);
/** A lock older than this was left behind by a build that died. */
const STALE_LOCK_MS = 120_000;
const LOCK_POLL_MS = 100;

let built = false;

/** The TypeScript sources tsconfig.json compiles (its include list, without .d.ts). */
function sources(): string[] {
  const read = ts.readConfigFile(TSCONFIG, ts.sys.readFile);
  if (read.error) throw new Error(`${TSCONFIG}: ${ts.flattenDiagnosticMessageText(read.error.messageText, '\n')}`);
  return ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT).fileNames.filter((f) => !f.endsWith('.d.ts'));
}

const output = (source: string) => join(DIST, relative(ROOT, source)).replace(/\.(m|c)?ts$/, (_: string, m: string | undefined) => `.${m ?? ''}js`);

/** Sources last changed before `before` whose dist/ output is missing or older than they are. */
function staleSources(before = Infinity): string[] {
  return sources().filter((src) => {
    const srcTime = statSync(src).mtimeMs;
    if (srcTime >= before) return false;
    const out = output(src);
    return !existsSync(out) || statSync(out).mtimeMs < srcTime;
  });
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function withLock<T>(fn: () => T): T {
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(LOCK).mtimeMs > STALE_LOCK_MS) rmSync(LOCK, { recursive: true, force: true });
      } catch {
        // released meanwhile
      }
      sleepSync(LOCK_POLL_MS);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/**
 * Makes dist/ a build of the current sources: runs `tsc -p tsconfig.json` (about 10 s) unless every
 * source already has an up-to-date output. Call it in beforeAll; it runs the compiler at most once
 * per test process, and test files in other forks wait for a build in progress instead of racing it.
 */
export function ensureBuilt(): void {
  if (built) return;
  withLock(() => {
    if (staleSources().length === 0) return;
    const started = Date.now();
    // Type errors elsewhere make tsc exit non-zero but it still emits; what counts is the check below.
    const tsc = spawnSync(process.execPath, [TSC, '-p', TSCONFIG], { cwd: ROOT, encoding: 'utf8' });
    // sources edited while tsc ran are someone else's work in progress, not a failed build
    const stale = staleSources(started);
    if (tsc.error || stale.length > 0) {
      const what = stale.map((s) => relative(ROOT, s)).join(', ');
      throw new Error(`tsc -p tsconfig.json left dist/ stale (${what || tsc.error?.message}):\n${tsc.stdout ?? ''}${tsc.stderr ?? ''}`);
    }
  });
  built = true;
}
