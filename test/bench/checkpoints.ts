// Benchmark checkpoints: generated once per preset into a cache directory and reused.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { initCheckpoint, type PresetName } from '../../model/init.js';

export function benchCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'eaas', 'bench');
}

/** The checkpoint directory of a preset, generated (seed 0) unless its config.json is there. */
export function benchCheckpoint(preset: PresetName): { dir: string; generatedMs?: number } {
  const dir = join(benchCacheDir(), preset);
  if (existsSync(join(dir, 'config.json'))) return { dir };
  const t0 = performance.now();
  initCheckpoint(dir, { preset, seed: 0 });
  return { dir, generatedMs: performance.now() - t0 };
}
