// The dashboard's picture of a cluster, from the messages the cluster publishes (no NATS: the view is pure state).
import { describe, expect, it } from 'vitest';
import { ClusterView, type DiscoveredActor } from '../../../actors/dashboard/view.js';
import type { GatePulse, InstanceEvent } from '../../../actors/protocol/messages.js';

const LAYERS = 16;
const EXPERTS = 64;

/** 100 actors on 10 nodes; actor i hosts experts (i mod 16, j) for j ≡ i (mod 100/…): every expert has at least one replica. */
function bigCluster(): DiscoveredActor[] {
  const actors: DiscoveredActor[] = [];
  for (let i = 0; i < 100; i++) actors.push({ instance: `a${i}`, node: `n${i % 10}`, experts: [] });
  let k = 0;
  for (let layer = 0; layer < LAYERS; layer++) for (let expert = 0; expert < EXPERTS; expert++) actors[k++ % 100].experts.push(`${layer}:${expert}`);
  // a second replica of layer 0's experts
  for (let expert = 0; expert < EXPERTS; expert++) actors[(expert + 50) % 100].experts.push(`0:${expert}`);
  return actors;
}

const event = (kind: InstanceEvent['kind'], instance: string, experts: string[], reason?: string): InstanceEvent => ({ kind, instance, experts, node: 'n1', at: 0, reason });

const pulse = (over: Partial<GatePulse> = {}): GatePulse => ({ node: 'g1', intervalMs: 1000, tokens: 0, running: 0, waiting: 0, ttftMs: [], itlMs: [], incidents: [], ...over });

