// The expert side of a simulated deployment: hosts with their cores, the expert actors on them (a queue each, one
// dispatch at a time), and each host's supervisor, which restarts a dead actor by the production OTP decision.
import { formatExpertKey, type ExpertKey } from '../../model/expert-key.js';
import { decideExit, Intensity, type SupervisionPolicy } from '../../actors/supervisor/supervision.js';
import type { SimClock } from './clock.js';
import { Cores } from './cores.js';
import { Integral, PerSecond } from './measures.js';
import { dispatchAroundMs, dispatchMs, expertBytes, messageMs, type CostProfile, type SimModel } from './profile.js';

/** One dispatch on its way to an actor: the rows of each expert it names, and who hears the answer. */
export interface Delivery {
  /** Rows per expert id, in the order the message lists them. */
  rows: { id: string; rows: number }[];
  /** Distinct token rows on the wire (each row once per message). */
  wireRows: number;
  /** The cores of the gate's host: an actor on another host has a nats-server of its own passing the message. */
  from: Cores;
  /** Called when the answer reaches the gate. */
  answered: () => void;
}

export interface SimActor {
  instance: string;
  index: number;
  group: number;
  host: SimHost;
  experts: ExpertKey[];
  ids: Set<string>;
  /** Serving: up and announced; a starting or dead actor is not. */
  serving: boolean;
  /** Bumped at each death, so work in flight from before is dropped. */
  epoch: number;
  busy: boolean;
  queue: Delivery[];
  /** Compute time so far (for its busy fraction). */
  busyMs: number;
  /** Draining before it exits (a placement change retired it). */
  retiring: boolean;
}

export interface SimHost {
  name: string;
  alive: boolean;
  epoch: number;
  cores: Cores;
  /** Its supervisor's restart intensity, per group. */
  intensity: Map<number, Intensity>;
}

/** What the gates hear about actors (each after a hop): one serving, one gone (announced by its supervisor). */
export interface ActorEvents {
  up(instance: string, actor: SimActor): void;
  down(instance: string): void;
}

export class ExpertHosts {
  readonly hosts: SimHost[];
  readonly actors = new Map<string, SimActor>();
  /** Expert actors started and not yet exited (starting ones count: they hold a host's memory). */
  readonly alive = new Integral();
  /** Actor compute, core-ms per second of simulated time. */
  readonly busy = new PerSecond();
  readonly counters = { restarts: 0, gaveUp: 0, lostDispatches: 0 };
  private listeners: ActorEvents[] = [];

  constructor(
    private readonly clock: SimClock,
    private readonly model: SimModel,
    private readonly profile: CostProfile,
    private readonly supervision: SupervisionPolicy,
    hostNames: string[],
  ) {
    this.hosts = hostNames.map((name) => ({ name, alive: true, epoch: 0, cores: new Cores(clock, profile.coresPerHost), intensity: new Map() }));
  }

  listen(l: ActorEvents): void {
    this.listeners.push(l);
  }

