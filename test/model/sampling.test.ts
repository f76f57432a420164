import { describe, expect, it } from 'vitest';
import { ModelInputError } from '../../model/errors.js';
import { logSumExp, tokenLogprobs } from '../../model/logprobs.js';
import { argmax, checkSampling, createSampler, randomSeed, sample, Xoshiro128, type SamplingParams } from '../../model/sampling.js';

/** Test data only: a small LCG (Numerical Recipes), independent of the generator under test. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

/** `n` logits, roughly normal with standard deviation `scale`; `ties` copies the max to a later index. */
function randomLogits(rand: () => number, n: number, scale: number, ties = false): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rand() + rand() + rand() + rand() - 2) * scale * 1.7;
  if (ties) out[n - 1] = out[argmax(out)];
  return out;
}

/** The semantics written plainly: every id ranked (logit desc, id asc), top-k, top-p in what it kept, then the inverse CDF over the kept ids in id order. */
function naiveSample(logits: Float32Array, t: number, topK: number, topP: number, u: number): number {
  const n = logits.length;
  const max = Math.max(...logits);
  const w = Array.from(logits, (l) => Math.exp((l - max) / t));
  const ranked = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
  let kept = ranked.slice(0, topK > 0 ? topK : n);
  if (topP < 1) {
    const z = kept.reduce((a, id) => a + w[id], 0);
    let cum = 0;
    const end = kept.findIndex((id) => (cum += w[id]) >= topP * z);
    kept = kept.slice(0, end + 1);
  }
  kept.sort((a, b) => a - b);
  const z = kept.reduce((a, id) => a + w[id], 0);
  let acc = 0;
  return kept.find((id) => (acc += w[id]) > u * z)!;
}

