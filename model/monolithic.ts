// The whole model in one process: dense sessions plus every expert's session, served by one engine.
import { Checkpoint } from './checkpoint.js';
import { DenseModel } from './dense.js';
import { Engine, type EngineHooks } from './engine.js';
import { endOfSequenceIds } from './eos.js';
import { ExpertSet } from './experts.js';
import { allExpertKeys } from './families/shape.js';
import { Forward, type ExpertBackend, type ExpertBatch } from './forward.js';
import type { QuantBits, Quantization } from './quantize.js';
import { Tokenizer } from './tokenizer.js';

/** Every expert of a checkpoint in this process. */
export class LocalExperts implements ExpertBackend {
  private constructor(private readonly set: ExpertSet) {}

  /** `bits`: the experts' weights quantized as the cluster's expert actors quantize them. */
  static async load(checkpoint: Checkpoint, threads?: number, bits?: QuantBits, onLoaded?: (done: number, total: number) => void): Promise<LocalExperts> {
    return new LocalExperts(await ExpertSet.load(checkpoint, allExpertKeys(checkpoint.config), threads, bits, onLoaded));
  }

  runExperts(layer: number, batches: ExpertBatch[]): Promise<Float32Array[]> {
    return Promise.all(batches.map((b) => this.set.run({ layer, expert: b.expert }, b.input)));
  }

  release(): Promise<void> {
    return this.set.release();
  }
}

export interface MonolithicModel {
  engine: Engine;
  checkpoint: Checkpoint;
  close(): Promise<void>;
}

/**
 * `engine`: hooks around its steps and its batch bound, as a gate has them (tests watch the steps this way).
 * `quantization`: the experts' weights (and with `dense` the gate's) quantized as the cluster quantizes them.
 * `onLoaded`: experts loaded (and quantized) so far, of all.
 */
export async function openMonolithic(
  dir: string,
  threads?: number,
  engine: { hooks?: EngineHooks; maxBatch?: number } = {},
  quantization?: Quantization,
  onLoaded?: (done: number, total: number) => void,
): Promise<MonolithicModel> {
  const checkpoint = Checkpoint.open(dir);
  const c = checkpoint.config;
  const dense = await DenseModel.load(checkpoint, threads, quantization?.dense ? quantization.bits : undefined);
  const experts = await LocalExperts.load(checkpoint, threads, quantization?.bits, onLoaded);
  return {
    engine: new Engine(c, new Forward(dense, experts), engine.hooks, engine.maxBatch, endOfSequenceIds(dir, Tokenizer.load(dir))),
    checkpoint,
    async close() {
      await Promise.all([dense.release(), experts.release()]);
      checkpoint.close();
    },
  };
}
