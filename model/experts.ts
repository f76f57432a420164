// A set of routed experts (layer, index) as ONNX Runtime sessions, loaded from their tensors only (any family:
// the checkpoint maps the family's tensor names).
import type { Checkpoint } from './checkpoint.js';
import type { ModelConfig } from './config.js';
import { ModelInputError } from './errors.js';
import { formatExpertKey, parseExpertKey, type ExpertKey } from './expert-key.js';
import { expertGraph } from './graphs.js';
import { createSession, floatTensor, runFloat, type Session } from './ort.js';
import type { QuantBits } from './quantize.js';

/**
 * A quantized expert's run allocates its activations afresh (no arena, below): runs are cut into slices whose
 * largest activation, [rows, intermediate] float32, stays under this. Larger buffers each map fresh pages where
 * glibc's mmap threshold is fixed at 4 MB (expert actors: runtime/node/cluster.ts), and a 512-row run took 3.5x
 * as long. Rows are independent, so a slice's results are the same bits as the whole batch's.
 */
const QUANTIZED_SLICE_BYTES = 4 * 1024 * 1024;

export class ExpertSet {
  private constructor(
    readonly config: ModelConfig,
    private readonly sessions: Map<string, Session>,
    /** Most rows one ONNX Runtime run takes (Infinity: any). */
    private readonly sliceRows: number,
  ) {}

  /**
   * With `bits`, each expert's gate/up/down projections are quantized (MatMulNBits), and its session has no memory
   * arena: an arena per session grows to the largest batch it ran and keeps it (on the bench preset, 32 int4 experts
   * held 777 MB after 256-row dispatches with arenas, 421 MB without, same speed and bits). Float32 experts keep
   * theirs: without it their runs of 8-32 rows were 16-45 % slower. `onLoaded`: experts loaded so far, of all.
   */
  static async load(ckpt: Checkpoint, keys: ExpertKey[], threads?: number, bits?: QuantBits, onLoaded?: (done: number, total: number) => void): Promise<ExpertSet> {
    const sessions = new Map<string, Session>();
    for (const key of keys) {
      // the weights are dropped after the session holds its own copy
      sessions.set(formatExpertKey(key), await createSession(expertGraph(ckpt.config, ckpt.expert(key.layer, key.expert), bits), threads, bits === undefined));
      onLoaded?.(sessions.size, keys.length);
    }
    const sliceRows = bits === undefined ? Infinity : Math.max(1, Math.floor(QUANTIZED_SLICE_BYTES / (4 * ckpt.config.intermediateSize)));
    return new ExpertSet(ckpt.config, sessions, sliceRows);
  }

  keys(): ExpertKey[] {
    return [...this.sessions.keys()].map(parseExpertKey);
  }

  has(key: ExpertKey): boolean {
    return this.sessions.has(formatExpertKey(key));
  }

  /** Runs rows x [n, H] through one expert. */
  async run(key: ExpertKey, x: Float32Array): Promise<Float32Array> {
    const session = this.sessions.get(formatExpertKey(key));
    if (!session) throw new ModelInputError(`expert ${key.expert} of layer ${key.layer} is not hosted here`);
    const H = this.config.hiddenSize;
    if (x.length % H !== 0) throw new ModelInputError(`expert input has ${x.length} values, not a multiple of hidden size ${H}`);
    if (x.length === 0) return new Float32Array(0);
    const rows = x.length / H;
    if (rows <= this.sliceRows) return (await runFloat(session, { x: floatTensor(x, [rows, H]) })).y;
    const y = new Float32Array(x.length);
    for (let from = 0; from < rows; from += this.sliceRows) {
      const to = Math.min(rows, from + this.sliceRows);
      y.set((await runFloat(session, { x: floatTensor(x.subarray(from * H, to * H), [to - from, H]) })).y, from * H);
    }
    return y;
  }

  async release(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.release()));
  }
}
