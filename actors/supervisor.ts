// The supervisor actor: starts expert actors as child processes, watches them (exit and heartbeats),
// restarts them under a restart policy, and announces their lifecycle on the model's events subject.
import type { ChildProcess } from 'node:child_process';
import type { NatsConnection, Service, Subscription } from 'nats';
import { createActor, type Actor } from 'xstate';
import { expertId } from '../model/experts.js';
import { decodeMessage, encodeMessage } from '../runtime/codec.js';
import * as subjects from '../runtime/subjects.js';
import { childMachine, DEFAULT_RESTART_POLICY, type RestartPolicy } from './child-machine.js';
import { SERVICE_VERSION } from './expert.js';
import type { ActorSpec } from './placement.js';
import { decodeEvent, encodeEvent, type InstanceEvent } from './protocol.js';

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
  policy?: Partial<RestartPolicy>;
  hangMs?: number;
}

interface Child {
  spec: ChildSpec;
  machine: Actor<typeof childMachine>;
  process?: ChildProcess;
  lastBeat: number;
  restarts: number;
  up: Promise<void>;
  markUp: () => void;
}

export class SupervisorActor {
  private readonly children = new Map<string, Child>();
  private subs: Subscription[] = [];
  private service?: Service;
  private hangTimer?: NodeJS.Timeout;

  constructor(private readonly o: SupervisorOptions) {}

  /** Starts every child and resolves once each has announced itself up. */
  async start(): Promise<void> {
    const { nc, model } = this.o;
    this.subs.push(
      nc.subscribe(subjects.eventSubject(model, 'up'), {
        callback: (err, msg) => {
          if (err) return;
          try {
            const e = decodeEvent(msg.data);
            const child = this.children.get(e.instance);
            if (child) {
              child.lastBeat = Date.now();
              child.machine.send({ type: 'UP' });
              child.markUp();
            }
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
    for (const spec of this.o.children) this.children.set(spec.instance, this.supervise(spec));
    this.hangTimer = setInterval(() => this.checkHeartbeats(), HANG_CHECK_MS);
    this.service = await nc.services.add({
      name: SUPERVISOR_SERVICE,
      version: SERVICE_VERSION,
      description: `eaas supervisor of node ${this.o.node}`,
      metadata: { model, node: this.o.node },
      statsHandler: async () => this.status(),
    });
    this.service.addEndpoint('status', {
      subject: `eaas.v1.${model}.supervisor.${subjects.validateToken(this.o.node)}.status`,
      handler: (err, msg) => {
        if (!err) msg.respond(encodeMessage(this.status()));
      },
    });
    await Promise.all([...this.children.values()].map((c) => c.up));
  }

  private supervise(spec: ChildSpec): Child {
    const policy = { ...DEFAULT_RESTART_POLICY, ...this.o.policy };
    let markUp = () => {};
    const child: Child = { spec, lastBeat: Date.now(), restarts: 0, up: new Promise((r) => (markUp = r)), markUp: () => markUp() } as Child;
    const machine = createActor(
      childMachine.provide({
        actions: {
          spawn: () => this.spawn(child),
          terminate: () => {
            if (!child.process || child.process.exitCode !== null || child.process.signalCode !== null) child.machine.send({ type: 'EXIT', reason: 'stopped' });
            else child.process.kill('SIGTERM');
          },
          announceDown: (_, p) => this.announce(child, 'down', p.reason),
          announceRestarting: () => {
            child.restarts++;
            this.announce(child, 'restarting');
          },
          announceFailed: () => {
            this.announce(child, 'failed', `more than ${policy.maxRestarts} restarts in ${policy.periodMs} ms`);
            child.markUp();
          },
        },
      }),
      { input: { policy } },
    );
    child.machine = machine;
    machine.start();
    return child;
  }

  private spawn(child: Child): void {
    const proc = this.o.spawn(child.spec);
    child.process = proc;
    child.lastBeat = Date.now();
    proc.once('exit', (code, signal) => {
      if (child.process === proc) child.machine.send({ type: 'EXIT', reason: signal ? `killed by ${signal}` : `exited with code ${code}` });
    });
  }

  private checkHeartbeats(): void {
    const hangMs = this.o.hangMs ?? DEFAULT_HANG_MS;
    const now = Date.now();
    for (const child of this.children.values()) {
      if (child.machine.getSnapshot().value !== 'running' || now - child.lastBeat <= hangMs) continue;
      // hung (stopped, spinning, cut off): kill it so the exit path restarts it
      child.lastBeat = now;
      child.process?.kill('SIGKILL');
    }
  }

  private announce(child: Child, kind: InstanceEvent['kind'], reason?: string): void {
    const e: InstanceEvent = { kind, instance: child.spec.instance, experts: child.spec.experts.map(expertId), node: this.o.node, at: Date.now(), reason };
    this.o.nc.publish(subjects.eventSubject(this.o.model, kind), encodeEvent(e));
  }

  status(): { node: string; children: { instance: string; state: string; pid?: number; restarts: number; experts: string[] }[] } {
    return {
      node: this.o.node,
      children: [...this.children.values()].map((c) => ({
        instance: c.spec.instance,
        state: String(c.machine.getSnapshot().value),
        pid: c.process?.pid,
        restarts: c.restarts,
        experts: c.spec.experts.map(expertId),
      })),
    };
  }

  /** The process of a child, for tests and tools that inject faults. */
  pid(instance: string): number | undefined {
    return this.children.get(instance)?.process?.pid;
  }

  /** Stops every child (SIGTERM, then SIGKILL after a grace period) and the service. */
  async stop(): Promise<void> {
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
