// The machine's floors, measured with ONNX Runtime on every core at the start and the end of a bench run: how fast
// weights stream from memory (one row through a 256 MB matrix) and how fast a large MatMul computes; and from them,
// the throughput no executor can beat on this machine for a model, on the runs the bench times.
import type { ModelConfig } from '../../model/config.js';
import { modelTensors } from '../../model/families/tensors.js';
import { GraphBuilder } from '../../model/onnx-graph.js';
import { createSession, floatTensor } from '../../model/ort.js';
import { median, timeRuns } from './stats.js';

export interface Floors {
  /** Weight bytes per second a single-row MatMul streams. */
  bytesPerS: number;
  /** Multiply-adds ×2 per second of a large MatMul. */
  flopPerS: number;
}

async function matmulSeconds(rows: number, k: number, n: number, reps: number): Promise<number> {
  const g = new GraphBuilder('floor');
  const x = g.input('x', 'float', [rows, k]);
  const w = new Float32Array(k * n).map((_, i) => ((i * 2654435761) % 1000) / 1e6);
  g.output(g.op('MatMul', [x, g.floats('w', [k, n], w)]), 'y', 'float', [rows, n]);
  const session = await createSession(g.toBytes());
  try {
    const input = floatTensor(new Float32Array(rows * k).fill(0.5), [rows, k]);
    return median(await timeRuns(() => session.run({ x: input }), reps, 3)) / 1000;
  } finally {
    await session.release();
  }
}

export async function measureFloors(): Promise<Floors> {
  // 256 MB: far past any cache, as a model's weights are
  const K = 8192;
  const N = 8192;
  const streamS = await matmulSeconds(1, K, N, 20);
  const M = 512;
  const C = 2048;
  const computeS = await matmulSeconds(M, C, C, 10);
  return { bytesPerS: (K * N * 4) / streamS, flopPerS: (2 * M * C * C) / computeS };
}

/**
 * f32 bytes of the weights one step of `concurrency` rows reads (dense ones always, routed experts as many as the
 * step uses), and its multiply-adds ×2; the LM head runs on `headRows` of them (a prefill: one per prompt).
 */
export function bytesPerStep(c: ModelConfig, concurrency: number, headRows = concurrency): { bytes: number; flops: number } {
  const specs = modelTensors(c).filter((t) => t.kind === 'linear');
  const isRouted = (name: string) => /\.experts\.\d+\./.test(name);
  const head = c.vocabSize * c.hiddenSize;
  const dense = specs.filter((t) => !isRouted(t.name)).reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0) + (c.tieWordEmbeddings ? head : 0);
  const routed = specs.filter((t) => isRouted(t.name));
  const perExpert = routed.length === 0 ? 0 : routed.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0) / (routed.length / 3);
  const moeLayers = new Set(routed.map((t) => /layers\.(\d+)\./.exec(t.name)?.[1])).size;
  const k = c.numExpertsPerTok;
  const e = c.numLocalExperts;
  // distinct experts a step of `concurrency` tokens uses per layer, if routing were uniform
  const used = e * (1 - (1 - k / e) ** concurrency);
  const params = dense + moeLayers * used * perExpert;
  const flops = 2 * concurrency * (dense - head + moeLayers * k * perExpert) + 2 * headRows * head;
  return { bytes: params * 4, flops };
}

/** The least time one step of `tokens` rows takes: its weights at the streaming rate or its multiply-adds at the MatMul rate. */
function stepFloor(f: Floors, c: ModelConfig, tokens: number, headRows: number): { s: number; bound: 'memory' | 'compute' } {
  const { bytes, flops } = bytesPerStep(c, tokens, headRows);
  return { s: Math.max(bytes / f.bytesPerS, flops / f.flopPerS), bound: bytes / f.bytesPerS >= flops / f.flopPerS ? 'memory' : 'compute' };
}

/**
 * The tokens/s no executor beats on a run the bench times: `concurrency` prompts of `promptTokens` prefilled in one
 * step (which gives each its first token), then `maxTokens` - 1 decode steps; `bound` is the decode step's.
 */
export function floorTokPerS(f: Floors, c: ModelConfig, concurrency: number, promptTokens: number, maxTokens: number): { tokPerS: number; bound: 'memory' | 'compute' } {
  const prefill = stepFloor(f, c, concurrency * promptTokens, concurrency);
  const step = stepFloor(f, c, concurrency, concurrency);
  return { tokPerS: (concurrency * maxTokens) / (prefill.s + (maxTokens - 1) * step.s), bound: step.bound };
}
