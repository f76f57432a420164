// The simulated control loop: supervisors' records in a stand-in for the placement bucket, the controller's tick
// (node liveness, the running placement, the production policy's decide(), locate), and each node's follower
// carrying a new placement out make before break (start what is new, wait until it serves, retire what is gone).
import { formatExpertKey, parseExpertKey, type ExpertKey } from '../../model/expert-key.js';
import { changes } from '../../actors/controller/desired-placement.js';
import { NodeLiveness } from '../../actors/controller/liveness.js';
import { locate, runningPlacement } from '../../actors/controller/nodes.js';
import { decide, initialState, type Decision, type PolicyConfig, type PolicyState } from '../../actors/controller/policy.js';
import { ACTUAL_REFRESH_MS, type ActualEntry, type PlacementActor } from '../../actors/protocol/placement-store.js';
import { mergeBins } from '../../observability/load-window.js';
import type { SimClock } from './clock.js';
import type { ExpertHosts, SimActor, SimHost } from './expert-hosts.js';

/** How often an old actor still holding a last replica is tried again. */
const RETIRE_RETRY_MS = 1_000;
import type { SimGate } from './sim-gate.js';

/** A decision the controller proposed, for the run's record. */
export interface SimChange {
  at: number;
  reason: string;
  actors: number;
  started: number;
  retired: number;
}

export class SimController {
  private readonly liveness: NodeLiveness;
  /** Each node's record as the bucket holds it: a dead node's stays, unmoving. */
  private readonly entries = new Map<string, ActualEntry>();
  private readonly revisions = new Map<string, number>();
  private state?: PolicyState;
  private desiredRevision = 0;
  private desired: PlacementActor[] = [];
  private takenIndex = 0;
  private readonly busyAt = new Map<string, number>();
  readonly changes: SimChange[] = [];
  readonly decisions: Decision[] = [];

  constructor(
    private readonly clock: SimClock,
    private readonly hosts: ExpertHosts,
    private readonly gates: SimGate[],
    private readonly policy: PolicyConfig,
    private readonly experts: ExpertKey[],
    /** How long after a new actor serves every gate routes to it (a hop: its announcement). */
    private readonly routeWaitMs: number,
    tickMs: number,
    until: number,
  ) {
    this.liveness = new NodeLiveness(undefined, clock.now);
    for (const h of hosts.hosts) this.record(h);
    clock.every(ACTUAL_REFRESH_MS, ACTUAL_REFRESH_MS, until, () => hosts.hosts.filter((h) => h.alive).forEach((h) => this.record(h)));
    clock.every(tickMs, tickMs, until, () => this.tick(tickMs));
  }

  /** A supervisor rewrites its record: what it hosts, at the revision it reached. */
  private record(h: SimHost, revision = this.revisions.get(h.name) ?? 0): void {
    this.revisions.set(h.name, revision);
    const actors = this.hosts.onHost(h).filter((a) => !a.retiring).map((a) => ({ index: a.index, group: a.group, instance: a.instance, experts: a.experts.map(formatExpertKey) }));
    const prev = this.entries.get(h.name);
    this.entries.set(h.name, { record: { node: h.name, revision, actors, at: this.clock.now() }, revision: (prev?.revision ?? 0) + 1 });
  }

  private tick(windowMs: number): void {
    const now = this.clock.now();
    const live = this.liveness.live([...this.entries.values()]);
    if (live.length === 0) return;
    const { placement: current, where } = runningPlacement(live, this.takenIndex);
    this.state ??= initialState(current);
    this.state = { ...this.state, nextIndex: Math.max(this.state.nextIndex, this.takenIndex), revision: Math.max(this.state.revision, this.desiredRevision) };
    const tokens = new Map<string, number>();
    for (const g of this.gates) for (const [id, n] of g.takeRouted()) tokens.set(id, (tokens.get(id) ?? 0) + n);
    const actors = [...where.values()].map(({ instance }) => {
      const a = this.hosts.actors.get(instance);
      const busy = a ? a.busyMs - (this.busyAt.get(instance) ?? 0) : 0;
      if (a) this.busyAt.set(instance, a.busyMs);
      return { instance, busy: busy / windowMs };
    });
    const itl = mergeBins(this.gates.map((g) => g.itlBins()));
    const load = { windowMs, experts: [...tokens].map(([id, n]) => ({ ...parseExpertKey(id), tokens: n })), actors, ...(itl.length > 0 ? { itl } : {}) };
    const d = decide({ now, experts: this.experts, load, current }, this.state, this.policy);
    this.decisions.push(d);
    this.state = d.state;
    if (d.action !== 'propose') return;
    const desired = locate(d.placement.actors, where, live.map((r) => r.node));
    this.desiredRevision = d.placement.revision;
    this.desired = desired;
    this.takenIndex = Math.max(this.takenIndex, ...desired.map((a) => a.index + 1));
    const c = changes(current.actors, d.placement.actors);
    this.changes.push({ at: now, reason: d.reason, actors: desired.length, started: c.start.length, retired: c.retire.length });
    for (const h of this.hosts.hosts) if (h.alive) this.follow(h, d.placement.revision, desired.filter((a) => a.node === h.name));
  }

  /**
   * As the supervisor's retireCovered: an old actor goes only once every expert it hosts has a serving replica on an
   * actor the newest placement keeps (on any node); until then it stays and is tried again.
   */
  private retireCovered(a: SimActor, revision: number): void {
    if (this.desiredRevision > revision || !this.hosts.actors.has(a.instance)) return; // superseded, or gone
    const kept = new Set(this.desired.map((d) => d.instance));
    const covered = [...a.ids].every((id) => [...this.hosts.actors.values()].some((b) => b !== a && b.serving && kept.has(b.instance) && b.ids.has(id)));
    if (covered) this.hosts.retire(a.instance);
    else this.clock.after(RETIRE_RETRY_MS, () => this.retireCovered(a, revision));
  }

  /** A failed host is back: its supervisor starts with its share of the desired placement (initialChildren), at that revision. */
  hostBack(h: SimHost): void {
    this.follow(h, this.desiredRevision, this.desired.filter((a) => a.node === h.name));
  }

  /** One node's follower: starts its new actors, and once they all serve (and a hop later every gate routes to them), retires the rest. */
  private follow(h: SimHost, revision: number, mine: PlacementActor[]): void {
    const hosted = this.hosts.onHost(h).filter((a) => !a.retiring);
    const wanted = new Set(mine.map((a) => a.instance));
    const fresh = mine.filter((a) => !hosted.some((x) => x.instance === a.instance));
    const started = fresh.map((a) => this.hosts.start(h, { instance: a.instance, index: a.index, group: a.group, experts: a.experts.map(parseExpertKey) }));
    const epoch = h.epoch;
    const retire = () => {
      if (h.epoch !== epoch) return;
      if (started.some((a) => !a.serving && this.hosts.actors.has(a.instance))) return void this.clock.after(100, retire);
      this.clock.after(this.routeWaitMs, () => {
        for (const a of hosted) if (!wanted.has(a.instance)) this.retireCovered(a, revision);
        this.record(h, revision);
      });
    };
    retire();
  }
}
