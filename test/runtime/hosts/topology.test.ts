// The experts' shares of the expert hosts: every expert on `replicas` hosts, contiguous ranges, none empty.
import { describe, expect, it } from 'vitest';
import { parseExpertSpec } from '../../../actors/supervisor/static-placement.js';
import { expertShares, gateAndExpertHosts } from '../../../runtime/hosts/topology.js';

describe('expert hosts\' shares', () => {
  it('puts each expert on exactly `replicas` hosts, as ranges', () => {
    expect(expertShares(8, 2, 2)).toEqual(['*:0-7', '*:0-7']);
    expect(expertShares(8, 2, 1)).toEqual(['*:0-3', '*:4-7']);
    expect(expertShares(64, 3, 2)).toEqual(['*:0-20,*:42-63', '*:0-41', '*:21-63']);
    for (const [experts, hosts, replicas] of [[8, 3, 2], [64, 4, 2], [64, 8, 3], [60, 7, 1]]) {
      const held = new Map<number, number>();
      for (const spec of expertShares(experts, hosts, replicas)) {
        for (const k of parseExpertSpec(spec, 1, experts)) held.set(k.expert, (held.get(k.expert) ?? 0) + 1);
      }
      expect([...held.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: experts }, (_, i) => i));
      expect([...held.values()].every((n) => n === replicas)).toBe(true);
    }
  });

  it('refuses more replicas than hosts, and more hosts than experts', () => {
    expect(() => expertShares(8, 2, 3)).toThrow(/--replicas 3 needs at least 3 expert hosts, got 2/);
    expect(() => expertShares(8, 9, 1)).toThrow(/9 expert hosts for 8 experts a layer/);
  });

  it('gives the gate host the gate (and the front when it has a port) and each expert host its share', () => {
    const [gate, h1, h2] = gateAndExpertHosts({ modelDir: '/m', experts: 8, expertHosts: 2, replicas: 1, httpPort: 0 });
    expect(gate.gate).toBe(true);
    expect(gate.node).toEqual(['--model', '/m', '--role', 'gate,api', '--node-name', 'gate', '--http-host', '0.0.0.0', '--http-port', '0']);
    expect(h1.node).toContain('*:0-3');
    expect(h2.node).toContain('*:4-7');
  });
});
