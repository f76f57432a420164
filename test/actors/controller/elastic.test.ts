// Elastic experts with real processes: the controller follows the load (scale out under load, in when it falls),
// supervisors carry each placement out make before break, and every answer equals the monolith's throughout.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { policyConfig } from '../../../actors/controller/policy.js';
import { requestGenerate } from '../../../actors/gate/client.js';
import { PlacementStore, type DesiredRecord } from '../../../actors/protocol/placement-store.js';
import type { GenerateResult } from '../../../model/engine.js';
import { formatExpertKey } from '../../../model/expert-key.js';
import { startNode, type RunningNode } from '../../../runtime/node/cluster.js';
import { ensureBuilt } from '../../helpers/build.js';
import { withEnv } from '../../helpers/env.js';
import { useNatsServer } from '../../helpers/nats.js';
import { monolithicReference } from '../../helpers/reference.js';
import { tinyCheckpointDir } from '../../helpers/tiny-model.js';

const storeDir = mkdtempSync(join(tmpdir(), 'eaas-js-test-'));
const PROMPTS = [[1, 2, 3, 4, 5], [9, 8, 7], [42, 17, 3, 99, 100, 7], [300, 1]];
const MAX_TOKENS = 12;

describe('elastic placement', () => {
  const nats = useNatsServer({ jetstream: { storeDir } });
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let node: RunningNode;
  let reference: GenerateResult[];
  const log: string[] = [];

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    reference = await monolithicReference(tiny.dir, PROMPTS, { maxTokens: MAX_TOKENS, stopAtEos: false });
    // a target busy fraction any load passes, no delays: the test sees scale-out under load and scale-in once it stops.
    // Low: with the machine's other core taken, the gate's thread bounds the load and 4 workers keep the actors only
    // 4-6 % busy (a target of 0.05 ± 0.01 then never scaled out)
    const policy = policyConfig({ targetBusy: 0.025, busyBand: 0.01, upDelayMs: 0, downDelayMs: 0, minIntervalMs: 0, maxActors: 6 }, 'test policy');
    node = await withEnv({ EAAS_LOAD_REPORT_MS: '300', EAAS_LOAD_WINDOW_MS: '2000', EAAS_CONTROLLER_TICK_MS: '500', EAAS_LEASE_MS: '1000' }, () =>
      startNode({ nats: nats.url, modelDir: tiny.dir, roles: ['supervisor', 'gate', 'controller'], node: 'elastic', followPlacement: true, placementPolicy: policy, log: (l) => log.push(l) }),
    );
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
    tiny?.remove();
    rmSync(storeDir, { recursive: true, force: true });
  });

  it('scales out under load and in when the load falls, make before break, with every answer equal to the monolith', async () => {
    const client = await nats.connect();
    const store = await PlacementStore.open(client, node.model);
    const seen: DesiredRecord[] = [];
    void (async () => {
      for await (const d of store.watchDesired()) seen.push(d);
    })();
    expect(node.supervisor!.hosted()).toHaveLength(4); // 16 experts, 2 replicas, 8 per actor

    let load = true;
    // a failed expectation must not leave the workers running: they would spin on the closed connection and
    // block the test worker for good (they did once, under load)
    onTestFinished(() => {
      load = false;
    });
    /** Workers above this number stop: the load falls to one worker with a pause between its requests. */
    let active = 4;
    let served = 0;
    const failures: string[] = [];
    const worker = async (w: number) => {
      for (let i = w; load && w < active; i++) {
        const k = i % PROMPTS.length;
        try {
          const r = await requestGenerate(client, node.model, { prompt: PROMPTS[k], max_tokens: MAX_TOKENS, stop_at_eos: false });
          if (JSON.stringify(r.tokens) !== JSON.stringify(reference[k].tokens)) failures.push(`prompt ${k}: ${r.tokens} != ${reference[k].tokens}`);
          served++;
        } catch (err) {
          failures.push((err as Error).message);
          if (client.isClosed()) return;
        }
        if (active === 1) await new Promise((r) => setTimeout(r, 100));
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    await vi.waitFor(() => expect(seen.some((d) => d.reason === 'scale-up')).toBe(true), { timeout: 45_000, interval: 200 });
    const up = seen.find((d) => d.reason === 'scale-up')!;
    expect(up.actors.length).toBeGreaterThan(4);
    // carried out: the supervisor runs exactly the actors of that revision (or a later one)
    await vi.waitFor(async () => {
      const [{ record: actual }] = await store.actuals();
      expect(actual.revision).toBeGreaterThanOrEqual(up.revision);
    }, { timeout: 45_000, interval: 200 });
    const servedAtScaleUp = served;
    // the load falls to a trickle: busy falls below the band and the controller gives actors back, down to what
    // 2 replicas need, while requests keep coming
    active = 1;
    await vi.waitFor(() => expect(seen.some((d) => d.reason === 'scale-down' && d.actors.length === 4)).toBe(true), { timeout: 60_000, interval: 200 });
    const down = seen.find((d) => d.reason === 'scale-down' && d.actors.length === 4)!;
    expect(down.revision).toBeGreaterThan(up.revision);
    await vi.waitFor(async () => {
      const [{ record: actual }] = await store.actuals();
      expect(actual.revision).toBeGreaterThanOrEqual(down.revision);
      expect(actual.actors.map((a) => a.instance).sort()).toEqual(down.actors.map((a) => a.instance).sort());
    }, { timeout: 45_000, interval: 200 });
    const servedAtScaleDown = served;
    await new Promise((r) => setTimeout(r, 500));
    load = false;
    await Promise.all(workers);
    expect(failures).toEqual([]);
    // requests were served while the placement grew and while it shrank
    expect(servedAtScaleDown).toBeGreaterThan(servedAtScaleUp);
    // with no delays and a low target the trickle may have scaled out again meanwhile; with no load left the
    // placement settles at what 2 replicas need, and the supervisor runs exactly its newest revision
    await vi.waitFor(() => {
      const last = seen.at(-1)!;
      expect(last.actors).toHaveLength(4);
      expect(node.supervisor!.hosted().map((c) => c.instance).sort()).toEqual(last.actors.map((a) => a.instance).sort());
    }, { timeout: 60_000, interval: 200 });

    // still serving, still exact, after the scale-in
    const after = await Promise.all(PROMPTS.map((prompt) => requestGenerate(client, node.model, { prompt, max_tokens: MAX_TOKENS, stop_at_eos: false })));
    expect(after.map((r) => r.tokens)).toEqual(reference.map((r) => r.tokens));
    const record = await store.controller();
    expect(record?.leader).toBe('elastic');
    expect(record?.lastChange?.revision).toBe(seen.at(-1)!.revision);
    expect(log.some((l) => /placement revision \d+ \(scale-up\): started [1-9]/.test(l))).toBe(true);
  }, 240_000);
});

