// Feeds the dashboard's view from NATS (events, load reports, pulses, reconnects), discovery now and then, and the
// placement bucket when there is one; tells its listeners each event at once and the whole picture every second.
import type { NatsConnection, Subscription } from 'nats';
import { serviceInfos } from '../../runtime/transport/discovery.js';
import { decodeMessage } from '../../runtime/transport/codec.js';
import { decodeActorLoad, decodeEvent, decodeGatePulse, decodeGateReconnected, decodeLoadReport } from '../protocol/messages.js';
import { PlacementStore } from '../protocol/placement-store.js';
import { EXPERT_SERVICE, GATE_SERVICE, SUPERVISOR_SERVICE } from '../protocol/services.js';
import { NODE_EVENT } from '../../runtime/transport/subjects.js';
import type { LiveEvent, Snapshot } from './snapshot.js';
import { ClusterView } from './view.js';
import { watchedSubjects } from './watched.js';

/** Discovery fills in actors that came up before the feed did, and finds those gone without an event. */
export const DISCOVERY_EVERY_MS = 5_000;
/** The picture goes out this often (the page asks for no more than about once a second). */
const TICK_MS = 1_000;
/** With no placement bucket (no --autoscale), or no right to read it, the feed looks again this often. */
const PLACEMENT_RETRY_MS = 30_000;

export type Listener = (m: { kind: 'snapshot'; snapshot: Snapshot } | { kind: 'event'; live: LiveEvent }) => void;

export interface FeedOptions {
  nc: NatsConnection;
  model: string;
  /** The grid's size from the checkpoint's config; without it, what is seen. */
  dims?: { layers: number; experts: number };
  discoveryMs?: number;
}

export class DashboardFeed {
  readonly view: ClusterView;
  private readonly listeners = new Set<Listener>();
  private readonly subs: Subscription[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly stopping = new AbortController();
  private retry?: NodeJS.Timeout;

  private constructor(private readonly o: FeedOptions) {
    this.view = new ClusterView(o.model, o.dims);
  }

  /** Subscribes, runs a first discovery (so the first picture has the actors), then follows. */
  static async start(o: FeedOptions): Promise<DashboardFeed> {
    const feed = new DashboardFeed(o);
    feed.follow();
    await feed.discover();
    feed.timers.push(setInterval(() => void feed.discover(), o.discoveryMs ?? DISCOVERY_EVERY_MS));
    feed.timers.push(setInterval(() => feed.tick(), TICK_MS));
    // the placement lives in JetStream: a server without it has none (and a secure one gives no right to ask)
    if (o.nc.info?.jetstream) void feed.watchPlacement();
    return feed;
  }

  /** Adds a listener and hands it the picture now; returns its removal. */
  listen(fn: Listener): () => void {
    this.listeners.add(fn);
    fn({ kind: 'snapshot', snapshot: this.view.snapshot() });
    return () => this.listeners.delete(fn);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.retry);
    for (const t of this.timers) clearInterval(t);
    for (const s of this.subs) s.unsubscribe();
    this.listeners.clear();
  }

  private follow(): void {
    const w = watchedSubjects(this.o.model);
    this.on(w.events, (data, subject) => {
      // eaas.v1.<model>.events.<kind>.<node>.<instance>
      const [kind, node, instance] = subject.split('.').slice(-3);
      if (kind === 'escalated' && instance === NODE_EVENT) {
        const m = decodeMessage(data) as { reason?: unknown };
        return [this.view.escalated(node, typeof m?.reason === 'string' ? m.reason : 'a restart group exceeded its intensity')];
      }
      return [this.view.instanceEvent(decodeEvent(data))];
    });
    this.on(w.gateLoads, (data) => (this.view.gateLoad(decodeLoadReport(data)), []));
    this.on(w.actorLoads, (data) => (this.view.actorLoad(decodeActorLoad(data)), []));
    this.on(w.pulses, (data) => this.view.pulse(decodeGatePulse(data)));
    this.on(w.reconnects, (data, subject) => [this.view.gateReconnected(subject.split('.').slice(-2)[0], decodeGateReconnected(data).down_ms)]);
  }

  /** A subscription whose messages change the view; what they give is told to the listeners. A malformed one is dropped. */
  private on(subject: string, apply: (data: Uint8Array, subject: string) => LiveEvent[]): void {
    this.subs.push(
      this.o.nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          let out: LiveEvent[];
          try {
            out = apply(msg.data, msg.subject);
          } catch {
            return;
          }
          for (const live of out) this.tell({ kind: 'event', live });
        },
      }),
    );
  }

  private async discover(): Promise<void> {
    try {
      const ofModel = <T extends { metadata?: Record<string, string> }>(xs: T[]) => xs.filter((x) => x.metadata?.model === this.o.model);
      const [experts, gates, supervisors] = await Promise.all([EXPERT_SERVICE, GATE_SERVICE, SUPERVISOR_SERVICE].map((s) => serviceInfos(this.o.nc, s, true).then(ofModel)));
      if (this.stopping.signal.aborted) return;
      const actors = experts.map((i) => ({ instance: i.metadata!.instance ?? i.id, node: i.metadata!.node ?? '', experts: (i.metadata!.experts ?? '').split(',').filter(Boolean) }));
      const nodes = [
        ...gates.map((i) => ({ name: i.metadata!.node ?? '', role: 'gate' as const })),
        ...supervisors.map((i) => ({ name: i.metadata!.node ?? '', role: 'supervisor' as const })),
      ].filter((n) => n.name !== '');
      for (const live of this.view.discovered(actors, nodes)) this.tell({ kind: 'event', live });
    } catch {
      // discovery failed this time (a reconnect, say): the next one heals it
    }
  }

  /** Follows the controller's desired placement; with no bucket (no --autoscale) it looks again later. */
  private async watchPlacement(): Promise<void> {
    const { signal } = this.stopping;
    while (!signal.aborted && !this.o.nc.isClosed()) {
      try {
        const store = await PlacementStore.open(this.o.nc, this.o.model);
        for await (const d of store.watchDesired(signal)) this.tell({ kind: 'event', live: this.view.placement(d) });
      } catch {
        // no bucket, no JetStream, or no right to read it: nothing to show yet
      }
      if (signal.aborted) return;
      await new Promise((r) => (this.retry = setTimeout(r, PLACEMENT_RETRY_MS).unref()));
    }
  }

  private tick(): void {
    this.view.tick();
    if (this.listeners.size > 0) this.tell({ kind: 'snapshot', snapshot: this.view.snapshot(false) });
  }

  private tell(m: Parameters<Listener>[0]): void {
    for (const fn of this.listeners) fn(m);
  }
}
