// A supervisor following the desired placement in the KV bucket, make before break: it starts the actors the
// placement gives its node, waits until every gate routes to them, then drains and retires the actors the
// placement no longer has, and records what it runs. Without the KV it keeps what runs and serving goes on.
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from 'nats';
import { formatExpertKey, parseExpertKey } from '../../model/expert-key.js';
import { gateRoutes } from '../gate/client.js';
import { ACTUAL_REFRESH_MS, type ActualRecord, type DesiredRecord, type PlacementStore } from '../protocol/placement-store.js';
import type { ChildSpec, SupervisorActor } from './supervisor.js';

/** How long new actors may take to reach every gate's routes before the old ones are retired anyway (a gate that lags waits for a replica). */
export const ROUTE_WAIT_MS = 10_000;
const ROUTE_POLL_MS = 200;
/** A node stopping waits this long at most for the placement being carried out. */
const STOP_WAIT_MS = 5_000;

const toSpec = (a: DesiredRecord['actors'][number]): ChildSpec => ({
  index: a.index,
  group: a.group,
  instance: a.instance,
  experts: a.experts.map(parseExpertKey),
});

/** The children a node starts with: its share of the desired placement when there is one, else its static placement (revision 0). */
export function initialChildren(node: string, desired: DesiredRecord | null, fallback: ChildSpec[]): { revision: number; children: ChildSpec[] } {
  if (!desired) return { revision: 0, children: fallback };
  return { revision: desired.revision, children: desired.actors.filter((a) => a.node === node).map(toSpec) };
}

export interface FollowerOptions {
  nc: NatsConnection;
  model: string;
  node: string;
  store: PlacementStore;
  supervisor: SupervisorActor;
  /** The desired revision the supervisor's children were started from. */
  revision: number;
  /** A line for the log (a placement change carried out, an actor kept because it still held a last replica). */
  log?: (line: string) => void;
}

export class PlacementFollower {
  private revision: number;
  /** The last placement carried out (or tried). */
  private last?: DesiredRecord;
  private lastLine = '';
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** Ends the wait between two watches at once when the follower stops (the process would otherwise linger for it). */
  private readonly stopping = new AbortController();
  /** The newest placement not yet carried out; reconciling takes the newest, skipping those superseded meanwhile. */
  private next?: DesiredRecord;
  private working?: Promise<void>;

  constructor(private readonly o: FollowerOptions) {
    this.revision = o.revision;
  }

  async start(): Promise<void> {
    await this.record();
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), ACTUAL_REFRESH_MS);
    void this.follow();
  }

  /** Rewrites the record, and finishes the last placement if part of it could not be carried out (an old actor kept for a last replica, a new one given up). */
  private async refresh(): Promise<void> {
    const last = this.last;
    if (!this.working && last && !this.matches(last)) {
      this.next ??= last;
      this.working = this.drain();
    }
    await this.record();
  }

  /** Whether the supervisor hosts exactly this node's share of `d`. */
  private matches(d: DesiredRecord): boolean {
    const mine = d.actors.filter((a) => a.node === this.o.node).map((a) => a.instance).sort();
    const hosted = this.o.supervisor.hosted().map((c) => c.instance).sort();
    return mine.join(',') === hosted.join(',');
  }

  private async follow(): Promise<void> {
    while (!this.stopped) {
      try {
        for await (const d of this.o.store.watchDesired()) {
          if (this.stopped) return;
          if (d.revision <= this.revision) continue;
          this.next = d;
          this.working ??= this.drain();
        }
      } catch {
        // the watch ended with the KV unreachable: keep what runs and watch again
      }
      await sleep(ACTUAL_REFRESH_MS, undefined, { signal: this.stopping.signal }).catch(() => undefined);
    }
  }

  private async drain(): Promise<void> {
    while (this.next && !this.stopped) {
      const d = this.next;
      this.next = undefined;
      await this.reconcile(d).catch((err: Error) => this.o.log?.(`placement revision ${d.revision} not carried out: ${err.message}`));
    }
    this.working = undefined;
  }

  /** One placement change, make before break. */
  async reconcile(d: DesiredRecord): Promise<void> {
    const { supervisor, node } = this.o;
    const mine = d.actors.filter((a) => a.node === node).map(toSpec);
    // what runs now: each instance with its expert set
    const hosted = new Map(supervisor.hosted().map((c) => [c.instance, c.experts.map(formatExpertKey).join(',')]));
    const wanted = new Set(mine.map((c) => c.instance));
    for (const c of mine.filter((x) => hosted.has(x.instance) && hosted.get(x.instance) !== x.experts.map(formatExpertKey).join(','))) {
      // names are never reused for another expert set; if one is, the running actor stays as it is
      this.o.log?.(`placement revision ${d.revision} wants ${c.instance} with other experts than it runs: keeping what runs`);
    }
    const started = await supervisor.add(mine.filter((c) => !hosted.has(c.instance)));
    await this.routed(started.map((c) => c.instance));
    let retired = 0;
    const kept: string[] = [];
    const everywhere = new Set(d.actors.map((a) => a.instance));
    for (const instance of [...hosted.keys()].filter((i) => !wanted.has(i))) {
      // an actor that still holds the last replica of an expert stays until it is covered (retried every refresh)
      await supervisor.retireCovered(instance, [...wanted], everywhere).then(
        () => retired++,
        (err: Error) => kept.push(`${instance} (${err.message})`),
      );
    }
    this.revision = d.revision;
    this.last = d;
    await this.record();
    const line = `placement revision ${d.revision} (${d.reason}): started ${started.length}, retired ${retired}${kept.length ? `, kept ${kept.join('; ')}` : ''}`;
    // a retry that changed nothing says nothing new
    if (line !== this.lastLine) this.o.log?.(line);
    this.lastLine = line;
  }

  /** Waits until every gate of the model routes to `instances`, at most ROUTE_WAIT_MS. */
  private async routed(instances: string[]): Promise<void> {
    if (instances.length === 0) return;
    const deadline = Date.now() + ROUTE_WAIT_MS;
    while (Date.now() < deadline) {
      const gates = await gateRoutes(this.o.nc, this.o.model).catch(() => []);
      // no answer is no news: a busy gate may miss the discovery window
      if (gates.length > 0 && gates.every((routes) => instances.every((i) => routes.includes(i)))) return;
      await new Promise((r) => setTimeout(r, ROUTE_POLL_MS));
    }
  }

  private async record(): Promise<void> {
    const actors: ActualRecord['actors'] = this.o.supervisor.hosted().map((c) => ({ index: c.index, group: c.group, instance: c.instance, experts: c.experts.map(formatExpertKey) }));
    await this.o.store.writeActual({ node: this.o.node, revision: this.revision, actors, at: Date.now() });
  }

  /** Follows no more placements and waits a little for the one being carried out, so the node stops after it. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.next = undefined;
    clearInterval(this.timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.working, new Promise((r) => (timer = setTimeout(r, STOP_WAIT_MS)))]);
    clearTimeout(timer);
  }
}
