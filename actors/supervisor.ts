// The supervisor actor: starts expert actors as child processes, watches them (exit and heartbeats),
// restarts them with OTP semantics (strategy per group, restart types, intensity, escalation),
// and announces their lifecycle on the model's events subject.
import type { ChildProcess } from 'node:child_process';
import type { NatsConnection, Service, Subscription } from 'nats';
import { createActor, type Actor } from 'xstate';
import { expertId } from '../model/experts.js';
import { decodeMessage, encodeMessage } from '../runtime/codec.js';
import * as subjects from '../runtime/subjects.js';
import { childMachine } from './child-machine.js';
import { SERVICE_VERSION } from './expert.js';
import type { ActorSpec } from './placement.js';
import { decodeEvent, encodeEvent, ProtocolError, type InstanceEvent } from './protocol.js';
import { supervisorSubject } from './supervisor-client.js';
import { DEFAULT_SUPERVISION, Intensity, shouldRestart, siblingsToRestart, type SupervisionPolicy } from './supervision.js';

export const SUPERVISOR_SERVICE = 'eaas-supervisor';
/** A child whose heartbeats stop for this long is killed and restarted. Env: EAAS_HANG_MS. */
export const DEFAULT_HANG_MS = 1500;
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
  /** Starts the OS process of an expert actor (the composition root knows how). */
  spawn: (child: ChildSpec) => ChildProcess;
  policy?: Partial<SupervisionPolicy>;
  hangMs?: number;
  /** Called when a group escalates and the policy says `exit`. */
  onEscalate?: (reason: string) => void;
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
  lastBeat: number;
  restarts: number;
  /** Why the next exit happens, when the supervisor caused it. */
  intent?: 'restart' | 'retire' | 'give-up';
  up: Promise<void>;
  markUp: () => void;
  retired?: () => void;
}

const alive = (c: Child) => ['starting', 'running'].includes(String(c.machine.getSnapshot().value));

export class SupervisorActor {
  private readonly children = new Map<string, Child>();
  private readonly groups = new Map<number, Group>();
  private readonly policy: SupervisionPolicy;
  private subs: Subscription[] = [];
  private service?: Service;
  private hangTimer?: NodeJS.Timeout;
  private stopping = false;
  private lastCheck = Date.now();

  constructor(private readonly o: SupervisorOptions) {
    this.policy = { ...DEFAULT_SUPERVISION, ...o.policy };
  }

  /** Starts every child and resolves once each has announced itself up (or was given up). */
  async start(): Promise<void> {
    const { nc, model } = this.o;
    this.subs.push(
      nc.subscribe(subjects.eventSubject(model, 'up'), {
        callback: (err, msg) => {
          if (err) return;
          try {
            const child = this.children.get(decodeEvent(msg.data).instance);
            if (!child) return;
            child.lastBeat = Date.now();
            child.machine.send({ type: 'UP' });
            child.markUp();
          } catch {
            // not ours to judge: a malformed event is dropped
          }
        },
      }),
      nc.subscribe(subjects.heartbeatWildcard(model), {
        callback: (err, msg) => {
          const child = err ? undefined : this.children.get(msg.subject.split('.').pop()!);
          if (child) child.lastBeat = Date.now();
        },
      }),
    );
    await nc.flush();
    for (const spec of this.o.children) {
      const group = this.groups.get(spec.group) ?? { id: spec.group, children: [], intensity: new Intensity(this.policy), failed: false };
      this.groups.set(spec.group, group);
      const child = this.supervise(spec, group);
      group.children.push(child);
      this.children.set(spec.instance, child);
    }
    this.hangTimer = setInterval(() => this.checkHeartbeats(), HANG_CHECK_MS);
    this.service = await nc.services.add({
      name: SUPERVISOR_SERVICE,
      version: SERVICE_VERSION,
      description: `eaas supervisor of node ${this.o.node}`,
      metadata: { model, node: this.o.node, strategy: this.policy.strategy },
      statsHandler: async () => this.status(),
    });
    this.service.addEndpoint('status', {
      subject: supervisorSubject(model, subjects.validateToken(this.o.node), 'status'),
      handler: (err, msg) => {
        if (!err) msg.respond(encodeMessage(this.status()));
      },
    });
    this.service.addEndpoint('retire', {
      subject: supervisorSubject(model, this.o.node, 'retire'),
      handler: (err, msg) => {
        if (err) return;
        try {
          const { instance } = decodeMessage(msg.data) as { instance?: unknown };
          if (typeof instance !== 'string') throw new ProtocolError('retire request must be a map {instance}');
          this.retire(instance).then(
            () => msg.respond(encodeMessage({ retired: instance })),
            (e: Error) => msg.respondError(404, e.message),
          );
        } catch (e) {
          msg.respondError(400, (e as Error).message);
        }
      },
    });
    await Promise.all([...this.children.values()].map((c) => c.up));
  }

