// Reading config.json fields with the checks and refusals every family shares.
import { CheckpointError } from '../errors.js';

/** Defaults that differ between families (each family's HF configuration class). */
export interface BaseDefaults {
  ropeTheta: number;
  rmsNormEps: number;
  maxPositions: number;
}

export class ConfigReader {
  constructor(
    readonly raw: Record<string, unknown>,
    readonly file: string,
    /** Named in refusals, e.g. "qwen3_moe". */
    readonly family: string,
  ) {}

  fail(problem: string): never {
    throw new CheckpointError(this.file, problem);
  }

  int(key: string, fallback?: number): number {
    const v = this.raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) this.fail(`"${key}" must be a positive integer, got ${JSON.stringify(this.raw[key])}`);
    return v;
  }

  /** A non-negative integer (counts that may be 0). */
  count(key: string, fallback: number): number {
    const v = this.raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(`"${key}" must be a non-negative integer, got ${JSON.stringify(this.raw[key])}`);
    return v;
  }

  num(key: string, fallback: number): number {
    const v = this.raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.fail(`"${key}" must be a positive number, got ${JSON.stringify(this.raw[key])}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.raw[key] ?? fallback;
    if (typeof v !== 'boolean') this.fail(`"${key}" must be true or false, got ${JSON.stringify(this.raw[key])}`);
    return v;
  }

  /** null (or absent with a null fallback) stays null. */
  intOrNull(key: string): number | null {
    return this.raw[key] == null ? null : this.int(key);
  }

  intList(key: string): number[] {
    const v = this.raw[key] ?? [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isInteger(x) || x < 0)) {
      this.fail(`"${key}" must be a list of non-negative integers, got ${JSON.stringify(this.raw[key])}`);
    }
    return [...new Set(v as number[])].sort((a, b) => a - b);
  }

  /** A feature eaas does not implement: refused with one line naming what is supported. */
  refuse(feature: string, supported: string): never {
    this.fail(`${this.family}: ${feature} is not supported (${supported})`);
  }

  /** Refuses RoPE scaling of any kind and partial rotary embeddings; returns rope_theta. */
  ropeTheta(fallback: number): number {
    const { raw } = this;
    const scaling = raw.rope_scaling;
    const params = raw.rope_parameters as Record<string, unknown> | null | undefined;
    const type = (o: unknown) => (typeof o === 'object' && o !== null ? ((o as Record<string, unknown>).rope_type ?? (o as Record<string, unknown>).type) : undefined);
    if (scaling != null && type(scaling) !== 'default') this.refuse(`rope_scaling ${JSON.stringify(scaling)}`, 'only the default RoPE, without rope_scaling, is');
    if (params != null && (typeof params !== 'object' || ![undefined, 'default'].includes(type(params) as string | undefined))) {
      this.refuse(`rope_parameters ${JSON.stringify(params)}`, 'only the default RoPE type is');
    }
    const factor = raw.partial_rotary_factor ?? params?.partial_rotary_factor;
    if (factor != null && factor !== 1) this.refuse(`partial_rotary_factor ${JSON.stringify(factor)}`, 'only rotary embeddings over the whole head are');
    const theta = raw.rope_theta ?? params?.rope_theta ?? fallback;
    if (typeof theta !== 'number' || !Number.isFinite(theta) || theta <= 0) this.fail(`"rope_theta" must be a positive number, got ${JSON.stringify(theta)}`);
    return theta;
  }

  /** Refuses sliding-window attention: use_sliding_window, sliding layer types, or a window shorter than the positions. */
  noSlidingWindow(maxPositions: number): void {
    const { raw } = this;
    const why = 'only full causal attention is';
    if (raw.use_sliding_window === true) this.refuse('use_sliding_window', why);
    if (Array.isArray(raw.layer_types) && raw.layer_types.some((t) => t !== 'full_attention')) this.refuse(`layer_types ${JSON.stringify(raw.layer_types)}`, why);
    const window = raw.sliding_window;
    if (raw.use_sliding_window === undefined && typeof window === 'number' && window < maxPositions) this.refuse(`sliding_window ${window}`, why);
  }

  /** Refuses quantized checkpoints (e.g. DeepSeek-V3's FP8 weights with their scales). */
  noQuantization(): void {
    const q = this.raw.quantization_config;
    if (q != null) {
      const method = typeof q === 'object' ? (q as Record<string, unknown>).quant_method : undefined;
      this.refuse(`quantization_config${method ? ` (${JSON.stringify(method)})` : ''}`, 'only F32, BF16 and F16 weights are');
    }
  }

  /** Refuses activations other than SiLU. */
  siluOnly(): void {
    const act = this.raw.hidden_act;
    if (act !== undefined && act !== 'silu') this.refuse(`hidden_act ${JSON.stringify(act)}`, 'only silu is');
  }

  /** Refuses a bias on the attention projections (attention_bias). */
  noAttentionBias(): void {
    if (this.raw.attention_bias === true) this.refuse('attention_bias', 'attention projections without bias are');
  }
}