  host(name: string): SimHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no simulated host ${name}`);
    return h;
  }

  /** Starts an actor on `host`; it serves after `delayMs` (a fresh start or a restart) and the time to read its weights. */
  start(host: SimHost, spec: { instance: string; index: number; group: number; experts: ExpertKey[] }, delayMs = this.profile.actorStartMs, readWeights = true): SimActor {
    const actor: SimActor = { ...spec, host, ids: new Set(spec.experts.map(formatExpertKey)), serving: false, epoch: 0, busy: false, queue: [], busyMs: 0, retiring: false };
    this.actors.set(spec.instance, actor);
    this.recount();
    this.bringUp(actor, delayMs, readWeights);
    return actor;
  }

  /** A dispatch reaches `instance` now: queued if it serves (or drains), lost if it is dead or starting. */
  deliver(instance: string, d: Delivery): void {
    const a = this.actors.get(instance);
    if (!a || !a.host.alive || (!a.serving && !a.retiring)) {
      this.counters.lostDispatches++;
      return;
    }
    a.queue.push(d);
    this.next(a);
  }

  /** kill -9 of one actor's process on a live host: its supervisor announces it and decides. */
  killActor(instance: string): void {
    const a = this.actors.get(instance);
    if (!a || !a.host.alive || !a.serving) return;
    this.die(a);
    this.announceDown(a.instance);
    const facts = { stopping: false, groupFailed: false, normal: false, index: 0, groupSize: 1 };
    const d = decideExit(this.supervision, facts);
    const intensity = a.host.intensity.get(a.group) ?? a.host.intensity.set(a.group, new Intensity(this.supervision)).get(a.group)!;
    if (d.action === 'restart' && (!d.counts || intensity.allow(this.clock.now()))) {
      this.counters.restarts++;
      this.bringUp(a, this.profile.actorRestartMs);
    } else {
      this.counters.gaveUp++;
      this.actors.delete(a.instance);
      this.recount();
    }
  }

  /** A whole host fails: its actors and supervisor are gone without a word; the gates find out by deadlines and discovery. */
  killHost(name: string): void {
    const h = this.host(name);
    if (!h.alive) return;
    h.alive = false;
    h.epoch++;
    h.cores.reset();
    for (const a of this.onHost(h)) {
      this.die(a);
      this.actors.delete(a.instance);
    }
    this.recount();
  }

  /** A failed host is back (replaced or rebooted) with no actors: the placement decides what it runs. */
  reviveHost(name: string): void {
    const h = this.host(name);
    h.alive = true;
    h.intensity.clear();
  }

  /** A placement change retires `instance`: announced at once (gates stop sending), it exits once its queue drains. */
  retire(instance: string): void {
    const a = this.actors.get(instance);
    if (!a || a.retiring) return;
    a.retiring = true;
    const wasServing = a.serving;
    a.serving = false;
    if (wasServing) this.announceDown(instance);
    this.exitIfDrained(a);
  }

  onHost(h: SimHost): SimActor[] {
    return [...this.actors.values()].filter((a) => a.host === h);
  }

  /** Whether `instance` would answer a discovery request now. */
  answers(instance: string): boolean {
    const a = this.actors.get(instance);
    return !!a && a.host.alive && a.serving;
  }

  private bringUp(a: SimActor, delayMs: number, readWeights = true): void {
    const epoch = a.epoch;
    const hostEpoch = a.host.epoch;
    const gone = () => a.epoch !== epoch || a.host.epoch !== hostEpoch || a.retiring || !this.actors.has(a.instance);
    // the process starts, then reads its experts' weights on one of the host's cores (beside the serving actors)
    this.clock.after(delayMs, () => {
      if (gone()) return;
      a.host.cores.run(readWeights ? (a.experts.length * expertBytes(this.model)) / this.profile.weightLoadBytesPerMs : 0, () => {
        if (gone()) return;
        a.serving = true;
        for (const l of this.listeners) this.clock.after(this.profile.hopMs, () => this.answers(a.instance) && l.up(a.instance, a));
      });
    });
  }

  private announceDown(instance: string): void {
    for (const l of this.listeners) this.clock.after(this.profile.hopMs, () => l.down(instance));
  }

  private die(a: SimActor): void {
    a.serving = false;
    a.epoch++;
    a.busy = false;
    this.counters.lostDispatches += a.queue.length;
    a.queue = [];
  }

  private exitIfDrained(a: SimActor): void {
    if (a.retiring && !a.busy && a.queue.length === 0) {
      a.epoch++;
      this.actors.delete(a.instance);
      this.recount();
    }
  }

  /** The actor takes its next dispatch when idle: it waits for a free core of its host, computes, answers. */
  private next(a: SimActor): void {
    if (a.busy || a.queue.length === 0) return;
    const d = a.queue.shift()!;
    a.busy = true;
    // busy as a real actor reports it: its compute, not the CPU around it
    const busyMs = dispatchMs(this.profile, this.model, d.rows.map((r) => r.rows));
    const ms = busyMs + dispatchAroundMs(this.profile, d.wireRows, d.from !== a.host.cores);
    const epoch = a.epoch;
    a.host.cores.run(ms, () => {
      if (a.epoch !== epoch) return;
      a.busy = false;
      a.busyMs += busyMs;
      this.busy.add(this.clock.now(), busyMs);
      this.clock.after(messageMs(this.profile, this.model, d.wireRows), d.answered);
      this.next(a);
      this.exitIfDrained(a);
    });
  }

  private recount(): void {
    this.alive.set(this.clock.now(), this.actors.size);
  }
}
