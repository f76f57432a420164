// Qwen2-MoE, Qwen3-MoE, OLMoE and DeepSeek-V3 checkpoints: an independent plain forward pass agrees with the
// monolithic executor; the cluster equals the monolith bit for bit, also through a redirect after kill -9 of an
// expert actor; broken or unsupported checkpoints are refused with a line naming the problem.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { requestGenerate } from '../../actors/gate/client.js';
import { Checkpoint, expertTensors, modelTensors } from '../../model/checkpoint.js';
import { configToJson, familyName, parseConfig } from '../../model/config.js';
import type { GenerateResult } from '../../model/engine.js';
import { CheckpointError, ModelInputError } from '../../model/errors.js';
import { FAMILIES } from '../../model/families/registry.js';
import { attentionRows, kvBytesPerToken, moeLayers } from '../../model/families/shape.js';
import type { FamilyName } from '../../model/families/spec.js';
import { initCheckpoint } from '../../model/init.js';
import { routeGrouped, routeSoftmax } from '../../model/router.js';
import { SafetensorsFile, writeSafetensors } from '../../model/safetensors.js';
import { startNode, type RunningNode } from '../../runtime/node/cluster.js';
import { CLI, ensureBuilt } from '../helpers/build.js';
import { withEnv } from '../helpers/env.js';
import { useNatsServer } from '../helpers/nats.js';
import { monolithicReference } from '../helpers/reference.js';
import { remoteExperts } from '../helpers/gate-dispatch.js';
import { generateFamilyRef, loadFamilyReference } from '../helpers/reference-families.js';

const NEW_FAMILIES = ['qwen3_moe', 'olmoe', 'qwen2_moe', 'deepseek_v3'] as const satisfies readonly FamilyName[];
const PROMPTS = [[1, 72, 101, 108, 108, 111], [1, 300, 17], [5, 6, 7, 8, 9, 10, 11, 12]];
const MAX_TOKENS = 4;
// every dispatch waits this long, so that a killed actor surely holds rows in flight
const EXPERT_DELAY_MS = 60;

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function tinyDir(family: FamilyName, seed = 7): { dir: string; remove(): void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `eaas-${family}-`));
  const dir = path.join(root, family.replace('_', '-'));
  initCheckpoint(dir, { preset: 'tiny', family, seed });
  return { dir, remove: () => fs.rmSync(root, { recursive: true, force: true }) };
}

