// Block-wise weight quantization at load time, packed as ONNX Runtime's MatMulNBits (com.microsoft) reads it.
// Symmetric: no zero_points input, so the op uses its default zero point 2^(bits-1); a block's value of
// largest magnitude maps exactly to code 0 (as MLAS's own symmetric quantizer does).
import { QuantizationError } from './errors.js';

export type QuantBits = 4 | 8;

/** What `--quantize` accepts, and the bits of each. */
export const QUANTIZE_NAMES = { int4: 4, int8: 8 } as const satisfies Record<string, QuantBits>;
export type QuantizeName = keyof typeof QUANTIZE_NAMES;

/** Weights of this many consecutive input features share one scale. */
export const QUANT_BLOCK_SIZE = 32;

/** MatMulNBits' accuracy_level 4: A is quantized to int8 per block of its own row, so a row's result is the same bits whatever the batch. */
export const QUANT_ACCURACY_LEVEL = 4;

/** Which weights are quantized: the routed experts always, the gate's projections and LM head when `dense`. */
export interface Quantization {
  bits: QuantBits;
  dense: boolean;
}

/** A [N, K] weight as MatMulNBits' B [N, kBlocks, blobSize] (codes low-first along K) and scales [N·kBlocks]. */
export interface PackedWeight {
  packed: Uint8Array;
  scales: Float32Array;
  kBlocks: number;
  blobSize: number;
}

/** The `--quantize` name of `bits` (an expert actor is told its quantization by name). */
export const quantizeName = (bits: QuantBits): QuantizeName => `int${bits}`;

export const isQuantizeName = (name: string): name is QuantizeName => Object.hasOwn(QUANTIZE_NAMES, name);

export function quantBitsOf(name: string): QuantBits {
  if (!isQuantizeName(name)) throw new QuantizationError(`unknown quantization "${name}": give ${Object.keys(QUANTIZE_NAMES).join(' or ')}`);
  return QUANTIZE_NAMES[name];
}

/**
 * Quantizes a Hugging Face Linear weight [out = N, in = K] row by row in blocks of QUANT_BLOCK_SIZE along K
 * (a last partial block is padded with zero weights). Code q of weight w: dequantized as (q - 2^(bits-1)) · scale.
 */
export function quantizeBlockwise(weight: Float32Array, N: number, K: number, bits: QuantBits): PackedWeight {
  if (weight.length !== N * K) throw new QuantizationError(`weight has ${weight.length} values, not ${N}×${K}`);
  const kBlocks = Math.ceil(K / QUANT_BLOCK_SIZE);
  const blobSize = (QUANT_BLOCK_SIZE * bits) / 8;
  const zero = 1 << (bits - 1);
  const maxCode = (1 << bits) - 1;
  const packed = new Uint8Array(N * kBlocks * blobSize);
  const scales = new Float32Array(N * kBlocks);
  const codes = new Uint8Array(QUANT_BLOCK_SIZE);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < kBlocks; b++) {
      const start = n * K + b * QUANT_BLOCK_SIZE;
      const len = Math.min(QUANT_BLOCK_SIZE, K - b * QUANT_BLOCK_SIZE);
      // the signed value of largest magnitude becomes code 0: the negative end has one more step
      let extreme = 0;
      for (let i = 0; i < len; i++) if (Math.abs(weight[start + i]) > Math.abs(extreme)) extreme = weight[start + i];
      const scale = Math.fround(extreme / -zero);
      const inverse = scale === 0 ? 0 : 1 / scale;
      codes.fill(zero);
      for (let i = 0; i < len; i++) codes[i] = Math.min(maxCode, Math.max(0, Math.round(weight[start + i] * inverse) + zero));
      scales[n * kBlocks + b] = scale;
      const blob = (n * kBlocks + b) * blobSize;
      if (bits === 8) packed.set(codes, blob);
      else for (let i = 0; i < blobSize; i++) packed[blob + i] = codes[2 * i] | (codes[2 * i + 1] << 4);
    }
  }
  return { packed, scales, kBlocks, blobSize };
}
