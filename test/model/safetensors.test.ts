// The safetensors reader and writer: round trips per dtype, float rounding, and broken files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CheckpointError } from '../../model/errors.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../model/half-float.js';
import { SafetensorsFile, writeSafetensors, type Dtype } from '../../model/safetensors.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eaas-safetensors-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const bitsOf = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** Writes a file by hand: length prefix, the header (JSON-encoded unless text or bytes), then data. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0)): string {
  const json = header instanceof Uint8Array ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const file = path.join(dir, 'broken.safetensors');
  fs.writeFileSync(file, Buffer.concat([length, json, data]));
  return file;
}

function expectCheckpointError(fn: () => unknown, file: string, problem: string | RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(CheckpointError);
  expect((error as CheckpointError).file).toBe(file);
  expect((error as Error).message.startsWith(`${file}: `)).toBe(true);
  if (typeof problem === 'string') expect((error as Error).message).toContain(problem);
  else expect((error as Error).message).toMatch(problem);
}

function roundTrip(dtype: Dtype, data: Float32Array, shape = [data.length]): Float32Array {
  const file = path.join(dir, `${dtype}.safetensors`);
  writeSafetensors(file, [{ name: 'x', dtype, shape, data }]);
  const st = SafetensorsFile.open(file);
  try {
    expect(st.info('x')).toMatchObject({ dtype, shape });
    return st.read('x');
  } finally {
    st.close();
  }
}

/** Every 16-bit pattern as a 2-byte float, widened to f32. */
const all16 = (widen: (b: Uint16Array) => Float32Array): Float32Array => widen(Uint16Array.from({ length: 0x10000 }, (_, i) => i));

describe('round trips', () => {
  it('keeps F32 bit for bit, specials included', () => {
    const data = Float32Array.from([0, -0, 1.5, -3.25e-42, 3.4028234663852886e38, Infinity, -Infinity, NaN, Math.PI]);
    expect(Array.from(bitsOf(roundTrip('F32', data, [3, 3])))).toEqual(Array.from(bitsOf(data)));
  });

  it.each([
    ['BF16', bf16ToF32],
    ['F16', f16ToF32],
  ] as const)('keeps every value representable in %s exactly', (dtype, widen) => {
    const data = all16(widen);
    const back = roundTrip(dtype, data, [256, 256]);
    const wrong = data.filter((x, i) => (Number.isNaN(x) ? !Number.isNaN(back[i]) : bitsOf(back)[i] !== bitsOf(data)[i]));
    expect(wrong).toEqual(new Float32Array(0));
  });

  it('writes metadata, several tensors and lazily generated data', () => {
    const file = path.join(dir, 'multi.safetensors');
    const calls: string[] = [];
    const lazy = (name: string, values: number[]) => () => (calls.push(name), Float32Array.from(values));
    writeSafetensors(
      file,
      [
        { name: 'a', dtype: 'F32', shape: [2], data: lazy('a', [1, 2]) },
        { name: 'b', dtype: 'BF16', shape: [1, 3], data: lazy('b', [3, 4, 5]) },
        { name: 'c', dtype: 'F16', shape: [0], data: new Float32Array(0) },
        { name: 'd', dtype: 'F16', shape: [], data: Float32Array.of(-2) },
      ],
      { format: 'pt' },
    );
    expect(calls).toEqual(['a', 'b']);
    const st = SafetensorsFile.open(file);
    expect(st.metadata).toEqual({ format: 'pt' });
    expect([...st.tensors.keys()]).toEqual(['a', 'b', 'c', 'd']);
    expect(Array.from(st.read('a'))).toEqual([1, 2]);
    expect(Array.from(st.read('b'))).toEqual([3, 4, 5]);
    expect(st.read('c').length).toBe(0);
    expect(Array.from(st.read('d'))).toEqual([-2]);
    st.close();
    // the data section starts 8-byte aligned, as the reference writer leaves it
    expect(Number(fs.readFileSync(file).readBigUInt64LE(0)) % 8).toBe(0);
  });

  it('refuses data whose length does not match the shape', () => {
    const file = path.join(dir, 'bad.safetensors');
    expectCheckpointError(
      () => writeSafetensors(file, [{ name: 'x', dtype: 'F32', shape: [2, 2], data: new Float32Array(3) }]),
      file,
      'tensor x has 3 values but shape [2, 2] needs 4',
    );
  });
});

