// The controller's face to tools: the placement as the KV bucket holds it, desired next to actual, with the load behind it.
import type { NatsConnection } from 'nats';
import { formatExpertKey } from '../../model/expert-key.js';
import { ACTUAL_STALE_MS, PlacementStore, type ActualRecord, type ControllerRecord, type DesiredRecord } from '../protocol/placement-store.js';

export interface PlacementView {
  model: string;
  desired: DesiredRecord | null;
  /** Every supervisor's record, with whether it is fresh (a stale one is a node gone). */
  actual: (ActualRecord & { stale: boolean })[];
  controller: ControllerRecord | null;
  /** One row per actor desired or running: where it is wanted, where it runs, its busy fraction and experts. */
  actors: { instance: string; node: string; desired: boolean; running: boolean; busy: number | null; experts: string[] }[];
  /** Tokens routed per expert over the controller's last window, with its desired and running replicas. */
  experts: { id: string; tokens: number; desiredReplicas: number; runningReplicas: number }[];
}

export async function placementView(nc: NatsConnection, model: string, now = Date.now()): Promise<PlacementView> {
  const store = await PlacementStore.open(nc, model);
  const desired = (await store.desired())?.record ?? null;
  // a one-shot view has no history of revisions: it reads the supervisor's own time (display only; the controller does not)
  const actual = (await store.actuals()).map(({ record: a }) => ({ ...a, stale: now - a.at >= ACTUAL_STALE_MS }));
  const controller = await store.controller();
  const busy = new Map(controller?.load.actors.map((a) => [a.instance, a.busy]) ?? []);
  const rows = new Map<string, PlacementView['actors'][number]>();
  for (const a of desired?.actors ?? []) rows.set(a.instance, { instance: a.instance, node: a.node, desired: true, running: false, busy: busy.get(a.instance) ?? null, experts: a.experts });
  for (const r of actual.filter((x) => !x.stale)) {
    for (const a of r.actors) {
      const row = rows.get(a.instance) ?? { instance: a.instance, node: r.node, desired: desired === null, running: false, busy: busy.get(a.instance) ?? null, experts: a.experts };
      rows.set(a.instance, { ...row, running: true });
    }
  }
  const actors = [...rows.values()].sort((a, b) => a.node.localeCompare(b.node) || a.instance.localeCompare(b.instance, undefined, { numeric: true }));
  const tokens = new Map(controller?.load.experts.map((e) => [formatExpertKey(e), e.tokens]) ?? []);
  const ids = new Set([...tokens.keys(), ...actors.flatMap((a) => a.experts)]);
  const count = (id: string, pick: (a: PlacementView['actors'][number]) => boolean) => actors.filter((a) => pick(a) && a.experts.includes(id)).length;
  const experts = [...ids]
    .map((id) => ({ id, tokens: tokens.get(id) ?? 0, desiredReplicas: count(id, (a) => a.desired), runningReplicas: count(id, (a) => a.running) }))
    .sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
  return { model, desired, actual, controller, actors, experts };
}
