// A second, naive forward pass of Qwen2-MoE, Qwen3-MoE, OLMoE and DeepSeek-V3 in plain loops (float64), written
// from transformers' modeling_<family>.py and reading config.json and the tensors by their Hugging Face names
// itself (no eaas config parsing, tensor naming or graphs), to check the ONNX path independently. Full
// recomputation, no cache; for tiny models only.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile } from '../../model/safetensors.js';
import { linear, rmsNorm, silu } from './reference.js';

type Json = Record<string, any>;
type Vec = Float64Array;

export interface FamilyReference {
  config: Json;
  /** Logits [V] of every position of the sequence. */
  forward(ids: number[]): Vec[];
}

export function loadFamilyReference(dir: string): FamilyReference {
  const cfg: Json = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const file = SafetensorsFile.open(join(dir, 'model.safetensors'));
  const cache = new Map<string, Float32Array>();
  const t = (name: string): Float32Array => {
    let v = cache.get(name);
    if (!v) cache.set(name, (v = file.read(name)));
    return v;
  };
  return { config: cfg, forward: (ids) => forward(cfg, t, ids) };
}

const add = (a: Vec, b: ArrayLike<number>): Vec => a.map((v, i) => v + b[i]);

function mlp(x: Vec, p: string, F: number, H: number, t: (n: string) => Float32Array): Vec {
  const g = linear(t(`${p}.gate_proj.weight`), x, F, H);
  const u = linear(t(`${p}.up_proj.weight`), x, F, H);
  return linear(t(`${p}.down_proj.weight`), g.map((v, i) => silu(v) * u[i]), H, F);
}

/** rotate-half RoPE over d dims at a position; `interleave`: DeepSeek's reorder to (even, odd) dims first. */
function rope(x: ArrayLike<number>, pos: number, theta: number, interleave = false): Vec {
  const d = x.length;
  const half = d / 2;
  const v = interleave ? Float64Array.from({ length: d }, (_, i) => (i < half ? x[2 * i] : x[2 * (i - half) + 1])) : Float64Array.from(x);
  const out = new Float64Array(d);
  for (let i = 0; i < half; i++) {
    const a = pos / Math.pow(theta, (2 * i) / d);
    out[i] = v[i] * Math.cos(a) - v[i + half] * Math.sin(a);
    out[i + half] = v[i + half] * Math.cos(a) + v[i] * Math.sin(a);
  }
  return out;
}

