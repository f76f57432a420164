// A real Prometheus server (Debian package `prometheus`) scrapes a running front and answers a query on its metrics.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startNode, type RunningNode } from '../runtime/node/cluster.js';
import { ensureBuilt } from './helpers/build.js';
import { useNatsServer } from './helpers/nats.js';
import { tinyCheckpointDir } from './helpers/tiny-model.js';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

describe('Prometheus scraping the front', () => {
  const nats = useNatsServer();
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let node: RunningNode;
  let prometheus: ChildProcess;
  let dir: string;
  let promUrl: string;

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    node = await startNode({ nats: nats.url, modelDir: tiny.dir, roles: ['supervisor', 'gate', 'api'], node: 'prom', replicas: 1, expertsPerActor: 16, httpPort: 0 });
    dir = mkdtempSync(join(tmpdir(), 'eaas-prom-'));
    const target = new URL(node.api!.url).host;
    writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: eaas\n    static_configs:\n      - targets: ['${target}']\n`);
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  });
  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    await node?.stop();
    tiny?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('scrapes the generated tokens and answers a query on them', async () => {
    const res = await fetch(`${node.api!.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: [1, 2, 3], max_tokens: 7, ignore_eos: true }) });
    expect(res.status).toBe(200);
    const query = async () => {
      const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(`eaas:generation_tokens_total{model_name="${node.model}"}`)}`);
      const body = (await r.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      return body.data.result;
    };
    await vi.waitFor(async () => expect((await query().catch(() => []))[0]?.value[1]).toBe('7'), { timeout: 30_000, interval: 500 });
    const [series] = await query();
    expect(series.metric).toMatchObject({ job: 'eaas', model_name: node.model });
  });
});
