// The controller actor: one active per model (a lease in the placement bucket), the others standing by. The
// active one merges the gates' load reports, asks the policy, and writes the placement it decides to the KV
// bucket, where the supervisors pick it up. It keeps its policy state there too, so a standby resumes from it.
import type { NatsConnection, Subscription } from 'nats';
import type { ExpertKey } from '../../model/expert-key.js';
import * as subjects from '../../runtime/transport/subjects.js';
import { recordRebalance } from '../../observability/metrics.js';
import { decodeActorLoad, decodeLoadReport } from '../protocol/messages.js';
import { NodeLiveness } from './liveness.js';
import { PlacementStore, type ControllerRecord, type DesiredRecord } from '../protocol/placement-store.js';
import { DEFAULT_LEASE_MS, Lease } from './lease.js';
import { mergeReports, type LoadWindow } from './load-window.js';
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
  /** Every decision, for the log. */
  onDecision?: (d: Decision) => void;
}

export class ControllerActor {
  /** The latest report of every gate (by node), and every expert actor's own busy fraction (by instance). */
  private readonly reports = new Map<string, { window: LoadWindow; at: number }>();
  private readonly actorBusy = new Map<string, { busy: number; windowMs: number; at: number }>();
  private readonly policy: PolicyConfig;
  private readonly lease: Lease;
  private state?: PolicyState;
  private lastChange: ControllerRecord['lastChange'] = null;
  /** Which supervisors are alive, from their keys' revisions. */
  private readonly liveness = new NodeLiveness();
  private subs: Subscription[] = [];
  private leaseTimer?: NodeJS.Timeout;
  private tickTimer?: NodeJS.Timeout;
  /** The decision in progress: one at a time, and the node's stop waits for its writes. */
  private deciding?: Promise<Decision | undefined>;
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
    // a malformed report is dropped: the next one counts
    const listen = (subject: string, take: (data: Uint8Array) => void) =>
      o.nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          try {
            take(msg.data);
          } catch {
            // see above
          }
        },
      });
    c.subs = [
      listen(subjects.gateLoadWildcard(o.model), (data) => {
        const r = decodeLoadReport(data);
        c.reports.set(r.node, { window: r, at: Date.now() });
      }),
      listen(subjects.actorLoadWildcard(o.model), (data) => {
        const a = decodeActorLoad(data);
        c.actorBusy.set(a.instance, { busy: a.busyMs / a.windowMs, windowMs: a.windowMs, at: Date.now() });
      }),
    ];
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
    if (!this.lease.leader || this.deciding || this.stopped) return undefined;
    this.deciding = this.decideOnce().catch(() => undefined);
    try {
      return await this.deciding;
    } finally {
      this.deciding = undefined;
    }
  }

  private async decideOnce(): Promise<Decision | undefined> {
    const now = Date.now();
    const live = this.liveness.live(await this.store.actuals());
    if (live.length === 0) return undefined; // no supervisor to place on
    const desired = await this.store.desired();
    // an index the desired placement gave away is never given again, even by a leader that missed it
    const taken = Math.max(0, ...(desired?.record.actors ?? []).map((a) => a.index + 1));
    const { placement: current, where } = runningPlacement(live, taken);
    if (!this.state) {
      // a standby taking over resumes the policy where the last leader left it
      const record = await this.store.controller();
      this.state = (record?.state as PolicyState | undefined) ?? initialState({ ...current, revision: Math.max(current.revision, desired?.record.revision ?? 0) });
      this.lastChange = record?.lastChange ?? null;
      // a change the last leader wrote but did not record is still in flight
      if (!this.state.pending && desired && desired.record.revision > current.revision) this.state = { ...this.state, pending: { revision: desired.record.revision, since: now } };
    }
    this.state = { ...this.state, nextIndex: Math.max(this.state.nextIndex, taken), revision: Math.max(this.state.revision, desired?.record.revision ?? 0) };
    const load = this.load(now, [...where.values()].map((w) => w.instance));
    const d = decide({ now, experts: this.o.experts, load, current }, this.state, this.policy);
    if (d.action === 'propose') {
      const record: DesiredRecord = { revision: d.placement.revision, actors: locate(d.placement.actors, where, live.map((a) => a.node)), reason: d.reason, detail: d.detail, at: now };
      await this.store.writeDesired(record, desired?.revision ?? 0);
      this.lastChange = { revision: record.revision, reason: d.reason, detail: d.detail, at: now };
    } else if (this.lastChange && this.lastChange.durationMs === undefined && current.revision >= this.lastChange.revision) {
      this.lastChange = { ...this.lastChange, durationMs: now - this.lastChange.at };
      recordRebalance(this.o.model, this.lastChange.durationMs! / 1000, this.lastChange.reason);
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

  /**
   * The gates' fresh reports merged, with every running actor's busy fraction: its own report (compute time over
   * its window), else the gates' view (dispatch to answer), else 0 (no gate used it). No gate report, no busy signal.
   */
  private load(now: number, running: string[]): LoadWindow {
    // reports older than their window count no more (and instance names are never reused: the maps would only grow)
    for (const [node, r] of this.reports) if (now - r.at > r.window.windowMs) this.reports.delete(node);
    for (const [instance, a] of this.actorBusy) if (now - a.at > a.windowMs) this.actorBusy.delete(instance);
    const merged = mergeReports([...this.reports.values()].map((r) => r.window));
    const seen = new Map(merged.actors.map((a) => [a.instance, a.busy]));
    const busy = (instance: string) => this.actorBusy.get(instance)?.busy ?? seen.get(instance) ?? 0;
    return { ...merged, actors: this.reports.size === 0 ? [] : running.sort().map((instance) => ({ instance, busy: busy(instance) })) };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // a decision in flight finishes its writes before the connection goes
    await this.deciding;
    clearInterval(this.leaseTimer);
    clearInterval(this.tickTimer);
    for (const s of this.subs) s.unsubscribe();
  }
}
