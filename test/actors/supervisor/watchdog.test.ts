import { describe, expect, it } from 'vitest';
import { Watchdog } from '../../../actors/supervisor/watchdog.js';

const HANG_MS = 1000;
const CHECK_MS = 100;

/** A watchdog on a clock the test moves, checked every CHECK_MS as the supervisor does. */
function watchdog() {
  let t = 0;
  const w = new Watchdog(HANG_MS, () => t);
  /** Runs the periodic checks for `ms`; returns every child reported, with the time. */
  const run = (ms: number, watched: string[], beating: string[] = []): string[] => {
    const reported: string[] = [];
    for (let end = t + ms; t < end; ) {
      t += CHECK_MS;
      for (const b of beating) w.beat(b);
      for (const i of w.overdue(watched)) reported.push(`${i}@${t}`);
    }
    return reported;
  };
  return { w, run, jump: (ms: number) => void (t += ms) };
}

describe('watchdog', () => {
  it('reports a silent child once it is past hangMs, once', () => {
    const { w, run } = watchdog();
    w.beat('a');
    expect(run(1000, ['a'])).toEqual([]);
    expect(run(100, ['a'])).toEqual(['a@1100']);
    // not again on the next check: it gets a new period (the supervisor is killing it)
    expect(run(1000, ['a'])).toEqual([]);
  });

  it('keeps reporting a silent child each period, never one that beats', () => {
    const { w, run } = watchdog();
    w.beat('a');
    w.beat('b');
    expect(run(5000, ['a', 'b'], ['b'])).toEqual(['a@1100', 'a@2200', 'a@3300', 'a@4400']);
  });

  it('restarts the period at each beat', () => {
    const { w, run } = watchdog();
    w.beat('a');
    run(900, ['a']);
    w.beat('a');
    expect(run(1000, ['a'])).toEqual([]);
    expect(run(100, ['a'])).toEqual(['a@2000']);
  });

  it('judges nobody on a late check (its own loop stalled), and gives everyone a new period', () => {
    const { w, run, jump } = watchdog();
    w.beat('a');
    run(500, ['a']);
    jump(5000); // more than hangMs / 2 since the last check
    expect(w.overdue(['a'])).toEqual([]);
    expect(run(1000, ['a'])).toEqual([]);
    expect(run(100, ['a'])).toEqual(['a@6600']);
  });

  it('gives a child it never saw a full period', () => {
    const { run } = watchdog();
    expect(run(1100, ['new'])).toEqual([]);
    expect(run(100, ['new'])).toEqual(['new@1200']);
  });

  it('gives a forgotten child a full period when it is watched again', () => {
    const { w, run } = watchdog();
    w.beat('a');
    run(800, []);
    w.forget('a');
    expect(run(1100, ['a'])).toEqual([]);
    expect(run(100, ['a'])).toEqual(['a@2000']);
  });
});