describe('a supervisor and the placement bucket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eaas-js-test-'));
  const nats = useNatsServer({ jetstream: { storeDir: dir } });
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let reference: GenerateResult[];
  afterAll(() => {
    tiny?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts (or restarts) with its share of the desired placement, and keeps serving when the bucket goes away', async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    reference = await monolithicReference(tiny.dir, PROMPTS, { maxTokens: MAX_TOKENS, stopAtEos: false });
    const client = await nats.connect();
    const model = 'tiny';
    const store = await PlacementStore.open(client, model, { create: true });
    // what a controller wrote before this supervisor (re)started: 3 actors of its node, one of another node
    const experts = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => formatExpertKey({ layer: Math.floor((from + i) / 8), expert: (from + i) % 8 }));
    const actors = [
      { index: 7, group: 7, node: 'late', instance: 'late-e7', experts: experts(0, 16) },
      { index: 8, group: 8, node: 'late', instance: 'late-e8', experts: experts(0, 8) },
      { index: 9, group: 9, node: 'late', instance: 'late-e9', experts: experts(8, 16) },
      { index: 10, group: 10, node: 'gone', instance: 'gone-e10', experts: experts(0, 16) },
    ];
    await store.writeDesired({ revision: 5, actors, reason: 'rebalance', detail: 'written by the test', at: Date.now() }, 0);
    const node = await startNode({ nats: nats.url, modelDir: tiny.dir, roles: ['supervisor', 'gate'], node: 'late', followPlacement: true });
    try {
      expect(node.supervisor!.hosted().map((c) => c.instance).sort()).toEqual(['late-e7', 'late-e8', 'late-e9']);
      const [{ record: actual }] = await store.actuals();
      expect(actual).toMatchObject({ node: 'late', revision: 5 });
      expect(actual.actors.map((a) => `${a.instance}:${a.experts.length}`).sort()).toEqual(['late-e7:16', 'late-e8:8', 'late-e9:8']);
      const ask = () => Promise.all(PROMPTS.map((prompt) => requestGenerate(client, model, { prompt, max_tokens: MAX_TOKENS, stop_at_eos: false })));
      expect((await ask()).map((r) => r.tokens)).toEqual(reference.map((r) => r.tokens));

      // the bucket is gone (the KV unavailable): nothing changes and serving goes on
      await store.kv.destroy();
      await new Promise((r) => setTimeout(r, 1_000));
      expect((await ask()).map((r) => r.tokens)).toEqual(reference.map((r) => r.tokens));
      expect(node.supervisor!.hosted().map((c) => c.instance).sort()).toEqual(['late-e7', 'late-e8', 'late-e9']);
    } finally {
      await node.stop();
    }
  }, 60_000);
});
