// A set of routed experts (layer, index) as ONNX Runtime sessions, loaded from their tensors only (any family:
// the checkpoint maps the family's tensor names).
import type { Checkpoint } from './checkpoint.js';
import type { ModelConfig } from './config.js';
import { ModelInputError } from './errors.js';
import { formatExpertKey, parseExpertKey, type ExpertKey } from './expert-key.js';
import { expertGraph } from './graphs.js';
import { createSession, floatTensor, runFloat, type Session } from './ort.js';
import type { QuantBits } from './quantize.js';

export class ExpertSet {
  private constructor(
    readonly config: ModelConfig,
    private readonly sessions: Map<string, Session>,
  ) {}

  /** With `bits`, each expert's gate/up/down projections are quantized (MatMulNBits). `onLoaded`: experts loaded so far, of all. */
  static async load(ckpt: Checkpoint, keys: ExpertKey[], threads?: number, bits?: QuantBits, onLoaded?: (done: number, total: number) => void): Promise<ExpertSet> {
    const sessions = new Map<string, Session>();
    for (const key of keys) {
      // the weights are dropped after the session holds its own copy
      sessions.set(formatExpertKey(key), await createSession(expertGraph(ckpt.config, ckpt.expert(key.layer, key.expert), bits), threads));
      onLoaded?.(sessions.size, keys.length);
    }
    return new ExpertSet(ckpt.config, sessions);
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
    return (await runFloat(session, { x: floatTensor(x, [x.length / H, H]) })).y;
  }

  async release(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.release()));
  }
}
