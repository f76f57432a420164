// Wire codec: msgpack messages and the {dtype, shape, data} tensors inside them.
import { CodecError } from './errors.js';
import { Packr, Unpackr } from 'msgpackr';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../model/half-float.js';

/** How tensors may travel. */
export const WIRE_DTYPES = ['f32', 'bf16', 'f16'] as const;
export type WireDtype = (typeof WIRE_DTYPES)[number];

/** A tensor as it travels: `data` holds the raw little-endian element bytes. */
export interface WireTensor {
  dtype: WireDtype;
  shape: number[];
  data: Uint8Array;
}

export interface DecodedTensor {
  data: Float32Array;
  shape: number[];
  /** How it travelled: an answer may go back the same way. */
  dtype: WireDtype;
}


export const DEFAULT_WIRE_DTYPE: WireDtype = 'f32';

const BYTES_PER_ELEMENT: Record<WireDtype, number> = { f32: 4, bf16: 2, f16: 2 };

// msgpack reserves 0xc1 as "never used"; msgpackr decodes it to a marker object instead of failing.
const MSGPACK_NEVER_USED = 0xc1;

// Typed arrays use the host byte order; the wire is little-endian and we send views, not copies.
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!HOST_IS_LITTLE_ENDIAN) {
  throw new CodecError('eaas needs a little-endian host: tensors go on the wire as host-order views');
}

// Plain msgpack only (no records, no typed-array extensions, undefined as nil), so that
// other languages can read our messages; Uint8Array travels as msgpack bin.
const packr = new Packr({ useRecords: false, moreTypes: false, encodeUndefinedAsNil: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export function encodeMessage(obj: unknown): Uint8Array {
  try {
    return packr.pack(obj);
  } catch (cause) {
    throw new CodecError(`cannot encode message: ${errorMessage(cause)}`, { cause });
  }
}

/** Decodes one whole msgpack value; bin fields come back as views into `bytes`. */
export function decodeMessage(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) {
    throw new CodecError(`message must be bytes, got ${describe(bytes)}`);
  }
  if (bytes.byteLength === 0) throw new CodecError('message is empty');
  if (bytes[0] === MSGPACK_NEVER_USED) throw new CodecError('message is not msgpack (starts with reserved byte 0xc1)');
  try {
    // unpack() also fails when bytes remain after the first value.
    return unpackr.unpack(bytes);
  } catch (cause) {
    throw new CodecError(`message is not valid msgpack: ${errorMessage(cause)}`, { cause });
  }
}

/** Packs a float32 tensor for the wire; f32 shares `data`'s memory, bf16/f16 halve the bytes. */
export function encodeTensor(data: Float32Array, shape: number[], wire: WireDtype = DEFAULT_WIRE_DTYPE): WireTensor {
  const count = elementCount(shape);
  if (data.length !== count) {
    throw new CodecError(`tensor has ${data.length} elements but shape [${shape.join(', ')}] needs ${count}`);
  }
  switch (wire) {
    case 'f32':
      return { dtype: wire, shape, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
    case 'bf16':
      return { dtype: wire, shape, data: asBytes(f32ToBf16(data)) };
    case 'f16':
      return { dtype: wire, shape, data: asBytes(f32ToF16(data)) };
    default:
      throw new CodecError(`unknown wire dtype ${JSON.stringify(wire)} (expected f32, bf16 or f16)`);
  }
}

/** Checks a decoded value strictly and widens it to float32 (a view when f32 and aligned). */
export function decodeTensor(t: unknown): DecodedTensor {
  if (typeof t !== 'object' || t === null || Array.isArray(t)) {
    throw new CodecError(`tensor must be a map {dtype, shape, data}, got ${describe(t)}`);
  }
  const { dtype, shape, data } = t as Record<string, unknown>;
  if (typeof dtype !== 'string' || !Object.hasOwn(BYTES_PER_ELEMENT, dtype)) {
    throw new CodecError(`tensor dtype ${JSON.stringify(dtype)} is not one of f32, bf16, f16`);
  }
  if (!Array.isArray(shape)) throw new CodecError(`tensor shape must be an array, got ${describe(shape)}`);
  const count = elementCount(shape);
  if (!(data instanceof Uint8Array)) throw new CodecError(`tensor data must be bytes, got ${describe(data)}`);
  const wire = dtype as WireDtype;
  const expected = count * BYTES_PER_ELEMENT[wire];
  if (data.byteLength !== expected) {
    throw new CodecError(
      `tensor data has ${data.byteLength} bytes but ${wire} shape [${shape.join(', ')}] needs ${expected}`,
    );
  }
  switch (wire) {
    case 'f32':
      return { data: f32View(data, count), shape, dtype: wire };
    case 'bf16':
      return { data: bf16ToF32(halves(data, count)), shape, dtype: wire };
    case 'f16':
      return { data: f16ToF32(halves(data, count)), shape, dtype: wire };
  }
}

function elementCount(shape: unknown[]): number {
  let count = 1;
  for (const dim of shape) {
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) {
      throw new CodecError(`tensor shape [${shape.join(', ')}] must hold non-negative integers`);
    }
    count *= dim;
  }
  if (!Number.isSafeInteger(count)) throw new CodecError(`tensor shape [${shape.join(', ')}] is too large`);
  return count;
}

function f32View(bytes: Uint8Array, count: number): Float32Array {
  if (bytes.byteOffset % Float32Array.BYTES_PER_ELEMENT === 0) {
    return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  }
  // A Float32Array cannot start at an unaligned offset: copy.
  const out = new Float32Array(count);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

/** Views of bytes as 16-bit halves; unaligned bytes are copied first (msgpackr hands out Buffers at any offset). */
function halves(bytes: Uint8Array, count: number): Uint16Array {
  const aligned = bytes.byteOffset % 2 === 0 ? bytes : new Uint8Array(bytes);
  return new Uint16Array(aligned.buffer, aligned.byteOffset, count);
}

const asBytes = (a: Uint16Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  return typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
