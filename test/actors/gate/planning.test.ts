import { describe, expect, it } from 'vitest';
import { chooseReplica, planHedge, planMessages, rowsPerMessage, splitRows, type Candidate, type Piece } from '../../../actors/gate/planning.js';

const replica = (instance: string, inflightRows = 0): Candidate => ({ instance, inflightRows });
const latencies =
  (ms: Record<string, number>) =>
  (instance: string): number | undefined =>
    ms[instance];
const unmeasured = () => undefined;
const none = new Map<string, number>();
const rowsOf = (pieces: Piece[]) => pieces.reduce((a, p) => a + p.rows, 0);

describe('chooseReplica', () => {
  const ms = latencies({ a: 30, b: 10 });

  it('picks the lowest expected completion: (in flight + planned + 1) × latency', () => {
    // a: 1 × 30 = 30; b: (1 + 1) × 10 = 20
    expect(chooseReplica([replica('a'), replica('b', 1)], none, ms, 0).instance).toBe('b');
    // rows already planned count too: b: (1 + 2 + 1) × 10 = 40
    expect(chooseReplica([replica('a'), replica('b', 1)], new Map([['b', 2]]), ms, 0).instance).toBe('a');
  });

  it('rotates ties: the first candidate at or after the rotation wins', () => {
    const cs = [replica('a'), replica('b'), replica('c')];
    expect([0, 1, 2, 3, 4].map((r) => chooseReplica(cs, none, unmeasured, r).instance)).toEqual(['a', 'b', 'c', 'a', 'b']);
  });

  it('counts an unmeasured replica as the fastest known one, so it gets measured again', () => {
    // u counts as 10 ms: (1 + 1) × 10 = 20 beats a (30) and b ((3 + 1) × 10 = 40)
    expect(chooseReplica([replica('a'), replica('b', 3), replica('u', 1)], none, ms, 0).instance).toBe('u');
    // ...but not as faster than that: b (10) beats u ((1 + 1) × 10 = 20)
    expect(chooseReplica([replica('u', 1), replica('b')], none, ms, 0).instance).toBe('b');
  });

  it('balances rows alone when nobody is measured', () => {
    expect(chooseReplica([replica('a', 2), replica('b', 1), replica('c', 3)], none, unmeasured, 0).instance).toBe('b');
  });
});

describe('splitRows', () => {
  it('packs pieces into messages of at most maxRows, splitting large pieces', () => {
    const pieces = [
      { batch: 0, from: 0, rows: 5 },
      { batch: 1, from: 0, rows: 2 },
      { batch: 2, from: 3, rows: 4 },
    ];
    expect(splitRows(pieces, 4)).toEqual([
      [{ batch: 0, from: 0, rows: 4 }],
      [{ batch: 0, from: 4, rows: 1 }, { batch: 1, from: 0, rows: 2 }, { batch: 2, from: 3, rows: 1 }],
      [{ batch: 2, from: 4, rows: 3 }],
    ]);
    expect(splitRows(pieces, 100)).toEqual([pieces]);
  });
});

describe('rowsPerMessage', () => {
  it('fits as many rows of hidden × bytes as the payload minus headroom holds', () => {
    // (1 MiB - 4096) / (64 × 4) = 4080
    expect(rowsPerMessage(1024 * 1024, 4096, 64, 4)).toBe(4080);
    // one byte short of a row less
    expect(rowsPerMessage(4096 + 10 * 256 - 1, 4096, 64, 4)).toBe(9);
  });

  it('never goes below one row, so every row can be sent', () => {
    expect(rowsPerMessage(1000, 4096, 64, 4)).toBe(1);
  });
});

