import { describe, expect, it } from 'vitest';
import { Breakers } from '../../../actors/gate/breaker.js';

/** Breakers on a clock the test moves. */
function breakers(openMs = 1000, maxOpenMs = 4000) {
  let t = 0;
  const b = new Breakers({ openMs, maxOpenMs, silentMs: 250 }, () => t);
  return { b, advance: (ms: number) => void (t += ms) };
}

/** Times out `n` probes in a row, each after its cool-down ran out; returns the cool-downs seen. */
function failProbes(b: Breakers, advance: (ms: number) => void, n: number): number[] {
  const seen: number[] = [];
  for (let i = 0; i < n; i++) {
    let waited = 0;
    while (b.state('x') === 'open') {
      advance(100);
      waited += 100;
    }
    seen.push(waited);
    b.sending('x');
    b.timeout('x');
  }
  return seen;
}

describe('circuit breakers', () => {
  it('start closed and open on a timeout, refusing dispatches there', () => {
    const { b } = breakers();
    expect(b.state('x')).toBe('closed');
    expect(b.allows('x')).toBe(true);
    b.timeout('x');
    expect(b.state('x')).toBe('open');
    expect(b.allows('x')).toBe(false);
    // other instances are not affected
    expect(b.allows('y')).toBe(true);
  });

  it('stay open for the cool-down, then turn half-open', () => {
    const { b, advance } = breakers(1000);
    b.timeout('x');
    advance(999);
    expect(b.state('x')).toBe('open');
    advance(1);
    expect(b.state('x')).toBe('half-open');
  });

  it('allow exactly one probe when half-open', () => {
    const { b, advance } = breakers(1000);
    b.timeout('x');
    advance(1000);
    expect(b.allows('x')).toBe(true);
    b.sending('x');
    expect(b.state('x')).toBe('half-open');
    expect(b.allows('x')).toBe(false);
  });

  it('close when the probe is answered', () => {
    const { b, advance } = breakers(1000);
    b.timeout('x');
    advance(1000);
    b.sending('x');
    b.success('x');
    expect(b.state('x')).toBe('closed');
    expect(b.allows('x')).toBe(true);
    // closed means a fresh start: the next timeout opens for openMs again
    b.timeout('x');
    advance(1000);
    expect(b.state('x')).toBe('half-open');
  });

  it('let a probe go again when the last one ended without a verdict (link lost, announced down)', () => {
    const { b, advance } = breakers(1000);
    b.timeout('x');
    advance(1000);
    b.sending('x');
    expect(b.allows('x')).toBe(false);
    b.release('x');
    expect(b.state('x')).toBe('half-open');
    expect(b.allows('x')).toBe(true);
  });

  it('double the cool-down on each failed probe, up to maxOpenMs', () => {
    const { b, advance } = breakers(1000, 4000);
    b.timeout('x');
    expect(failProbes(b, advance, 4)).toEqual([1000, 2000, 4000, 4000]);
  });

  it('forget an instance on reset (a new process serves under its name)', () => {
    const { b, advance } = breakers(1000);
    b.timeout('x');
    advance(1000);
    b.sending('x');
    b.timeout('x');
    b.reset('x');
    expect(b.state('x')).toBe('closed');
    // and the cool-down starts over at openMs
    b.timeout('x');
    advance(1000);
    expect(b.state('x')).toBe('half-open');
  });
});
