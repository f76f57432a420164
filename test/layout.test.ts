// The layout's rules, checked on the static imports of the sources (DESIGN.md §6, README "Layout").
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/build.js';

const FOLDERS = ['actors', 'model', 'observability', 'runtime'];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Static imports of a source file that stay in the build (not `import type`, not `await import(...)`): project files as paths from the root, packages by name. */
function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^(import|export)\s(type\s)?[^;]*?from\s+'([^']+)'/gms)) {
    // `import type` is erased from the build: it loads nothing
    if (m[2]) continue;
    const spec = m[3];
    if (spec.startsWith('.')) out.push(relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts'));
    else out.push(spec);
  }
  return out;
}

const ALL = FOLDERS.flatMap(sources);
const edges = (from: (f: string) => boolean) => ALL.filter(from).flatMap((f) => imports(f).map((to) => `${f} -> ${to}`));

/** Every file reachable from `file` by static imports, and every package they import. */
function closure(file: string): Set<string> {
  const seen = new Set<string>();
  const queue = [file];
  while (queue.length > 0) {
    const f = queue.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    if (f.endsWith('.ts')) queue.push(...imports(f));
  }
  return seen;
}

describe('layout', () => {
  it('model knows nothing of NATS, actors, the runtime or observability', () => {
    expect(edges((f) => f.startsWith('model/')).filter((e) => /-> (actors|runtime|observability)\/|-> nats$/.test(e))).toEqual([]);
  });

  it('the transport and observability know nothing of actors or the composition root', () => {
    const low = (f: string) => f.startsWith('runtime/transport/') || f.startsWith('observability/');
    expect(edges(low).filter((e) => /-> (actors|runtime\/node|runtime\/cli)\//.test(e))).toEqual([]);
  });

  it('an actor uses the shared protocol and the layers below, and of another actor only its client', () => {
    const wrong = edges((f) => f.startsWith('actors/')).filter((e) => {
      const [from, to] = e.split(' -> ');
      if (/-> runtime\/(node|cli)\//.test(e)) return true;
      const mine = from.split('/')[1];
      const m = /^actors\/([^/]+)\/(.+)$/.exec(to);
      return m !== null && m[1] !== mine && m[1] !== 'protocol' && m[2] !== 'client.ts';
    });
    expect(wrong).toEqual([]);
  });

  it('commands that compute nothing load no ONNX Runtime', () => {
    for (const command of ['runtime/cli/main.ts', 'runtime/cli/status.ts', 'runtime/cli/retire.ts', 'runtime/cli/generate.ts', 'runtime/cli/generate-remote.ts']) {
      expect([...closure(command)].filter((f) => f === 'onnxruntime-node'), command).toEqual([]);
    }
  });
});
