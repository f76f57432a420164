// The bench's quality table: the shipped model's held-out perplexity with float32 experts and quantized ones,
// against the goals (int8 experts within 1% of float32, int4 experts within 5%).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openMonolithic } from '../../model/monolithic.js';
import { Checkpoint } from '../../model/checkpoint.js';
import { defaultContext, engineScorer, HELD_OUT_FILE, perplexityOf } from '../../model/perplexity.js';
import type { Quantization } from '../../model/quantize.js';
import { Tokenizer } from '../../model/tokenizer.js';
import { shippedModelDir } from '../../runtime/node/cluster.js';
import { fmt, table } from './stats.js';

const VARIANTS: { name: string; quantization?: Quantization; goal?: number }[] = [
  { name: 'float32' },
  { name: 'int8 experts', quantization: { bits: 8, dense: false }, goal: 0.01 },
  { name: 'int4 experts', quantization: { bits: 4, dense: false }, goal: 0.05 },
  { name: 'int4 experts + --quantize-dense', quantization: { bits: 4, dense: true } },
];

/** The table, each goal marked met or missed (a miss is a finding, not a failure of the run). */
export async function benchQuality(): Promise<string> {
  const dir = shippedModelDir();
  const ids = Tokenizer.load(dir)!.encode(readFileSync(join(dir, HELD_OUT_FILE), 'utf8'));
  const checkpoint = Checkpoint.open(dir);
  const context = defaultContext(checkpoint.config.maxPositionEmbeddings);
  checkpoint.close();
  const rows: string[][] = [];
  let f32 = 0;
  for (const v of VARIANTS) {
    const model = await openMonolithic(dir, undefined, {}, v.quantization);
    const started = performance.now();
    try {
      const r = await perplexityOf(ids, context, engineScorer(model.engine));
      f32 ||= r.perplexity;
      const rel = r.perplexity / f32 - 1;
      const ok = v.goal === undefined || rel <= v.goal;
      rows.push([v.name, fmt(r.perplexity, 3), v.quantization ? `${rel >= 0 ? '+' : ''}${fmt(100 * rel, 2)}%` : '-', v.goal === undefined ? '-' : `<= +${fmt(100 * v.goal, 0)}% ${ok ? 'met' : 'MISSED'}`, String(r.tokens), fmt((performance.now() - started) / 1000, 1)]);
    } finally {
      await model.close();
    }
  }
  const header = `== quality: held-out perplexity of the shipped model (${dir}, windows of ${context}) ==`;
  return `${header}\n${table(['experts', 'perplexity', 'vs float32', 'goal', 'tokens', 's'], rows)}`;
}