describe.each(NEW_FAMILIES)('%s', (family) => {
  const nats = useNatsServer();
  let tiny: ReturnType<typeof tinyDir>;
  let expected: GenerateResult[];
  let node: RunningNode | undefined;
  let client: NatsConnection;

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyDir(family);
    expected = await monolithicReference(tiny.dir, PROMPTS, { maxTokens: MAX_TOKENS, logits: true, stopAtEos: false });
  });
  afterAll(async () => {
    await node?.stop();
    tiny?.remove();
  });

  it('gives the greedy tokens of an independent plain forward pass, logits within 1e-4', () => {
    const ref = loadFamilyReference(tiny.dir);
    expect(ref.config.model_type).toBe(family);
    PROMPTS.forEach((prompt, i) => {
      const r = generateFamilyRef(ref, prompt, MAX_TOKENS);
      expect(expected[i].tokens).toEqual(r.tokens);
      const logits = expected[i].logits!;
      let worst = 0;
      for (let v = 0; v < logits.length; v++) worst = Math.max(worst, Math.abs(logits[v] - r.logits[v]));
      expect(worst).toBeLessThan(1e-4);
    });
  });

  it('with tied embeddings (no lm_head.weight) still agrees with the plain forward pass', async () => {
    const tied = tinyDir(family, 11);
    try {
      fs.rmSync(tied.dir, { recursive: true });
      initCheckpoint(tied.dir, { preset: 'tiny', family, seed: 11, config: { tieWordEmbeddings: true } });
      const st = SafetensorsFile.open(path.join(tied.dir, 'model.safetensors'));
      expect(st.info('lm_head.weight')).toBeUndefined();
      st.close();
      const [mono] = await monolithicReference(tied.dir, [PROMPTS[0]], { maxTokens: 2, logits: true, stopAtEos: false });
      const r = generateFamilyRef(loadFamilyReference(tied.dir), PROMPTS[0], 2);
      expect(mono.tokens).toEqual(r.tokens);
      expect(Math.max(...Array.from(mono.logits!, (v, i) => Math.abs(v - r.logits[i])))).toBeLessThan(1e-4);
    } finally {
      tied.remove();
    }
  });

  it('over the cluster equals the monolith bit for bit, also through a redirect after kill -9 of an expert actor', async () => {
    // no hedging and a far deadline: only the down announcement of the killed actor can move its rows
    node = await withEnv({ EAAS_HEDGE: '0', EAAS_DISPATCH_TIMEOUT_MS: '600000' }, () =>
      startNode({
        nats: nats.url,
        modelDir: tiny.dir,
        roles: ['supervisor', 'gate'],
        replicas: 2,
        expertsPerActor: 8,
        expertEnv: { EAAS_EXPERT_DELAY_MS: String(EXPERT_DELAY_MS) },
      }),
    );
    client = await nats.connect();
    const opened = Checkpoint.open(tiny.dir);
    const c = opened.config;
    opened.close();
    // only the routed experts of MoE layers are expert services: two replicas, 8 per actor
    expect(node.supervisor!.status().children).toHaveLength(2 * moeLayers(c).length);
    const generate = (prompt: number[]) => requestGenerate(client, node!.model, { prompt, max_tokens: MAX_TOKENS, logits: true, stop_at_eos: false });
    const expectSame = (i: number, r: { tokens: number[]; logits?: Float32Array }) => {
      expect(r.tokens).toEqual(expected[i].tokens);
      expect(bytes(r.logits!).equals(bytes(expected[i].logits!))).toBe(true);
    };
    (await Promise.all(PROMPTS.map(generate))).forEach((r, i) => expectSame(i, r));

    const gate = node.gate!;
    const victim = node.supervisor!.status().children[0];
    const before = gate.experts.counters.redirects;
    const answers: { i: number; r: Awaited<ReturnType<typeof generate>> }[] = [];
    let killed = false;
    const load = (async () => {
      while (!killed) (await Promise.all(PROMPTS.map(generate))).forEach((r, i) => answers.push({ i, r }));
    })();
    try {
      await vi.waitFor(() => expect(remoteExperts(gate).directory.get(victim.instance)?.inflightRows).toBeGreaterThan(0), { timeout: 30_000, interval: 2 });
      process.kill(victim.pid!, 'SIGKILL');
    } finally {
      killed = true;
    }
    await load;
    expect(gate.experts.counters.redirects).toBeGreaterThan(before);
    expect(answers.length).toBeGreaterThan(0);
    for (const { i, r } of answers) expectSame(i, r);
    (await Promise.all(PROMPTS.map(generate))).forEach((r, i) => expectSame(i, r));
  });
});

