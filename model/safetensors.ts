// The safetensors format: header parsing, positioned reads of single tensors, and a streaming writer.
// Layout: u64 little-endian header length N, N bytes of UTF-8 JSON, then the data section that the
// JSON's data_offsets point into. Typed-array views assume a little-endian host, as Node's targets are.
import fs from 'node:fs';
import { CheckpointError } from './errors.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './half-float.js';

export type Dtype = 'F32' | 'BF16' | 'F16';

export const DTYPE_BYTES: Readonly<Record<Dtype, number>> = { F32: 4, BF16: 2, F16: 2 };

/** Where one tensor lives in its file; offset is absolute in the file. */
export interface TensorInfo {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly byteLength: number;
}

/** A tensor to write; `data` may be a function so a large file is generated tensor by tensor. */
export interface TensorToWrite {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly data: Float32Array | (() => Float32Array);
}

const LENGTH_BYTES = 8;
// The reference implementation refuses larger headers; a garbage length must not allocate gigabytes.
const MAX_HEADER_BYTES = 100_000_000;
// Linux transfers at most this many bytes per read/write call.
const MAX_IO_BYTES = 0x7fff_f000;
// The reference writer pads the header with spaces so the data section starts 8-byte aligned.
const HEADER_ALIGN = 8;
const METADATA_KEY = '__metadata__';
const SUPPORTED = Object.keys(DTYPE_BYTES).join(', ');

// ---- reading -----------------------------------------------------------------------------------

/** A safetensors file whose header is parsed; tensors are read on demand with positioned reads. */
export class SafetensorsFile {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    readonly metadata: Readonly<Record<string, string>>,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
  ) {}

  /** Reads and checks the header only; no file descriptor stays open. */
  static open(path: string): SafetensorsFile {
    const fd = openFile(path);
    try {
      const size = fs.fstatSync(fd).size;
      if (size < LENGTH_BYTES) {
        throw new CheckpointError(path, `file is truncated: ${size} bytes, shorter than the ${LENGTH_BYTES}-byte header length`);
      }
      const lengthBytes = Buffer.alloc(LENGTH_BYTES);
      readFully(fd, lengthBytes, 0, path, 'the header length');
      const length = lengthBytes.readBigUInt64LE(0);
      if (length > BigInt(size - LENGTH_BYTES)) {
        throw new CheckpointError(path, `header length ${length} runs past the end of the file (${size} bytes)`);
      }
      if (length > BigInt(MAX_HEADER_BYTES)) {
        throw new CheckpointError(path, `header length ${length} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
      }
      const header = Buffer.alloc(Number(length));
      readFully(fd, header, LENGTH_BYTES, path, 'the header');
      const dataStart = LENGTH_BYTES + header.length;
      const { metadata, tensors } = parseHeader(path, decodeJson(path, header), dataStart, size - dataStart);
      return new SafetensorsFile(path, metadata, tensors);
    } finally {
      fs.closeSync(fd);
    }
  }

  info(name: string): TensorInfo | undefined {
    return this.tensors.get(name);
  }

  /** Reads one tensor as f32, touching only its own bytes. */
  read(name: string): Float32Array {
    const info = this.tensors.get(name);
    if (!info) throw new CheckpointError(this.path, `missing tensor ${name}`);
    const count = info.byteLength / DTYPE_BYTES[info.dtype];
    const what = `tensor ${name}`;
    if (info.dtype === 'F32') {
      const out = new Float32Array(count);
      readFully(this.descriptor(), new Uint8Array(out.buffer), info.offset, this.path, what);
      return out;
    }
    const raw = new Uint16Array(count);
    readFully(this.descriptor(), new Uint8Array(raw.buffer), info.offset, this.path, what);
    return info.dtype === 'BF16' ? bf16ToF32(raw) : f16ToF32(raw);
  }

  /** Closes the descriptor if one is open; a later read opens it again. */
  close(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private descriptor(): number {
    return (this.fd ??= openFile(this.path));
  }
}

function openFile(path: string): number {
  try {
    return fs.openSync(path, 'r');
  } catch (cause) {
    throw new CheckpointError(path, `cannot open file (${(cause as Error).message})`, { cause });
  }
}

function readFully(fd: number, buf: Uint8Array, position: number, path: string, what: string): void {
  let done = 0;
  while (done < buf.length) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, done, Math.min(buf.length - done, MAX_IO_BYTES), position + done);
    } catch (cause) {
      throw new CheckpointError(path, `cannot read ${what} (${(cause as Error).message})`, { cause });
    }
    if (n === 0) {
      throw new CheckpointError(path, `short read of ${what}: got ${done} of ${buf.length} bytes at offset ${position}; the file is truncated`);
    }
    done += n;
  }
}

function decodeJson(path: string, header: Uint8Array): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(header);
  } catch (cause) {
    throw new CheckpointError(path, 'header is not valid UTF-8', { cause });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new CheckpointError(path, `header is not valid JSON (${(cause as Error).message})`, { cause });
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function parseHeader(
  path: string,
  json: unknown,
  dataStart: number,
  dataBytes: number,
): { metadata: Record<string, string>; tensors: Map<string, TensorInfo> } {
  if (!isObject(json)) throw new CheckpointError(path, 'header must be a JSON object');
  const metadata = parseMetadata(path, json[METADATA_KEY]);
  const ranges: { name: string; begin: number; end: number }[] = [];
  const tensors = new Map<string, TensorInfo>();
  for (const [name, entry] of Object.entries(json)) {
    if (name === METADATA_KEY) continue;
    const bad = (problem: string): CheckpointError => new CheckpointError(path, `tensor ${name}: ${problem}`);
    if (!isObject(entry)) throw bad('entry must be an object with dtype, shape and data_offsets');
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string') throw bad(`dtype must be a string, got ${JSON.stringify(dtype)}`);
    if (!Object.hasOwn(DTYPE_BYTES, dtype)) {
      throw new CheckpointError(path, `dtype ${dtype} of tensor ${name} is not supported (${SUPPORTED} are)`);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw bad(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      throw bad(`data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataBytes) {
      throw bad(`data_offsets [${begin}, ${end}] are out of bounds of the data section (${dataBytes} bytes)`);
    }
    const expected = shape.reduce((a: number, d: number) => a * d, 1) * DTYPE_BYTES[dtype as Dtype];
    if (end - begin !== expected) {
      throw bad(`has ${end - begin} bytes but dtype ${dtype} and shape [${shape.join(', ')}] need ${expected}`);
    }
    tensors.set(name, { dtype: dtype as Dtype, shape, offset: dataStart + begin, byteLength: end - begin });
    if (end > begin) ranges.push({ name, begin, end });
  }
  ranges.sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < ranges.length; i++) {
    const [a, b] = [ranges[i - 1], ranges[i]];
    if (b.begin < a.end) {
      throw new CheckpointError(path, `tensors ${a.name} [${a.begin}, ${a.end}) and ${b.name} [${b.begin}, ${b.end}) overlap`);
    }
  }
  return { metadata, tensors };
}

