// A monolithic gate's experts: every expert of the checkpoint computed in the gate's own process, no NATS
// between them; the tokens routed still go into the load report, so the same front and tools read both kinds.
import type { Checkpoint } from '../../model/checkpoint.js';
import type { ExpertBatch } from '../../model/forward.js';
import { LocalExperts } from '../../model/monolithic.js';
import type { QuantBits } from '../../model/quantize.js';
import type { GateExperts } from './experts.js';
import { LoadTracker } from './load-report.js';

export class InProcessExperts implements GateExperts {
  /** Nothing is dispatched: no counters to add. */
  readonly counters = {};
  readonly load: LoadTracker;

  private constructor(
    private readonly local: LocalExperts,
    model: string,
    loadWindowMs?: number,
  ) {
    this.load = new LoadTracker(loadWindowMs, undefined, model);
  }

  /** `bits`: the experts quantized as expert actors quantize them (EAAS_QUANTIZE). */
  static async load(
    checkpoint: Checkpoint,
    model: string,
    o: { threads?: number; bits?: QuantBits; loadWindowMs?: number; onLoaded?: (done: number, total: number) => void } = {},
  ): Promise<InProcessExperts> {
    return new InProcessExperts(await LocalExperts.load(checkpoint, o.threads, o.bits, o.onLoaded), model, o.loadWindowMs);
  }

  runExperts(layer: number, batches: ExpertBatch[]): Promise<Float32Array[]> {
    this.load.routed(layer, batches);
    return this.local.runExperts(layer, batches);
  }

  routable(): string[] {
    return [];
  }

  stop(): Promise<void> {
    return this.local.release();
  }
}
