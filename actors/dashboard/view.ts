// The cluster as the dashboard shows it, built from what the cluster publishes: instance events, load reports,
// gate pulses and reconnects, the desired placement, and discovery. Pure state: the feed hands it messages.
import { parseExpertKey } from '../../model/expert-key.js';
import type { DesiredRecord } from '../protocol/placement-store.js';
import type { ActorLoad, GatePulse, InstanceEvent, LoadReport } from '../protocol/messages.js';
import { TIMELINE_LENGTH, TRAFFIC_SECONDS, type ActorRow, type ActorState, type LiveEvent, type NodeRow, type Snapshot, type TimelineEvent, type TimelineKind, type TrafficPoint } from './snapshot.js';

/** An actor found by discovery: what its service metadata says. */
export interface DiscoveredActor {
  instance: string;
  node: string;
  experts: string[];
}

/** A suspicion (a gate's timeout) shows this long unless an event says more. */
const SUSPECT_MS = 5_000;
/** Hedges are many when the cores are busy: each gate's are summed into one timeline entry at most this often. */
const HEDGE_SUMMARY_MS = 10_000;
/** An actor discovery has not seen this many times in a row is gone (its node died with it, without events). */
const ABSENT_DISCOVERIES = 2;

interface Actor extends ActorRow {
  suspectedUntil: number;
  absent: number;
}

const STATE_OF: Record<InstanceEvent['kind'], ActorState> = { up: 'up', down: 'down', restarting: 'restarting', failed: 'failed', draining: 'retiring' };

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

export class ClusterView {
  private readonly actors = new Map<string, Actor>();
  private readonly nodes = new Map<string, Set<'gate' | 'supervisor'>>();
  /** Each gate's last load report, and when it came. */
  private readonly gateLoads = new Map<string, { report: LoadReport; at: number }>();
  /** Each gate's last pulse, and the pulses of the second in progress. */
  private readonly lastPulse = new Map<string, GatePulse>();
  private pulses: GatePulse[] = [];
  private readonly traffic: TrafficPoint[] = [];
  private readonly timeline: TimelineEvent[] = [];
  private desired: DesiredRecord | null = null;
  /** Per gate: hedges not yet on the timeline, by instance, and when its last hedge entry was made. */
  private readonly hedges = new Map<string, { by: Map<string, number>; last: number }>();

  constructor(
    readonly model: string,
    /** The grid's size when the checkpoint is known; otherwise it grows to what is seen. */
    private readonly dims: { layers: number; experts: number } = { layers: 0, experts: 0 },
    private readonly now: () => number = Date.now,
  ) {}

  /** What discovery found: actors not known are up; known ones it keeps missing are gone. */
  discovered(actors: DiscoveredActor[], nodes: { name: string; role: 'gate' | 'supervisor' }[]): LiveEvent[] {
    for (const n of nodes) this.roles(n.name).add(n.role);
    const seen = new Set(actors.map((a) => a.instance));
    const out: LiveEvent[] = [];
    for (const a of actors) {
      const known = this.actors.get(a.instance);
      this.roles(a.node);
      if (!known || known.state === 'starting') this.actors.set(a.instance, this.fresh(a, 'up', known));
      else known.absent = 0;
    }
    for (const a of this.actors.values()) {
      if (seen.has(a.instance) || a.state === 'starting' || a.state === 'failed') continue;
      if (++a.absent >= ABSENT_DISCOVERIES) {
        this.actors.delete(a.instance);
        out.push({ event: this.note('down', a.instance, `gone from discovery without an event (its node may have died) on node ${a.node}`) });
      }
    }
    return out;
  }

  instanceEvent(e: InstanceEvent): LiveEvent {
    const known = this.actors.get(e.instance);
    this.roles(e.node).add('supervisor');
    const reason = e.reason ? `: ${e.reason}` : '';
    const text =
      e.kind === 'up' ? `up on node ${e.node} with ${e.experts.length} expert${e.experts.length === 1 ? '' : 's'}` : e.kind === 'failed' ? `given up${reason}` : e.kind === 'draining' ? `retiring${reason}` : `${e.kind}${reason}`;
    const event = this.note(e.kind, e.instance, text);
    // a retiring actor that goes down has left for good
    if (known?.state === 'retiring' && e.kind === 'down') {
      this.actors.delete(e.instance);
      return { event };
    }
    const actor = this.fresh({ instance: e.instance, node: e.node, experts: e.experts }, STATE_OF[e.kind] ?? 'down', known);
    if (e.kind === 'restarting') actor.restarts++;
    this.actors.set(e.instance, actor);
    return { event, actor: this.row(actor) };
  }

