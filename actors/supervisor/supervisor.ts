// The supervisor actor: starts expert actors as child processes, watches them (exit and IPC heartbeats),
// restarts them with OTP semantics (strategy per group, restart types, intensity, escalation),
// and announces their lifecycle on the model's events subject.
import type { ChildProcess } from 'node:child_process';
import type { NatsConnection, Service } from 'nats';
import { createActor, type Actor } from 'xstate';
import { formatExpertKey } from '../../model/expert-key.js';
import { decodeMessage, encodeMessage } from '../../runtime/transport/codec.js';
import { serviceInfos } from '../../runtime/transport/discovery.js';
import * as subjects from '../../runtime/transport/subjects.js';
import { MalformedMessageError, PlacementError, RetireError, serviceErrorCode } from '../protocol/errors.js';
import { encodeEvent, isChildMessage, type InstanceEvent } from '../protocol/messages.js';
import { EXPERT_SERVICE, SERVICE_VERSION, SUPERVISOR_SERVICE } from '../protocol/services.js';
import type { SupervisorStatus } from './client.js';
import { childMachine } from './machine.js';
import type { ActorSpec } from './static-placement.js';
import { decideExit, DEFAULT_SUPERVISION, Intensity, type ExitIntent, type SupervisionPolicy } from './supervision.js';
import { DEFAULT_HANG_MS, Watchdog } from './watchdog.js';

/** Heartbeats are checked this often, or 4 times per hang bound when that is shorter (a check later than half the bound judges nobody). */
const HANG_CHECK_MS = 100;
const STOP_GRACE_MS = 5000;

export interface ChildSpec extends ActorSpec {
  instance: string;
}

export interface SupervisorOptions {
  nc: NatsConnection;
  model: string;
  node: string;
  children: ChildSpec[];
  /** Starts the OS process of an expert actor with an IPC channel (the composition root knows how). */
  spawn: (child: ChildSpec) => ChildProcess;
  policy?: Partial<SupervisionPolicy>;
  hangMs?: number;
  /** Called when a group escalates and the policy says `exit`. */
  onEscalate?: (reason: string) => void;
  /** At start: how many of its first children are up (or given up) of how many, at 0 and after each. */
  onStarted?: (up: number, total: number) => void;
  /** Called before children added later start (a placement change): what they need made first, e.g. their credentials. */
  prepare?: (specs: ChildSpec[]) => Promise<void>;
}

interface Group {
  id: number;
  children: Child[];
  intensity: Intensity;
  failed: boolean;
}

interface Child {
  spec: ChildSpec;
  group: Group;
  machine: Actor<typeof childMachine>;
  process?: ChildProcess;
  /** Why the next exit happens, when the supervisor caused it. */
  intent?: ExitIntent;
  up: Promise<void>;
  markUp: () => void;
  retired?: () => void;
}

const stateOf = (c: Child) => String(c.machine.getSnapshot().value);
const alive = (c: Child) => ['starting', 'running'].includes(stateOf(c));

export class SupervisorActor {
  private readonly children = new Map<string, Child>();
  private readonly groups = new Map<number, Group>();
  private readonly policy: SupervisionPolicy;
  private readonly watchdog: Watchdog;
  private service?: Service;
  private hangTimer?: NodeJS.Timeout;
  private stopping = false;

  constructor(private readonly o: SupervisorOptions) {
    this.policy = { ...DEFAULT_SUPERVISION, ...o.policy };
    this.watchdog = new Watchdog(o.hangMs ?? DEFAULT_HANG_MS);
  }

