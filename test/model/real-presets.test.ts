// `eaas model init` presets with real models' shapes: their sizes and config.json as the real checkpoints have them
// (checked without writing gigabytes; test/model/checkpoint.test.ts covers the writing and reading of every preset's layout).
import { describe, expect, it } from 'vitest';
import { FAMILIES } from '../../model/families/registry.js';
import { REAL_PRESETS } from '../../model/families/real-presets.js';
import { modelTensors } from '../../model/families/tensors.js';
import { expectOneLineError, runCli } from '../helpers/cli.js';

const parameters = (name: keyof typeof REAL_PRESETS) => modelTensors(REAL_PRESETS[name].config).reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);

describe('real-size presets', () => {
  it('olmoe-1b-7b: OLMoE-1B-7B’s config.json fields and its 6.92B parameters in 3 shards', () => {
    const p = REAL_PRESETS['olmoe-1b-7b'];
    expect(FAMILIES.olmoe.toJson(p.config)).toMatchObject({
      architectures: ['OlmoeForCausalLM'],
      model_type: 'olmoe',
      hidden_size: 2048,
      intermediate_size: 1024,
      num_hidden_layers: 16,
      num_attention_heads: 16,
      num_key_value_heads: 16,
      num_experts: 64,
      num_experts_per_tok: 8,
      vocab_size: 50304,
      norm_topk_prob: false,
      clip_qkv: null,
    });
    // the hub's model card says 6.92B (1.28B active)
    expect(parameters('olmoe-1b-7b') / 1e9).toBeCloseTo(6.92, 2);
    expect(p.shards).toBe(3);
  });

  it('mixtral-8x7b-4l: Mixtral-8x7B’s layers, 4 of its 32, 6.07B parameters', () => {
    const p = REAL_PRESETS['mixtral-8x7b-4l'];
    expect(FAMILIES.mixtral.toJson(p.config)).toMatchObject({ hidden_size: 4096, intermediate_size: 14336, num_local_experts: 8, num_experts_per_tok: 2, num_key_value_heads: 8, num_hidden_layers: 4 });
    // 32 layers would be Mixtral's 46.7B; each layer is 1.41B of experts and 42M of attention, the embeddings 262M
    expect(parameters('mixtral-8x7b-4l') / 1e9).toBeCloseTo(6.07, 2);
  });

  it('refuses a real preset with another family, in one line', async () => {
    expectOneLineError(await runCli(['model', 'init', '/tmp/eaas-never-written', '--preset', 'olmoe-1b-7b', '--family', 'mixtral']), /--preset olmoe-1b-7b is a olmoe model: drop --family mixtral/);
  });
});
