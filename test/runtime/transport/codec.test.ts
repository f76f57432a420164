import { describe, expect, it } from 'vitest';
import { CodecError } from '../../../runtime/transport/errors.js';
import {
  decodeMessage,
  decodeTensor,
  encodeMessage,
  encodeTensor,
  type WireDtype,
  type WireTensor,
} from '../../../runtime/transport/codec.js';

const SHAPES: number[][] = [[], [1], [7], [2, 3], [3, 1, 5], [0], [0, 16], [4, 0, 2]];

function ramp(n: number): Float32Array {
  // Values with few significant bits, so bf16 and f16 hold them exactly.
  return Float32Array.from({ length: n }, (_, i) => (i % 17) * 0.25 - 2);
}

function count(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function viaMessage(t: WireTensor): unknown {
  return (decodeMessage(encodeMessage({ t })) as { t: unknown }).t;
}

function halves(bits: Uint16Array, dtype: 'bf16' | 'f16'): WireTensor {
  return { dtype, shape: [bits.length], data: new Uint8Array(bits.buffer) };
}

describe('tensor round trips', () => {
  for (const dtype of ['f32', 'bf16', 'f16'] as WireDtype[]) {
    for (const shape of SHAPES) {
      it(`${dtype} [${shape.join(', ')}]`, () => {
        const data = ramp(count(shape));
        const wire = encodeTensor(data, shape, dtype);
        expect(wire.dtype).toBe(dtype);
        expect(wire.data.byteLength).toBe(data.length * (dtype === 'f32' ? 4 : 2));
        const back = decodeTensor(viaMessage(wire));
        expect(back.shape).toEqual(shape);
        expect(Array.from(back.data)).toEqual(Array.from(data));
      });
    }
  }

  it('f32 is exact for any value, including NaN, infinities and -0', () => {
    const data = new Float32Array([Math.PI, -1e-45, 3.4028234663852886e38, Infinity, -Infinity, NaN, -0, 1 / 3]);
    const back = decodeTensor(viaMessage(encodeTensor(data, [2, 4])));
    expect(new Uint8Array(back.data.buffer, back.data.byteOffset, back.data.byteLength)).toEqual(
      new Uint8Array(data.buffer),
    );
  });

  it('f16 keeps every representable value: all 65536 bit patterns survive decode then encode', () => {
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const decoded = decodeTensor(halves(bits, 'f16')).data;
    const again = new Uint16Array(encodeTensor(decoded, [decoded.length], 'f16').data.slice().buffer);
    for (let i = 0; i < bits.length; i++) {
      const isNaN = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (isNaN) expect(Number.isNaN(decoded[i])).toBe(true);
      else if (again[i] !== i) expect.fail(`f16 0x${i.toString(16)} came back as 0x${again[i]!.toString(16)}`);
    }
  });

  it('bf16 keeps every representable value: all 65536 bit patterns survive decode then encode', () => {
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const decoded = decodeTensor(halves(bits, 'bf16')).data;
    const again = new Uint16Array(encodeTensor(decoded, [decoded.length], 'bf16').data.slice().buffer);
    for (let i = 0; i < bits.length; i++) {
      const isNaN = (i & 0x7f80) === 0x7f80 && (i & 0x7f) !== 0;
      if (isNaN) expect(Number.isNaN(decoded[i])).toBe(true);
      else if (again[i] !== i) expect.fail(`bf16 0x${i.toString(16)} came back as 0x${again[i]!.toString(16)}`);
    }
  });

  it('f16 rounds to nearest even, through subnormals and into infinity', () => {
    const cases: [number, number][] = [
      [1 + 2 ** -11, 1], // tie -> even
      [1 + 3 * 2 ** -11, 1 + 2 ** -9], // tie -> even (up)
      [1 + 2 ** -11 + 2 ** -20, 1 + 2 ** -10], // just past the tie
      [65519, 65504],
      [65520, Infinity], // tie between max and the next step: even is the overflow
      [1e9, Infinity],
      [-1e9, -Infinity],
      [2 ** -24, 2 ** -24], // smallest subnormal
      [2 ** -25, 0], // tie -> even (zero)
      [3 * 2 ** -25, 2 ** -23], // tie -> even (two units)
      [2 ** -26, 0],
      [2 ** -14 - 2 ** -25, 2 ** -14], // largest subnormal rounds up into the smallest normal
    ];
    const data = Float32Array.from(cases.map(([x]) => x));
    const back = decodeTensor(encodeTensor(data, [data.length], 'f16')).data;
    expect(Array.from(back)).toEqual(cases.map(([, y]) => y));
    expect(Number.isNaN(decodeTensor(encodeTensor(new Float32Array([NaN]), [1], 'f16')).data[0])).toBe(true);
  });

  it('bf16 rounds to nearest even and overflows to infinity', () => {
    const cases: [number, number][] = [
      [1 + 2 ** -8, 1], // tie -> even
      [1 + 3 * 2 ** -8, 1 + 2 ** -6], // tie -> even (up)
      [1 + 2 ** -8 + 2 ** -20, 1 + 2 ** -7],
      [3.4028234663852886e38, Infinity], // f32 max is past bf16 max's rounding range
      [-3.4028234663852886e38, -Infinity],
      [2 ** -133, 2 ** -133], // a bf16 subnormal
    ];
    const data = Float32Array.from(cases.map(([x]) => x));
    const back = decodeTensor(encodeTensor(data, [data.length], 'bf16')).data;
    expect(Array.from(back)).toEqual(cases.map(([, y]) => y));
    expect(Number.isNaN(decodeTensor(encodeTensor(new Float32Array([NaN]), [1], 'bf16')).data[0])).toBe(true);
  });
});

describe('zero-copy', () => {
  it('f32 encode sends a view of the caller\'s array', () => {
    const backing = new Float32Array(10);
    const data = backing.subarray(2, 8);
    const wire = encodeTensor(data, [2, 3]);
    expect(wire.data.buffer).toBe(backing.buffer);
    expect(wire.data.byteOffset).toBe(8);
    expect(wire.data.byteLength).toBe(24);
  });

  it('f32 decode of a received message is a view into the message when aligned', () => {
    const data = ramp(12);
    // The tensor bytes land at an offset that depends on what precedes them; pad until aligned.
    const found = [0, 1, 2, 3].map((pad) => {
      const bytes = encodeMessage({ pad: 'x'.repeat(pad), t: encodeTensor(data, [3, 4]) });
      const copy = new Uint8Array(bytes); // as received: a fresh buffer at offset 0
      const t = (decodeMessage(copy) as { t: { data: Uint8Array } }).t;
      return { copy, t };
    }).find(({ t }) => t.data.byteOffset % 4 === 0);
    expect(found).toBeDefined();
    const { copy, t } = found!;
    expect(t.data.buffer).toBe(copy.buffer);
    const decoded = decodeTensor(t);
    expect(decoded.data.buffer).toBe(copy.buffer);
    expect(Array.from(decoded.data)).toEqual(Array.from(data));
  });

  it('f32 decode copies unaligned bytes and still gets the values right', () => {
    const data = ramp(6);
    const buffer = new Uint8Array(1 + data.byteLength);
    buffer.set(new Uint8Array(data.buffer), 1);
    const decoded = decodeTensor({ dtype: 'f32', shape: [6], data: buffer.subarray(1) });
    expect(decoded.data.buffer).not.toBe(buffer.buffer);
    expect(Array.from(decoded.data)).toEqual(Array.from(data));
  });

  it('half-precision decode handles unaligned bytes', () => {
    const wire = encodeTensor(ramp(5), [5], 'f16');
    const buffer = new Uint8Array(1 + wire.data.byteLength);
    buffer.set(wire.data, 1);
    const decoded = decodeTensor({ dtype: 'f16', shape: [5], data: buffer.subarray(1) });
    expect(Array.from(decoded.data)).toEqual(Array.from(ramp(5)));
  });
});

describe('messages', () => {
  it('round trips plain structures with Uint8Array fields as bytes', () => {
    const msg = { layer: 3, experts: [1, 7], rows: [[0, 2], [1]], name: 'x', ok: true, none: null, bytes: new Uint8Array([1, 2, 255]) };
    const back = decodeMessage(encodeMessage(msg)) as typeof msg;
    expect(back.bytes).toBeInstanceOf(Uint8Array);
    expect(Array.from(back.bytes)).toEqual([1, 2, 255]);
    expect({ ...back, bytes: null }).toEqual({ ...msg, bytes: null });
  });

  it('writes standard msgpack: a map with a str key and a bin value', () => {
    const bytes = encodeMessage({ d: new Uint8Array([9]) });
    // map16 (msgpackr writes maps with a fixed 16-bit length) | fixstr "d" | bin8 len 1 | 9
    expect(Array.from(bytes)).toEqual([0xde, 0x00, 0x01, 0xa1, 0x64, 0xc4, 0x01, 0x09]);
  });

  it.each([
    ['empty input', new Uint8Array(0)],
    ['text', new TextEncoder().encode('hello, world')],
    ['the reserved byte 0xc1', new Uint8Array([0xc1])],
    ['a truncated map', encodeMessage({ a: 1, b: 'two' }).subarray(0, 6)],
    ['trailing bytes', new Uint8Array([...encodeMessage({ a: 1 }), ...encodeMessage({ b: 2 })])],
  ])('rejects %s with CodecError', (_what, bytes) => {
    expect(() => decodeMessage(bytes)).toThrow(CodecError);
  });
});

describe('malformed tensors', () => {
  const good = (): Record<string, unknown> => ({ dtype: 'f32', shape: [2, 2], data: new Uint8Array(16) });

  it.each<[string, unknown, RegExp]>([
    ['null', null, /must be a map/],
    ['a number', 5, /must be a map/],
    ['an array', [1, 2], /must be a map/],
    ['an unknown dtype', { ...good(), dtype: 'f64' }, /dtype "f64"/],
    ['a missing dtype', { ...good(), dtype: undefined }, /dtype/],
    ['a shape that is not an array', { ...good(), shape: 4 }, /shape must be an array/],
    ['a negative dim', { ...good(), shape: [-2, -2] }, /non-negative integers/],
    ['a fractional dim', { ...good(), shape: [2, 2.5] }, /non-negative integers/],
    ['a string dim', { ...good(), shape: ['2', 2] }, /non-negative integers/],
    ['an overflowing shape', { ...good(), shape: [2 ** 30, 2 ** 30, 2 ** 30] }, /too large/],
    ['data that is not bytes', { ...good(), data: [0, 0, 0, 0] }, /data must be bytes/],
    ['too few bytes for the shape', { ...good(), data: new Uint8Array(12) }, /12 bytes but f32 shape \[2, 2\] needs 16/],
    ['too many bytes for the shape', { ...good(), data: new Uint8Array(20) }, /needs 16/],
    ['f32 bytes labelled f16', { ...good(), dtype: 'f16' }, /16 bytes but f16 shape \[2, 2\] needs 8/],
  ])('rejects %s', (_what, input, message) => {
    expect(() => decodeTensor(input)).toThrow(CodecError);
    expect(() => decodeTensor(input)).toThrow(message);
  });

  it('rejects a tensor that arrived through msgpack with the wrong byte length', () => {
    const bytes = encodeMessage({ dtype: 'bf16', shape: [3], data: new Uint8Array(4) });
    expect(() => decodeTensor(decodeMessage(bytes))).toThrow(CodecError);
  });

  it('refuses to encode data that does not match its shape', () => {
    expect(() => encodeTensor(new Float32Array(5), [2, 3])).toThrow(CodecError);
    expect(() => encodeTensor(new Float32Array(1), [-1])).toThrow(CodecError);
  });
});
