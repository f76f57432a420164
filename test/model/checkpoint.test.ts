// Checkpoint directories: generated checkpoints, sharding, lazy reads, and broken checkpoints.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Checkpoint, expertTensors, mixtralTensors } from '../../model/checkpoint.js';
import { configToJson, type ModelConfig } from '../../model/config.js';
import { CheckpointError, ModelInputError } from '../../model/errors.js';
import { initCheckpoint, PRESETS } from '../../model/init.js';
import { bf16ToF32, f32ToBf16 } from '../../model/half-float.js';
import { SafetensorsFile, writeSafetensors } from '../../model/safetensors.js';

const tiny = PRESETS.tiny;
let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eaas-checkpoint-'));
});
afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

const sub = (name: string): string => path.join(dir, name);

function expectCheckpointError(fn: () => unknown, file: string, problem: string): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(CheckpointError);
  expect((error as CheckpointError).file).toBe(file);
  expect((error as Error).message).toContain(`${file}: `);
  expect((error as Error).message).toContain(problem);
}

/** Every tensor the config requires, read through the checkpoint. */
function readAll(ckpt: Checkpoint): Map<string, Float32Array> {
  return new Map(mixtralTensors(ckpt.config).map((t) => [t.name, ckpt.tensor(t.name, t.shape)]));
}

/** A checkpoint written by hand: config.json and one file with the given tensors of zeros. */
function handWritten(target: string, config: ModelConfig, keep: (name: string) => boolean = () => true): void {
  fs.mkdirSync(target, { recursive: true });
  fs.writeFileSync(path.join(target, 'config.json'), JSON.stringify(configToJson(config)));
  const tensors = mixtralTensors(config)
    .filter((t) => keep(t.name))
    .map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: () => new Float32Array(t.shape.reduce((a, d) => a * d, 1)) }));
  writeSafetensors(path.join(target, 'model.safetensors'), tensors);
}

