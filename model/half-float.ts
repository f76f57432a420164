// float32 <-> bfloat16 / IEEE half conversions of whole arrays (little-endian host views).

/** bf16 is the top half of an f32, so widening is a shift. */
export function bf16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

/** Narrows to bf16 with round-to-nearest-even; NaNs stay (quiet) NaNs. */
export function f32ToBf16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

let f16Table: Uint32Array | undefined;

// f32 bit patterns of all 65536 halves: a lookup beats branching per value.
function f16Bits(): Uint32Array {
  if (f16Table) return f16Table;
  const table = new Uint32Array(0x10000);
  const scratch = new Float32Array(1);
  const scratchBits = new Uint32Array(scratch.buffer);
  for (let h = 0; h < 0x10000; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) {
      // zero or subnormal: mant * 2^-24 is exact in f32
      scratch[0] = mant * 2 ** -24;
      table[h] = sign | scratchBits[0];
    } else if (exp === 0x1f) {
      table[h] = sign | 0x7f800000 | (mant << 13);
    } else {
      table[h] = sign | ((exp + 112) << 23) | (mant << 13);
    }
  }
  return (f16Table = table);
}

/** Widens IEEE half to f32, exactly (subnormals, infinities and NaN payloads included). */
export function f16ToF32(src: Uint16Array): Float32Array {
  const table = f16Bits();
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = table[src[i]];
  return out;
}

/** Narrows to IEEE half with round-to-nearest-even, overflowing to infinity. */
export function f32ToF16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfOf(bits[i]);
  return out;
}

function halfOf(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00 | ((abs >>> 13) & 0x3ff);
  // 65520 is halfway between 65504 (max half, odd mantissa) and 2^16, so it and above round to inf
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs >= 0x38800000) {
    // normal: rebias the exponent (127 -> 15) and round the mantissa from 23 to 10 bits
    return sign | ((abs - 0x38000000 + 0xfff + ((abs >>> 13) & 1)) >>> 13);
  }
  // 2^-25 is halfway between 0 and the least subnormal and rounds to even, i.e. zero
  if (abs <= 0x33000000) return sign;
  // subnormal: the value in units of 2^-24 is the full mantissa shifted right by 126 - exponent
  const mant = (abs & 0x7fffff) | 0x800000;
  const shift = 126 - (abs >>> 23);
  const q = mant >>> shift;
  const rest = mant & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return sign | (rest > half || (rest === half && (q & 1) === 1) ? q + 1 : q);
}
