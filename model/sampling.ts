// Choosing a sequence's next token from its logits: greedy argmax, or temperature, top-k, top-p and one draw
// from the sequence's own seeded xoshiro128** generator.
import { getRandomValues } from 'node:crypto';
import { ModelInputError } from './errors.js';

/**
 * How a sequence picks its tokens. Every field may be absent (or undefined); temperature absent or 0 is greedy
 * argmax and the other fields are then checked but unused.
 */
export interface SamplingParams {
  /** ≥ 0; the logits are divided by it before top-k and top-p. 0 (the default): greedy argmax. */
  temperature?: number;
  /** Nucleus: keep the most likely tokens whose cumulative probability first reaches topP (at least one); 0 < topP ≤ 1, 1 (default) keeps all. */
  topP?: number;
  /** Keep the topK most likely tokens; 0 or -1 (default) keeps all. */
  topK?: number;
  /** Seed of the sequence's generator, a safe integer; without one a random seed is drawn per request. */
  seed?: number;
}

/** Picks the next token of one sequence; a sampler belongs to one sequence and is called once per generated token. */
export interface Sampler {
  /** The seed of the generator; undefined when greedy (no generator). */
  readonly seed?: number;
  next(logits: Float32Array): number;
}

/** Index of the largest logit; the first one wins ties. */
export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));
const MASK64 = (1n << 64n) - 1n;

/**
 * xoshiro128** 1.0 (Blackman & Vigna, https://prng.di.unimi.it/xoshiro128starstar.c): 128 bits of state,
 * 32-bit outputs. Seeded like the reference code recommends, from SplitMix64 of the 64-bit seed.
 */
export class Xoshiro128 {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** The raw state words (not all zero). */
  constructor(s0: number, s1: number, s2: number, s3: number) {
    if ((s0 | s1 | s2 | s3) === 0) throw new RangeError('xoshiro128** state must not be all zero');
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
  }

  /** State = the first two SplitMix64 outputs of `seed` (a safe integer, as two's complement 64 bits), low word first. */
  static fromSeed(seed: number): Xoshiro128 {
    let x = BigInt.asUintN(64, BigInt(seed));
    const splitmix = (): bigint => {
      x = (x + 0x9e3779b97f4a7c15n) & MASK64;
      let z = x;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
      return z ^ (z >> 31n);
    };
    const a = splitmix();
    const b = splitmix();
    const [s0, s1, s2, s3] = [a, a >> 32n, b, b >> 32n].map((w) => Number(w & 0xffffffffn));
    // SplitMix64 is a bijection of its counter: two zero outputs in a row cannot happen; kept for the invariant
    return new Xoshiro128((s0 | s1 | s2 | s3) === 0 ? 1 : s0, s1, s2, s3);
  }

  /** The next 32-bit output, as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform number in [0, 1) from one output: its 32 bits / 2^32. */
  nextFloat(): number {
    return this.nextUint32() / 0x1_0000_0000;
  }
}

/** Throws ModelInputError naming the first field that is not a valid sampling parameter. */
export function checkSampling(p: SamplingParams | undefined): void {
  if (p === undefined) return;
  if (typeof p !== 'object' || p === null) throw new ModelInputError(`sampling must be an object {temperature, topP, topK, seed}, got ${String(p)}`);
  const { temperature, topP, topK, seed } = p;
  if (temperature !== undefined && !(typeof temperature === 'number' && Number.isFinite(temperature) && temperature >= 0)) {
    throw new ModelInputError(`sampling temperature must be a finite number ≥ 0 (0 is greedy), got ${String(temperature)}`);
  }
  if (topP !== undefined && !(typeof topP === 'number' && topP > 0 && topP <= 1)) {
    throw new ModelInputError(`sampling topP (top_p) must be a number in (0, 1], got ${String(topP)}`);
  }
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= -1)) {
    throw new ModelInputError(`sampling topK (top_k) must be an integer ≥ 1, or 0 or -1 for all tokens, got ${String(topK)}`);
  }
  if (seed !== undefined && !Number.isSafeInteger(seed)) {
    throw new ModelInputError(`sampling seed must be a safe integer (|seed| ≤ 2^53 - 1), got ${String(seed)}`);
  }
}

