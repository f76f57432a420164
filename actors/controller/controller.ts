// The controller actor: one active per model (a lease in the placement bucket), the others standing by. The
// active one merges the gates' load reports, asks the policy, and writes the placement it decides to the KV
// bucket, where the supervisors pick it up. It keeps its policy state there too, so a standby resumes from it.
import type { NatsConnection, Subscription } from 'nats';
import type { ExpertKey } from '../../model/experts.js';
import * as subjects from '../../runtime/transport/subjects.js';
import { decodeLoadReport } from '../protocol/messages.js';
import { ACTUAL_STALE_MS, PlacementStore, type ControllerRecord, type DesiredRecord } from '../protocol/placement.js';
import { DEFAULT_LEASE_MS, Lease } from './lease.js';
import { mergeReports, type LoadWindow } from './load.js';
import { locate, runningPlacement } from './nodes.js';
import { decide, DEFAULT_POLICY, initialState, type Decision, type PolicyConfig, type PolicyState } from './policy.js';

/** How often the active controller decides. Env: EAAS_CONTROLLER_TICK_MS. */
export const DEFAULT_CONTROLLER_TICK_MS = 5_000;

export interface ControllerOptions {
  nc: NatsConnection;
  model: string;
  /** This controller's name (unique among the model's controllers). */
  id: string;
  /** Every routed expert of the model. */
  experts: ExpertKey[];
  policy?: PolicyConfig;
  tickMs?: number;
  leaseMs?: number;
  /** Copies of the placement bucket (a JetStream cluster of 3 wants 3). */
  kvReplicas?: number;
  /** Every decision, for the log and metrics. */
  onDecision?: (d: Decision) => void;
  /** A placement change reached every supervisor, `ms` after it was proposed. */
  onRebalanced?: (ms: number, reason: string) => void;
}

export class ControllerActor {
  private readonly reports = new Map<string, { window: LoadWindow; at: number }>();
  private readonly policy: PolicyConfig;
  private readonly lease: Lease;
  private state?: PolicyState;
  private lastChange: ControllerRecord['lastChange'] = null;
  private sub?: Subscription;
  private leaseTimer?: NodeJS.Timeout;
  private tickTimer?: NodeJS.Timeout;
  private busy = false;
  private stopped = false;

  private constructor(
    private readonly o: ControllerOptions,
    private readonly store: PlacementStore,
  ) {
    this.policy = o.policy ?? DEFAULT_POLICY;
    this.lease = new Lease(store, o.id, o.leaseMs ?? DEFAULT_LEASE_MS);
  }

  static async start(o: ControllerOptions): Promise<ControllerActor> {
    const store = await PlacementStore.open(o.nc, o.model, { create: true, replicas: o.kvReplicas });
    const c = new ControllerActor(o, store);
    c.sub = o.nc.subscribe(subjects.loadReportWildcard(o.model), {
      callback: (err, msg) => {
        if (err) return;
        try {
          const r = decodeLoadReport(msg.data);
          c.reports.set(r.node, { window: r, at: Date.now() });
        } catch {
          // a malformed report is dropped; the next one counts
        }
      },
    });
    await c.lease.tick();
    c.leaseTimer = setInterval(() => void c.lease.tick(), Math.max(1, Math.floor(c.lease.leaseMs / 3)));
    c.tickTimer = setInterval(() => void c.tick(), o.tickMs ?? DEFAULT_CONTROLLER_TICK_MS);
    return c;
  }

  get leader(): boolean {
    return this.lease.leader;
  }

  /** One decision, when this controller leads. Errors (the KV unreachable) leave the placement as it is until the next tick. */
  async tick(): Promise<Decision | undefined> {
    if (!this.lease.leader) this.state = undefined; // a leader again later reads the state its successor left
    if (!this.lease.leader || this.busy || this.stopped) return undefined;
    this.busy = true;
    try {
      return await this.decideOnce();
    } catch {
      return undefined;
    } finally {
      this.busy = false;
    }
  }

  private async decideOnce(): Promise<Decision | undefined> {
    const now = Date.now();
    const live = (await this.store.actuals()).filter((a) => now - a.at < ACTUAL_STALE_MS);
    if (live.length === 0) return undefined; // no supervisor to place on
    const { placement: current, where } = runningPlacement(live);
    const desired = await this.store.desired();
    if (!this.state) {
      // a standby taking over resumes the policy where the last leader left it
      const record = await this.store.controller();
      this.state = (record?.state as PolicyState | undefined) ?? initialState({ ...current, revision: Math.max(current.revision, desired?.record.revision ?? 0) });
      this.lastChange = record?.lastChange ?? null;
    }
    const load = this.load(now, [...where.values()].map((w) => w.instance));
    const d = decide({ now, experts: this.o.experts, load, current }, this.state, this.policy);
    if (d.action === 'propose') {
      const record: DesiredRecord = { revision: d.placement.revision, actors: locate(d.placement.actors, where, live.map((a) => a.node)), reason: d.reason, detail: d.detail, at: now };
      await this.store.writeDesired(record, desired?.revision ?? 0);
      this.lastChange = { revision: record.revision, reason: d.reason, detail: d.detail, at: now };
    } else if (this.lastChange && this.lastChange.durationMs === undefined && current.revision >= this.lastChange.revision) {
      this.lastChange = { ...this.lastChange, durationMs: now - this.lastChange.at };
      this.o.onRebalanced?.(this.lastChange.durationMs!, this.lastChange.reason);
    }
    this.state = d.state;
    await this.store.writeController({
      leader: this.o.id,
      at: now,
      decision: { action: d.action, reason: d.reason, detail: d.detail, at: now },
      lastChange: this.lastChange,
      observed: d.observed,
      load,
      state: d.state,
    });
    this.o.onDecision?.(d);
    return d;
  }

  /** The gates' fresh reports merged; every running actor counted, an idle one at 0 (a report names only the actors it used). */
  private load(now: number, running: string[]): LoadWindow {
    const fresh = [...this.reports.values()].filter((r) => now - r.at <= r.window.windowMs).map((r) => r.window);
    const merged = mergeReports(fresh);
    const busy = new Map(merged.actors.map((a) => [a.instance, a.busy]));
    return { ...merged, actors: fresh.length === 0 ? [] : running.sort().map((instance) => ({ instance, busy: busy.get(instance) ?? 0 })) };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.leaseTimer);
    clearInterval(this.tickTimer);
    this.sub?.unsubscribe();
  }
}
