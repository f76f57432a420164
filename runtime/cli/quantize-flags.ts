// The flags of every command that loads weights: `--quantize int4|int8` (routed experts) and `--quantize-dense`
// (also the gate's projections and LM head).
import { isQuantizeName, QUANTIZE_NAMES, type Quantization } from '../../model/quantize.js';
import { stringFlag } from './flags.js';
import { UsageError } from './usage.js';

export const QUANTIZE_FLAGS = {
  quantize: { type: 'string' },
  'quantize-dense': { type: 'boolean' },
} as const;

export function quantizationFromFlags(values: Record<string, string | boolean | undefined>): Quantization | undefined {
  const name = stringFlag(values, 'quantize');
  const dense = values['quantize-dense'] === true;
  if (name === undefined) {
    if (dense) throw new UsageError('--quantize-dense needs --quantize int4|int8');
    return undefined;
  }
  if (!isQuantizeName(name)) throw new UsageError(`--quantize must be ${Object.keys(QUANTIZE_NAMES).join(' or ')}, got "${name}"`);
  return { bits: QUANTIZE_NAMES[name], dense };
}
