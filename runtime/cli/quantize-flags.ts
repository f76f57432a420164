// The flags of every command that loads weights: `--quantize int4|int8` (routed experts) and `--quantize-dense`
// (also the gate's projections and LM head).
import { isQuantizeName, QUANTIZE_NAMES, type Quantization } from '../../model/quantize.js';
import { stringFlag, type FlagTable } from './flags.js';
import { UsageError } from './usage.js';

export const QUANTIZE_FLAGS = {
  quantize: { type: 'string', arg: 'int4|int8', help: 'the routed experts\' weights quantized at load to 4 or 8 bits', default: 'unquantized' },
  'quantize-dense': { type: 'boolean', help: 'with --quantize, also the gate\'s projections and LM head' },
} as const satisfies FlagTable;

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

/** What loading the experts is called while it shows its progress. */
export const loadingLabel = (q: Quantization | undefined) => (q ? `loading and quantizing experts (int${q.bits})` : 'loading experts');
