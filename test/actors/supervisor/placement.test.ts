import { describe, expect, it } from 'vitest';
import { formatExpertKey, type ExpertKey } from '../../../model/expert-key.js';
import { PlacementError } from '../../../actors/protocol/errors.js';
import { coreSizedPerActor, parseExpertSpec, place, type ActorSpec } from '../../../actors/supervisor/static-placement.js';

const keys = (n: number): ExpertKey[] => Array.from({ length: n }, (_, i) => ({ layer: Math.floor(i / 8), expert: i % 8 }));
const setOf = (a: ActorSpec) => a.experts.map(formatExpertKey).sort().join(',');

describe('place', () => {
  it('hosts every expert exactly `replicas` times, never twice on one actor, at most perActor per actor', () => {
    for (const [n, replicas, perActor] of [[16, 2, 8], [16, 3, 5], [7, 2, 3], [3, 4, 1], [5, 1, 10]]) {
      const actors = place(keys(n), replicas, perActor);
      const count = new Map<string, number>();
      for (const a of actors) {
        expect(a.experts.length).toBeGreaterThan(0);
        expect(a.experts.length).toBeLessThanOrEqual(perActor);
        expect(new Set(a.experts.map(formatExpertKey)).size).toBe(a.experts.length);
        for (const k of a.experts) count.set(formatExpertKey(k), (count.get(formatExpertKey(k)) ?? 0) + 1);
      }
      expect([...count.keys()].sort()).toEqual(keys(n).map(formatExpertKey).sort());
      expect([...count.values()]).toEqual(Array<number>(n).fill(replicas));
    }
  });

  it('numbers actors in order and groups them by replica set', () => {
    const actors = place(keys(6), 2, 4);
    expect(actors.map((a) => [a.index, a.group])).toEqual([[0, 0], [1, 0], [2, 1], [3, 1]]);
    for (const g of [0, 1]) expect(actors.filter((a) => a.group === g).flatMap((a) => a.experts.map(formatExpertKey)).sort()).toEqual(keys(6).map(formatExpertKey).sort());
  });

  it('rotates replica set 1 so that none of its actors repeats an expert set of replica set 0', () => {
    for (let n = 3; n <= 20; n++) {
      for (let perActor = 2; perActor < n; perActor++) {
        const actors = place(keys(n), 2, perActor);
        const first = new Set(actors.filter((a) => a.group === 0).map(setOf));
        const repeated = actors.filter((a) => a.group === 1 && first.has(setOf(a)));
        expect(repeated, `${n} experts, ${perActor} per actor`).toEqual([]);
      }
    }
  });

  it('puts few experts on one actor per replica set', () => {
    expect(place(keys(3), 2, 8).map(setOf)).toEqual(['0:0,0:1,0:2', '0:0,0:1,0:2']);
  });

  it('throws PlacementError on bad numbers', () => {
    for (const [replicas, perActor] of [[0, 4], [-1, 4], [1.5, 4], [NaN, 4], [2, 0], [2, 2.5], [2, Infinity]]) {
      expect(() => place(keys(4), replicas, perActor), `replicas ${replicas}, perActor ${perActor}`).toThrow(PlacementError);
    }
  });
});

describe('coreSizedPerActor', () => {
  it('gives each replica set as many actors as the host has cores for it, at least one', () => {
    // 2 cores, 2 replicas: one actor per replica set, holding every expert
    expect(coreSizedPerActor(32, 2, 2)).toBe(32);
    expect(place(keys(32), 2, coreSizedPerActor(32, 2, 2))).toHaveLength(2);
    // 8 cores, 2 replicas: 4 actors per set
    expect(coreSizedPerActor(32, 2, 8)).toBe(8);
    expect(coreSizedPerActor(30, 2, 8)).toBe(8);
    // 1 core, or more replicas than cores: still one actor per set
    expect(coreSizedPerActor(16, 2, 1)).toBe(16);
    expect(coreSizedPerActor(16, 3, 2)).toBe(16);
    // more cores than experts: one expert per actor
    expect(coreSizedPerActor(4, 1, 64)).toBe(1);
  });
});

describe('parseExpertSpec', () => {
  const parse = (spec: string) => parseExpertSpec(spec, 2, 4).map(formatExpertKey);

  it('takes single experts, ranges and *', () => {
    expect(parse('1:2')).toEqual(['1:2']);
    expect(parse('0:1-3')).toEqual(['0:1', '0:2', '0:3']);
    expect(parse('*:3')).toEqual(['0:3', '1:3']);
    expect(parse('1:*')).toEqual(['1:0', '1:1', '1:2', '1:3']);
    expect(parse('*:*')).toHaveLength(8);
    expect(parse('0-1:0-1')).toEqual(['0:0', '0:1', '1:0', '1:1']);
  });

  it('merges duplicates and sorts by layer then expert', () => {
    expect(parse('1:0, 0:2-3,0:3,1:0,0:0')).toEqual(['0:0', '0:2', '0:3', '1:0']);
  });

  it('throws a PlacementError naming the spec for each bad form', () => {
    for (const spec of ['', '0', '0:1:2', 'a:1', '0:x', '0:3-1', '0:4', '2:0', '0:-1', '0:1-', '0:1,', ' : ', '0:**']) {
      expect(() => parse(spec), JSON.stringify(spec)).toThrow(PlacementError);
      expect(() => parse(spec), JSON.stringify(spec)).toThrow(`experts spec "${spec}"`);
    }
  });
});

describe('place spreads every layer', () => {
  it('puts each layer’s experts on as many actors of a replica set as it can, evenly', () => {
    const layers = 4;
    const perLayer = 8;
    const keys = Array.from({ length: layers * perLayer }, (_, i) => ({ layer: Math.floor(i / perLayer), expert: i % perLayer }));
    for (const replicas of [1, 2]) {
      const actors = place(keys, replicas, 8);
      for (let r = 0; r < replicas; r++) {
        const set = actors.filter((a) => a.group === r);
        expect(set).toHaveLength(4);
        for (const a of set) {
          // 8 experts per actor: two of each layer
          const perLayerCount = Array.from({ length: layers }, (_, l) => a.experts.filter((k) => k.layer === l).length);
          expect(perLayerCount).toEqual([2, 2, 2, 2]);
        }
      }
    }
  });
});