  /** Starts every child and resolves once each has announced itself up (or was given up). */
  async start(): Promise<void> {
    const { nc, model } = this.o;
    for (const spec of this.o.children) this.adopt(spec);
    this.hangTimer = setInterval(() => this.checkHeartbeats(), Math.max(1, Math.min(HANG_CHECK_MS, this.watchdog.hangMs / 4)));
    this.service = await nc.services.add({
      name: SUPERVISOR_SERVICE,
      version: SERVICE_VERSION,
      description: `eaas supervisor of node ${this.o.node}`,
      metadata: { model, node: this.o.node, strategy: this.policy.strategy },
      statsHandler: async () => this.status(),
    });
    this.service.addEndpoint('status', {
      subject: subjects.supervisorEndpoint(model, this.o.node, 'status'),
      handler: (err, msg) => {
        if (!err) msg.respond(encodeMessage(this.status()));
      },
    });
    this.service.addEndpoint('retire', {
      subject: subjects.supervisorEndpoint(model, this.o.node, 'retire'),
      handler: (err, msg) => {
        if (err) return;
        const fail = (e: unknown) => msg.respondError(serviceErrorCode(e), (e as Error).message);
        try {
          const { instance, force } = decodeMessage(msg.data) as { instance?: unknown; force?: unknown };
          if (typeof instance !== 'string') throw new MalformedMessageError('retire request must be a map {instance, force?}');
          this.lastReplicas(instance, force === true)
            .then(() => this.retire(instance))
            .then(() => msg.respond(encodeMessage({ retired: instance })), fail);
        } catch (e) {
          fail(e);
        }
      },
    });
    const starting = [...this.children.values()];
    let up = 0;
    this.o.onStarted?.(0, starting.length);
    await Promise.all(starting.map((c) => c.up.then(() => this.o.onStarted?.(++up, starting.length))));
  }

  private adopt(spec: ChildSpec): Child {
    const group = this.groups.get(spec.group) ?? { id: spec.group, children: [], intensity: new Intensity(this.policy), failed: false };
    this.groups.set(spec.group, group);
    const child = this.supervise(spec, group);
    group.children.push(child);
    this.children.set(spec.instance, child);
    return child;
  }

  /** Starts more children (a placement change) and resolves with those that came up; the others were given up. */
  async add(specs: ChildSpec[]): Promise<ChildSpec[]> {
    // a placement change that arrives while the node stops must not leave processes behind
    if (this.stopping) throw new PlacementError(`node ${this.o.node} is stopping: no new expert actors`);
    // a child given up or retired under that name is gone: the placement wants one again
    for (const s of specs) {
      const old = this.children.get(s.instance);
      if (old && ['stopped', 'failed'].includes(stateOf(old))) this.forget(s.instance);
    }
    const taken = specs.find((s) => this.children.has(s.instance));
    if (taken) throw new PlacementError(`node ${this.o.node} already runs an actor named ${taken.instance}`);
    await this.o.prepare?.(specs);
    if (this.stopping) throw new PlacementError(`node ${this.o.node} is stopping: no new expert actors`);
    const added = specs.map((s) => this.adopt(s));
    await Promise.all(added.map((c) => c.up));
    return added.filter((c) => stateOf(c) === 'running').map((c) => c.spec);
  }

  /** The children in this supervisor's care: serving, starting or being restarted (not retired, not given up). */
  hosted(): ChildSpec[] {
    return [...this.children.values()].filter((c) => !['stopped', 'failed'].includes(stateOf(c))).map((c) => c.spec);
  }

  /**
   * Retires a child only when every expert it hosts has another live replica, and forgets it once gone. Experts
   * that those of `others` running here host need no look at the cluster; for the rest, discovery
   * waits its full time (a quick look misses actors slow to answer on a busy host and would keep this one).
   */
  async retireCovered(instance: string, others: readonly string[], wanted: ReadonlySet<string>): Promise<void> {
    const local = new Set(others.map((i) => this.children.get(i)).flatMap((c) => (c && stateOf(c) === 'running' ? c.spec.experts.map(formatExpertKey) : [])));
    const hosts = this.children.get(instance)?.spec.experts ?? [];
    // replicas elsewhere count only when the placement keeps them: another node may be retiring its old ones too
    if (hosts.some((k) => !local.has(formatExpertKey(k)))) await this.lastReplicas(instance, false, false, wanted);
    await this.retire(instance);
    this.forget(instance);
  }

