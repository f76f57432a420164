// Benchmark checkpoints: generated once per family and preset into a cache directory and reused.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { FamilyName } from '../../model/families/spec.js';
import { initCheckpoint, type PresetName } from '../../model/init.js';

export function benchCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'eaas', 'bench');
}

/**
 * The checkpoint directory of a family's preset, generated (seed 0) unless its config.json is there:
 * `<cache>/<preset>` for Mixtral (where it was before the other families), `<cache>/<family>/<preset>` for the others.
 */
export function benchCheckpoint(family: FamilyName, preset: PresetName): { dir: string; generatedMs?: number } {
  const dir = family === 'mixtral' ? join(benchCacheDir(), preset) : join(benchCacheDir(), family, preset);
  if (existsSync(join(dir, 'config.json'))) return { dir };
  const t0 = performance.now();
  initCheckpoint(dir, { preset, family, seed: 0 });
  return { dir, generatedMs: performance.now() - t0 };
}
