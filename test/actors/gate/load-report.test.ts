// The load signal of elastic placement: what a gate routed and how long each instance took, and what each expert
// actor computed, windowed and published.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requestGenerate } from '../../../actors/gate/client.js';
import { LoadTracker } from '../../../actors/gate/load-report.js';
import { MalformedMessageError } from '../../../actors/protocol/errors.js';
import { decodeActorLoad, decodeLoadReport, encodeActorLoad, type ActorLoad, type LoadReport } from '../../../actors/protocol/messages.js';
import { Checkpoint } from '../../../model/checkpoint.js';
import { startNode, type RunningNode } from '../../../runtime/node/cluster.js';
import { encodeMessage } from '../../../runtime/transport/codec.js';
import * as subjects from '../../../runtime/transport/subjects.js';
import { binCount, binQuantile, LATENCY_BINS, mergeBins, SlidingLatencies, SlidingSums } from '../../../observability/load-window.js';
import { mergeReports } from '../../../actors/controller/load-window.js';
import { balancedness } from '../../../observability/metrics.js';
import { ensureBuilt } from '../../helpers/build.js';
import { withEnv } from '../../helpers/env.js';
import { useNatsServer } from '../../helpers/nats.js';
import { tinyCheckpointDir } from '../../helpers/tiny-model.js';

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

describe('latency bins', () => {
  it('give each quantile within a bin (~4.7 %) above its value, over the window, and add up across gates', () => {
    let t = 0;
    const a = new SlidingLatencies(1000, () => t);
    for (let i = 0; i < 98; i++) a.add(10);
    a.add(500);
    a.add(500);
    a.add(0);
    a.add(Number.NaN);
    a.add(-5);
    // not latencies: dropped
    expect(binCount(a.bins())).toBe(100);
    expect(a.bins()).toHaveLength(2);
    const p99 = binQuantile(a.bins(), 0.99)!;
    expect(p99).toBeGreaterThan(500);
    expect(p99).toBeLessThan(500 * 1.048);
    const p50 = binQuantile(a.bins(), 0.5)!;
    expect(p50).toBeGreaterThan(10);
    expect(p50).toBeLessThan(10.48);
    // a second gate's slow gaps move the common quantiles: half of all gaps are now 2 s ones
    const b = new SlidingLatencies(1000, () => t);
    for (let i = 0; i < 100; i++) b.add(2000);
    const both = mergeBins([a.bins(), b.bins()]);
    expect(binCount(both)).toBe(200);
    expect(binQuantile(both, 0.99)!).toBeGreaterThan(2000);
    expect(binQuantile(both, 0.5)!).toBeGreaterThan(500);
    expect(binQuantile(both, 0.5)!).toBeLessThan(2000);
    // a gap beyond the bins' range counts in the last bin, so no report carries a bin a reader refuses
    b.add(1e9);
    expect(b.bins().at(-1)![0]).toBe(LATENCY_BINS.max);
    t = 1000;
    expect(a.bins()).toEqual([]);
    expect(binQuantile(a.bins(), 0.99)).toBeNull();
  });

  it('go into a gate\'s load report as the time between tokens, and merge in the controller\'s window', () => {
    let t = 0;
    const load = new LoadTracker(1000, () => t);
    expect(load.report('n').itl).toBeUndefined();
    for (let i = 0; i < 32; i++) load.interToken(120);
    const r = load.report('n');
    expect(r.itl!.reduce((n, [, c]) => n + c, 0)).toBe(32);
    expect(decodeLoadReport(encodeMessage(r))).toEqual(r);
    const merged = mergeReports([r, { ...r, node: 'm' }]);
    expect(merged.itl!.reduce((n, [, c]) => n + c, 0)).toBe(64);
    expect(mergeReports([{ ...r, itl: undefined }]).itl).toBeUndefined();
    for (const itl of ['x', [[1.5, 2]], [[1, -2]], [[1]], [[LATENCY_BINS.max + 1, 1]], [[1e300, 1]]]) expect(() => decodeLoadReport(encodeMessage({ ...r, itl }))).toThrow(MalformedMessageError);
  });
});

