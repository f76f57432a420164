// The load signal of elastic placement: what a gate routed and how long each instance took, windowed and published.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requestGenerate } from '../actors/gate/client.js';
import { LoadTracker } from '../actors/gate/load.js';
import { decodeLoadReport, type LoadReport } from '../actors/protocol/messages.js';
import { Checkpoint } from '../model/checkpoint.js';
import { startNode, type RunningNode } from '../runtime/node/cluster.js';
import * as subjects from '../runtime/transport/subjects.js';
import { ensureBuilt } from './helpers/build.js';
import { withEnv } from './helpers/env.js';
import { useNatsServer } from './helpers/nats.js';
import { tinyCheckpointDir } from './helpers/tiny-model.js';

describe('load tracker', () => {
  it('sums tokens per expert and busy time per instance over a sliding window', () => {
    let t = 0;
    const load = new LoadTracker(1000, () => t);
    load.routed(0, [{ expert: 3, rows: 5 }]);
    load.routed(0, [{ expert: 3, rows: 2 }]);
    load.routed(1, [{ expert: 0, rows: 4 }]);
    load.answered('a', 100);
    t = 600;
    load.answered('a', 50);
    load.answered('b', 300);
    expect(load.report('n')).toEqual({
      node: 'n',
      windowMs: 1000,
      experts: [
        { layer: 0, expert: 3, tokens: 7 },
        { layer: 1, expert: 0, tokens: 4 },
      ],
      actors: [
        { instance: 'a', busy: 0.15 },
        { instance: 'b', busy: 0.3 },
      ],
    });
    // the first records leave the window, the later ones stay
    t = 1050;
    expect(load.report('n')).toEqual({ node: 'n', windowMs: 1000, experts: [], actors: [{ instance: 'a', busy: 0.05 }, { instance: 'b', busy: 0.3 }] });
  });
});

describe('load reports', () => {
  const nats = useNatsServer();
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let node: RunningNode;

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    node = await withEnv({ EAAS_LOAD_REPORT_MS: '200' }, () => startNode({ nats: nats.url, modelDir: tiny.dir, roles: ['supervisor', 'gate'], node: 'loaded', replicas: 1, expertsPerActor: 16 }));
  });
  afterAll(async () => {
    await node?.stop();
    tiny?.remove();
  });

  it('count every token the gate routed, per expert, and the instances that answered', async () => {
    const client = await nats.connect();
    const reports: LoadReport[] = [];
    client.subscribe(subjects.loadReportWildcard(node.model), { callback: (_e, m) => reports.push(decodeLoadReport(m.data)) });
    const prompts = [[1, 2, 3, 4], [5, 6]];
    const maxTokens = 5;
    await Promise.all(prompts.map((prompt) => requestGenerate(client, node.model, { prompt, max_tokens: maxTokens, stop_at_eos: false })));
    // every prompt token, then every generated token but the last, goes through each MoE layer to top-k experts
    const ckpt = Checkpoint.open(tiny.dir);
    const { numHiddenLayers, numExpertsPerTok } = ckpt.config;
    ckpt.close();
    const expected = prompts.reduce((a, p) => a + p.length + maxTokens - 1, 0) * numHiddenLayers * numExpertsPerTok;
    await vi.waitFor(() => {
      const last = reports[reports.length - 1];
      expect(last?.experts.reduce((a, e) => a + e.tokens, 0)).toBe(expected);
    }, { timeout: 5_000 });
    const last = reports[reports.length - 1];
    expect(last.node).toBe('loaded');
    const instance = node.supervisor!.status().children[0].instance;
    expect(last.actors.map((a) => a.instance)).toEqual([instance]);
    expect(last.actors[0].busy).toBeGreaterThan(0);
    expect(last.actors[0].busy).toBeLessThan(1);
  });
});
