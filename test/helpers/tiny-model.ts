// A tiny generated checkpoint in a temporary directory, shared by a test file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Checkpoint } from '../../model/checkpoint.js';
import { initCheckpoint } from '../../model/init.js';
import type { ReferenceWeights } from './reference.js';

export function tinyCheckpointDir(seed = 7): { dir: string; remove(): void } {
  const root = mkdtempSync(join(tmpdir(), 'eaas-tiny-'));
  const dir = join(root, 'tiny');
  initCheckpoint(dir, { preset: 'tiny', seed });
  return { dir, remove: () => rmSync(root, { recursive: true, force: true }) };
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
