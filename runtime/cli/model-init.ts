// `eaas model init DIR`: writes a deterministic random checkpoint in the Hugging Face layout.
import { resolve } from 'node:path';
import { FAMILY_NAMES, type FamilyName } from '../../model/families/spec.js';
import { isRealPreset, REAL_PRESETS, type RealPresetName } from '../../model/families/real-presets.js';
import { initCheckpoint, PRESETS } from '../../model/init.js';
import { progressCallback } from '../../observability/progress.js';
import { intFlag, numberFlag, parseFlags, type FlagTable } from './flags.js';
import { UsageError } from './usage.js';

export const FLAGS = {
  preset: { type: 'string', arg: 'NAME', help: `the size: tiny (hidden 64, vocab 512), bench (hidden 1024, vocab 32000), or a real model's shapes: ${Object.keys(REAL_PRESETS).join(', ')} (bf16, sharded like the real one)`, default: 'tiny' },
  family: { type: 'string', arg: 'FAMILY', help: `${FAMILY_NAMES.join(', ')}: the family's config.json fields and tensor names`, default: 'mixtral' },
  seed: { type: 'string', arg: 'N', help: 'the random weights\' seed', default: '0' },
  dtype: { type: 'string', arg: 'f32|bf16|f16', help: 'the tensors\' type on disk', default: 'the preset\'s' },
  shards: { type: 'string', arg: 'N', help: 'safetensors shards, with model.safetensors.index.json when more than 1', default: '1, or the real model\'s count' },
  skew: { type: 'string', arg: 'S', help: 'a benchmark knob, a number >= 0: the routers favour the low-numbered experts', default: '0' },
} as const satisfies FlagTable;

const DTYPES = { f32: 'F32', bf16: 'BF16', f16: 'F16' } as const;
const MB = 1 << 20;
/** Checkpoints from this size on show their progress. */
const SHOW_PROGRESS_BYTES = 64 * MB;

export async function modelInitCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, FLAGS);
  if (positionals.length !== 1) throw new UsageError(`usage: eaas model init DIR [--family ${FAMILY_NAMES.join('|')}] [--preset tiny|bench|${Object.keys(REAL_PRESETS).join('|')}] [--seed N] [--dtype f32|bf16|f16] [--shards N] [--skew S]`);
  const preset = (values.preset as string | undefined) ?? 'tiny';
  const real = isRealPreset(preset) ? REAL_PRESETS[preset] : undefined;
  if (!(preset in PRESETS) && !real) throw new UsageError(`--preset must be one of ${[...Object.keys(PRESETS), ...Object.keys(REAL_PRESETS)].join(', ')}, got "${preset}"`);
  const family = (values.family as string | undefined) ?? real?.family ?? 'mixtral';
  if (!(FAMILY_NAMES as readonly string[]).includes(family)) throw new UsageError(`--family must be one of ${FAMILY_NAMES.join(', ')}, got "${family}"`);
  if (real && family !== real.family) throw new UsageError(`--preset ${preset} is a ${real.family} model: drop --family ${family}`);
  const dtypeFlag = values.dtype as string | undefined;
  if (dtypeFlag !== undefined && !(dtypeFlag in DTYPES)) throw new UsageError(`--dtype must be f32, bf16 or f16, got "${dtypeFlag}"`);
  const dir = resolve(positionals[0]);
  const shown = progressCallback('writing the checkpoint (MB)');
  initCheckpoint(dir, {
    preset: preset as 'tiny' | 'bench' | RealPresetName,
    family: family as FamilyName,
    seed: intFlag(values, 'seed', 0),
    dtype: dtypeFlag ? DTYPES[dtypeFlag as keyof typeof DTYPES] : undefined,
    shards: values.shards === undefined ? undefined : intFlag(values, 'shards', 1, 1),
    skew: numberFlag(values, 'skew', 0),
    // a small checkpoint is written before anyone would look
    onProgress: (bytes, total) => total >= SHOW_PROGRESS_BYTES && shown(Math.round(bytes / MB), Math.round(total / MB)),
  });
  process.stdout.write(`wrote ${family === 'mixtral' ? '' : `${family} `}${preset} checkpoint to ${dir}${real ? ` (${real.about}, random weights)` : ''}\n`);
}