  /** A node's supervisor escalated: a group exceeded its restart intensity. */
  escalated(node: string, reason: string): LiveEvent {
    return { event: this.note('escalated', node, reason) };
  }

  gateLoad(r: LoadReport): void {
    this.roles(r.node).add('gate');
    this.gateLoads.set(r.node, { report: r, at: this.now() });
  }

  actorLoad(a: ActorLoad): void {
    const actor = this.actors.get(a.instance);
    if (!actor) return;
    actor.busy = round(a.busyMs / a.windowMs, 3);
    actor.rowsPerSec = round((a.rows / a.windowMs) * 1000);
  }

  /** A gate's pulse: counted into the second in progress; its incidents go to the timeline. */
  pulse(p: GatePulse): LiveEvent[] {
    this.roles(p.node).add('gate');
    this.lastPulse.set(p.node, p);
    this.pulses.push(p);
    const out: LiveEvent[] = [];
    for (const i of p.incidents) {
      if (i.kind === 'hedge') {
        this.countHedges(p.node, i.instance, i.count);
        continue;
      }
      const counted = i.count > 1 ? ` (${i.count} times)` : '';
      const event = this.note(i.kind, i.instance, `gate ${p.node}${counted}: ${i.detail}`);
      const actor = this.actors.get(i.instance);
      if (i.kind === 'suspected' && actor && (actor.state === 'up' || actor.state === 'suspected')) {
        actor.state = 'suspected';
        actor.since = this.now();
        actor.suspectedUntil = this.now() + SUSPECT_MS;
        out.push({ event, actor: this.row(actor) });
      } else out.push({ event });
    }
    const hedges = this.hedges.get(p.node);
    if (hedges && hedges.by.size > 0 && this.now() - hedges.last >= HEDGE_SUMMARY_MS) {
      const total = [...hedges.by.values()].reduce((a, n) => a + n, 0);
      const slowest = [...hedges.by].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([instance, n]) => `${instance} ×${n}`);
      const since = hedges.last === 0 ? '' : ` in ${Math.round((this.now() - hedges.last) / 1000)} s`;
      out.push({ event: this.note('hedge', p.node, `gate ${p.node} hedged ${total} slow dispatch${total === 1 ? '' : 'es'}${since}, waiting on ${slowest.slice(0, 4).join(', ')}${slowest.length > 4 ? ', …' : ''}`) });
      hedges.by.clear();
      hedges.last = this.now();
    }
    return out;
  }

  private countHedges(gate: string, instance: string, n: number): void {
    let h = this.hedges.get(gate);
    if (!h) this.hedges.set(gate, (h = { by: new Map(), last: 0 }));
    h.by.set(instance, (h.by.get(instance) ?? 0) + n);
  }

  gateReconnected(node: string, downMs: number): LiveEvent {
    this.roles(node).add('gate');
    return { event: this.note('gate-reconnected', node, `gate ${node} is back on NATS after ${Math.round(downMs)} ms away`) };
  }

  /** The controller's desired placement: its actors not yet running show as starting. */
  placement(d: DesiredRecord): LiveEvent {
    this.desired = d;
    for (const a of d.actors) {
      if (this.actors.has(a.instance)) continue;
      this.roles(a.node).add('supervisor');
      this.actors.set(a.instance, this.fresh(a, 'starting'));
    }
    return { event: this.note('placement', `revision ${d.revision}`, `${d.reason}: ${d.detail}`) };
  }

  /** Closes the second in progress: one traffic point from the pulses that came in it. */
  tick(): void {
    const pulses = this.pulses;
    this.pulses = [];
    const latest = [...this.lastPulse.values()];
    const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
    const ttft = sorted(pulses.flatMap((p) => p.ttftMs));
    const itl = sorted(pulses.flatMap((p) => p.itlMs));
    this.traffic.push({
      at: this.now(),
      tokensPerSec: round(pulses.reduce((a, p) => a + (p.intervalMs > 0 ? (p.tokens * 1000) / p.intervalMs : 0), 0)),
      running: latest.reduce((a, p) => a + p.running, 0),
      waiting: latest.reduce((a, p) => a + p.waiting, 0),
      ttftP50: nullable(quantile(ttft, 0.5)),
      ttftP99: nullable(quantile(ttft, 0.99)),
      itlP50: nullable(quantile(itl, 0.5)),
      itlP99: nullable(quantile(itl, 0.99)),
    });
    if (this.traffic.length > TRAFFIC_SECONDS) this.traffic.splice(0, this.traffic.length - TRAFFIC_SECONDS);
    // a suspicion nobody repeated fades
    for (const a of this.actors.values()) if (a.state === 'suspected' && a.suspectedUntil <= this.now()) a.state = 'up';
  }

  /** The picture: `full` with the traffic and timeline history, else with the newest traffic point only. */
  snapshot(full = true): Snapshot {
    const actors = [...this.actors.values()].sort((a, b) => a.node.localeCompare(b.node) || a.instance.localeCompare(b.instance));
    const wanted = this.desiredActors();
    let { layers, experts } = this.dims;
    const ids = [...actors, ...wanted].flatMap((a) => a.experts.map(parseExpertKey));
    for (const g of this.gateLoads.values()) ids.push(...g.report.experts);
    for (const id of ids) {
      layers = Math.max(layers, id.layer + 1);
      experts = Math.max(experts, id.expert + 1);
    }
    const grid = () => Array.from({ length: layers }, () => new Array<number>(experts).fill(0));
    const add = (g: number[][], id: string, v: number) => {
      const { layer, expert } = parseExpertKey(id);
      g[layer][expert] += v;
    };
    const heat = grid();
    for (const { report } of this.gateLoads.values()) {
      for (const e of report.experts) heat[e.layer][e.expert] += (e.tokens * 1000) / report.windowMs;
    }
    const running = grid();
    const desired = grid();
    for (const a of actors) if (a.state === 'up' || a.state === 'suspected') for (const id of a.experts) add(running, id, 1);
    for (const a of wanted) for (const id of a.experts) add(desired, id, 1);
    return {
      full,
      model: this.model,
      at: this.now(),
      layers,
      experts,
      heat: heat.map((row) => row.map((v) => round(v))),
      running,
      desired,
      nodes: [...this.nodes].map(([name, roles]): NodeRow => ({ name, roles: [...roles].sort() })).sort((a, b) => a.name.localeCompare(b.name)),
      actors: actors.map((a) => this.row(a)),
      traffic: full ? [...this.traffic] : this.traffic.slice(-1),
      events: full ? [...this.timeline] : [],
    };
  }

  /** Who the placement wants: the controller's record, else every actor not retiring (supervisors restart the others). */
  private desiredActors(): { experts: string[] }[] {
    return this.desired?.actors ?? [...this.actors.values()].filter((a) => a.state !== 'retiring');
  }

  private roles(node: string): Set<'gate' | 'supervisor'> {
    let roles = this.nodes.get(node);
    if (!roles) this.nodes.set(node, (roles = new Set()));
    return roles;
  }

  /** An actor in `state`, keeping what was known of it (restarts, load). */
  private fresh(a: DiscoveredActor, state: ActorState, known?: Actor): Actor {
    return {
      instance: a.instance,
      node: a.node,
      state,
      experts: a.experts.length > 0 ? [...a.experts] : (known?.experts ?? []),
      busy: known?.busy ?? null,
      rowsPerSec: known?.rowsPerSec ?? null,
      restarts: known?.restarts ?? 0,
      since: known?.state === state ? known.since : this.now(),
      suspectedUntil: 0,
      absent: 0,
    };
  }

  private row(a: Actor): ActorRow {
    const { suspectedUntil: _s, absent: _a, ...row } = a;
    return { ...row, experts: [...row.experts] };
  }

  private note(kind: TimelineKind, about: string, text: string): TimelineEvent {
    const event = { at: this.now(), kind, about, text };
    this.timeline.push(event);
    if (this.timeline.length > TIMELINE_LENGTH) this.timeline.splice(0, this.timeline.length - TIMELINE_LENGTH);
    return event;
  }
}

const nullable = (v: number | null) => (v === null ? null : round(v));
