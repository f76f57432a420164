// A quantized model: the cluster gives the quantized monolith's tokens and logits bit for bit (invariant 1
// under quantization), and the quantized logits' error against float32 is measured and bounded.
import { execFileSync } from 'node:child_process';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestGenerate } from '../../actors/gate/client.js';
import { Checkpoint } from '../../model/checkpoint.js';
import type { GenerateResult } from '../../model/engine.js';
import { ExpertSet } from '../../model/experts.js';
import { openMonolithic } from '../../model/monolithic.js';
import type { Quantization } from '../../model/quantize.js';
import { startNode } from '../../runtime/node/cluster.js';
import { CLI, ensureBuilt } from '../helpers/build.js';
import { useNatsServer } from '../helpers/nats.js';
import { tinyCheckpointDir } from '../helpers/tiny-model.js';

const PROMPTS = [[1, 72, 101, 108, 108, 111], [1, 300, 17], [5], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]];
const MAX_TOKENS = 6;

async function monolithic(dir: string, q: Quantization | undefined, prompts: number[][], maxTokens: number): Promise<GenerateResult[]> {
  const mono = await openMonolithic(dir, undefined, {}, q);
  try {
    const out: GenerateResult[] = [];
    for (const p of prompts) out.push(await mono.engine.generate(p, { maxTokens, logits: true, stopAtEos: false }));
    return out;
  } finally {
    await mono.close();
  }
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('a quantized cluster', () => {
  const nats = useNatsServer();
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let client: NatsConnection;

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    client = await nats.connect('test-client');
  });
  afterAll(() => tiny?.remove());

  const cases: [string, Quantization][] = [
    ['int4, experts only', { bits: 4, dense: false }],
    ['int8, experts and dense', { bits: 8, dense: true }],
  ];
  for (const [name, q] of cases) {
    it(`${name}: gives the quantized monolith's tokens and logits bit for bit, prompts batched together`, async () => {
      const expected = await monolithic(tiny.dir, q, PROMPTS, MAX_TOKENS);
      const f32 = await monolithic(tiny.dir, undefined, PROMPTS.slice(0, 1), MAX_TOKENS);
      // the quantization took effect: the logits are not float32's
      expect(bytes(expected[0].logits!).equals(bytes(f32[0].logits!))).toBe(false);
      const node = await startNode({ nats: nats.url, modelDir: tiny.dir, model: `tiny-q${q.bits}`, roles: ['supervisor', 'gate'], replicas: 1, expertsPerActor: 8, quantization: q });
      try {
        const results = await Promise.all(PROMPTS.map((prompt) => requestGenerate(client, node.model, { prompt, max_tokens: MAX_TOKENS, logits: true, stop_at_eos: false })));
        results.forEach((r, i) => {
          expect(r.tokens).toEqual(expected[i].tokens);
          expect(bytes(r.logits!).equals(bytes(expected[i].logits!))).toBe(true);
        });
      } finally {
        await node.stop();
      }
    });
  }
});

describe('eaas generate --monolithic --quantize', () => {
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  beforeAll(() => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
  });
  afterAll(() => tiny?.remove());

  it('gives the quantized monolith of this process, logits bit for bit', async () => {
    const [expected] = await monolithic(tiny.dir, { bits: 4, dense: true }, [PROMPTS[0]], MAX_TOKENS);
    const args = ['generate', '--monolithic', '--model', tiny.dir, '--prompt-ids', PROMPTS[0].join(','), '--max-tokens', String(MAX_TOKENS), '--no-eos', '--json', '--logits', '--quantize', 'int4', '--quantize-dense'];
    const out = JSON.parse(execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8' })) as { tokens: number[]; logits: number[] };
    expect(out.tokens).toEqual(expected.tokens);
    expect(bytes(Float32Array.from(out.logits)).equals(bytes(expected.logits!))).toBe(true);
  });
});