describe('family checkpoints', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eaas-families-'));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Rewrites model.safetensors without `drop` and with `reshape`'s tensor one row short. */
  function rewrite(target: string, change: { drop?: string; reshape?: string }): void {
    const file = path.join(target, 'model.safetensors');
    const st = SafetensorsFile.open(file);
    const tensors = [...st.tensors.keys()]
      .filter((name) => name !== change.drop)
      .map((name) => {
        const shape = [...st.info(name)!.shape];
        const data = st.read(name);
        if (name !== change.reshape) return { name, dtype: 'F32' as const, shape, data };
        shape[0] -= 1;
        return { name, dtype: 'F32' as const, shape, data: data.subarray(0, shape.reduce((a, d) => a * d, 1)) };
      });
    st.close();
    writeSafetensors(file, tensors);
  }

  function expectRefused(target: string, file: string, problem: string): void {
    let error: unknown;
    try {
      Checkpoint.open(target).close();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as Error).message).toBe(`${file}: ${problem}`);
  }

  // a tensor only that family has, and one its layers share with others
  const OWN: Record<(typeof NEW_FAMILIES)[number], string[]> = {
    qwen3_moe: ['model.layers.1.self_attn.q_norm.weight', 'model.layers.0.mlp.experts.5.up_proj.weight'],
    olmoe: ['model.layers.0.self_attn.k_norm.weight', 'model.layers.1.mlp.gate.weight'],
    qwen2_moe: ['model.layers.2.mlp.shared_expert_gate.weight', 'model.layers.0.self_attn.v_proj.bias', 'model.layers.1.mlp.down_proj.weight'],
    deepseek_v3: ['model.layers.2.self_attn.kv_b_proj.weight', 'model.layers.1.mlp.gate.e_score_correction_bias', 'model.layers.1.mlp.shared_experts.up_proj.weight', 'model.layers.0.mlp.gate_proj.weight'],
  };

  it.each(NEW_FAMILIES)('%s: a missing or misshaped tensor is named', (family) => {
    for (const [k, name] of OWN[family].entries()) {
      const target = path.join(dir, `${k}`);
      initCheckpoint(target, { preset: 'tiny', family, seed: 1 });
      const shape = modelTensors(Checkpoint.open(target).config).find((t) => t.name === name)!.shape;
      rewrite(target, { drop: name });
      expectRefused(target, path.join(target, 'model.safetensors'), `missing tensor ${name}`);
      const again = path.join(dir, `${k}b`);
      initCheckpoint(again, { preset: 'tiny', family, seed: 1 });
      rewrite(again, { reshape: name });
      const wrong = [shape[0] - 1, ...shape.slice(1)];
      expectRefused(again, path.join(again, 'model.safetensors'), `shape [${wrong.join(', ')}] of tensor ${name} does not match config.json (expected [${shape.join(', ')}])`);
    }
  });

  it.each(NEW_FAMILIES)('%s: an expert read takes only its own tensors; dense layers have none', (family) => {
    initCheckpoint(dir, { preset: 'tiny', family, seed: 2 });
    const ckpt = Checkpoint.open(dir);
    const c = ckpt.config;
    const layer = moeLayers(c)[moeLayers(c).length - 1];
    const spy = vi.spyOn(fs, 'readSync');
    const w = ckpt.expert(layer, 3);
    const read = spy.mock.results.reduce((a, r) => a + (r.value as number), 0);
    expect(read).toBe(3 * c.intermediateSize * c.hiddenSize * 4);
    expect(w.w1).toEqual(ckpt.tensor(expertTensors(c, layer, 3).w1.name, [c.intermediateSize, c.hiddenSize]));
    for (const dense of c.family!.denseLayers) expect(() => ckpt.expert(dense, 0)).toThrow(ModelInputError);
    ckpt.close();
  });

  it('eaas model init --family writes a checkpoint of each family; an unknown family is a usage error', () => {
    ensureBuilt();
    for (const family of NEW_FAMILIES) {
      const target = path.join(dir, family);
      const r = spawnSync(process.execPath, [CLI, 'model', 'init', target, '--family', family], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(`wrote ${family} tiny checkpoint to ${target}`);
      const ckpt = Checkpoint.open(target);
      expect(familyName(ckpt.config)).toBe(family);
      ckpt.close();
      expect(fs.existsSync(path.join(target, 'tokenizer.json'))).toBe(true);
    }
    const bad = spawnSync(process.execPath, [CLI, 'model', 'init', path.join(dir, 'x'), '--family', 'llama'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--family must be one of mixtral, qwen2_moe, qwen3_moe, olmoe, deepseek_v3, got "llama"');
  });

  it('config.json round-trips for every family and preset, and names the family', () => {
    for (const [name, family] of Object.entries(FAMILIES)) {
      for (const preset of Object.values(family.presets)) {
        const json = configToJson(preset);
        expect(json.architectures).toEqual([family.architecture]);
        expect(json.model_type).toBe(name);
        expect(parseConfig(JSON.parse(JSON.stringify(json)), 'config.json')).toEqual(preset);
      }
    }
  });

  const tinyJson = (family: FamilyName) => configToJson(FAMILIES[family].presets.tiny);

  it('refuses unsupported architectures and config features with one line', () => {
    const refused = (json: Record<string, unknown>, problem: string) => {
      expect(() => parseConfig(json, 'config.json')).toThrow(new CheckpointError('config.json', problem).message);
    };
    refused(
      { ...tinyJson('qwen3_moe'), architectures: ['LlamaForCausalLM'] },
      'architecture ["LlamaForCausalLM"] is not supported (supported: MixtralForCausalLM, Qwen2MoeForCausalLM, Qwen3MoeForCausalLM, OlmoeForCausalLM, DeepseekV3ForCausalLM)',
    );
    const { architectures: _, ...untyped } = tinyJson('olmoe');
    refused({ ...untyped, model_type: 'gpt2' }, 'model_type "gpt2" is not supported (supported: mixtral, qwen2_moe, qwen3_moe, olmoe, deepseek_v3)');
    const yarn = { type: 'yarn', factor: 40, original_max_position_embeddings: 4096 };
    refused({ ...tinyJson('deepseek_v3'), rope_scaling: yarn }, `deepseek_v3: rope_scaling ${JSON.stringify(yarn)} is not supported (only the default RoPE, without rope_scaling, is)`);
    refused({ ...tinyJson('mixtral'), rope_scaling: { rope_type: 'linear', factor: 2 } }, 'mixtral: rope_scaling {"rope_type":"linear","factor":2} is not supported (only the default RoPE, without rope_scaling, is)');
    refused({ ...tinyJson('qwen2_moe'), use_sliding_window: true }, 'qwen2_moe: use_sliding_window is not supported (only full causal attention is)');
    refused({ ...tinyJson('mixtral'), sliding_window: 1024 }, 'mixtral: sliding_window 1024 is not supported (only full causal attention is)');
    refused({ ...tinyJson('olmoe'), hidden_act: 'gelu' }, 'olmoe: hidden_act "gelu" is not supported (only silu is)');
    refused({ ...tinyJson('qwen3_moe'), attention_bias: true }, 'qwen3_moe: attention_bias is not supported (attention projections without bias are)');
    refused({ ...tinyJson('deepseek_v3'), quantization_config: { quant_method: 'fp8', fmt: 'e4m3' } }, 'deepseek_v3: quantization_config ("fp8") is not supported (only F32, BF16 and F16 weights are)');
    refused({ ...tinyJson('deepseek_v3'), scoring_func: 'softmax' }, 'deepseek_v3: scoring_func "softmax" is not supported (only sigmoid scoring is)');
    // the newer rope_parameters form is read; only its default type is taken
    expect(parseConfig({ ...tinyJson('qwen3_moe'), rope_theta: undefined, rope_parameters: { rope_type: 'default', rope_theta: 5e5 } }, 'config.json').ropeTheta).toBe(5e5);
    refused({ ...tinyJson('qwen3_moe'), rope_parameters: { rope_type: 'yarn', rope_theta: 5e5, factor: 4 } }, 'qwen3_moe: rope_parameters {"rope_type":"yarn","rope_theta":500000,"factor":4} is not supported (only the default RoPE type is)');
  });

  it('keeps the KV cache each family needs per token', () => {
    const tiny = (f: FamilyName) => FAMILIES[f].presets.tiny;
    // GQA: k and v of every kv head; MLA: the latent and the shared rope key only
    expect(kvBytesPerToken(tiny('mixtral'))).toBe(2 * 2 * 2 * 16 * 4);
    expect(attentionRows(tiny('deepseek_v3'))).toMatchObject({ cacheA: 32, cacheB: 8, q: 4 * 24, out: 4 * 16 });
    expect(kvBytesPerToken(tiny('deepseek_v3'))).toBe(3 * (32 + 8) * 4);
  });
});

describe('routers', () => {
  it('softmax top-k without renormalisation keeps the probabilities', () => {
    const logits = new Float32Array([1, 3, 2, 0]);
    const r = routeSoftmax(logits, 4, 2, false);
    const z = Math.exp(1) + Math.exp(3) + Math.exp(2) + 1;
    expect(Array.from(r.experts)).toEqual([1, 2]);
    expect(r.weights[0]).toBeCloseTo(Math.exp(3) / z, 6);
    expect(r.weights[1]).toBeCloseTo(Math.exp(2) / z, 6);
  });

  it("DeepSeek's router: biased choice, group limit, unbiased weights, renormalised and scaled", () => {
    // 8 experts in 4 groups of 2; group scores (biased) decide that groups 0 and 3 stay
    const sig = (p: number) => Math.log(p / (1 - p));
    const probs = [0.6, 0.6, 0.9, 0.1, 0.5, 0.5, 0.7, 0.4];
    const bias = new Float32Array([0, 0, 0, 0, 0, 0, 0, 0.5]);
    const r = routeGrouped(new Float32Array(probs.map(sig)), bias, 8, 2, { nGroup: 4, topkGroup: 2, routedScalingFactor: 2 }, true);
    // group sums: [1.2, 1.0, 1.0, 1.6]: groups 0 and 3; choices there: 0.6, 0.6, 0.7, 0.9 (biased) -> experts 7, 6
    expect(Array.from(r.experts)).toEqual([6, 7]);
    // weights from the unbiased scores 0.7 and 0.4
    expect(r.weights[0]).toBeCloseTo((0.7 / 1.1) * 2, 5);
    expect(r.weights[1]).toBeCloseTo((0.4 / 1.1) * 2, 5);
  });
});