/** A random non-negative safe integer, the seed of a request that gives none. */
export function randomSeed(): number {
  const [hi, lo] = getRandomValues(new Uint32Array(2));
  return (hi & 0x1f_ffff) * 0x1_0000_0000 + lo;
}

const GREEDY: Sampler = { next: argmax };

/** The sampler of one sequence; checks `p` first (ModelInputError). Greedy when temperature is absent or 0. */
export function createSampler(p: SamplingParams | undefined, seedIfNone: () => number = randomSeed): Sampler {
  checkSampling(p);
  if (p === undefined || !p.temperature) return GREEDY;
  const seed = p.seed ?? seedIfNone();
  const rng = Xoshiro128.fromSeed(seed);
  const { temperature } = p;
  const topK = p.topK ?? 0;
  const topP = p.topP ?? 1;
  return { seed, next: (logits) => sample(logits, temperature, topK, topP, rng.nextFloat()) };
}

// A draw weighs token i by w_i = exp((l_i - max) / T) in float64. Tokens are ranked by logit, ties to the lower id
// (as argmax). Neither top-k nor top-p sorts the vocabulary: top-k keeps a heap of k ids, top-p finds the last token
// of the nucleus by a quickselect weighted by w. The draw is the inverse CDF at u over the kept ids in id order.

// Scratch shared by every sampler: a draw is synchronous, one sequence at a time.
let weights = new Float64Array(0);
let order = new Int32Array(0);

function ensureScratch(n: number): void {
  if (weights.length >= n) return;
  weights = new Float64Array(n);
  order = new Int32Array(n);
}

/** Token a ranks before token b: a higher logit, or the same and a lower id. */
const before = (logits: Float32Array, a: number, b: number): boolean => logits[a] > logits[b] || (logits[a] === logits[b] && a < b);

/**
 * One draw: temperature, then top-k (`topK` ≤ 0: off), then top-p within what top-k kept (`topP` 1: off), then the
 * inverse CDF at `u` ∈ [0, 1). Top-k 1 and a tiny top-p give the argmax.
 */
export function sample(logits: Float32Array, temperature: number, topK: number, topP: number, u: number): number {
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
  // nothing to weigh (all -Infinity or NaN, or an infinite logit)
  if (!Number.isFinite(max)) return argmax(logits);
  ensureScratch(n);
  if (topK > 0 && topK < n) return sampleTopK(logits, max, temperature, topK, topP, u);
  let total = 0;
  for (let i = 0; i < n; i++) total += weights[i] = Math.exp((logits[i] - max) / temperature);
  if (Number.isNaN(total)) return argmax(logits);
  if (topP >= 1) return drawAll(n, u * total);
  // kept: the cut token c and every token ranked before it
  const c = nucleusEnd(logits, n, topP * total);
  const lc = logits[c];
  let z = 0;
  for (let i = 0; i < n; i++) if (logits[i] > lc || (logits[i] === lc && i <= c)) z += weights[i];
  const target = u * z;
  let acc = 0;
  let last = c;
  for (let i = 0; i < n; i++) {
    if (logits[i] > lc || (logits[i] === lc && i <= c)) {
      acc += weights[i];
      last = i;
      if (acc > target) return i;
    }
  }
  return last;
}

function drawAll(n: number, target: number): number {
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += weights[i];
    if (acc > target) return i;
  }
  // unreachable: acc ends at the total, and u < 1
  return n - 1;
}