describe('the dashboard view', () => {
  it('holds 16 layers x 64 experts and 100 actors in a picture of modest size', () => {
    const v = new ClusterView('m', { layers: LAYERS, experts: EXPERTS });
    v.discovered(bigCluster(), [{ name: 'g1', role: 'gate' }]);
    const s = v.snapshot();
    expect(s.layers).toBe(LAYERS);
    expect(s.experts).toBe(EXPERTS);
    expect(s.actors).toHaveLength(100);
    expect(s.running[0][5]).toBe(2);
    expect(s.running[3][5]).toBe(1);
    expect(s.desired).toEqual(s.running);
    expect(s.nodes.map((n) => n.name)).toContain('g1');
    // sent once a second to every open page
    expect(JSON.stringify(v.snapshot(false)).length).toBeLessThan(40_000);
  });

  it('follows an actor down, restarting and up again; the placement still wants it while it is down', () => {
    const v = new ClusterView('m');
    v.discovered([{ instance: 'a1', node: 'n1', experts: ['0:1', '1:1'] }], []);
    const down = v.instanceEvent(event('down', 'a1', ['0:1', '1:1'], 'exit code null (SIGKILL)'));
    expect(down.actor?.state).toBe('down');
    expect(down.event.text).toMatch(/SIGKILL/);
    let s = v.snapshot();
    expect(s.running[0][1]).toBe(0);
    expect(s.desired[0][1]).toBe(1);
    expect(v.instanceEvent(event('restarting', 'a1', ['0:1', '1:1'])).actor).toMatchObject({ state: 'restarting', restarts: 1 });
    expect(v.instanceEvent(event('up', 'a1', ['0:1', '1:1'])).actor).toMatchObject({ state: 'up', restarts: 1 });
    s = v.snapshot();
    expect(s.running[1][1]).toBe(1);
    expect(s.events.map((e) => e.kind)).toEqual(['down', 'restarting', 'up']);
  });

  it('drops a retired actor, and one discovery keeps missing', () => {
    const v = new ClusterView('m');
    v.discovered([{ instance: 'a1', node: 'n1', experts: ['0:0'] }, { instance: 'a2', node: 'n1', experts: ['0:0'] }], []);
    v.instanceEvent(event('draining', 'a1', ['0:0']));
    expect(v.snapshot().desired[0][0]).toBe(1);
    v.instanceEvent(event('down', 'a1', ['0:0']));
    expect(v.snapshot().actors.map((a) => a.instance)).toEqual(['a2']);
    expect(v.discovered([], [])).toEqual([]);
    const gone = v.discovered([], []);
    expect(gone).toHaveLength(1);
    expect(gone[0].event).toMatchObject({ kind: 'down', about: 'a2' });
    expect(v.snapshot().actors).toEqual([]);
  });

  it('makes a traffic point of each second of pulses, and a timeline entry of each incident', () => {
    let now = 1_000_000;
    const v = new ClusterView('m', undefined, () => now);
    v.discovered([{ instance: 'a1', node: 'n1', experts: ['0:0'] }], []);
    const itl = Array.from({ length: 100 }, (_, i) => i + 1);
    v.pulse(pulse({ tokens: 50, running: 3, waiting: 2, ttftMs: [40, 60], itlMs: itl }));
    const live = v.pulse(pulse({ node: 'g2', intervalMs: 500, tokens: 10, running: 1, incidents: [{ kind: 'suspected', instance: 'a1', count: 1, detail: 'a dispatch to it timed out' }] }));
    expect(live[0].actor?.state).toBe('suspected');
    v.tick();
    const [point] = v.snapshot().traffic;
    expect(point).toMatchObject({ tokensPerSec: 70, running: 4, waiting: 2, ttftP50: 60, ttftP99: 60, itlP50: 51, itlP99: 100 });
    now += 6_000;
    v.tick();
    const s = v.snapshot();
    expect(s.traffic[1]).toMatchObject({ tokensPerSec: 0, ttftP50: null, running: 4 });
    expect(s.actors[0].state).toBe('up');
    expect(s.events[0]).toMatchObject({ kind: 'suspected', about: 'a1' });
    // after the first picture, each second carries its own point and no events (they went out live)
    const next = v.snapshot(false);
    expect(next).toMatchObject({ full: false, traffic: [s.traffic[1]], events: [] });
  });

  it('shows the controller’s placement: its reason on the timeline, actors not yet up as starting', () => {
    const v = new ClusterView('m');
    v.discovered([{ instance: 'a1', node: 'n1', experts: ['0:0', '0:1'] }], []);
    const live = v.placement({
      revision: 2,
      reason: 'scale-up',
      detail: 'mean busy 0.91 > 0.8: 1 -> 2 actors',
      at: 0,
      actors: [
        { index: 0, group: 0, node: 'n1', instance: 'a1', experts: ['0:0', '0:1'] },
        { index: 1, group: 0, node: 'n2', instance: 'a2', experts: ['0:1'] },
      ],
    });
    expect(live.event).toMatchObject({ kind: 'placement', about: 'revision 2', text: 'scale-up: mean busy 0.91 > 0.8: 1 -> 2 actors' });
    const s = v.snapshot();
    expect(s.actors.find((a) => a.instance === 'a2')?.state).toBe('starting');
    expect(s.desired[0][1]).toBe(2);
    expect(s.running[0][1]).toBe(1);
    v.discovered([{ instance: 'a1', node: 'n1', experts: ['0:0', '0:1'] }, { instance: 'a2', node: 'n2', experts: ['0:1'] }], []);
    expect(v.snapshot().running[0][1]).toBe(2);
  });

  it('sums a gate’s hedges into one timeline entry at most every 10 s', () => {
    let now = 1_000_000;
    const v = new ClusterView('m', undefined, () => now);
    const hedge = (instance: string, count: number) => pulse({ incidents: [{ kind: 'hedge', instance, count, detail: 'slower than 20 ms' }] });
    expect(v.pulse(hedge('a1', 2))[0].event).toMatchObject({ kind: 'hedge', about: 'g1', text: 'gate g1 hedged 2 slow dispatches, waiting on a1 ×2' });
    for (let i = 0; i < 9; i++) {
      now += 1000;
      expect(v.pulse(hedge(i % 2 ? 'a1' : 'a2', 1))).toEqual([]);
    }
    now += 1000;
    expect(v.pulse(hedge('a3', 1))[0].event.text).toBe('gate g1 hedged 10 slow dispatches in 10 s, waiting on a2 ×5, a1 ×4, a3 ×1');
    expect(v.snapshot().events.filter((e) => e.kind === 'hedge')).toHaveLength(2);
  });

  it('turns gate load reports into tokens per second per expert', () => {
    const v = new ClusterView('m', { layers: 2, experts: 4 });
    v.gateLoad({ node: 'g1', windowMs: 30_000, experts: [{ layer: 1, expert: 3, tokens: 300 }], actors: [] });
    v.gateLoad({ node: 'g2', windowMs: 10_000, experts: [{ layer: 1, expert: 3, tokens: 50 }], actors: [] });
    expect(v.snapshot().heat[1][3]).toBe(15);
  });
});