/** Share of each token over a fine grid of u in [0, 1): the exact distribution one draw follows. */
function shares(logits: number[], t: number, topK: number, topP: number, steps = 100_000): Map<number, number> {
  const row = Float32Array.from(logits);
  const counts = new Map<number, number>();
  for (let j = 0; j < steps; j++) {
    const id = sample(row, t, topK, topP, (j + 0.5) / steps);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return new Map([...counts].map(([id, c]) => [id, c / steps]));
}

const softmax = (logits: number[], t = 1): number[] => {
  const max = Math.max(...logits);
  const e = logits.map((l) => Math.exp((l - max) / t));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};

describe('xoshiro128**', () => {
  // expected outputs from the reference C code (prng.di.unimi.it/xoshiro128starstar.c, splitmix64.c) compiled with gcc
  it('gives the reference outputs for a raw state', () => {
    const g = new Xoshiro128(1, 2, 3, 4);
    expect(Array.from({ length: 6 }, () => g.nextUint32())).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('is seeded from SplitMix64 of the seed, negative seeds as two’s complement', () => {
    const a = Xoshiro128.fromSeed(42);
    expect(Array.from({ length: 6 }, () => a.nextUint32())).toEqual([1776835114, 4165204688, 17111135, 2317295270, 2792088233, 2554630222]);
    const b = Xoshiro128.fromSeed(-7);
    expect(Array.from({ length: 6 }, () => b.nextUint32())).toEqual([2770651774, 585381616, 711422325, 2297772603, 2628463860, 4186259087]);
  });

  it('gives floats in [0, 1) from one output each', () => {
    const g = new Xoshiro128(1, 2, 3, 4);
    expect(g.nextFloat()).toBe(11520 / 2 ** 32);
    expect(g.nextFloat()).toBe(0);
    expect(() => new Xoshiro128(0, 0, 0, 0)).toThrow(RangeError);
  });
});

describe('sampling', () => {
  const rand = lcg(11);
  const rows = Array.from({ length: 60 }, (_, i) => randomLogits(rand, 512, [0.5, 3, 20][i % 3], i % 4 === 0));

  it('is greedy argmax (first max on ties) without parameters or at temperature 0', () => {
    const tied = Float32Array.from([0.5, 2, 1, 2, 2]);
    for (const p of [undefined, {}, { temperature: 0 }, { temperature: 0, seed: 5, topK: 3, topP: 0.5 }] as (SamplingParams | undefined)[]) {
      const s = createSampler(p);
      expect(s.seed).toBeUndefined();
      expect(s.next(tied)).toBe(1);
      for (const row of rows) expect(s.next(row)).toBe(argmax(row));
    }
  });

  it('is argmax with top_k 1 or a tiny top_p, at any temperature and on ties', () => {
    rows.forEach((row, i) => {
      for (const temperature of [0.3, 1, 4]) {
        const topK = createSampler({ temperature, topK: 1, seed: i });
        const topP = createSampler({ temperature, topP: 1e-9, seed: i });
        for (let j = 0; j < 3; j++) {
          expect(topK.next(row)).toBe(argmax(row));
          expect(topP.next(row)).toBe(argmax(row));
        }
      }
    });
    // the tie goes to the lower index, as argmax's
    expect(sample(Float32Array.from([1, 3, 3]), 1, 1, 1, 0.99)).toBe(1);
    expect(sample(Float32Array.from([1, 3, 3]), 1, 0, 1e-6, 0.99)).toBe(1);
    expect(sample(Float32Array.from([-0, 0, 0]), 1, 1, 1, 0.99)).toBe(0);
  });

  it('follows the softmax of the logits / temperature', () => {
    const logits = [2, 1, 0.5, 0, -1, -3];
    for (const t of [1, 0.5, 3]) {
      const got = shares(logits, t, 0, 1);
      softmax(logits, t).forEach((p, i) => expect(got.get(i) ?? 0).toBeCloseTo(p, 4));
    }
  });

  it('keeps the top_k most likely tokens, renormalised', () => {
    const logits = [Math.log(0.15), Math.log(0.5), Math.log(0.05), Math.log(0.3)];
    const got = shares(logits, 1, 2, 1);
    expect([...got.keys()].sort()).toEqual([1, 3]);
    expect(got.get(1)).toBeCloseTo(0.5 / 0.8, 4);
    // k of the vocabulary size or more, 0 and -1: all tokens
    for (const k of [4, 10, 0, -1]) expect(shares(logits, 1, k, 1).get(2)).toBeCloseTo(0.05, 4);
  });

  it('keeps the smallest nucleus reaching top_p (at least one token), renormalised; top_p after top_k', () => {
    const logits = [Math.log(0.15), Math.log(0.5), Math.log(0.05), Math.log(0.3)];
    const two = shares(logits, 1, 0, 0.75);
    expect([...two.keys()].sort()).toEqual([1, 3]);
    expect(two.get(1)).toBeCloseTo(0.625, 4);
    const three = shares(logits, 1, 0, 0.85);
    expect([...three.keys()].sort()).toEqual([0, 1, 3]);
    expect(three.get(0)).toBeCloseTo(0.15 / 0.95, 4);
    expect([...shares(logits, 1, 0, 0.45).keys()]).toEqual([1]);
    // top_k 2 leaves {1: 0.625, 3: 0.375}: top_p 0.6 then keeps token 1 alone (on the full distribution it would keep two)
    expect([...shares(logits, 1, 2, 0.6).keys()]).toEqual([1]);
  });

  it('draws what the plain semantics draw, without sorting the vocabulary (large vocabularies, wide and flat logits)', () => {
    const r = lcg(5);
    let checked = 0;
    for (const [n, scale, rounded] of [
      [5000, 0.05, false],
      [5000, 2, false],
      [5000, 40, false],
      [300, 8, false],
      // many equal logits: ties ranked by id everywhere
      [5000, 3, true],
    ] as const) {
      const row = randomLogits(r, n, scale, true).map((l) => (rounded ? Math.round(l) : l));
      for (const [t, k, p] of [
        [1, 0, 0.9],
        [0.7, 50, 1],
        [1.3, 40, 0.5],
        [1, 0, 0.999],
        [2, 3000, 0.95],
        [0.05, 0, 0.3],
      ] as const) {
        for (let j = 0; j < 25; j++) {
          const u = r();
          expect(sample(row, t, k, p, u), `n ${n} scale ${scale} T ${t} k ${k} p ${p} u ${u}`).toBe(naiveSample(row, t, k, p, u));
          checked++;
        }
      }
    }
    expect(checked).toBe(750);
  });

  it('draws from softmax with a seeded generator: the counts of 200000 draws sit within 4.5 sigma', () => {
    const logits = [2, 1, 0.5, 0, -1, -3];
    const row = Float32Array.from(logits);
    const draws = 200_000;
    for (const [t, seed] of [
      [1, 2024],
      [0.5, 7],
    ]) {
      const s = createSampler({ temperature: t, seed });
      const counts = new Array<number>(logits.length).fill(0);
      for (let j = 0; j < draws; j++) counts[s.next(row)]++;
      let chi2 = 0;
      softmax(logits, t).forEach((p, i) => {
        const mean = draws * p;
        expect(Math.abs(counts[i] - mean)).toBeLessThan(4.5 * Math.sqrt(mean * (1 - p)));
        chi2 += (counts[i] - mean) ** 2 / mean;
      });
      // 5 degrees of freedom: 30 has p < 2e-5; a wrong temperature or an off-by-one gives thousands
      expect(chi2).toBeLessThan(30);
    }
  });

  it('gives the same tokens for the same seed, however samplers interleave; other seeds differ', () => {
    const params = { temperature: 1.2, topP: 0.95, topK: 100 };
    const run = (seed: number) => {
      const s = createSampler({ ...params, seed });
      return rows.map((row) => s.next(row));
    };
    const alone = run(99);
    expect(run(99)).toEqual(alone);
    // interleaved with two other sequences, as in a batch
    const a = createSampler({ ...params, seed: 99 });
    const b = createSampler({ ...params, seed: 1 });
    const c = createSampler({ temperature: 0.8, seed: 2 });
    const interleaved = rows.map((row) => {
      b.next(row);
      const id = a.next(row);
      c.next(row);
      return id;
    });
    expect(interleaved).toEqual(alone);
    expect(run(100)).not.toEqual(alone);
    // not the greedy tokens either
    expect(alone).not.toEqual(rows.map((row) => argmax(row)));
  });

  it('draws a random seed per request when none is given', () => {
    expect(createSampler({ temperature: 1 }, () => 123).seed).toBe(123);
    const given = createSampler({ temperature: 1, seed: 123 });
    const drawn = createSampler({ temperature: 1 }, () => 123);
    for (const row of rows) expect(drawn.next(row)).toBe(given.next(row));
    const seeds = new Set(Array.from({ length: 8 }, () => createSampler({ temperature: 1 }).seed));
    expect(seeds.size).toBe(8);
    for (const seed of seeds) expect(Number.isSafeInteger(seed) && seed! >= 0).toBe(true);
    expect(Number.isSafeInteger(randomSeed())).toBe(true);
  });

  it('rejects bad parameters with a ModelInputError naming the field', () => {
    const bad: [SamplingParams, RegExp][] = [
      [{ temperature: -0.1 }, /temperature/],
      [{ temperature: Number.NaN }, /temperature/],
      [{ temperature: Infinity }, /temperature/],
      [{ temperature: '1' as unknown as number }, /temperature/],
      [{ temperature: 1, topP: 0 }, /topP/],
      [{ temperature: 1, topP: 1.01 }, /topP/],
      [{ topP: -0.5 }, /topP/],
      [{ topP: Number.NaN }, /topP/],
      [{ temperature: 1, topK: -2 }, /topK/],
      [{ topK: 2.5 }, /topK/],
      [{ temperature: 1, seed: 1.5 }, /seed/],
      [{ seed: 2 ** 53 }, /seed/],
      [{ seed: Number.NaN }, /seed/],
    ];
    for (const [p, field] of bad) {
      expect(() => createSampler(p), JSON.stringify(p)).toThrow(ModelInputError);
      expect(() => checkSampling(p), JSON.stringify(p)).toThrow(field);
    }
    expect(() => checkSampling(null as unknown as SamplingParams)).toThrow(/sampling must be an object/);
    for (const p of [{ topK: 0 }, { topK: -1 }, { topP: 1 }, { seed: -5 }, { seed: 0 }, { temperature: 0 }, { temperature: 1, topP: undefined }]) {
      expect(() => checkSampling(p), JSON.stringify(p)).not.toThrow();
    }
  });
});

describe('token logprobs', () => {
  const logits = Float32Array.from([1.5, -2, 3, 3, 0.25, -7]);
  const lse = Math.log(Array.from(logits).reduce((a, l) => a + Math.exp(l), 0));

  it('is the log-softmax of the raw logits', () => {
    expect(logSumExp(logits)).toBeCloseTo(lse, 13);
    let mass = 0;
    for (let id = 0; id < logits.length; id++) {
      const { logprob } = tokenLogprobs(logits, id, 0);
      expect(logprob).toBeCloseTo(logits[id] - lse, 13);
      mass += Math.exp(logprob);
    }
    expect(mass).toBeCloseTo(1, 13);
  });

  it('lists the top alternatives most likely first, ties by lower id, at most the vocabulary', () => {
    const ids = (n: number) => tokenLogprobs(logits, 0, n).top.map((t) => t.id);
    expect(ids(0)).toEqual([]);
    expect(ids(1)).toEqual([2]);
    expect(ids(3)).toEqual([2, 3, 0]);
    expect(ids(20)).toEqual([2, 3, 0, 4, 1, 5]);
    const { top } = tokenLogprobs(logits, 5, 2);
    expect(top[0].logprob).toBeCloseTo(3 - lse, 13);
    expect(top[1].logprob).toBe(top[0].logprob);
  });
});