describe('float conversions', () => {
  const narrow = (f: (a: Float32Array) => Uint16Array, widen: (b: Uint16Array) => Float32Array, x: number): number =>
    widen(f(Float32Array.of(x)))[0];

  it.each([
    [1 + 2 ** -8, 1], // tie, to even
    [1 + 3 * 2 ** -8, 1 + 2 ** -6], // tie, up to even
    [1 + 2 ** -8 + 2 ** -20, 1 + 2 ** -7], // just above the tie
    [1 + 2 ** -9, 1],
    [-(1 + 2 ** -8 + 2 ** -20), -(1 + 2 ** -7)],
    [3.4028234663852886e38, Infinity], // f32 max rounds past bf16 max
    [1e-40, 2 ** -133], // f32 subnormal to the nearest bf16 subnormal
    [Infinity, Infinity],
    [-0, -0],
  ])('rounds %d to bf16 %d', (x, expected) => {
    expect(Object.is(narrow(f32ToBf16, bf16ToF32, x), expected)).toBe(true);
  });

  it.each([
    [65504, 65504],
    [65519, 65504],
    [65520, Infinity], // halfway to 2^16, whose mantissa is even
    [-65520, -Infinity],
    [1e6, Infinity],
    [2 ** -24, 2 ** -24], // least subnormal
    [2 ** -25, 0], // tie between 0 and 2^-24, to even
    [2 ** -25 + 2 ** -40, 2 ** -24],
    [3 * 2 ** -26, 2 ** -24],
    [1.5 * 2 ** -24, 2 * 2 ** -24],
    [2.5 * 2 ** -24, 2 * 2 ** -24],
    [1e-8, 0],
    [2 ** -14 - 2 ** -25, 2 ** -14], // tie between the largest subnormal and the least normal
    [1 + 2 ** -11, 1],
    [1 + 3 * 2 ** -11, 1 + 2 ** -9],
    [1 + 2 ** -11 + 2 ** -20, 1 + 2 ** -10],
    [0.1, 0.0999755859375],
    [1 / 3, 0.333251953125],
    [-0, -0],
    [-Infinity, -Infinity],
  ])('rounds %d to f16 %d', (x, expected) => {
    expect(Object.is(narrow(f32ToF16, f16ToF32, x), expected)).toBe(true);
  });

  it('keeps NaN a NaN', () => {
    expect(bf16ToF32(f32ToBf16(Float32Array.of(NaN)))[0]).toBeNaN();
    expect(f16ToF32(f32ToF16(Float32Array.of(NaN)))[0]).toBeNaN();
    // a payload that lives only in the low bits must not collapse to infinity
    const lowPayload = new Float32Array(new Uint32Array([0x7f800001]).buffer);
    expect(bf16ToF32(f32ToBf16(lowPayload))[0]).toBeNaN();
    expect(f16ToF32(f32ToF16(lowPayload))[0]).toBeNaN();
  });

  it.each([
    [0x0001, 2 ** -24],
    [0x03ff, 1023 * 2 ** -24],
    [0x0400, 2 ** -14],
    [0x3c00, 1],
    [0xc000, -2],
    [0x3555, 0.333251953125],
    [0x7bff, 65504],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
    [0x8000, -0],
  ])('widens f16 bits %s to %d', (bits, expected) => {
    expect(Object.is(f16ToF32(Uint16Array.of(bits))[0], expected)).toBe(true);
  });

  it('rounds random f32 values to the nearest f16, ties to even', () => {
    const xs = new Float32Array(20_000);
    const bits = bitsOf(xs);
    let s = 12345;
    for (let i = 0; i < xs.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      // exponents spanning f16's subnormals up to just below its max
      bits[i] = (s & 0x80000000) | ((100 + (s % 42)) << 23) | (Math.imul(s, 0x9e3779b1) >>> 9);
    }
    const h = f32ToF16(xs);
    const widened = f16ToF32(h);
    const wrong: number[] = [];
    for (let i = 0; i < xs.length; i++) {
      const err = Math.abs(xs[i] - widened[i]);
      const magnitude = h[i] & 0x7fff;
      for (const neighbour of [magnitude - 1, magnitude + 1]) {
        if (neighbour < 0 || neighbour > 0x7bff) continue;
        const other = Math.abs(xs[i] - f16ToF32(Uint16Array.of((h[i] & 0x8000) | neighbour))[0]);
        if (err > other || (err === other && (magnitude & 1) === 1)) wrong.push(xs[i]);
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('broken files', () => {
  const f32 = (n: number): Uint8Array => new Uint8Array(new Float32Array(n).buffer);

  it('rejects a file shorter than the header length', () => {
    const file = path.join(dir, 'short.safetensors');
    fs.writeFileSync(file, Buffer.from([1, 2, 3]));
    expectCheckpointError(() => SafetensorsFile.open(file), file, 'file is truncated: 3 bytes');
  });

  it('rejects a header length past the end of the file', () => {
    const file = rawFile('{}');
    const bytes = fs.readFileSync(file);
    bytes.writeBigUInt64LE(1000n, 0);
    fs.writeFileSync(file, bytes);
    expectCheckpointError(() => SafetensorsFile.open(file), file, 'header length 1000 runs past the end of the file (10 bytes)');
  });

  it('rejects an absurd header length without allocating it', () => {
    const file = rawFile('{}');
    const bytes = fs.readFileSync(file);
    bytes.writeBigUInt64LE(0xffff_ffff_ffff_ffffn, 0);
    fs.writeFileSync(file, bytes);
    expectCheckpointError(() => SafetensorsFile.open(file), file, 'runs past the end of the file');
  });

  it('rejects a header that is not JSON, not UTF-8 or not an object', () => {
    let file = rawFile('{"x": {"dtype": "F32"');
    expectCheckpointError(() => SafetensorsFile.open(file), file, 'header is not valid JSON');
    file = rawFile('[1, 2]');
    expectCheckpointError(() => SafetensorsFile.open(file), file, 'header must be a JSON object');
    file = rawFile(Uint8Array.of(0x7b, 0xff, 0x7d));
    expectCheckpointError(() => SafetensorsFile.open(file), file, 'header is not valid UTF-8');
  });

  it.each([
    [{ x: 'F32' }, 'tensor x: entry must be an object'],
    [{ x: { shape: [1], data_offsets: [0, 4] } }, 'tensor x: dtype must be a string'],
    [{ x: { dtype: 'F32', data_offsets: [0, 4] } }, 'tensor x: shape must be an array of non-negative integers'],
    [{ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 'tensor x: shape must be'],
    [{ x: { dtype: 'F32', shape: [1] } }, 'tensor x: data_offsets must be [begin, end]'],
    [{ x: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, 'tensor x: data_offsets must be [begin, end]'],
    [{ x: { dtype: 'F32', shape: [1], data_offsets: [0, 1.5] } }, 'tensor x: data_offsets must be [begin, end]'],
    [{ __metadata__: { n: 1 }, x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, '__metadata__ must be an object of strings'],
  ])('rejects an invalid entry %j', (header, problem) => {
    const file = rawFile(header, f32(4));
    expectCheckpointError(() => SafetensorsFile.open(file), file, problem);
  });

  it('rejects data_offsets out of bounds of the data section', () => {
    const file = rawFile({ x: { dtype: 'F32', shape: [4], data_offsets: [4, 20] } }, f32(4));
    expectCheckpointError(() => SafetensorsFile.open(file), file, 'tensor x: data_offsets [4, 20] are out of bounds of the data section (16 bytes)');
  });

  it('rejects overlapping tensors whatever their order in the header', () => {
    const file = rawFile(
      {
        c: { dtype: 'F32', shape: [2], data_offsets: [24, 32] },
        b: { dtype: 'F32', shape: [3], data_offsets: [4, 16] },
        a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
        e: { dtype: 'F32', shape: [0], data_offsets: [8, 8] },
        d: { dtype: 'F32', shape: [3], data_offsets: [12, 24] },
      },
      f32(8),
    );
    expectCheckpointError(() => SafetensorsFile.open(file), file, 'tensors b [4, 16) and d [12, 24) overlap');
  });

  it('rejects a byte length that does not match dtype and shape', () => {
    const file = rawFile({ x: { dtype: 'BF16', shape: [2, 3], data_offsets: [0, 16] } }, f32(4));
    expectCheckpointError(() => SafetensorsFile.open(file), file, 'tensor x: has 16 bytes but dtype BF16 and shape [2, 3] need 12');
  });

  it('names an unsupported dtype', () => {
    const file = rawFile({ x: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, f32(4));
    expectCheckpointError(() => SafetensorsFile.open(file), file, 'dtype I64 of tensor x is not supported (F32, BF16, F16 are)');
  });

  it('reports a read cut short by a file truncated after its header was read', () => {
    const file = path.join(dir, 'ok.safetensors');
    writeSafetensors(file, [{ name: 'x', dtype: 'F32', shape: [64], data: new Float32Array(64) }]);
    const st = SafetensorsFile.open(file);
    fs.truncateSync(file, fs.statSync(file).size - 10);
    expectCheckpointError(() => st.read('x'), file, /short read of tensor x: got 246 of 256 bytes at offset \d+; the file is truncated/);
    st.close();
  });

  it('reports a missing tensor and a missing file', () => {
    const file = path.join(dir, 'ok.safetensors');
    writeSafetensors(file, [{ name: 'x', dtype: 'F32', shape: [1], data: new Float32Array(1) }]);
    expectCheckpointError(() => SafetensorsFile.open(file).read('y'), file, 'missing tensor y');
    const absent = path.join(dir, 'absent.safetensors');
    expectCheckpointError(() => SafetensorsFile.open(absent), absent, 'cannot open file');
  });
});
