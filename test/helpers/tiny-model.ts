// A tiny generated checkpoint in a temporary directory, shared by a test file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Checkpoint } from '../../model/checkpoint.js';
import { initCheckpoint } from '../../model/init.js';
import { afterAll, beforeAll } from 'vitest';
import { openMonolithic, type MonolithicModel } from '../../model/monolithic.js';
import type { ReferenceWeights } from './reference.js';

export function tinyCheckpointDir(seed = 7): { dir: string; remove(): void } {
  const root = mkdtempSync(join(tmpdir(), 'eaas-tiny-'));
  const dir = join(root, 'tiny');
  initCheckpoint(dir, { preset: 'tiny', seed });
  return { dir, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/** A tiny checkpoint and the monolithic model over it, for the tests of one file or describe block: opened before them, closed after. */
export function useTinyMonolith(engine?: Parameters<typeof openMonolithic>[2]): { readonly dir: string; readonly model: MonolithicModel } {
  let tiny: ReturnType<typeof tinyCheckpointDir> | undefined;
  let model: MonolithicModel | undefined;
  beforeAll(async () => {
    tiny = tinyCheckpointDir();
    model = await openMonolithic(tiny.dir, undefined, engine);
  });
  afterAll(async () => {
    await model?.close();
    tiny?.remove();
  });
  return {
    get dir() {
      return tiny!.dir;
    },
    get model() {
      return model!;
    },
  };
}

export function referenceWeights(dir: string): ReferenceWeights {
  const ckpt = Checkpoint.open(dir);
  try {
    const c = ckpt.config;
    return {
      embed: ckpt.embeddings(),
      finalNorm: ckpt.finalNorm(),
      lmHead: ckpt.lmHead(),
      layers: Array.from({ length: c.numHiddenLayers }, (_, i) => ({
        ...ckpt.layer(i),
        experts: Array.from({ length: c.numLocalExperts }, (_, j) => ckpt.expert(i, j)),
      })),
    };
  } finally {
    ckpt.close();
  }
}
