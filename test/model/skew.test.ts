// `model init --skew`: the tiny checkpoint of every family, run on real prompts, routes about evenly without skew
// and most to the low-numbered experts with it; the same seed and skew give the same bytes, skew 0 the unskewed ones.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../model/checkpoint.js';
import { DenseModel } from '../../model/dense.js';
import { CheckpointError } from '../../model/errors.js';
import { attentionRows, moeLayers } from '../../model/families/shape.js';
import { FAMILY_NAMES, type FamilyName } from '../../model/families/spec.js';
import { Forward, type ExpertBatch } from '../../model/forward.js';
import { initCheckpoint } from '../../model/init.js';
import { KvCache } from '../../model/kv-cache.js';
import { LocalExperts } from '../../model/monolithic.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'eaas-skew-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

// 16 prompts of 32 ids scattered over the tiny vocabulary (multiplicative hashing: the same every run)
const PROMPTS = Array.from({ length: 16 }, (_, p) => Array.from({ length: 32 }, (_, i) => 1 + (((p * 32 + i) * 2654435761) % 509)));

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

/** Per MoE layer, the share of routed (token, slot) pairs each expert got over one prefill of PROMPTS. */
async function routingShares(family: FamilyName, skew: number): Promise<number[][]> {
  const dir = path.join(root, `${family}-${skew}`);
  initCheckpoint(dir, { preset: 'tiny', family, seed: 7, skew });
  const ckpt = Checkpoint.open(dir);
  const c = ckpt.config;
  const dense = await DenseModel.load(ckpt);
  const counts = new Map(moeLayers(c).map((layer) => [layer, new Array<number>(c.numLocalExperts).fill(0)]));
  const local = await LocalExperts.load(ckpt);
  const counting = {
    runExperts(layer: number, batches: ExpertBatch[]) {
      for (const b of batches) counts.get(layer)![b.expert] += b.rows;
      return local.runExperts(layer, batches);
    },
  };
  try {
    const rows = attentionRows(c);
    await new Forward(dense, counting).step(PROMPTS.map((tokens) => ({ cache: new KvCache(c.numHiddenLayers, rows.cacheA, rows.cacheB), tokens })));
  } finally {
    await Promise.all([dense.release(), local.release()]);
    ckpt.close();
  }
  return [...counts.values()].map((n) => n.map((x) => x / sum(n)));
}

const top = (shares: number[], k: number) => sum([...shares].sort((a, b) => b - a).slice(0, k));

describe.each(FAMILY_NAMES)('%s', (family) => {
  it('routes about evenly without skew, and with skew 2 most to the low-numbered experts', async () => {
    const flat = await routingShares(family, 0);
    const skewed = await routingShares(family, 2);
    const E = flat[0].length;
    flat.forEach((even, i) => {
      const hot = skewed[i];
      const at = (skew: number) => `${family} skew ${skew}, MoE layer ${i}: ${(skew ? hot : even).map((x) => x.toFixed(3)).join(' ')}`;
      // uniform: the two hottest take 2/E = 1/4, the first half 1/2; random weights stray from it (DeepSeek's
      // random correction bias the most), not far
      expect(top(even, 2), at(0)).toBeLessThan(0.5);
      expect(sum(even.slice(0, E / 2)), at(0)).toBeLessThan(0.6);
      // skewed: the hottest half hotter still, expert 0 among the two hottest, the first half taking most tokens
      expect(top(hot, E / 2), at(2)).toBeGreaterThan(top(even, E / 2) + 0.1);
      expect(hot[0], at(2)).toBeGreaterThanOrEqual([...hot].sort((a, b) => b - a)[1]);
      expect(sum(hot.slice(0, E / 2)), at(2)).toBeGreaterThan(0.7);
    });
  });
});

describe('skewed checkpoints', () => {
  const files = (dir: string) => fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f)));

  it('are the same bytes for the same seed and skew; skew 0 is the unskewed checkpoint, without eaas_skew', () => {
    const init = (name: string, skew?: number) => {
      const dir = path.join(root, name);
      initCheckpoint(dir, { preset: 'tiny', family: 'deepseek_v3', seed: 3, skew });
      return dir;
    };
    const [plain, zero, a, b] = [init('plain'), init('zero', 0), init('a', 1.5), init('b', 1.5)];
    expect(files(zero)).toEqual(files(plain));
    expect(files(b)).toEqual(files(a));
    expect(fs.readFileSync(path.join(a, 'model.safetensors')).equals(fs.readFileSync(path.join(plain, 'model.safetensors')))).toBe(false);
    const config = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    expect(config(plain)).not.toHaveProperty('eaas_skew');
    expect(config(a)).toEqual({ ...config(plain), eaas_skew: 1.5 });
    // and an eaas_skew key does not keep it from opening
    Checkpoint.open(a).close();
  });

  it('refuses a negative or non-finite skew', () => {
    for (const skew of [-1, Number.NaN, Infinity]) {
      const dir = path.join(root, `bad-${skew}`);
      expect(() => initCheckpoint(dir, { preset: 'tiny', skew })).toThrow(CheckpointError);
      expect(() => initCheckpoint(dir, { preset: 'tiny', skew })).toThrow(/skew must be a number >= 0/);
    }
  });
});
