// Deterministic random checkpoints of any family in the Hugging Face layout, for tests and benchmarks.
import fs from 'node:fs';
import path from 'node:path';
import { BYTE_VOCAB, byteTokenizerConfig, byteTokenizerJson } from './byte-tokenizer.js';
import { CONFIG_FILE, INDEX_FILE, modelTensors, SINGLE_FILE, type TensorSpec } from './checkpoint.js';
import { configToJson, type ModelConfig } from './config.js';
import { FAMILIES } from './families/registry.js';
import { FAMILY_NAMES, type FamilyName } from './families/spec.js';
import { CheckpointError } from './errors.js';
import { DTYPE_BYTES, writeSafetensors, type Dtype, type TensorToWrite } from './safetensors.js';
import { routingSkew, type TensorSkew } from './skew.js';
import { TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from './tokenizer.js';

import { isRealPreset, REAL_PRESETS, type RealPresetName } from './families/real-presets.js';

/** Mixtral's presets (the default family). */
export const PRESETS = FAMILIES.mixtral.presets;
export type PresetName = keyof typeof PRESETS;

export interface InitOptions {
  /** tiny, bench (of `family`), or a real model's shapes (families/real-presets.ts: its own family). */
  preset: PresetName | RealPresetName;
  /** Default mixtral (a real preset: its own). */
  family?: FamilyName;
  seed?: number;
  dtype?: Dtype;
  shards?: number;
  /** Sizes that differ from the preset's (tests that need a model of a particular size). */
  config?: Partial<ModelConfig>;
  /** How much the routers favour low-numbered experts (skew.ts), >= 0; default 0: the unskewed weights. */
  skew?: number;
  /** Told the bytes of tensors made so far and in all: first (0, total), then after each tensor. */
  onProgress?: (bytes: number, totalBytes: number) => void;
}

const DEFAULT_SEED = 0;
// bench in bf16 halves its ~1.4 GB of f32 on disk
const DEFAULT_DTYPES: Record<PresetName, Dtype> = { tiny: 'F32', bench: 'BF16' };
const TORCH_DTYPES: Record<Dtype, string> = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' };
const FILE_METADATA = { format: 'pt' };
const EMBEDDING_RANGE = 0.5;
// norm weights near 1 keep activations at unit scale but not identical across channels
const NORM_NOISE = 0.1;
// biases (qkv, DeepSeek's e_score_correction_bias) small next to the values they shift
const BIAS_RANGE = 0.1;
// the name the skew's direction is drawn under, no tensor's
const SKEW_DIRECTION = 'eaas_skew.direction';

/**
 * Writes config.json and random weights into an empty (or new) directory: model.safetensors, or
 * `shards` files plus model.safetensors.index.json. Each tensor's values depend only on the seed,
 * the skew and its name, so the dtype aside, every layout of the same seed and skew holds the same weights.
 * tokenizer.json and tokenizer_config.json hold the byte tokenizer (byte-tokenizer.ts) when the
 * vocabulary has room for it; a smaller model gets none and takes token ids only.
 */
export function initCheckpoint(dir: string, opts: InitOptions): void {
  const real = isRealPreset(opts.preset) ? REAL_PRESETS[opts.preset] : undefined;
  if (real && opts.family !== undefined && opts.family !== real.family) throw new CheckpointError(dir, `preset ${opts.preset} is a ${real.family} model, not ${opts.family}`);
  const family = real?.family ?? opts.family ?? 'mixtral';
  if (!FAMILY_NAMES.includes(family)) throw new CheckpointError(dir, `unknown family ${JSON.stringify(family)} (${FAMILY_NAMES.join(', ')})`);
  const preset: ModelConfig | undefined = real?.config ?? FAMILIES[family].presets[opts.preset as PresetName];
  if (!preset) throw new CheckpointError(dir, `unknown preset ${JSON.stringify(opts.preset)} (${[...Object.keys(PRESETS), ...Object.keys(REAL_PRESETS)].join(', ')})`);
  const seed = opts.seed ?? DEFAULT_SEED;
  if (!Number.isSafeInteger(seed)) throw new CheckpointError(dir, `seed must be an integer, got ${seed}`);
  const config: ModelConfig = { ...preset, ...opts.config };
  const dtype = opts.dtype ?? (real ? 'BF16' : DEFAULT_DTYPES[opts.preset as PresetName]);
  const specs = modelTensors(config);
  const shards = opts.shards ?? real?.shards ?? 1;
  if (!Number.isInteger(shards) || shards < 1 || shards > specs.length) {
    throw new CheckpointError(dir, `shards must be an integer from 1 to ${specs.length}, got ${shards}`);
  }
  const skew = opts.skew ?? 0;
  if (!(skew >= 0 && Number.isFinite(skew))) throw new CheckpointError(dir, `skew must be a number >= 0, got ${skew}`);
  prepareDir(dir);

  const skewed: TensorSkew =
    skew > 0 ? routingSkew(config, skew, fillUniform(new Float32Array(config.hiddenSize), hash(`${seed}/${SKEW_DIRECTION}`), 0, 1)) : (_, values) => values;
  const totalSize = specs.reduce((a, t) => a + count(t) * DTYPE_BYTES[dtype], 0);
  let made = 0;
  opts.onProgress?.(0, totalSize);
  const toWrite = (t: TensorSpec): TensorToWrite => ({
    name: t.name,
    dtype,
    shape: t.shape,
    data: () => {
      const values = skewed(t, randomTensor(t, seed));
      made += count(t) * DTYPE_BYTES[dtype];
      opts.onProgress?.(made, totalSize);
      return values;
    },
  });
  if (shards === 1) {
    writeSafetensors(path.join(dir, SINGLE_FILE), specs.map(toWrite), FILE_METADATA);
  } else {
    const weightMap: Record<string, string> = {};
    splitShards(specs, shards).forEach((group, k) => {
      const file = `model-${pad(k + 1)}-of-${pad(shards)}.safetensors`;
      writeSafetensors(path.join(dir, file), group.map(toWrite), FILE_METADATA);
      for (const t of group) weightMap[t.name] = file;
    });
    writeJson(path.join(dir, INDEX_FILE), { metadata: { total_size: totalSize }, weight_map: weightMap });
  }
  if (config.vocabSize >= BYTE_VOCAB) {
    writeJson(path.join(dir, TOKENIZER_FILE), byteTokenizerJson());
    writeJson(path.join(dir, TOKENIZER_CONFIG_FILE), byteTokenizerConfig(config.maxPositionEmbeddings));
  }
  // written last: a directory left half-written by a crash has no config and fails to open
  // an extra key, which Hugging Face's configs keep as an attribute and eaas ignores: says the routing was made skewed
  writeJson(path.join(dir, CONFIG_FILE), { ...configToJson(config), torch_dtype: TORCH_DTYPES[dtype], ...(skew > 0 && { eaas_skew: skew }) });
}

// refusing a non-empty directory keeps a mistyped path from clobbering a real checkpoint
function prepareDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (cause) {
    throw new CheckpointError(dir, `cannot create directory (${(cause as Error).message})`, { cause });
  }
  if (fs.readdirSync(dir).length > 0) throw new CheckpointError(dir, 'directory is not empty; refusing to overwrite it');
}

