// Which layers of a Qwen-MoE model are dense: `mlp_only_layers`, else every layer off the `decoder_sparse_step` beat.
import type { ConfigReader } from './read.js';

export function qwenDenseLayers(r: ConfigReader, layers: number): number[] {
  const only = r.intList('mlp_only_layers');
  const step = r.int('decoder_sparse_step', 1);
  const bad = only.find((i) => i >= layers);
  if (bad !== undefined) r.fail(`mlp_only_layers entry ${bad} is not a layer (the model has ${layers})`);
  return Array.from({ length: layers }, (_, i) => i).filter((i) => only.includes(i) || (i + 1) % step !== 0);
}