  /** Drops a child that is gone for good from the supervisor's books. */
  private forget(instance: string): void {
    const child = this.children.get(instance);
    if (!child) return;
    this.children.delete(instance);
    child.group.children.splice(child.group.children.indexOf(child), 1);
    if (child.group.children.length === 0) this.groups.delete(child.group.id);
  }

  private supervise(spec: ChildSpec, group: Group): Child {
    let markUp = () => {};
    const up = new Promise<void>((r) => (markUp = r));
    const child = { spec, group, up, markUp: () => markUp() } as Child;
    child.machine = createActor(
      childMachine.provide({
        actions: {
          spawn: () => this.spawn(child),
          terminate: () => this.terminate(child),
          exited: (_, p) => queueMicrotask(() => this.decide(child, p.reason, p.normal)),
          announceRestarting: () => this.announce(child, 'restarting'),
          announceFailed: () => {
            this.announce(child, 'failed', `group ${group.id} gave up after ${this.policy.maxRestarts} restarts in ${this.policy.periodMs} ms`);
            child.markUp();
          },
        },
      }),
      { input: { backoff: this.policy } },
    );
    child.machine.subscribe((snap) => {
      if (snap.value !== 'stopped') return;
      child.retired?.();
      // one that stopped before it ever came up (left, or stopped at shutdown) is waited for no longer
      child.markUp();
    });
    child.machine.start();
    return child;
  }

  private spawn(child: Child): void {
    const proc = this.o.spawn(child.spec);
    child.process = proc;
    this.watchdog.beat(child.spec.instance);
    proc.on('message', (m: unknown) => {
      if (child.process !== proc || !isChildMessage(m)) return;
      this.watchdog.beat(child.spec.instance);
      // a beat from an actor that serves also stands for an `up` we may have missed
      if (m.kind === 'ready' || m.state === 'ready') this.markRunning(child);
    });
    proc.once('exit', (code, signal) => {
      if (child.process !== proc) return;
      child.machine.send({ type: 'EXIT', reason: signal ? `killed by ${signal}` : `exited with code ${code}`, normal: code === 0 && !signal });
    });
  }

  private markRunning(child: Child): void {
    if (stateOf(child) !== 'starting') return;
    child.machine.send({ type: 'UP' });
    child.markUp();
  }

  private terminate(child: Child): void {
    const p = child.process;
    if (!p || p.exitCode !== null || p.signalCode !== null) child.machine.send({ type: 'EXIT', reason: 'stopped', normal: true });
    else p.kill('SIGTERM');
  }

  /** OTP: on a child's exit, restart it (and siblings, per strategy), leave it, or escalate. */
  private decide(child: Child, reason: string, normal: boolean): void {
    this.announce(child, 'down', reason);
    const group = child.group;
    const d = decideExit(this.policy, {
      stopping: this.stopping,
      intent: child.intent,
      groupFailed: group.failed,
      normal,
      index: group.children.indexOf(child),
      groupSize: group.children.length,
    });
    child.intent = undefined;
    if (d.action === 'stop') return child.machine.send({ type: 'STOP' });
    if (d.action === 'leave') return child.machine.send({ type: 'LEAVE' });
    if (d.action === 'give-up') return child.machine.send({ type: 'GIVE_UP' });
    if (d.action === 'restart') {
      if (d.counts && !group.intensity.allow(Date.now())) return this.escalate(group, child, reason);
      for (const i of d.siblings) {
        const sibling = group.children[i];
        if (!alive(sibling)) continue;
        sibling.intent = 'restart';
        sibling.process?.kill('SIGTERM');
      }
      child.machine.send({ type: 'RESTART', attempt: group.intensity.recent });
    }
  }