describe('generated checkpoints', () => {
  it('opens the tiny preset with every tensor in shape and in range', () => {
    initCheckpoint(sub('a'), { preset: 'tiny', seed: 7 });
    const ckpt = Checkpoint.open(sub('a'));
    const { hiddenSize: H, intermediateSize: I, vocabSize: V, headDim: D } = tiny;
    expect(ckpt.config).toEqual(tiny);
    expect(ckpt.dir).toBe(sub('a'));

    const layer = ckpt.layer(1);
    expect(Object.fromEntries(Object.entries(layer).map(([k, v]) => [k, v.length]))).toEqual({
      inputNorm: H,
      postNorm: H,
      q: 4 * D * H,
      k: 2 * D * H,
      v: 2 * D * H,
      o: H * 4 * D,
      router: 8 * H,
    });
    const expert = ckpt.expert(1, 7);
    expect([expert.w1.length, expert.w2.length, expert.w3.length]).toEqual([I * H, H * I, I * H]);
    expect(ckpt.embeddings().length).toBe(V * H);
    expect(ckpt.lmHead().length).toBe(V * H);

    const within = (a: Float32Array, lo: number, hi: number): boolean => a.every((x) => x >= lo && x <= hi);
    expect(within(ckpt.finalNorm(), 0.9, 1.1)).toBe(true);
    expect(within(expert.w1, -1 / Math.sqrt(H), 1 / Math.sqrt(H))).toBe(true);
    expect(within(expert.w2, -1 / Math.sqrt(I), 1 / Math.sqrt(I))).toBe(true);
    // not degenerate: values vary, and tensors differ from one another
    expect(new Set(expert.w1).size).toBeGreaterThan(expert.w1.length / 2);
    expect(expert.w1).not.toEqual(expert.w3);
    expect(ckpt.lmHead()).not.toEqual(ckpt.embeddings());
    ckpt.close();
  });

  it('writes byte-identical files for the same seed and different ones for another', () => {
    initCheckpoint(sub('a'), { preset: 'tiny', seed: 3 });
    initCheckpoint(sub('b'), { preset: 'tiny', seed: 3 });
    initCheckpoint(sub('c'), { preset: 'tiny', seed: 4 });
    expect(fs.readdirSync(sub('a')).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    for (const file of fs.readdirSync(sub('a'))) {
      expect(fs.readFileSync(path.join(sub('b'), file)).equals(fs.readFileSync(path.join(sub('a'), file)))).toBe(true);
    }
    expect(fs.readFileSync(sub('c/model.safetensors')).equals(fs.readFileSync(sub('a/model.safetensors')))).toBe(false);
  });

  it('gives a sharded checkpoint the same tensors as a single file of the same seed', () => {
    initCheckpoint(sub('single'), { preset: 'tiny', seed: 5 });
    initCheckpoint(sub('sharded'), { preset: 'tiny', seed: 5, shards: 3 });
    expect(fs.readdirSync(sub('sharded')).sort()).toEqual([
      'config.json',
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
      'model.safetensors.index.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const index = JSON.parse(fs.readFileSync(sub('sharded/model.safetensors.index.json'), 'utf8'));
    expect(Object.keys(index.weight_map)).toEqual(mixtralTensors(tiny).map((t) => t.name));
    expect(new Set(Object.values(index.weight_map)).size).toBe(3);
    expect(index.metadata.total_size).toBe(fs.statSync(sub('single/model.safetensors')).size - Number(fs.readFileSync(sub('single/model.safetensors')).readBigUInt64LE(0)) - 8);

    const single = Checkpoint.open(sub('single'));
    const sharded = Checkpoint.open(sub('sharded'));
    const a = readAll(single);
    const b = readAll(sharded);
    const bytes = (x: Float32Array | undefined): Buffer => Buffer.from(x!.buffer, x!.byteOffset, x!.byteLength);
    const differing = [...a].filter(([name, values]) => !bytes(b.get(name)).equals(bytes(values)));
    expect(differing.map(([name]) => name)).toEqual([]);
    single.close();
    sharded.close();
  });

  it('writes bf16 as the f32 weights rounded to bf16, and says so in config.json', () => {
    initCheckpoint(sub('f32'), { preset: 'tiny', seed: 1 });
    initCheckpoint(sub('bf16'), { preset: 'tiny', seed: 1, dtype: 'BF16' });
    expect(JSON.parse(fs.readFileSync(sub('bf16/config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
    const full = Checkpoint.open(sub('f32'));
    const half = Checkpoint.open(sub('bf16'));
    expect(half.expert(0, 2).w2).toEqual(bf16ToF32(f32ToBf16(full.expert(0, 2).w2)));
    expect(half.finalNorm()).toEqual(bf16ToF32(f32ToBf16(full.finalNorm())));
    full.close();
    half.close();
  });

  it('uses the embeddings as LM head when they are tied', () => {
    handWritten(sub('tied'), { ...tiny, tieWordEmbeddings: true }, (name) => name !== 'lm_head.weight');
    const ckpt = Checkpoint.open(sub('tied'));
    expect(ckpt.lmHead()).toEqual(ckpt.embeddings());
    ckpt.close();
  });

  it('refuses to write into a directory that is not empty', () => {
    fs.writeFileSync(sub('precious.txt'), 'keep me');
    expectCheckpointError(() => initCheckpoint(dir, { preset: 'tiny' }), dir, 'directory is not empty');
    expect(fs.readdirSync(dir)).toEqual(['precious.txt']);
  });
});

describe('reading', () => {
  it('reads only the bytes of the expert it is asked for', () => {
    initCheckpoint(sub('a'), { preset: 'tiny' });
    const ckpt = Checkpoint.open(sub('a'));
    const spy = vi.spyOn(fs, 'readSync');
    ckpt.expert(1, 4);
    const bytes = spy.mock.results.reduce((a, r) => a + (r.value as number), 0);
    expect(bytes).toBe(3 * tiny.intermediateSize * tiny.hiddenSize * 4);
    ckpt.close();
  });

  it('reads an expert from a file whose other bytes are garbage', () => {
    initCheckpoint(sub('a'), { preset: 'tiny' });
    const file = sub('a/model.safetensors');
    const before = Checkpoint.open(sub('a'));
    const expected = before.expert(0, 3);
    before.close();

    // overwrite the whole data section except this expert's tensors with NaN bytes
    const header = SafetensorsFile.open(file);
    const keep = Object.values(expertTensors(tiny, 0, 3)).map((t) => header.info(t.name)!);
    const bytes = fs.readFileSync(file);
    const dataStart = 8 + Number(bytes.readBigUInt64LE(0));
    const saved = keep.map((t) => Buffer.from(bytes.subarray(t.offset, t.offset + t.byteLength)));
    bytes.fill(0xff, dataStart);
    keep.forEach((t, i) => saved[i].copy(bytes, t.offset));
    fs.writeFileSync(file, bytes);

    const after = Checkpoint.open(sub('a'));
    expect(after.expert(0, 3)).toEqual(expected);
    expect(after.embeddings()[0]).toBeNaN();
    after.close();
  });

  it('opens descriptors lazily, once per file, and closes them', () => {
    initCheckpoint(sub('a'), { preset: 'tiny', shards: 2 });
    const open = vi.spyOn(fs, 'openSync');
    const close = vi.spyOn(fs, 'closeSync');
    const ckpt = Checkpoint.open(sub('a'));
    // headers are read with descriptors closed straight away
    expect(close).toHaveBeenCalledTimes(open.mock.calls.length);
    open.mockClear();
    close.mockClear();
    ckpt.expert(0, 0);
    ckpt.expert(0, 1);
    ckpt.lmHead();
    expect(open).toHaveBeenCalledTimes(2);
    expect(close).not.toHaveBeenCalled();
    ckpt.close();
    expect(close).toHaveBeenCalledTimes(2);
  });

  it('rejects out-of-range layers and experts', () => {
    initCheckpoint(sub('a'), { preset: 'tiny' });
    const ckpt = Checkpoint.open(sub('a'));
    expect(() => ckpt.expert(2, 0)).toThrow(ModelInputError);
    expect(() => ckpt.expert(0, 8)).toThrow('expert 8 is out of range (the checkpoint has 8)');
    expect(() => ckpt.expert(0, 1.5)).toThrow(ModelInputError);
    expect(() => ckpt.layer(-1)).toThrow('layer -1 is out of range (the checkpoint has 2)');
    ckpt.close();
  });

  it('checks the shape a caller expects', () => {
    initCheckpoint(sub('a'), { preset: 'tiny' });
    const ckpt = Checkpoint.open(sub('a'));
    expectCheckpointError(
      () => ckpt.tensor('model.norm.weight', [65]),
      sub('a/model.safetensors'),
      'shape [64] of tensor model.norm.weight does not match config.json (expected [65])',
    );
    expectCheckpointError(() => ckpt.tensor('nope', [1]), sub('a/model.safetensors'), 'missing tensor nope');
    ckpt.close();
  });
});

describe('broken checkpoints fail at open', () => {
  it('when a shape does not match config.json', () => {
    initCheckpoint(sub('a'), { preset: 'tiny' });
    fs.writeFileSync(sub('a/config.json'), JSON.stringify(configToJson({ ...tiny, intermediateSize: 96 })));
    expectCheckpointError(
      () => Checkpoint.open(sub('a')),
      sub('a/model.safetensors'),
      'shape [128, 64] of tensor model.layers.0.block_sparse_moe.experts.0.w1.weight does not match config.json (expected [96, 64])',
    );
  });

  it('when a tensor is missing', () => {
    const missing = 'model.layers.1.block_sparse_moe.experts.3.w2.weight';
    handWritten(sub('a'), tiny, (name) => name !== missing);
    expectCheckpointError(() => Checkpoint.open(sub('a')), sub('a/model.safetensors'), `missing tensor ${missing}`);
  });

  it('when the weights file is truncated', () => {
    initCheckpoint(sub('a'), { preset: 'tiny' });
    const file = sub('a/model.safetensors');
    fs.truncateSync(file, fs.statSync(file).size / 2);
    expectCheckpointError(() => Checkpoint.open(sub('a')), file, 'out of bounds of the data section');
  });

  it('when a shard is missing', () => {
    initCheckpoint(sub('a'), { preset: 'tiny', shards: 2 });
    const shard = sub('a/model-00002-of-00002.safetensors');
    fs.rmSync(shard);
    expectCheckpointError(
      () => Checkpoint.open(sub('a')),
      shard,
      'shard model-00002-of-00002.safetensors listed in model.safetensors.index.json does not exist',
    );
  });

  it('when a shard lacks a tensor its index lists', () => {
    initCheckpoint(sub('a'), { preset: 'tiny', shards: 2 });
    const indexFile = sub('a/model.safetensors.index.json');
    const index = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
    index.weight_map['model.norm.weight'] = 'model-00001-of-00002.safetensors';
    fs.writeFileSync(indexFile, JSON.stringify(index));
    expectCheckpointError(
      () => Checkpoint.open(sub('a')),
      sub('a/model-00001-of-00002.safetensors'),
      'tensor model.norm.weight listed in model.safetensors.index.json is missing from shard model-00001-of-00002.safetensors',
    );
  });

  it('when the index is not valid JSON, has no weight_map, or points outside the directory', () => {
    initCheckpoint(sub('a'), { preset: 'tiny', shards: 2 });
    const indexFile = sub('a/model.safetensors.index.json');
    fs.writeFileSync(indexFile, '{"weight_map": {');
    expectCheckpointError(() => Checkpoint.open(sub('a')), indexFile, 'model.safetensors.index.json is not valid JSON');
    fs.writeFileSync(indexFile, '{"metadata": {}}');
    expectCheckpointError(() => Checkpoint.open(sub('a')), indexFile, 'index must be a JSON object with a "weight_map" object');
    fs.writeFileSync(indexFile, JSON.stringify({ weight_map: { 'model.norm.weight': '../model-00001-of-00002.safetensors' } }));
    expectCheckpointError(() => Checkpoint.open(sub('a')), indexFile, 'weight_map entry of model.norm.weight must be a file name in the directory');
  });

  it('when config.json is bad JSON, invalid or missing', () => {
    initCheckpoint(sub('a'), { preset: 'tiny' });
    const config = sub('a/config.json');
    fs.writeFileSync(config, '{"vocab_size": 512,');
    expectCheckpointError(() => Checkpoint.open(sub('a')), config, 'config.json is not valid JSON');
    fs.writeFileSync(config, JSON.stringify({ ...configToJson(tiny), hidden_size: -4 }));
    expectCheckpointError(() => Checkpoint.open(sub('a')), config, '"hidden_size" must be a positive integer');
    fs.rmSync(config);
    expectCheckpointError(() => Checkpoint.open(sub('a')), config, 'config.json is missing');
  });

  it('when the directory or its weights are missing', () => {
    expectCheckpointError(() => Checkpoint.open(sub('nowhere')), sub('nowhere'), 'checkpoint directory does not exist');
    fs.writeFileSync(sub('config.json'), JSON.stringify(configToJson(tiny)));
    expectCheckpointError(() => Checkpoint.open(dir), dir, 'neither model.safetensors nor model.safetensors.index.json exists');
  });
});
