import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HedgePolicy, type HedgeOptions } from '../../../actors/gate/hedging.js';

const OPTIONS: HedgeOptions = { enabled: true, factor: 4, minDelayMs: 20, budget: 0.25 };
// mirrors of hedging.ts's private constants
const MIN_SAMPLES = 4;
const STALE_MS = 2000;
const MAX_BURST = 8;

function observeN(h: HedgePolicy, instance: string, ms: number, n: number): void {
  for (let i = 0; i < n; i++) h.observe(instance, ms);
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_000_000);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('hedge delay', () => {
  it('is undefined until a peer has MIN_SAMPLES measurements', () => {
    const h = new HedgePolicy(OPTIONS);
    expect(h.delayMs(['a'])).toBeUndefined();
    observeN(h, 'a', 10, MIN_SAMPLES - 1);
    expect(h.delayMs(['a'])).toBeUndefined();
    h.observe('a', 10);
    expect(h.delayMs(['a'])).toBe(40);
    expect(h.delayMs([])).toBeUndefined();
  });

  it('is factor × the fastest measured peer, never below minDelayMs', () => {
    const h = new HedgePolicy(OPTIONS);
    observeN(h, 'slow', 50, MIN_SAMPLES);
    observeN(h, 'fast', 10, MIN_SAMPLES);
    observeN(h, 'quick', 3, MIN_SAMPLES - 1); // not measured enough: ignored
    expect(h.delayMs(['slow', 'fast', 'quick'])).toBe(40);
    expect(h.delayMs(['slow'])).toBe(200);
    observeN(h, 'quick', 3, 1);
    expect(h.delayMs(['slow', 'quick'])).toBe(20);
  });

  it('follows a moving average of the latencies', () => {
    const h = new HedgePolicy(OPTIONS);
    observeN(h, 'a', 10, MIN_SAMPLES);
    h.observe('a', 20);
    expect(h.estimate('a')).toBeCloseTo(12, 10);
  });

  it('forgets an estimate older than STALE_MS', () => {
    const h = new HedgePolicy(OPTIONS);
    observeN(h, 'a', 10, MIN_SAMPLES);
    vi.advanceTimersByTime(STALE_MS);
    expect(h.estimate('a')).toBe(10);
    vi.advanceTimersByTime(1);
    expect(h.estimate('a')).toBeUndefined();
  });

  it('replaces a forgotten average with the next measurement instead of blending it in', () => {
    const h = new HedgePolicy(OPTIONS);
    observeN(h, 'a', 10, MIN_SAMPLES);
    vi.advanceTimersByTime(STALE_MS + 1);
    h.observe('a', 500);
    expect(h.estimate('a')).toBe(500);
  });

  it('still hedges after an idle spell, on the last average', () => {
    const h = new HedgePolicy(OPTIONS);
    observeN(h, 'a', 10, MIN_SAMPLES);
    vi.advanceTimersByTime(10 * STALE_MS);
    expect(h.delayMs(['a'])).toBe(40);
  });

  it('never hedges when disabled', () => {
    const h = new HedgePolicy({ ...OPTIONS, enabled: false });
    observeN(h, 'a', 10, 2 * MIN_SAMPLES);
    expect(h.estimate('a')).toBe(10);
    expect(h.delayMs(['a'])).toBeUndefined();
  });
});

describe('hedge budget', () => {
  it('starts with one hedge', () => {
    const h = new HedgePolicy(OPTIONS);
    expect(h.take()).toBe(true);
    expect(h.take()).toBe(false);
  });

  it('earns `budget` hedges per observed dispatch', () => {
    const h = new HedgePolicy(OPTIONS);
    h.take();
    let hedges = 0;
    for (let i = 0; i < 100; i++) {
      h.observe('a', 10);
      if (h.take()) hedges++;
    }
    expect(hedges).toBe(100 * OPTIONS.budget);
  });

  it('lets unused hedges pile up to MAX_BURST only', () => {
    const h = new HedgePolicy(OPTIONS);
    observeN(h, 'a', 10, 1000);
    const taken = Array.from({ length: MAX_BURST + 1 }, () => h.take());
    expect(taken).toEqual([...Array<boolean>(MAX_BURST).fill(true), false]);
  });
});