/** The last token of the nucleus: ranked by `before`, the first whose cumulative weight reaches `need`. */
function nucleusEnd(logits: Float32Array, n: number, need: number): number {
  const idx = order;
  for (let i = 0; i < n; i++) idx[i] = i;
  let lo = 0;
  let hi = n;
  while (hi - lo > 16) {
    const pivot = median3(logits, idx[lo], idx[(lo + hi) >>> 1], idx[hi - 1]);
    // the tokens ranked before the pivot to the front of [lo, hi)
    let store = lo;
    let mass = 0;
    for (let j = lo; j < hi; j++) {
      const t = idx[j];
      if (before(logits, t, pivot)) {
        idx[j] = idx[store];
        idx[store++] = t;
        mass += weights[t];
      }
    }
    if (mass >= need) {
      hi = store;
      continue;
    }
    need -= mass;
    if (weights[pivot] >= need) return pivot;
    need -= weights[pivot];
    // drop the pivot; go on with the tokens ranked after it
    const at = idx.indexOf(pivot, store);
    idx[at] = idx[store];
    idx[store] = pivot;
    lo = store + 1;
  }
  // a few left: insertion sort, then walk
  for (let j = lo + 1; j < hi; j++) {
    const t = idx[j];
    let at = j;
    for (; at > lo && before(logits, t, idx[at - 1]); at--) idx[at] = idx[at - 1];
    idx[at] = t;
  }
  for (let j = lo; j < hi - 1; j++) {
    if (weights[idx[j]] >= need) return idx[j];
    need -= weights[idx[j]];
  }
  // the last one, also when rounding kept `need` from being reached
  return idx[hi - 1];
}

function median3(logits: Float32Array, a: number, b: number, c: number): number {
  if (before(logits, a, b)) {
    if (before(logits, b, c)) return b;
    return before(logits, a, c) ? c : a;
  }
  if (before(logits, a, c)) return a;
  return before(logits, b, c) ? c : b;
}

/** Top-k: a heap of the k best ids (the worst at its root), then top-p among them, then the draw in id order. */
function sampleTopK(logits: Float32Array, max: number, temperature: number, k: number, topP: number, u: number): number {
  const heap = order;
  let size = 0;
  for (let i = 0; i < logits.length; i++) {
    if (size < k) {
      // sift up: a worse token rises to the root
      let at = size++;
      while (at > 0) {
        const parent = (at - 1) >>> 1;
        if (!before(logits, heap[parent], i)) break;
        heap[at] = heap[parent];
        at = parent;
      }
      heap[at] = i;
    } else if (logits[i] > logits[heap[0]]) {
      // a later id with an equal logit ranks after every kept one: only a higher logit enters
      siftDown(logits, heap, k, i);
    }
  }
  // heap sort: pop the worst to the back, best first at the end
  for (let end = k - 1; end > 0; end--) {
    const worst = heap[0];
    siftDown(logits, heap, end, heap[end]);
    heap[end] = worst;
  }
  let z = 0;
  for (let j = 0; j < k; j++) z += weights[heap[j]] = Math.exp((logits[heap[j]] - max) / temperature);
  if (Number.isNaN(z)) return heap[0];
  let kept = k;
  if (topP < 1) {
    const need = topP * z;
    let cum = 0;
    for (let j = 0; j < k; j++) {
      cum += weights[heap[j]];
      if (cum >= need) {
        kept = j + 1;
        break;
      }
    }
  }
  const ids = heap.subarray(0, kept).sort();
  let zKept = 0;
  for (let j = 0; j < kept; j++) zKept += weights[ids[j]];
  const target = u * zKept;
  let acc = 0;
  for (let j = 0; j < kept; j++) {
    acc += weights[ids[j]];
    if (acc > target) return ids[j];
  }
  return ids[kept - 1];
}

/** Puts `id` at the root of heap[0, size) and sifts it down (the worst token stays at the root). */
function siftDown(logits: Float32Array, heap: Int32Array, size: number, id: number): void {
  let at = 0;
  for (;;) {
    let child = 2 * at + 1;
    if (child >= size) break;
    if (child + 1 < size && before(logits, heap[child], heap[child + 1])) child++;
    if (!before(logits, id, heap[child])) break;
    heap[at] = heap[child];
    at = child;
  }
  heap[at] = id;
}
