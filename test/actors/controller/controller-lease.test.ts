// One active controller per model: the lease on a JetStream KV key (real nats-server), and where new actors go.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatExpertKey } from '../../../model/expert-key.js';
import { Lease } from '../../../actors/controller/lease.js';
import { locate, runningPlacement } from '../../../actors/controller/nodes.js';
import { PlacementStoreError } from '../../../actors/protocol/errors.js';
import { PlacementStore } from '../../../actors/protocol/placement-store.js';
import { useNatsServer } from '../../helpers/nats.js';

const storeDir = mkdtempSync(join(tmpdir(), 'eaas-js-lease-'));
afterAll(() => rmSync(storeDir, { recursive: true, force: true }));

describe('controller lease', () => {
  const nats = useNatsServer({ jetstream: { storeDir } });

  it('has one holder; a standby takes over only after the lease stood still for a whole lease', async () => {
    const store = await PlacementStore.open(await nats.connect(), 'lease_a', { create: true });
    let t = 0;
    const a = new Lease(store, 'a', 1000, () => t);
    const b = new Lease(store, 'b', 1000, () => t);
    expect(await a.tick()).toBe(true);
    expect(await b.tick()).toBe(false);
    t = 900;
    expect(await a.tick()).toBe(true); // renewed: the revision moved
    expect(await b.tick()).toBe(false);
    t = 1800;
    expect(await b.tick()).toBe(false); // 900 ms since b saw this revision: not yet
    // a stops renewing (dies); a whole lease after b last saw the revision move, b takes it
    t = 2000;
    expect(await b.tick()).toBe(true);
    expect((await store.lease())?.record.holder).toBe('b');
    // a comes back and finds it lost: its compare-and-set fails
    expect(await a.tick()).toBe(false);
    expect(b.leader).toBe(true);
  });

  it('lets only one of two standbys win a stale lease', async () => {
    const store = await PlacementStore.open(await nats.connect(), 'lease_b', { create: true });
    let t = 0;
    const dead = new Lease(store, 'dead', 1000, () => t);
    await dead.tick();
    const [b, c] = [new Lease(store, 'b', 1000, () => t), new Lease(store, 'c', 1000, () => t)];
    await Promise.all([b.tick(), c.tick()]);
    t = 1000;
    const won = await Promise.all([b.tick(), c.tick()]);
    expect(won.filter(Boolean)).toHaveLength(1);
  });

  it('steps down when the KV cannot be reached for half a lease', async () => {
    const nc = await nats.connect();
    const store = await PlacementStore.open(nc, 'lease_c', { create: true });
    let t = 0;
    const a = new Lease(store, 'a', 1000, () => t);
    expect(await a.tick()).toBe(true);
    await store.kv.destroy(); // every renewal now fails
    t = 400;
    expect(await a.tick()).toBe(true);
    t = 600;
    expect(await a.tick()).toBe(false);
  });
});

describe('the placement bucket, missing', () => {
  const jetstream = useNatsServer({ jetstream: { storeDir } });
  const plain = useNatsServer();

  it('says a model has no bucket, and a server has no JetStream, in one line each', async () => {
    await expect(PlacementStore.open(await jetstream.connect(), 'nowhere')).rejects.toThrow(new PlacementStoreError('model nowhere has no placement bucket eaas_placement_nowhere: is it served with --autoscale?'));
    await expect(PlacementStore.open(await plain.connect(), 'm', { create: true })).rejects.toThrow(/^the NATS server has no JetStream: .* \(run nats-server with JetStream, e\.g\. -js\)$/);
  });
});

describe('where actors run', () => {
  const actual = (node: string, indices: number[], revision = 0) => ({
    node,
    revision,
    at: 0,
    actors: indices.map((index) => ({ index, group: index, instance: `${node}-e${index}`, experts: [formatExpertKey({ layer: 0, expert: index })] })),
  });

  it('reads the running placement from every supervisor, making repeated indices unique and taking the lowest revision', () => {
    const { placement, where } = runningPlacement([actual('b', [0, 1], 3), actual('a', [0, 1], 2)]);
    expect(placement.revision).toBe(2);
    expect(placement.actors.map((a) => a.index)).toEqual([0, 1, 2, 3]);
    expect([...where.entries()].sort((x, y) => x[0] - y[0]).map(([i, w]) => `${i}=${w.instance}`)).toEqual(['0=a-e0', '1=a-e1', '2=b-e0', '3=b-e1']);
  });

  it('keeps an actor where it runs and puts a new one on the live node running the fewest', () => {
    const { where } = runningPlacement([actual('a', [0, 1, 2]), actual('b', [3])]);
    const desired = [0, 1, 3, 7, 8].map((index) => ({ index, group: index, experts: [{ layer: 0, expert: index }] }));
    const placed = locate(desired, where, ['a', 'b']);
    expect(placed.map((a) => `${a.index}@${a.node}:${a.instance}`)).toEqual(['0@a:a-e0', '1@a:a-e1', '3@b:b-e3', '7@b:b-e7', '8@a:a-e8']);
    // a node gone: its actor moves to a live one under a new name
    expect(locate(desired.slice(2, 3), where, ['a'])[0]).toMatchObject({ node: 'a', instance: 'a-e3' });
  });
});
