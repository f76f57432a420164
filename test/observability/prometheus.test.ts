// A real Prometheus server (Debian package `prometheus`) scrapes a running front and a node's own /metrics, and
// answers queries on their metrics.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Checkpoint } from '../../model/checkpoint.js';
import { policyConfig } from '../../actors/controller/policy.js';
import { PlacementStore } from '../../actors/protocol/placement-store.js';
import { startNode, type RunningNode } from '../../runtime/node/cluster.js';
import { ensureBuilt } from '../helpers/build.js';
import { withEnv } from '../helpers/env.js';
import { useNatsServer } from '../helpers/nats.js';
import { tinyCheckpointDir } from '../helpers/tiny-model.js';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

type Series = { metric: Record<string, string>; value: [number, string] };

describe('Prometheus scraping the front and the node', () => {
  const storeDir = mkdtempSync(join(tmpdir(), 'eaas-prom-js-'));
  const nats = useNatsServer({ jetstream: { storeDir } });
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let node: RunningNode;
  let prometheus: ChildProcess;
  let dir: string;
  let promUrl: string;

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    // a controller whose policy wants at most 4 experts per actor: the static start (2 actors of 8) is repaired into
    // 4 actors once, and nothing changes after (no scaling, no rebalance), so balancedness compares 4 actors;
    // reports often, so the test need not wait
    const placementPolicy = policyConfig({ minReplicas: 1, perActor: 4, minIntervalMs: 3_600_000, upDelayMs: 3_600_000, downDelayMs: 3_600_000 }, 'test policy');
    node = await withEnv({ EAAS_METRICS_PORT: '0', EAAS_LOAD_REPORT_MS: '200', EAAS_HEDGE: '0', EAAS_CONTROLLER_TICK_MS: '300' }, () =>
      startNode({ nats: nats.url, modelDir: tiny.dir, roles: ['controller', 'supervisor', 'gate', 'api'], node: 'prom', replicas: 1, expertsPerActor: 8, httpPort: 0, followPlacement: true, placementPolicy }),
    );
    const store = await PlacementStore.open(node.nc, node.model);
    await vi.waitFor(async () => expect((await store.controller())?.lastChange?.durationMs).toBeGreaterThan(0), { timeout: 30_000, interval: 200 });
    dir = mkdtempSync(join(tmpdir(), 'eaas-prom-'));
    const front = new URL(node.api!.url).host;
    const own = new URL(node.metrics!.url).host;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: eaas\n    static_configs:\n      - targets: ['${front}']\n  - job_name: eaas-node\n    static_configs:\n      - targets: ['${own}']\n`,
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  });
  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    await node?.stop();
    tiny?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
    rmSync(storeDir, { recursive: true, force: true });
  });

  const query = async (q: string): Promise<Series[]> => {
    const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await r.json()) as { data: { result: Series[] } };
    return body.data.result;
  };
  const value = (s: Series | undefined) => (s === undefined ? undefined : Number(s.value[1]));

  it('scrapes the generated tokens and answers a query on them', async () => {
    const res = await fetch(`${node.api!.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: [1, 2, 3], max_tokens: 7, ignore_eos: true }) });
    expect(res.status).toBe(200);
    const q = `eaas:generation_tokens_total{model_name="${node.model}"}`;
    await vi.waitFor(async () => expect((await query(q).catch(() => []))[0]?.value[1]).toBe('7'), { timeout: 30_000, interval: 500 });
    const [series] = await query(q);
    expect(series.metric).toMatchObject({ job: 'eaas', model_name: node.model });
  });

  it("scrapes the node's load: tokens per expert, each actor's busy fraction and rows, and the balance", async () => {
    // the request of the test above: 3 prompt tokens and 6 generated ones go through each MoE layer to top-k experts
    const ckpt = Checkpoint.open(tiny.dir);
    const { numHiddenLayers, numExpertsPerTok, numLocalExperts } = ckpt.config;
    ckpt.close();
    const expected = (3 + 7 - 1) * numHiddenLayers * numExpertsPerTok;
    const job = `job="eaas-node",model_name="${node.model}"`;
    await vi.waitFor(async () => expect(value((await query(`sum(eaas:expert_actor_rows{${job}})`).catch(() => []))[0])).toBe(expected), { timeout: 30_000, interval: 500 });

    const tokens = await query(`eaas:expert_tokens_total{${job}}`);
    expect(tokens.reduce((a, s) => a + Number(s.value[1]), 0)).toBe(expected);
    for (const s of tokens) {
      expect(Number(s.metric.layer)).toBeLessThan(numHiddenLayers);
      expect(Number(s.metric.expert)).toBeLessThan(numLocalExperts);
    }
    // the front's /metrics shows the same counter: one registry per process
    expect(value((await query(`sum(eaas:expert_tokens_total{job="eaas",model_name="${node.model}"})`))[0])).toBe(expected);

    const instances = node.supervisor!.status().children.map((c) => c.instance).sort();
    expect(instances).toHaveLength(4); // after the repair: 16 experts, 4 per actor
    const busy = await query(`eaas:expert_actor_busy_fraction{${job}}`);
    expect(busy.map((s) => s.metric.actor).sort()).toEqual(instances);
    for (const s of busy) {
      expect(Number(s.value[1])).toBeGreaterThan(0);
      expect(Number(s.value[1])).toBeLessThan(1);
    }

    const rows = (await query(`eaas:expert_actor_rows{${job}}`)).map((s) => Number(s.value[1]));
    const balance = value((await query(`eaas:eplb_balancedness{${job}}`))[0]);
    expect(balance).toBeCloseTo(rows.reduce((a, b) => a + b, 0) / rows.length / Math.max(...rows), 6);
  });

  it("scrapes the gate's engine: its batch and queue, the KV cache in use, and each sequence's queue time", async () => {
    const job = `job="eaas-node",model_name="${node.model}",node="prom"`;
    // the first test's request waited once in the gate's queue; nothing runs now
    await vi.waitFor(async () => expect(value((await query(`eaas:request_queue_time_seconds_count{job="eaas-node",model_name="${node.model}"}`).catch(() => []))[0])).toBe(1), { timeout: 30_000, interval: 500 });
    expect(value((await query(`eaas:gate_num_requests_running{${job}}`))[0])).toBe(0);
    expect(value((await query(`eaas:gate_num_requests_waiting{${job}}`))[0])).toBe(0);
    expect(value((await query(`eaas:kv_cache_usage_perc{${job}}`))[0])).toBe(0);
  });

  it("scrapes the controller's rebalances: how many, why, and how long they took", async () => {
    const job = `job="eaas",model_name="${node.model}"`;
    await vi.waitFor(async () => expect(value((await query(`eaas:rebalances_total{${job},reason="repair"}`).catch(() => []))[0])).toBe(1), { timeout: 30_000, interval: 500 });
    expect(value((await query(`eaas:rebalance_duration_seconds_count{${job}}`))[0])).toBe(1);
    const seconds = value((await query(`eaas:rebalance_duration_seconds_sum{${job}}`))[0])!;
    const record = (await (await PlacementStore.open(node.nc, node.model)).controller())!;
    expect(seconds).toBeCloseTo(record.lastChange!.durationMs! / 1000, 6);
  });
});