/** The float32 greedy run, then every step of it again under `q` with the float32 tokens as context (teacher forcing). */
async function errorAgainstF32(dir: string, q: Quantization, prompt: number[], steps: number): Promise<{ maxAbs: number; maxLogit: number; agree: number; prefix: number }> {
  const [f32Run] = await monolithic(dir, undefined, [prompt], steps);
  const [qRun] = await monolithic(dir, q, [prompt], steps);
  const f32 = await openMonolithic(dir);
  const quant = await openMonolithic(dir, undefined, {}, q);
  try {
    let maxAbs = 0;
    let maxLogit = 0;
    let agree = 0;
    for (let i = 0; i < steps; i++) {
      const context = [...prompt, ...f32Run.tokens.slice(0, i)];
      const a = await f32.engine.generate(context, { maxTokens: 1, logits: true, stopAtEos: false });
      const b = await quant.engine.generate(context, { maxTokens: 1, logits: true, stopAtEos: false });
      for (let v = 0; v < a.logits!.length; v++) {
        maxAbs = Math.max(maxAbs, Math.abs(a.logits![v] - b.logits![v]));
        maxLogit = Math.max(maxLogit, Math.abs(a.logits![v]));
      }
      if (a.tokens[0] === b.tokens[0]) agree++;
    }
    const prefix = f32Run.tokens.findIndex((t, i) => t !== qRun.tokens[i]);
    return { maxAbs, maxLogit, agree, prefix: prefix < 0 ? steps : prefix };
  } finally {
    await Promise.all([f32.close(), quant.close()]);
  }
}

describe('quantized logits against float32 (tiny preset, 64 greedy tokens)', () => {
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  beforeAll(() => {
    tiny = tinyCheckpointDir();
  });
  afterAll(() => tiny?.remove());

  // Measured (tiny, seed 7, logits up to ~2.5): max |Δlogit| int4 experts 0.10, int8 experts 0.012, int4 all 0.55,
  // int8 all 0.019; teacher-forced agreement 61, 64, 57, 63 of 64. The bounds are ~3x those errors and half the
  // tokens: a packing or layout mistake scrambles the weights, which sends agreement towards chance (1/512) and
  // the error to the logits' own scale, and fails them.
  const cases: [string, Quantization, number][] = [
    ['int4 experts', { bits: 4, dense: false }, 0.3],
    ['int8 experts', { bits: 8, dense: false }, 0.05],
    ['int4 all', { bits: 4, dense: true }, 1.5],
    ['int8 all', { bits: 8, dense: true }, 0.08],
  ];
  for (const [name, q, bound] of cases) {
    it(`${name}: max |Δlogit| and greedy agreement`, async () => {
      const r = await errorAgainstF32(tiny.dir, q, [1, 72, 101, 108, 108, 111], 64);
      console.log(`${name}: max |Δlogit| ${r.maxAbs.toFixed(4)} (logits up to ${r.maxLogit.toFixed(2)}); teacher-forced greedy agreement ${r.agree}/64; free-running identical prefix ${r.prefix}/64`);
      expect(r.agree).toBeGreaterThan(32);
      expect(r.maxAbs).toBeLessThan(bound);
    });
  }
});

describe('a quantized expert set', () => {
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  beforeAll(() => {
    tiny = tinyCheckpointDir();
  });
  afterAll(() => tiny?.remove());

  it('runs a batch past its slice size in slices, each row the same bits as the row alone', async () => {
    const ckpt = Checkpoint.open(tiny.dir);
    const { hiddenSize: H, intermediateSize: F } = ckpt.config;
    const key = { layer: 0, expert: 1 };
    const experts = await ExpertSet.load(ckpt, [key], 1, 4);
    ckpt.close();
    try {
      // the slice keeps [rows, F] float32 under 4 MiB: one slice and 3 rows more
      const slice = Math.floor((4 * 1024 * 1024) / (4 * F));
      const rows = slice + 3;
      const x = new Float32Array(rows * H).map((_, i) => Math.sin(i * 0.37));
      const y = await experts.run(key, x);
      expect(y).toHaveLength(rows * H);
      for (const row of [0, 1, slice - 1, slice, rows - 1]) {
        const alone = await experts.run(key, x.slice(row * H, (row + 1) * H));
        expect(bytes(y.subarray(row * H, (row + 1) * H)).equals(bytes(alone))).toBe(true);
      }
    } finally {
      await experts.release();
    }
  });
});
