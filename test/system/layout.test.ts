// The layout's rules, checked on the imports of the sources (README, Architecture, "Layout and import direction").
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/build.js';

const FOLDERS = ['actors', 'model', 'observability', 'runtime'];
/** Every folder of the project's own sources: the import circle check covers them all. */
const PROJECT = [...FOLDERS, 'ops', 'test'];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.name === 'node_modules' || e.name === 'dist' ? [] : e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** A relative import specifier of `file` as a path from the root (`./x.js` -> `dir/x.ts`); a package name stays as it is. */
const target = (file: string, spec: string) =>
  spec.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts') : spec;

/** Static imports of a source file that stay in the build (not `import type`, not `await import(...)`): project files as paths from the root, packages by name. */
function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^(import|export)\s(type\s)?[^;]*?from\s+'([^']+)'/gms)) {
    // `import type` is erased from the build: it loads nothing
    if (m[2]) continue;
    out.push(target(file, m[3]));
  }
  return out;
}

type Link = 'import' | 'import type' | 'import()';

/**
 * Every project file `file` names in an import, of any kind: static, `import type` / `typeof import(...)`, side effect
 * only, re-export, and dynamic `import(...)`. Two kinds the rules above skip count here: a circle through
 * `import type` is erased from the build but still ties two files so neither reads without the other, and a lazy
 * `import()` only defers the load: the module still depends on what it loads. If one pair is linked by several
 * kinds, the plain import wins (it is the one to undo).
 */
function links(file: string, project: Set<string>): Map<string, Link> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out = new Map<string, Link>();
  const add = (spec: string, kind: Link) => {
    const to = target(file, spec);
    if (project.has(to) && out.get(to) !== 'import') out.set(to, kind);
  };
  for (const m of text.matchAll(/^(import|export)\s(type\s)?[^;]*?from\s+'([^']+)'/gms)) add(m[3], m[2] ? 'import type' : 'import');
  for (const m of text.matchAll(/^import\s+'([^']+)'/gm)) add(m[1], 'import');
  for (const m of text.matchAll(/(typeof\s+)?\bimport\(\s*'([^']+)'\s*\)/g)) add(m[2], m[1] ? 'import type' : 'import()');
  return out;
}

/**
 * The import circles among `files`, each as a readable path that ends where it starts, e.g.
 * `a.ts -> b.ts -[import type]-> a.ts`. A depth-first walk reports one circle per import that leads back into the
 * walk's current path: every set of files tied together by circles shows up in at least one path.
 */
function circles(files: string[]): string[] {
  const project = new Set(files);
  const graph = new Map(files.map((f) => [f, links(f, project)]));
  const done = new Set<string>();
  const path: string[] = [];
  const found: string[] = [];
  const arrow = (from: string, to: string) => {
    const kind = graph.get(from)!.get(to);
    return kind === 'import' ? '->' : `-[${kind}]->`;
  };
  const show = (cycle: string[]) => cycle[0] + cycle.slice(1).map((f, i) => ` ${arrow(cycle[i], f)} ${f}`).join('');
  const walk = (f: string) => {
    path.push(f);
    for (const to of [...graph.get(f)!.keys()].sort()) {
      const at = path.indexOf(to);
      if (at >= 0) found.push(show([...path.slice(at), to]));
      else if (!done.has(to)) walk(to);
    }
    path.pop();
    done.add(f);
  };
  for (const f of [...files].sort()) if (!done.has(f)) walk(f);
  return found;
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
  it('no import circles among the project\'s own files (counting import type and import())', () => {
    expect(circles(PROJECT.flatMap(sources))).toEqual([]);
  });

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
