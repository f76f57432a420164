// Node liveness from the revisions of the supervisors' `actual` keys, on this process's clock only.
import { describe, expect, it } from 'vitest';
import { NodeLiveness } from '../../../actors/controller/liveness.js';
import type { ActualEntry } from '../../../actors/protocol/placement-store.js';

// `at` is the supervisor's own clock: set far in the past and the future, it must change nothing
const entry = (node: string, revision: number, at: number): ActualEntry => ({ record: { node, revision: 1, actors: [], at }, revision });

describe('node liveness', () => {
  it('keeps a node whose key moves and drops one whose key stands still for the stale time, whatever its clock says', () => {
    let now = 0;
    const liveness = new NodeLiveness(15_000, () => now);
    const names = (entries: ActualEntry[]) => liveness.live(entries).map((r) => r.node);
    expect(names([entry('a', 10, -1e12), entry('b', 11, 1e12)])).toEqual(['a', 'b']);
    now = 10_000;
    expect(names([entry('a', 12, -1e12), entry('b', 11, 1e12)])).toEqual(['a', 'b']);
    now = 15_000;
    // b's key has not moved for 15 s: gone; a's moved 5 s ago
    expect(names([entry('a', 12, -1e12), entry('b', 11, 1e12)])).toEqual(['a']);
    now = 16_000;
    // b back (a new revision): alive again
    expect(names([entry('a', 13, -1e12), entry('b', 14, 1e12)])).toEqual(['a', 'b']);
  });

  it('forgets a node whose key was deleted, and counts it as new when it returns', () => {
    let now = 0;
    const liveness = new NodeLiveness(15_000, () => now);
    liveness.live([entry('a', 1, 0)]);
    now = 20_000;
    expect(liveness.live([])).toEqual([]);
    expect(liveness.live([entry('a', 1, 0)]).map((r) => r.node)).toEqual(['a']);
  });
});