  private supervise(spec: ChildSpec, group: Group): Child {
    let markUp = () => {};
    const up = new Promise<void>((r) => (markUp = r));
    const child = { spec, group, lastBeat: Date.now(), restarts: 0, up, markUp: () => markUp() } as Child;
    child.machine = createActor(
      childMachine.provide({
        actions: {
          spawn: () => this.spawn(child),
          terminate: () => this.terminate(child),
          exited: (_, p) => queueMicrotask(() => this.decide(child, p.reason, p.normal)),
          announceRestarting: () => {
            child.restarts++;
            this.announce(child, 'restarting');
          },
          announceFailed: () => {
            this.announce(child, 'failed', `group ${group.id} gave up after ${this.policy.maxRestarts} restarts in ${this.policy.periodMs} ms`);
            child.markUp();
          },
        },
      }),
      { input: { backoff: this.policy } },
    );
    child.machine.subscribe((snap) => {
      if (snap.value === 'stopped') child.retired?.();
    });
    child.machine.start();
    return child;
  }

  private spawn(child: Child): void {
    const proc = this.o.spawn(child.spec);
    child.process = proc;
    child.lastBeat = Date.now();
    proc.once('exit', (code, signal) => {
      if (child.process !== proc) return;
      child.machine.send({ type: 'EXIT', reason: signal ? `killed by ${signal}` : `exited with code ${code}`, normal: code === 0 && !signal });
    });
  }

  private terminate(child: Child): void {
    const p = child.process;
    if (!p || p.exitCode !== null || p.signalCode !== null) child.machine.send({ type: 'EXIT', reason: 'stopped', normal: true });
    else p.kill('SIGTERM');
  }

  /** OTP: on a child's exit, restart it (and siblings, per strategy), leave it, or escalate. */
  private decide(child: Child, reason: string, normal: boolean): void {
    const send = (e: Parameters<Child['machine']['send']>[0]) => child.machine.send(e);
    this.announce(child, 'down', reason);
    const intent = child.intent;
    child.intent = undefined;
    if (this.stopping) return send({ type: 'STOP' });
    if (intent === 'retire') return send({ type: 'LEAVE' });
    if (intent === 'give-up' || child.group.failed) return send({ type: 'GIVE_UP' });
    if (intent === 'restart') return send({ type: 'RESTART', attempt: child.group.intensity.recent });
    if (!shouldRestart(this.policy.restart, normal)) return send({ type: 'LEAVE' });
    const group = child.group;
    if (!group.intensity.allow(Date.now())) return this.escalate(group, child, reason);
    for (const i of siblingsToRestart(this.policy.strategy, group.children.length, group.children.indexOf(child))) {
      const sibling = group.children[i];
      if (!alive(sibling)) continue;
      sibling.intent = 'restart';
      sibling.process?.kill('SIGTERM');
    }
    send({ type: 'RESTART', attempt: group.intensity.recent });
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
      subjects.eventSubject(this.o.model, 'escalated'),
      encodeMessage({ node: this.o.node, group: group.id, reason: why, experts: group.children.flatMap((c) => c.spec.experts.map(expertId)), at: Date.now() }),
    );
    if (this.policy.escalation === 'exit') this.o.onEscalate?.(why);
  }

  private checkHeartbeats(): void {
    const hangMs = this.o.hangMs ?? DEFAULT_HANG_MS;
    const now = Date.now();
    const late = now - this.lastCheck > hangMs / 2;
    this.lastCheck = now;
    if (late || this.o.nc.isClosed() || (this.o.nc as unknown as { protocol?: { connected?: boolean } }).protocol?.connected === false) {
      // our own event loop was blocked or our link was down: the beats may be queued, not missing
      for (const child of this.children.values()) child.lastBeat = now;
      return;
    }
    for (const child of this.children.values()) {
      if (child.machine.getSnapshot().value !== 'running' || now - child.lastBeat <= hangMs) continue;
      // hung (stopped, spinning, cut off from NATS): kill it so the exit path restarts it
      child.lastBeat = now;
      child.process?.kill('SIGKILL');
    }
  }

  private announce(child: Child, kind: InstanceEvent['kind'], reason?: string): void {
    const e: InstanceEvent = { kind, instance: child.spec.instance, experts: child.spec.experts.map(expertId), node: this.o.node, at: Date.now(), reason };
    this.o.nc.publish(subjects.eventSubject(this.o.model, kind), encodeEvent(e));
  }

  /** Retires a child without losing a dispatch: it drains (SIGTERM), exits and is not restarted. */
  retire(instance: string): Promise<void> {
    const child = this.children.get(instance);
    if (!child || !alive(child)) return Promise.reject(new Error(`no running expert actor ${instance} on node ${this.o.node}`));
    return new Promise((resolve) => {
      child.retired = resolve;
      child.intent = 'retire';
      child.process?.kill('SIGTERM');
    });
  }

  status(): { node: string; strategy: string; children: { instance: string; group: number; state: string; pid?: number; restarts: number; experts: string[] }[] } {
    return {
      node: this.o.node,
      strategy: this.policy.strategy,
      children: [...this.children.values()].map((c) => ({
        instance: c.spec.instance,
        group: c.group.id,
        state: String(c.machine.getSnapshot().value),
        pid: c.process?.pid,
        restarts: c.restarts,
        experts: c.spec.experts.map(expertId),
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
    for (const s of this.subs) s.unsubscribe();
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

/** Decodes the status a supervisor answers with. */
export const decodeStatus = (bytes: Uint8Array) => decodeMessage(bytes) as ReturnType<SupervisorActor['status']>;