const pad = (n: number): string => String(n).padStart(5, '0');
const count = (t: TensorSpec): number => t.shape.reduce((a, d) => a * d, 1);

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

// Contiguous groups of about equal size in tensor order, none empty.
function splitShards(specs: TensorSpec[], shards: number): TensorSpec[][] {
  const total = specs.reduce((a, t) => a + count(t), 0);
  const groups: TensorSpec[][] = [[]];
  let done = 0;
  for (let i = 0; i < specs.length; i++) {
    const unstarted = shards - groups.length;
    const pastBoundary = done >= (total * groups.length) / shards;
    if (groups[groups.length - 1].length > 0 && unstarted > 0 && (pastBoundary || specs.length - i <= unstarted)) groups.push([]);
    groups[groups.length - 1].push(specs[i]);
    done += count(specs[i]);
  }
  return groups;
}

function randomTensor(t: TensorSpec, seed: number): Float32Array {
  const out = new Float32Array(count(t));
  const state = hash(`${seed}/${t.name}`);
  switch (t.kind) {
    case 'norm':
      return fillUniform(out, state, 1, NORM_NOISE);
    case 'embedding':
      return fillUniform(out, state, 0, EMBEDDING_RANGE);
    case 'bias':
      return fillUniform(out, state, 0, BIAS_RANGE);
    case 'linear':
      // PyTorch's nn.Linear default: uniform in ±1/sqrt(fan_in), fan_in being the [out, in] second dim
      return fillUniform(out, state, 0, 1 / Math.sqrt(t.shape[1]));
  }
}

// FNV-1a: a stable 32-bit seed per (seed, tensor name)
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

// mulberry32, inlined: fast, and its 2^32 period is far beyond the largest tensor
function fillUniform(out: Float32Array, state: number, center: number, range: number): Float32Array {
  let s = state | 0;
  for (let i = 0; i < out.length; i++) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const u = ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
    out[i] = center + range * (2 * u - 1);
  }
  return out;
}
