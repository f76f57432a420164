// A Hugging Face checkpoint directory of any family: config.json plus one safetensors file or a sharded set.
import fs from 'node:fs';
import path from 'node:path';
import { familyName, parseConfig, type ModelConfig } from './config.js';
import { CheckpointError, ModelInputError } from './errors.js';
import { isMoeLayer } from './families/shape.js';
import {
  embeddingsTensor,
  expertTensors,
  finalNormTensor,
  layerTensors,
  lmHeadTensor,
  modelTensors,
  type ExpertWeights,
  type FamilyLayerWeights,
  type LayerRole,
  type LayerWeights,
  type TensorKind,
  type TensorSpec,
} from './families/tensors.js';
import { SafetensorsFile } from './safetensors.js';

export const CONFIG_FILE = 'config.json';
export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

export type { ExpertWeights, FamilyLayerWeights, LayerRole, LayerWeights, TensorKind, TensorSpec };
export { embeddingsTensor, expertTensors, finalNormTensor, layerTensors, lmHeadTensor, modelTensors };
/** The name from before other families: every tensor a config requires. */
export const mixtralTensors = modelTensors;

/** An opened checkpoint: headers parsed and checked against config.json; tensors read on demand. */
export class Checkpoint {
  private constructor(
    readonly dir: string,
    readonly config: ModelConfig,
    // the file that lists the tensors, named when one is missing
    private readonly listing: string,
    private readonly files: ReadonlyMap<string, SafetensorsFile>,
  ) {}

  /** Opens and validates a checkpoint directory; no tensor data is read. */
  static open(dir: string): Checkpoint {
    const config = readConfig(dir);
    const single = path.join(dir, SINGLE_FILE);
    const { listing, files } = fs.existsSync(single) ? openSingle(single) : openSharded(dir);
    const checkpoint = new Checkpoint(dir, config, listing, files);
    checkpoint.validate();
    return checkpoint;
  }

  /** Checks from the headers that every tensor the config requires exists with its shape. */
  validate(): void {
    for (const t of modelTensors(this.config)) this.locate(t.name, t.shape);
  }

  tensor(name: string, expectedShape: readonly number[]): Float32Array {
    return this.locate(name, expectedShape).read(name);
  }

  expert(layer: number, j: number): ExpertWeights {
    checkIndex('layer', layer, this.config.numHiddenLayers);
    checkIndex('expert', j, this.config.numLocalExperts);
    if (!isMoeLayer(this.config, layer)) throw new ModelInputError(`layer ${layer} is a dense layer: it has no experts`);
    return this.readAll(expertTensors(this.config, layer, j));
  }

  /** A Mixtral-shaped layer (attention q/k/v/o and a router); other layers: use layerWeights. */
  layer(i: number): LayerWeights {
    const w = this.layerWeights(i);
    const missing = (['q', 'k', 'v', 'o', 'router'] as const).find((role) => !w[role]);
    if (missing) throw new ModelInputError(`layer ${i} of this ${familyName(this.config)} checkpoint has no ${missing} weight; read it with layerWeights`);
    return w as LayerWeights;
  }

  /** A decoder layer of any family: the roles its family and kind (dense or MoE) have. */
  layerWeights(i: number): FamilyLayerWeights {
    checkIndex('layer', i, this.config.numHiddenLayers);
    return this.readAll(layerTensors(this.config, i) as Record<LayerRole, TensorSpec>);
  }

  embeddings(): Float32Array {
    return this.read(embeddingsTensor(this.config));
  }

  finalNorm(): Float32Array {
    return this.read(finalNormTensor(this.config));
  }

  lmHead(): Float32Array {
    return this.config.tieWordEmbeddings ? this.embeddings() : this.read(lmHeadTensor(this.config));
  }

  /** Closes the open file descriptors. */
  close(): void {
    for (const file of new Set(this.files.values())) file.close();
  }

  private read(t: TensorSpec): Float32Array {
    return this.tensor(t.name, t.shape);
  }

  private readAll<K extends string>(specs: Record<K, TensorSpec>): Record<K, Float32Array> {
    const out = {} as Record<K, Float32Array>;
    for (const key of Object.keys(specs) as K[]) out[key] = this.read(specs[key]);
    return out;
  }

  private locate(name: string, expectedShape: readonly number[]): SafetensorsFile {
    const file = this.files.get(name);
    const info = file?.info(name);
    if (!file || !info) throw new CheckpointError(this.listing, `missing tensor ${name}`);
    if (info.shape.length !== expectedShape.length || info.shape.some((d, i) => d !== expectedShape[i])) {
      throw new CheckpointError(
        file.path,
        `shape [${info.shape.join(', ')}] of tensor ${name} does not match config.json (expected [${expectedShape.join(', ')}])`,
      );
    }
    return file;
  }
}

function checkIndex(what: string, value: number, count: number): void {
  if (!Number.isInteger(value) || value < 0 || value >= count) {
    throw new ModelInputError(`${what} ${value} is out of range (the checkpoint has ${count})`);
  }
}

function readConfig(dir: string): ModelConfig {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CheckpointError(dir, missing ? 'checkpoint directory does not exist' : `cannot access (${(cause as Error).message})`, { cause });
  }
  if (!stat.isDirectory()) throw new CheckpointError(dir, 'checkpoint path is not a directory');
  const file = path.join(dir, CONFIG_FILE);
  return parseConfig(readJson(file), file);
}

function readJson(file: string): unknown {
  const name = path.basename(file);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CheckpointError(file, missing ? `${name} is missing` : `cannot read ${name} (${(cause as Error).message})`, { cause });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new CheckpointError(file, `${name} is not valid JSON (${(cause as Error).message})`, { cause });
  }
}

interface Opened {
  listing: string;
  files: Map<string, SafetensorsFile>;
}

function openSingle(file: string): Opened {
  const st = SafetensorsFile.open(file);
  return { listing: file, files: new Map([...st.tensors.keys()].map((name) => [name, st])) };
}

function openSharded(dir: string): Opened {
  const index = path.join(dir, INDEX_FILE);
  if (!fs.existsSync(index)) throw new CheckpointError(dir, `neither ${SINGLE_FILE} nor ${INDEX_FILE} exists`);
  const json = readJson(index);
  const weightMap = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new CheckpointError(index, 'index must be a JSON object with a "weight_map" object');
  }
  const shards = new Map<string, SafetensorsFile>();
  const files = new Map<string, SafetensorsFile>();
  for (const [name, shard] of Object.entries(weightMap)) {
    // a shard is a plain file name: the index must not point outside the checkpoint directory
    if (typeof shard !== 'string' || !/^[^/\\]+$/.test(shard) || shard === '.' || shard === '..') {
      throw new CheckpointError(index, `weight_map entry of ${name} must be a file name in the directory, got ${JSON.stringify(shard)}`);
    }
    let file = shards.get(shard);
    if (!file) {
      const shardPath = path.join(dir, shard);
      if (!fs.existsSync(shardPath)) throw new CheckpointError(shardPath, `shard ${shard} listed in ${INDEX_FILE} does not exist`);
      file = SafetensorsFile.open(shardPath);
      shards.set(shard, file);
    }
    if (!file.info(name)) throw new CheckpointError(file.path, `tensor ${name} listed in ${INDEX_FILE} is missing from shard ${shard}`);
    files.set(name, file);
  }
  return { listing: index, files };
}
