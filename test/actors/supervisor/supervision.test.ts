import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from 'nats';
import { createActor, SimulatedClock } from 'xstate';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatExpertKey } from '../../../model/expert-key.js';
import { backoffMs, childMachine, DEFAULT_BACKOFF } from '../../../actors/supervisor/machine.js';
import { decodeEvent, type InstanceEvent } from '../../../actors/protocol/messages.js';
import { Intensity, shouldRestart, siblingsToRestart, supervisionPolicy, type SupervisionPolicy } from '../../../actors/supervisor/supervision.js';
import { SupervisionConfigError } from '../../../actors/protocol/errors.js';
import { SupervisorActor, type ChildSpec } from '../../../actors/supervisor/supervisor.js';
import { retireInstance } from '../../../actors/supervisor/client.js';
import { useNatsServer } from '../../helpers/nats.js';

const FAKE_EXPERT = fileURLToPath(new URL('../../fixtures/fake-expert.mjs', import.meta.url));

describe('supervision policy', () => {
  it('backs off exponentially with bounded jitter', () => {
    const b = { minBackoffMs: 100, maxBackoffMs: 1000, randomFactor: 0.2 };
    expect(backoffMs(b, 1, () => 0.5)).toBe(100);
    expect(backoffMs(b, 3, () => 0.5)).toBe(400);
    expect(backoffMs(b, 10, () => 0.5)).toBe(1000);
    expect(backoffMs(b, 1, () => 0)).toBe(80);
    expect(backoffMs(b, 1, () => 1)).toBe(120);
  });

  it('counts restarts within a sliding period', () => {
    const i = new Intensity({ maxRestarts: 2, periodMs: 1000 });
    expect(i.allow(0)).toBe(true);
    expect(i.allow(100)).toBe(true);
    expect(i.allow(200)).toBe(false);
    expect(i.allow(1100)).toBe(true);
  });

  it('restarts by restart type as OTP does', () => {
    expect(shouldRestart('permanent', true)).toBe(true);
    expect(shouldRestart('transient', true)).toBe(false);
    expect(shouldRestart('transient', false)).toBe(true);
    expect(shouldRestart('temporary', false)).toBe(false);
  });

  it('picks the siblings each strategy restarts', () => {
    expect(siblingsToRestart('one_for_one', 4, 1)).toEqual([]);
    expect(siblingsToRestart('one_for_all', 4, 1)).toEqual([0, 2, 3]);
    expect(siblingsToRestart('rest_for_one', 4, 1)).toEqual([2, 3]);
  });

  it('rejects bad supervision configs clearly', () => {
    expect(supervisionPolicy({ strategy: 'rest_for_one' }, 'f.json').strategy).toBe('rest_for_one');
    expect(() => supervisionPolicy({ strategy: 'all' }, 'f.json')).toThrow(SupervisionConfigError);
    expect(() => supervisionPolicy({ maxRestart: 3 }, 'f.json')).toThrow(/unknown supervision key "maxRestart"/);
    expect(() => supervisionPolicy({ periodMs: -1 }, 'f.json')).toThrow(/periodMs/);
  });
});

describe('child machine with a simulated clock', () => {
  it('waits out the backoff before spawning again', () => {
    const clock = new SimulatedClock();
    let spawns = 0;
    const actor = createActor(childMachine.provide({ actions: { spawn: () => void spawns++ } }), {
      clock,
      input: { backoff: { ...DEFAULT_BACKOFF, minBackoffMs: 100, randomFactor: 0 } },
    }).start();
    expect(spawns).toBe(1);
    actor.send({ type: 'UP' });
    actor.send({ type: 'EXIT', reason: 'killed by SIGKILL', normal: false });
    expect(actor.getSnapshot().value).toBe('exited');
    actor.send({ type: 'RESTART', attempt: 2 });
    expect(actor.getSnapshot().value).toBe('backoff');
    clock.increment(199);
    expect(spawns).toBe(1);
    clock.increment(1);
    expect(spawns).toBe(2);
    expect(actor.getSnapshot().value).toBe('starting');
  });
});