  private escalate(group: Group, child: Child, reason: string): void {
    group.failed = true;
    for (const c of group.children) {
      if (alive(c)) {
        c.intent = 'give-up';
        c.process?.kill('SIGTERM');
      } else if (c !== child) c.machine.send({ type: 'GIVE_UP' });
    }
    child.machine.send({ type: 'GIVE_UP' });
    const why = `group ${group.id} of node ${this.o.node} exceeded ${this.policy.maxRestarts} restarts in ${this.policy.periodMs} ms (last: ${child.spec.instance} ${reason})`;
    this.o.nc.publish(
      subjects.eventSubject(this.o.model, 'escalated', this.o.node),
      encodeMessage({ node: this.o.node, group: group.id, reason: why, experts: group.children.flatMap((c) => c.spec.experts.map(formatExpertKey)), at: Date.now() }),
    );
    if (this.policy.escalation === 'exit') this.o.onEscalate?.(why);
  }

  private checkHeartbeats(): void {
    const watched = [...this.children.values()].filter((c) => stateOf(c) === 'running').map((c) => c.spec.instance);
    for (const instance of this.watchdog.overdue(watched)) {
      // hung (stopped, spinning): kill it so the exit path restarts it
      this.children.get(instance)?.process?.kill('SIGKILL');
    }
  }

  private announce(child: Child, kind: InstanceEvent['kind'], reason?: string): void {
    const e: InstanceEvent = { kind, instance: child.spec.instance, experts: child.spec.experts.map(formatExpertKey), node: this.o.node, at: Date.now(), reason };
    this.o.nc.publish(subjects.eventSubject(this.o.model, kind, this.o.node, child.spec.instance), encodeEvent(e));
  }

  /**
   * Refuses to retire the last live replica of any expert (as discovery sees the cluster) unless forced:
   * a retire is a control request, and one of them must not take an expert out of service.
   */
  private async lastReplicas(instance: string, force: boolean, quick = true, counted?: ReadonlySet<string>): Promise<void> {
    const child = this.children.get(instance);
    if (force || !child) return;
    const others = (await serviceInfos(this.o.nc, EXPERT_SERVICE, quick)).filter(
      (i) => i.metadata?.model === this.o.model && i.metadata?.instance !== instance && (!counted || counted.has(i.metadata?.instance ?? '')),
    );
    const hosted = new Set(others.flatMap((i) => (i.metadata?.experts ?? '').split(',')));
    const last = child.spec.experts.map(formatExpertKey).filter((e) => !hosted.has(e));
    if (last.length > 0) {
      throw new RetireError(`${instance} holds the last live replica of expert${last.length > 1 ? 's' : ''} ${last.join(', ')} (layer:expert): retire it with --force to take them out of service`);
    }
  }

  /** Retires a child without losing a dispatch: it drains (SIGTERM), exits and is not restarted. */
  retire(instance: string): Promise<void> {
    const child = this.children.get(instance);
    if (!child || !alive(child)) return Promise.reject(new RetireError(`no running expert actor ${instance} on node ${this.o.node}`));
    return new Promise((resolve) => {
      child.retired = resolve;
      child.intent = 'retire';
      child.process?.kill('SIGTERM');
    });
  }

  status(): SupervisorStatus {
    return {
      node: this.o.node,
      strategy: this.policy.strategy,
      children: [...this.children.values()].map((c) => ({
        instance: c.spec.instance,
        group: c.group.id,
        state: stateOf(c),
        pid: c.process?.pid,
        restarts: c.machine.getSnapshot().context.restarts,
        experts: c.spec.experts.map(formatExpertKey),
      })),
    };
  }

  /** The process id of a child, for tools and tests that inject faults. */
  pid(instance: string): number | undefined {
    return this.children.get(instance)?.process?.pid;
  }

  /** Stops every child (SIGTERM, SIGKILL after a grace period) and the service. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.hangTimer);
    await this.service?.stop().catch(() => undefined);
    await Promise.all(
      [...this.children.values()].map(async (c) => {
        if (c.machine.getSnapshot().status !== 'active') return;
        const done = new Promise<void>((resolve) => c.machine.subscribe({ complete: () => resolve() }));
        c.machine.send({ type: 'STOP' });
        const timer = setTimeout(() => c.process?.kill('SIGKILL'), STOP_GRACE_MS);
        await done;
        clearTimeout(timer);
      }),
    );
  }
}
