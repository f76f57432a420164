// Progress on stderr: a bar redrawn in place on a terminal, plain lines at each quarter otherwise, nothing for fast work.
import { describe, expect, it } from 'vitest';
import { progress, progressCallback } from '../../observability/progress.js';

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { out: { isTTY, write: (s: string) => writes.push(s) }, writes };
}

describe('progress', () => {
  it('redraws one bar in place on a terminal, at most every 100 ms, and closes its line at the end', () => {
    let t = 0;
    const { out, writes } = sink(true);
    const p = progress('loading experts', 8, { out, now: () => t });
    p.update(1);
    t = 50;
    p.update(2);
    t = 150;
    p.update(3);
    p.end();
    expect(writes).toEqual([
      '\rloading experts [###.....................] 1/8',
      '\rloading experts [#########...............] 3/8',
      '\rloading experts [#########...............] 3/8',
      '\n',
    ]);
  });

  it('writes a plain line at each quarter passed, and one at the end, when not on a terminal', () => {
    const { out, writes } = sink(false);
    const p = progress('starting expert actors', 8, { out });
    for (let i = 0; i <= 8; i++) p.update(i);
    p.end();
    p.end();
    expect(writes).toEqual(['starting expert actors 2/8\n', 'starting expert actors 4/8\n', 'starting expert actors 6/8\n', 'starting expert actors 8/8\n']);
  });

  it('shows nothing for work over before afterMs, and the rest of slower work', () => {
    let t = 0;
    const fast = sink(false);
    const quick = progressCallback('fast', { out: fast.out, now: () => t, afterMs: 1000 });
    for (let i = 0; i <= 4; i++) quick(i, 4);
    expect(fast.writes).toEqual([]);
    const slow = sink(false);
    const slowly = progressCallback('slow', { out: slow.out, now: () => t, afterMs: 1000 });
    slowly(0, 4);
    t = 1200;
    slowly(3, 4);
    slowly(4, 4);
    expect(slow.writes).toEqual(['slow 3/4\n', 'slow 4/4\n']);
  });
});
