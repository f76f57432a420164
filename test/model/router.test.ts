import { describe, expect, it } from 'vitest';
import { groupByExpert, route } from '../../model/router.js';

describe('router', () => {
  it('picks the top-k of the softmax and renormalises their weights to 1', () => {
    const logits = new Float32Array([0, 2, 1, -1]);
    const r = route(logits, 4, 2);
    expect(Array.from(r.experts)).toEqual([1, 2]);
    const p1 = Math.exp(2);
    const p2 = Math.exp(1);
    expect(r.weights[0]).toBeCloseTo(p1 / (p1 + p2), 6);
    expect(r.weights[1]).toBeCloseTo(p2 / (p1 + p2), 6);
    expect(r.weights[0] + r.weights[1]).toBeCloseTo(1, 6);
  });

  it('lists each token’s experts in ascending order, with their own weights', () => {
    const r = route(new Float32Array([3, 0, 0, 5]), 4, 2);
    expect(Array.from(r.experts)).toEqual([0, 3]);
    expect(r.weights[1]).toBeGreaterThan(r.weights[0]);
  });

  it('breaks ties toward the lower expert index', () => {
    const r = route(new Float32Array([1, 4, 4, 4, 0]), 5, 2);
    expect(Array.from(r.experts)).toEqual([1, 2]);
    expect(r.weights[0]).toBe(0.5);
    expect(r.weights[1]).toBe(0.5);
    const all = route(new Float32Array([7, 7, 7, 7]), 4, 3);
    expect(Array.from(all.experts)).toEqual([0, 1, 2]);
  });

  it('routes every token of a batch independently', () => {
    const r = route(new Float32Array([9, 0, 0, /* t1 */ 0, 0, 9, /* t2 */ 0, 9, 8]), 3, 1);
    expect(Array.from(r.experts)).toEqual([0, 2, 1]);
    expect(Array.from(r.weights)).toEqual([1, 1, 1]);
  });

  it('is stable for large logits (softmax shifted by the max)', () => {
    const r = route(new Float32Array([1000, 999, -1000]), 3, 2);
    expect(Array.from(r.experts)).toEqual([0, 1]);
    expect(r.weights[0]).toBeCloseTo(1 / (1 + Math.exp(-1)), 6);
  });

  it('groups rows by expert, experts and tokens ascending', () => {
    const r = route(new Float32Array([5, 4, 0, /* t1 */ 0, 4, 5, /* t2 */ 5, 0, 4]), 3, 2);
    expect(groupByExpert(r)).toEqual([
      { expert: 0, tokens: [0, 2] },
      { expert: 1, tokens: [0, 1] },
      { expert: 2, tokens: [1, 2] },
    ]);
  });
});