function softmax(s: number[]): number[] {
  const max = Math.max(...s);
  const e = s.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** Indices of the k largest values, ties to the lower index. */
const topk = (v: ArrayLike<number>, k: number): number[] =>
  Array.from(v, (x, i) => [x, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k).map(([, i]) => i);

function isMoe(cfg: Json, i: number): boolean {
  switch (cfg.model_type) {
    case 'olmoe':
      return true;
    case 'deepseek_v3':
      return i >= (cfg.first_k_dense_replace ?? 0);
    default:
      return !(cfg.mlp_only_layers ?? []).includes(i) && (i + 1) % (cfg.decoder_sparse_step ?? 1) === 0;
  }
}

/** Standard attention with the Qwen/OLMoE variations; hidden [T][H] already normed -> [T][heads·D]. */
function gqa(cfg: Json, p: string, xs: Vec[], t: (n: string) => Float32Array): Vec[] {
  const H = cfg.hidden_size;
  const nH = cfg.num_attention_heads;
  const nKV = cfg.num_key_value_heads ?? nH;
  const D = cfg.model_type === 'olmoe' ? H / nH : (cfg.head_dim ?? H / nH);
  const eps = cfg.rms_norm_eps;
  const bias = cfg.model_type === 'qwen2_moe' && cfg.qkv_bias !== false;
  const clip = (v: Vec) => (cfg.clip_qkv != null ? v.map((x) => Math.min(cfg.clip_qkv, Math.max(-cfg.clip_qkv, x))) : v);
  const proj = (name: string, out: number, x: Vec) => {
    const y = linear(t(`${p}.self_attn.${name}.weight`), x, out, H);
    return bias ? add(y, t(`${p}.self_attn.${name}.bias`)) : y;
  };
  const heads = (v: Vec, n: number, norm: string | null, pos: number, rot: boolean): Vec[] =>
    Array.from({ length: n }, (_, h) => {
      let x: Vec = v.slice(h * D, (h + 1) * D);
      if (norm) x = rmsNorm(x, t(norm), eps);
      return rot ? rope(x, pos, cfg.rope_theta) : x;
    });
  const qs: Vec[][] = [];
  const ks: Vec[][] = [];
  const vs: Vec[][] = [];
  xs.forEach((x, pos) => {
    let q = proj('q_proj', nH * D, x);
    let k = proj('k_proj', nKV * D, x);
    let v = proj('v_proj', nKV * D, x);
    if (cfg.model_type === 'olmoe') {
      q = rmsNorm(q, t(`${p}.self_attn.q_norm.weight`), eps);
      k = rmsNorm(k, t(`${p}.self_attn.k_norm.weight`), eps);
    }
    [q, k, v] = [clip(q), clip(k), clip(v)];
    const perHead = cfg.model_type === 'qwen3_moe';
    qs.push(heads(q, nH, perHead ? `${p}.self_attn.q_norm.weight` : null, pos, true));
    ks.push(heads(k, nKV, perHead ? `${p}.self_attn.k_norm.weight` : null, pos, true));
    vs.push(heads(v, nKV, null, pos, false));
  });
  return qs.map((qh, i) => {
    const out = new Float64Array(nH * D);
    for (let h = 0; h < nH; h++) {
      const kv = Math.floor(h / (nH / nKV));
      const p_ = softmax(Array.from({ length: i + 1 }, (_, s) => qh[h].reduce((a, q, d) => a + q * ks[s][kv][d], 0) / Math.sqrt(D)));
      for (let s = 0; s <= i; s++) for (let d = 0; d < D; d++) out[h * D + d] += p_[s] * vs[s][kv][d];
    }
    return out;
  });
}

/** DeepSeek-V3's multi-head latent attention, as DeepseekV3Attention computes it (keys and values expanded). */
function mla(cfg: Json, p: string, xs: Vec[], t: (n: string) => Float32Array): Vec[] {
  const H = cfg.hidden_size;
  const nH = cfg.num_attention_heads;
  const { q_lora_rank: qr, kv_lora_rank: R, qk_nope_head_dim: dn, qk_rope_head_dim: dr, v_head_dim: dv } = cfg;
  const dq = dn + dr;
  const eps = cfg.rms_norm_eps;
  const a = `${p}.self_attn`;
  const qh: Vec[][] = [];
  const kh: Vec[][] = [];
  const vh: Vec[][] = [];
  xs.forEach((x, pos) => {
    const q = qr == null ? linear(t(`${a}.q_proj.weight`), x, nH * dq, H) : linear(t(`${a}.q_b_proj.weight`), rmsNorm(linear(t(`${a}.q_a_proj.weight`), x, qr, H), t(`${a}.q_a_layernorm.weight`), eps), nH * dq, qr);
    const ckv = linear(t(`${a}.kv_a_proj_with_mqa.weight`), x, R + dr, H);
    const kv = linear(t(`${a}.kv_b_proj.weight`), rmsNorm(ckv.slice(0, R), t(`${a}.kv_a_layernorm.weight`), eps), nH * (dn + dv), R);
    const kRot = rope(ckv.slice(R), pos, cfg.rope_theta, cfg.rope_interleave !== false);
    qh.push(Array.from({ length: nH }, (_, h) => {
      const head = q.slice(h * dq, (h + 1) * dq);
      const out = new Float64Array(dq);
      out.set(head.slice(0, dn));
      out.set(rope(head.slice(dn), pos, cfg.rope_theta, cfg.rope_interleave !== false), dn);
      return out;
    }));
    kh.push(Array.from({ length: nH }, (_, h) => {
      const out = new Float64Array(dq);
      out.set(kv.slice(h * (dn + dv), h * (dn + dv) + dn));
      out.set(kRot, dn);
      return out;
    }));
    vh.push(Array.from({ length: nH }, (_, h) => kv.slice(h * (dn + dv) + dn, (h + 1) * (dn + dv))));
  });
  return qh.map((q, i) => {
    const out = new Float64Array(nH * dv);
    for (let h = 0; h < nH; h++) {
      const w = softmax(Array.from({ length: i + 1 }, (_, s) => q[h].reduce((acc, v, d) => acc + v * kh[s][h][d], 0) / Math.sqrt(dq)));
      for (let s = 0; s <= i; s++) for (let d = 0; d < dv; d++) out[h * dv + d] += w[s] * vh[s][h][d];
    }
    return out;
  });
}

/** The routed experts and their weights for one token, per the family's router. */
function routeRef(cfg: Json, p: string, x: Vec, t: (n: string) => Float32Array): { experts: number[]; weights: number[] } {
  const H = cfg.hidden_size;
  const E = cfg.num_experts ?? cfg.n_routed_experts;
  const k = cfg.num_experts_per_tok;
  const logits = Array.from(linear(t(`${p}.mlp.gate.weight`), x, E, H));
  if (cfg.model_type === 'deepseek_v3') {
    const scores = logits.map((l) => 1 / (1 + Math.exp(-l)));
    const bias = t(`${p}.mlp.gate.e_score_correction_bias`);
    const choice = scores.map((s, e) => s + bias[e]);
    const size = E / cfg.n_group;
    const groupScores = Array.from({ length: cfg.n_group }, (_, g) => {
      const [a, b] = choice.slice(g * size, (g + 1) * size).sort((u, v) => v - u);
      return a + b;
    });
    const groups = topk(groupScores, cfg.topk_group);
    const masked = choice.map((c, e) => (groups.includes(Math.floor(e / size)) ? c : 0));
    const experts = topk(masked, k);
    let weights = experts.map((e) => scores[e]);
    if (cfg.norm_topk_prob) {
      const sum = weights.reduce((u, v) => u + v, 0) + 1e-20;
      weights = weights.map((w) => w / sum);
    }
    return { experts, weights: weights.map((w) => w * cfg.routed_scaling_factor) };
  }
  const probs = softmax(logits);
  const experts = topk(probs, k);
  let weights = experts.map((e) => probs[e]);
  if (cfg.norm_topk_prob) {
    const sum = weights.reduce((u, v) => u + v, 0);
    weights = weights.map((w) => w / sum);
  }
  return { experts, weights };
}

function forward(cfg: Json, t: (n: string) => Float32Array, ids: number[]): Vec[] {
  const H = cfg.hidden_size;
  const V = cfg.vocab_size;
  const eps = cfg.rms_norm_eps;
  const embed = t('model.embed_tokens.weight');
  const expertSize = cfg.model_type === 'olmoe' ? cfg.intermediate_size : cfg.moe_intermediate_size;
  let hidden: Vec[] = ids.map((id) => Float64Array.from(embed.subarray(id * H, (id + 1) * H)));
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    const normed = hidden.map((x) => rmsNorm(x, t(`${p}.input_layernorm.weight`), eps));
    const attn = cfg.model_type === 'deepseek_v3' ? mla(cfg, p, normed, t) : gqa(cfg, p, normed, t);
    const A = attn[0].length;
    hidden = hidden.map((x, pos) => {
      const h = add(x, linear(t(`${p}.self_attn.o_proj.weight`), attn[pos], H, A));
      const n = rmsNorm(h, t(`${p}.post_attention_layernorm.weight`), eps);
      if (!isMoe(cfg, i)) return add(h, mlp(n, `${p}.mlp`, cfg.intermediate_size, H, t));
      const { experts, weights } = routeRef(cfg, p, n, t);
      let out = new Float64Array(H);
      experts.forEach((e, j) => {
        const y = mlp(n, `${p}.mlp.experts.${e}`, expertSize, H, t);
        out = out.map((v, d) => v + weights[j] * y[d]);
      });
      if (cfg.model_type === 'qwen2_moe') {
        const gate = 1 / (1 + Math.exp(-linear(t(`${p}.mlp.shared_expert_gate.weight`), n, 1, H)[0]));
        out = add(out, mlp(n, `${p}.mlp.shared_expert`, cfg.shared_expert_intermediate_size, H, t).map((v) => gate * v));
      } else if (cfg.model_type === 'deepseek_v3') {
        out = add(out, mlp(n, `${p}.mlp.shared_experts`, cfg.moe_intermediate_size * cfg.n_shared_experts, H, t));
      }
      return add(h, out);
    });
  }
  const lmHead = cfg.tie_word_embeddings ? embed : t('lm_head.weight');
  return hidden.map((x) => linear(lmHead, rmsNorm(x, t('model.norm.weight'), eps), V, H));
}

/** Greedy decoding by full recomputation; the tokens and the logits of the last step. */
export function generateFamilyRef(ref: FamilyReference, prompt: number[], maxTokens: number): { tokens: number[]; logits: Vec } {
  const seq = [...prompt];
  const tokens: number[] = [];
  let logits: Vec = new Float64Array(0);
  for (let i = 0; i < maxTokens; i++) {
    const all = ref.forward(seq);
    logits = all[all.length - 1];
    const next = topk(logits, 1)[0];
    tokens.push(next);
    seq.push(next);
  }
  return { tokens, logits };
}