describe('sliding sums', () => {
  it('sum each key over the window, and forget what left it', () => {
    let t = 0;
    const w = new SlidingSums(1000, () => t);
    w.add('busyMs', 2.5);
    w.add('rows', 3);
    t = 950;
    w.add('rows', 4);
    expect(w.totals()).toEqual(new Map([['busyMs', 2.5], ['rows', 7]]));
    t = 1000;
    expect(w.totals()).toEqual(new Map([['rows', 4]]));
    t = 2000;
    expect(w.totals()).toEqual(new Map());
  });
});

describe('balancedness of the actors', () => {
  it('is the mean ÷ max of the rows each computed, 1 when none computed any', () => {
    expect(balancedness([21, 15])).toBeCloseTo(18 / 21);
    expect(balancedness([8, 8, 8])).toBe(1);
    expect(balancedness([0, 0])).toBe(1);
    expect(balancedness([])).toBe(1);
  });
});

describe('actor load messages', () => {
  const good: ActorLoad = { instance: 'n-e0', node: 'n', windowMs: 30_000, busyMs: 12.5, rows: 40, dispatches: 8 };

  it('decode what was encoded', () => {
    expect(decodeActorLoad(encodeActorLoad(good))).toEqual(good);
  });

  it.each([
    ['not a map', 7],
    ['no instance', { ...good, instance: undefined }],
    ['no node', { ...good, node: 3 }],
    ['a zero window', { ...good, windowMs: 0 }],
    ['negative busy time', { ...good, busyMs: -1 }],
    ['fractional rows', { ...good, rows: 1.5 }],
    ['no dispatches', { ...good, dispatches: undefined }],
  ])('refuse %s', (_what, m) => {
    expect(() => decodeActorLoad(encodeMessage(m))).toThrow(MalformedMessageError);
  });
});

describe('load reports', () => {
  const nats = useNatsServer();
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let node: RunningNode;

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    node = await withEnv({ EAAS_LOAD_REPORT_MS: '200', EAAS_HEDGE: '0' }, () => startNode({ nats: nats.url, modelDir: tiny.dir, roles: ['supervisor', 'gate'], node: 'loaded', replicas: 1, expertsPerActor: 16 }));
  });
  afterAll(async () => {
    await node?.stop();
    tiny?.remove();
  });

  it('count every token the gate routed, per expert, and the instances that answered, and each actor its own work', async () => {
    const client = await nats.connect();
    const reports: LoadReport[] = [];
    const actorLoads: ActorLoad[] = [];
    // one subscription hears the gates' reports and the actors'
    client.subscribe(subjects.loadReportWildcard(node.model), {
      callback: (_e, m) => {
        if (m.subject === subjects.loadReport(node.model, node.node)) reports.push(decodeLoadReport(m.data));
        else actorLoads.push(decodeActorLoad(m.data));
      },
    });
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
    // every token after a sequence's first came some time after the one before
    expect(last.itl!.reduce((n, [, c]) => n + c, 0)).toBe(prompts.length * (maxTokens - 1));
    // the actor computed every row the gate routed (no hedging: each row once), and its worker was busy doing it
    await vi.waitFor(() => expect(actorLoads[actorLoads.length - 1]?.rows).toBe(expected), { timeout: 5_000 });
    const mine = actorLoads[actorLoads.length - 1];
    expect(mine).toMatchObject({ instance, node: 'loaded', windowMs: 30_000 });
    expect(mine.busyMs).toBeGreaterThan(0);
    expect(mine.busyMs).toBeLessThan(mine.windowMs);
    expect(mine.dispatches).toBeGreaterThanOrEqual(numHiddenLayers);
  });
});
