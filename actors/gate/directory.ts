// The gate's view of the expert instances of a model: who hosts what, who is up, how loaded.
import type { NatsConnection, Subscription } from 'nats';
import { serviceInfos } from '../../runtime/transport/discovery.js';
import * as subjects from '../../runtime/transport/subjects.js';
import { EXPERT_SERVICE } from '../protocol/services.js';
import { decodeEvent, type InstanceEvent } from '../protocol/messages.js';

/** How often the gate re-discovers instances, healing any missed event. Env: EAAS_DISCOVERY_MS. */
export const DEFAULT_DISCOVERY_MS = 2000;

export interface Instance {
  instance: string;
  node: string;
  experts: Set<string>;
  up: boolean;
  /** Rows sent and not yet answered. */
  inflightRows: number;
  downReason?: string;
  /** When it was last marked down. */
  downAt?: number;
}

export class Directory {
  private readonly instances = new Map<string, Instance>();
  private readonly waiters = new Set<() => void>();
  private readonly downListeners: ((instance: string) => void)[] = [];
  private readonly upListeners: ((instance: string) => void)[] = [];
  private subs: Subscription[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    private readonly model: string,
    private readonly discoveryMs = DEFAULT_DISCOVERY_MS,
  ) {}

  async start(): Promise<void> {
    const events = this.nc.subscribe(subjects.eventsWildcard(this.model), {
      callback: (err, msg) => {
        if (err) return;
        try {
          this.apply(decodeEvent(msg.data));
        } catch {
          // a malformed event is ignored: discovery will tell the truth
        }
      },
    });
    this.subs.push(events);
    await this.discover();
    this.timer = setInterval(() => void this.discover().catch(() => undefined), this.discoveryMs);
  }

  stop(): void {
    clearInterval(this.timer);
    for (const s of this.subs) s.unsubscribe();
  }

  /** Asks every expert service of the model who it is ($SRV.INFO). */
  async discover(): Promise<void> {
    const asked = Date.now();
    for (const info of await serviceInfos(this.nc, EXPERT_SERVICE, true)) {
      const m = info.metadata ?? {};
      if (m.model !== this.model || !m.instance) continue;
      const known = this.instances.get(m.instance);
      // an instance marked down answers discovery only once it serves again; an answer collected before it went
      // down (a retired actor answers while it drains) says nothing about now
      if (!known || (!known.up && (known.downAt ?? 0) < asked)) this.upsert(m.instance, m.node ?? '', (m.experts ?? '').split(',').filter(Boolean));
    }
  }

  private apply(e: InstanceEvent): void {
    if (e.kind === 'up') {
      this.upsert(e.instance, e.node, e.experts);
      for (const listener of this.upListeners) listener(e.instance);
    }
    else this.markDown(e.instance, e.reason ?? e.kind);
  }

  private upsert(instance: string, node: string, experts: string[]): void {
    const known = this.instances.get(instance);
    this.instances.set(instance, { instance, node, experts: new Set(experts), up: true, inflightRows: known?.inflightRows ?? 0 });
    for (const w of [...this.waiters]) w();
  }

  /**
   * Rows sent to `instance` and not yet answered go up by `rows` (down, when negative). The directory owns the
   * count, by name: an instance announced again mid-dispatch keeps it.
   */
  addInflight(instance: string, rows: number): void {
    const known = this.instances.get(instance);
    if (known) known.inflightRows = Math.max(0, known.inflightRows + rows);
  }

  markDown(instance: string, reason: string): void {
    const known = this.instances.get(instance);
    if (known) {
      known.up = false;
      known.downReason = reason;
      known.downAt = Date.now();
    }
    for (const listener of this.downListeners) listener(instance);
  }

  /** Calls `listener` whenever an instance is marked down (event, no responders, ...). */
  onDown(listener: (instance: string) => void): void {
    this.downListeners.push(listener);
  }

  /** Calls `listener` whenever an instance announces itself up (a new process under that name). */
  onUp(listener: (instance: string) => void): void {
    this.upListeners.push(listener);
  }

  /** Live instances hosting expert `id` ("layer:expert"). */
  replicas(id: string): Instance[] {
    return [...this.instances.values()].filter((i) => i.up && i.experts.has(id));
  }

  /** The instances the gate dispatches to now (up), sorted. */
  routable(): string[] {
    return [...this.instances.values()].filter((i) => i.up).map((i) => i.instance).sort();
  }

  get(instance: string): Instance | undefined {
    return this.instances.get(instance);
  }

  all(): Instance[] {
    return [...this.instances.values()];
  }

  /** Resolves true when some instance hosting `id` comes up, false after `timeoutMs`. */
  waitForReplica(id: string, timeoutMs: number): Promise<boolean> {
    if (this.replicas(id).length > 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (this.replicas(id).length === 0) return;
        cleanup();
        resolve(true);
      };
      const timer = setTimeout(() => {
        cleanup();
        resolve(false);
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }
}