function parseMetadata(path: string, raw: unknown): Record<string, string> {
  if (raw === undefined) return {};
  if (!isObject(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
    throw new CheckpointError(path, `${METADATA_KEY} must be an object of strings`);
  }
  return raw as Record<string, string>;
}

// ---- writing -----------------------------------------------------------------------------------

/**
 * Writes a safetensors file: the header first, then each tensor encoded to its dtype, one at a
 * time, so only one tensor is ever in memory (pass `data` as a function to generate it lazily).
 */
export function writeSafetensors(path: string, tensors: readonly TensorToWrite[], metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = {};
  if (metadata) header[METADATA_KEY] = metadata;
  let offset = 0;
  for (const t of tensors) {
    if (t.name === METADATA_KEY || Object.hasOwn(header, t.name)) {
      throw new CheckpointError(path, `tensor name ${t.name} is reserved or used twice`);
    }
    const bytes = elementCount(path, t) * DTYPE_BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Math.ceil(json.length / HEADER_ALIGN) * HEADER_ALIGN;
  const head = Buffer.alloc(LENGTH_BYTES + length, ' ');
  head.writeBigUInt64LE(BigInt(length), 0);
  json.copy(head, LENGTH_BYTES);

  let fd: number;
  try {
    fd = fs.openSync(path, 'w');
  } catch (cause) {
    throw new CheckpointError(path, `cannot create file (${(cause as Error).message})`, { cause });
  }
  try {
    writeFully(fd, head, path);
    for (const t of tensors) {
      const data = typeof t.data === 'function' ? t.data() : t.data;
      const count = elementCount(path, t);
      if (data.length !== count) {
        throw new CheckpointError(path, `tensor ${t.name} has ${data.length} values but shape [${t.shape.join(', ')}] needs ${count}`);
      }
      writeFully(fd, encode(t.dtype, data), path);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function elementCount(path: string, t: TensorToWrite): number {
  if (!t.shape.every(isCount)) throw new CheckpointError(path, `tensor ${t.name} has an invalid shape ${JSON.stringify(t.shape)}`);
  return t.shape.reduce((a, d) => a * d, 1);
}

function encode(dtype: Dtype, data: Float32Array): Uint8Array {
  const typed = dtype === 'F32' ? data : dtype === 'BF16' ? f32ToBf16(data) : f32ToF16(data);
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

function writeFully(fd: number, bytes: Uint8Array, path: string): void {
  let done = 0;
  while (done < bytes.length) {
    try {
      done += fs.writeSync(fd, bytes, done, Math.min(bytes.length - done, MAX_IO_BYTES));
    } catch (cause) {
      throw new CheckpointError(path, `cannot write (${(cause as Error).message})`, { cause });
    }
  }
}