describe('planMessages', () => {
  // experts 0 and 1 live on a and b; expert 2 only on c
  const hosts: Record<number, string[]> = { 0: ['a', 'b'], 1: ['a', 'b'], 2: ['c'] };
  const candidatesOf = (p: Piece) => hosts[p.batch].map((i) => replica(i));
  const counter = () => {
    let n = 0;
    return () => n++;
  };
  const pieces: Piece[] = [
    { batch: 0, from: 0, rows: 7 },
    { batch: 1, from: 0, rows: 7 },
    { batch: 2, from: 0, rows: 3 },
    { batch: 0, from: 7, rows: 5 },
  ];

  it('sends each piece to exactly one of its candidates, conserving rows, in messages under maxRows', () => {
    const plan = planMessages(pieces, candidatesOf, unmeasured, 4, counter());
    for (const m of plan) expect(rowsOf(m.pieces)).toBeLessThanOrEqual(4);
    // where each row of each batch went
    const sentTo = new Map<string, string[]>();
    for (const m of plan) for (const p of m.pieces) for (let r = p.from; r < p.from + p.rows; r++) sentTo.set(`${p.batch}/${r}`, [...(sentTo.get(`${p.batch}/${r}`) ?? []), m.instance]);
    const rowKeys = pieces.flatMap((p) => Array.from({ length: p.rows }, (_, i) => `${p.batch}/${p.from + i}`));
    expect([...sentTo.keys()].sort()).toEqual([...rowKeys].sort());
    expect(rowKeys.map((k) => sentTo.get(k)!.length)).toEqual(rowKeys.map(() => 1));
    for (const p of pieces) {
      const targets = new Set(Array.from({ length: p.rows }, (_, i) => sentTo.get(`${p.batch}/${p.from + i}`)!).flat());
      expect(targets.size).toBe(1);
      expect(hosts[p.batch]).toContain([...targets][0]);
    }
  });

  it('spreads the load over equal replicas', () => {
    const equal = Array.from({ length: 8 }, (_, i): Piece => ({ batch: i % 2, from: 0, rows: 5 }));
    const plan = planMessages(equal, candidatesOf, unmeasured, 1000, counter());
    const rowsAt = (instance: string) => plan.filter((m) => m.instance === instance).reduce((a, m) => a + rowsOf(m.pieces), 0);
    expect([rowsAt('a'), rowsAt('b')]).toEqual([20, 20]);
  });

  it('takes turns between equal replicas from one plan to the next', () => {
    const rotation = counter();
    const one: Piece[] = [{ batch: 0, from: 0, rows: 5 }];
    expect([1, 2, 3, 4].map(() => planMessages(one, candidatesOf, unmeasured, 1000, rotation)[0].instance)).toEqual(['a', 'b', 'a', 'b']);
  });

  it('weighs the load by latency: a replica four times faster takes about four times the rows', () => {
    const many = Array.from({ length: 50 }, (): Piece => ({ batch: 0, from: 0, rows: 1 }));
    const plan = planMessages(many, candidatesOf, latencies({ a: 4, b: 1 }), 1000, counter());
    const rowsAt = (instance: string) => plan.filter((m) => m.instance === instance).reduce((a, m) => a + rowsOf(m.pieces), 0);
    expect([rowsAt('a'), rowsAt('b')]).toEqual([10, 40]);
  });
});

describe('planHedge', () => {
  // expert 0 on p, y, x; expert 1 on p, y; expert 2 on p only
  const hosts: Record<number, string[]> = { 0: ['p', 'y', 'x'], 1: ['p', 'y'], 2: ['p'] };
  const candidatesOf = (p: Piece) => hosts[p.batch].map((i) => replica(i));

  it('sends every piece to a replica other than the primary that hosts its expert', () => {
    const pieces: Piece[] = [
      { batch: 1, from: 0, rows: 3 },
      { batch: 0, from: 2, rows: 4 },
    ];
    const plan = planHedge(pieces, 'p', candidatesOf, unmeasured)!;
    const placed = plan.flatMap((m) => m.pieces.map((p) => ({ p, instance: m.instance })));
    expect(placed.map(({ p }) => p).sort((a, b) => a.batch - b.batch)).toEqual([pieces[1], pieces[0]]);
    for (const { p, instance } of placed) {
      expect(instance).not.toBe('p');
      expect(hosts[p.batch]).toContain(instance);
    }
  });

  it('splits one message over several peers: hedge per expert', () => {
    // expert 1's rows can only go to y; expert 0's then go to the idle x
    const pieces: Piece[] = [
      { batch: 1, from: 0, rows: 3 },
      { batch: 0, from: 0, rows: 3 },
    ];
    expect(planHedge(pieces, 'p', candidatesOf, unmeasured)).toEqual([
      { instance: 'y', pieces: [pieces[0]] },
      { instance: 'x', pieces: [pieces[1]] },
    ]);
  });

  it('is undefined when some piece has no replica but the primary', () => {
    const pieces: Piece[] = [
      { batch: 0, from: 0, rows: 3 },
      { batch: 2, from: 0, rows: 1 },
    ];
    expect(planHedge(pieces, 'p', candidatesOf, unmeasured)).toBeUndefined();
  });
});
