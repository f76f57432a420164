// The flag of every command that runs a gate over expert actors: `--wire-dtype`, how hidden-state rows travel.
import { WIRE_DTYPES, type WireDtype } from '../transport/codec.js';
import { stringFlag, type FlagTable } from './flags.js';
import { UsageError } from './usage.js';

export const WIRE_FLAGS = {
  'wire-dtype': {
    type: 'string',
    arg: 'f32|bf16|f16',
    help: 'how rows travel between gate and expert actors (both ways): bf16 and f16 halve the bytes and change the numbers slightly; f32 is bit-identical to the monolith',
    default: 'f32',
  },
} as const satisfies FlagTable;

export function wireFromFlags(values: Record<string, unknown>): WireDtype | undefined {
  const v = stringFlag(values as Record<string, string | boolean | undefined>, 'wire-dtype');
  if (v === undefined) return undefined;
  if (!(WIRE_DTYPES as readonly string[]).includes(v)) throw new UsageError(`--wire-dtype must be ${WIRE_DTYPES.join(', ')}, got "${v}"`);
  return v as WireDtype;
}