describe('supervisor with real child processes', () => {
  const nats = useNatsServer();
  let supervisor: SupervisorActor | undefined;

  afterEach(async () => {
    await supervisor?.stop();
    supervisor = undefined;
  });

  async function start(specs: [number, string][], policy: Partial<SupervisionPolicy>, extra: { hangMs?: number; onEscalate?: (r: string) => void } = {}) {
    const nc = await nats.connect();
    const events: InstanceEvent[] = [];
    nc.subscribe('eaas.v1.sup.events.>', { callback: (_, m) => m.subject.includes('.escalated.') || events.push(decodeEvent(m.data)) });
    const children: ChildSpec[] = specs.map(([group, instance], index) => ({ index, group, instance, experts: [{ layer: 0, expert: index }] }));
    supervisor = new SupervisorActor({
      nc,
      model: 'sup',
      node: 'n1',
      children,
      policy: { minBackoffMs: 10, maxBackoffMs: 50, ...policy },
      spawn: (c) =>
        fork(FAKE_EXPERT, [], {
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          env: { ...process.env, EAAS_CHILD_NATS: nats.url, EAAS_CHILD_MODEL: 'sup', EAAS_CHILD_INSTANCE: c.instance, EAAS_CHILD_NODE: 'n1', EAAS_CHILD_EXPERTS: formatExpertKey({ layer: 0, expert: c.index }) },
        }),
      ...extra,
    });
    await supervisor.start();
    return { nc, events, sup: supervisor };
  }

  const pids = (s: SupervisorActor) => Object.fromEntries(s.status().children.map((c) => [c.instance, c.pid]));
  const states = (s: SupervisorActor) => Object.fromEntries(s.status().children.map((c) => [c.instance, c.state]));

  const poll = { timeout: 10_000, interval: 20 };

  /** Waits until the children named in `want` are in those states (the others may be in any). */
  async function settled(s: SupervisorActor, want: Record<string, string>) {
    await vi.waitFor(() => expect(states(s)).toMatchObject(want), poll);
  }

  /**
   * Sends `signal` to `victim`, waits until every child in `expected` runs again under a new pid and every
   * child is running, and returns the children whose pid changed. The siblings a strategy restarts are sent
   * SIGTERM in the same turn as the victim's restart is decided, and a fake expert exits on SIGTERM long before
   * the victim's replacement process has started and reported ready: a sibling restarted that should not have
   * been is no longer running with its old pid by then, and shows up in the result.
   */
  async function restartedAfterKill(s: SupervisorActor, victim: string, expected: string[], signal: NodeJS.Signals = 'SIGKILL') {
    const before = pids(s);
    process.kill(before[victim]!, signal);
    await vi.waitFor(() => {
      const now = pids(s);
      for (const k of expected) expect(now[k], `pid of ${k}`).not.toBe(before[k]);
      expect(Object.values(states(s)).every((st) => st === 'running'), JSON.stringify(states(s))).toBe(true);
    }, poll);
    const after = pids(s);
    return Object.keys(before).filter((k) => before[k] !== after[k]).sort();
  }

  it('one_for_one restarts only the child that died, announcing down and restarting', async () => {
    const { sup, events } = await start([[0, 'a'], [0, 'b'], [1, 'c']], { strategy: 'one_for_one' });
    expect(await restartedAfterKill(sup, 'a', ['a'])).toEqual(['a']);
    // events travel through the server: poll for them
    await expect.poll(() => events.filter((e) => e.instance === 'a').map((e) => e.kind), poll).toEqual(expect.arrayContaining(['up', 'down', 'restarting']));
  });

  it('one_for_all restarts every child of the group, and only that group', async () => {
    const { sup } = await start([[0, 'a'], [0, 'b'], [1, 'c']], { strategy: 'one_for_all' });
    expect(await restartedAfterKill(sup, 'a', ['a', 'b'])).toEqual(['a', 'b']);
  });

  it('rest_for_one restarts the child and those started after it in its group', async () => {
    const { sup } = await start([[0, 'a'], [0, 'b'], [0, 'c'], [1, 'd']], { strategy: 'rest_for_one' });
    expect(await restartedAfterKill(sup, 'b', ['b', 'c'])).toEqual(['b', 'c']);
  });

  it('transient children come back after a crash but not after a normal exit; temporary never', async () => {
    const { sup } = await start([[0, 'a'], [0, 'b']], { restart: 'transient' });
    expect(await restartedAfterKill(sup, 'a', ['a'], 'SIGUSR2')).toEqual(['a']);
    process.kill(pids(sup).b!, 'SIGUSR1');
    await settled(sup, { b: 'stopped', a: 'running' });
    await supervisor!.stop();
    const t = await start([[0, 'x']], { restart: 'temporary' });
    process.kill(pids(t.sup).x!, 'SIGKILL');
    await settled(t.sup, { x: 'stopped' });
  });

  it('escalates past the restart intensity: the group is given up, its experts announced failed', async () => {
    const escalations: string[] = [];
    const { sup, events } = await start([[0, 'a'], [0, 'b'], [1, 'c']], { maxRestarts: 2, periodMs: 60_000, escalation: 'exit' }, { onEscalate: (r) => escalations.push(r) });
    expect(await restartedAfterKill(sup, 'a', ['a'])).toEqual(['a']);
    expect(await restartedAfterKill(sup, 'a', ['a'])).toEqual(['a']);
    process.kill(pids(sup).a!, 'SIGKILL');
    await settled(sup, { a: 'failed', b: 'failed', c: 'running' });
    expect(escalations).toHaveLength(1);
    expect(escalations[0]).toMatch(/group 0 of node n1 exceeded 2 restarts/);
    // events travel through the server: poll for them
    await expect.poll(() => events.filter((e) => e.kind === 'failed').map((e) => e.instance).sort(), poll).toEqual(['a', 'b']);
  });

  it('kills and restarts a hung child (SIGSTOP) once its heartbeats stop for the bound', async () => {
    const { sup } = await start([[0, 'a']], {}, { hangMs: 400 });
    const before = pids(sup).a!;
    process.kill(before, 'SIGSTOP');
    await vi.waitFor(() => {
      expect(pids(sup).a).not.toBe(before);
      expect(states(sup).a).toBe('running');
    }, poll);
    expect(() => process.kill(before, 0)).toThrow();
  });

  it('retires a child: it exits and is not restarted; unknown instances are refused', async () => {
    const { sup, nc } = await start([[0, 'a'], [0, 'b']], {});
    // the fake expert is not a micro service, so ask the supervisor's endpoint directly
    await expect(retireInstance(nc as NatsConnection, 'a')).rejects.toThrow(/no expert actor named a/);
    await sup.retire('a');
    expect(states(sup)).toEqual({ a: 'stopped', b: 'running' });
    await expect(sup.retire('a')).rejects.toThrow(/no running expert actor a/);
  });
});
