#!/usr/bin/env python3
"""Step 2 of training (ops/train/run.sh): a Mixtral-family MoE trained on the ids prepare.ts wrote.

Writes, in the Hugging Face layout eaas loads: model.safetensors (bf16), config.json, generation_config.json;
beside them loss.tsv (the loss curve) and expert-load.json (tokens routed to each expert on the held-out text).
Seeded: the same seed, thread count and torch build give the same weights. Needs PyTorch (Debian: python3-torch).
"""
import argparse
import json
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--work', required=True, help='directory with train.bin and heldout.bin (uint16 ids)')
    p.add_argument('--out', required=True, help='the model directory (tokenizer files already there)')
    p.add_argument('--seed', type=int, default=1234)
    # one thread: Debian's torch with OpenBLAS ran this model at 2544 tokens/s on one thread, 1428 on two (2-core AMD EPYC)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--steps', type=int, default=1600)
    p.add_argument('--batch', type=int, default=16, help='sequences per step')
    p.add_argument('--ctx', type=int, default=256, help='tokens per sequence (the model\'s context)')
    p.add_argument('--lr', type=float, default=3e-3)
    p.add_argument('--warmup', type=int, default=100)
    p.add_argument('--weight-decay', type=float, default=0.1)
    p.add_argument('--aux-coef', type=float, default=0.02, help='weight of the router\'s load-balancing loss')
    p.add_argument('--hidden', type=int, default=256)
    p.add_argument('--layers', type=int, default=4)
    p.add_argument('--heads', type=int, default=8)
    p.add_argument('--kv-heads', type=int, default=4)
    p.add_argument('--experts', type=int, default=8)
    p.add_argument('--top-k', type=int, default=2)
    p.add_argument('--expert-size', type=int, default=512, help='intermediate size of one expert')
    p.add_argument('--rope-theta', type=float, default=10000.0)
    p.add_argument('--eval-every', type=int, default=200)
    return p.parse_args()


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = a.heads, a.kv_heads, a.hidden // a.heads
        self.q_proj = nn.Linear(a.hidden, a.heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(a.hidden, a.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(a.hidden, a.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(a.heads * self.head_dim, a.hidden, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.heads // self.kv_heads
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True) if hasattr(F, 'scaled_dot_product_attention') else self.naive(q, k, v)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, -1))

    @staticmethod
    def naive(q, k, v):
        T = q.shape[-2]
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        return scores.masked_fill(mask, float('-inf')).softmax(-1) @ v


class Expert(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.w1 = nn.Linear(a.hidden, a.expert_size, bias=False)
        self.w2 = nn.Linear(a.expert_size, a.hidden, bias=False)
        self.w3 = nn.Linear(a.hidden, a.expert_size, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class SparseMoe(nn.Module):
    """Mixtral's block: softmax over all experts, the top k renormalised, each expert on its rows."""

    def __init__(self, a):
        super().__init__()
        self.top_k = a.top_k
        self.gate = nn.Linear(a.hidden, a.experts, bias=False)
        self.experts = nn.ModuleList([Expert(a) for _ in range(a.experts)])

    def forward(self, x):
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        probs = self.gate(x).softmax(-1)
        weights, chosen = probs.topk(self.top_k, dim=-1)
        weights = weights / weights.sum(-1, keepdim=True)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            rows, slot = (chosen == e).nonzero(as_tuple=True)
            if rows.numel() > 0:
                out.index_add_(0, rows, expert(x[rows]) * weights[rows, slot, None])
        # Switch Transformer's load-balancing loss, as transformers' load_balancing_loss_func computes it
        routed = F.one_hot(chosen, probs.shape[-1]).float().sum(1).mean(0) / self.top_k
        aux = probs.shape[-1] * (routed * probs.mean(0)).sum()
        counts = torch.bincount(chosen.flatten(), minlength=probs.shape[-1])
        return out.view(shape), aux, counts


class Layer(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.input_layernorm = RMSNorm(a.hidden, 1e-5)
        self.self_attn = Attention(a)
        self.post_attention_layernorm = RMSNorm(a.hidden, 1e-5)
        self.block_sparse_moe = SparseMoe(a)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        y, aux, counts = self.block_sparse_moe(self.post_attention_layernorm(x))
        return x + y, aux, counts


class Mixtral(nn.Module):
    def __init__(self, a, vocab):
        super().__init__()
        self.a = a
        self.embed_tokens = nn.Embedding(vocab, a.hidden)
        self.layers = nn.ModuleList([Layer(a) for _ in range(a.layers)])
        self.norm = RMSNorm(a.hidden, 1e-5)
        self.lm_head = nn.Linear(a.hidden, vocab, bias=False)
        head_dim = a.hidden // a.heads
        inv = 1.0 / (a.rope_theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        freqs = torch.outer(torch.arange(a.ctx, dtype=torch.float32), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer('cos', emb.cos(), persistent=False)
        self.register_buffer('sin', emb.sin(), persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * a.layers) if name.endswith(('o_proj.weight', 'w2.weight')) else 0.02)

    def forward(self, ids):
        T = ids.shape[1]
        cos, sin = self.cos[:T], self.sin[:T]
        x = self.embed_tokens(ids)
        aux, counts = 0.0, []
        for layer in self.layers:
            x, a, c = layer(x, cos, sin)
            aux = aux + a
            counts.append(c)
        return self.lm_head(self.norm(x)), aux / len(self.layers), torch.stack(counts)

    def hf_state(self):
        """The tensors under their Hugging Face Mixtral names."""
        out = {}
        for name, p in self.state_dict().items():
            out['lm_head.weight' if name == 'lm_head.weight' else f'model.{name}'] = p
        return out


def windows(ids, ctx):
    """Consecutive non-overlapping windows of ctx tokens (the last one shorter), as `eaas eval` scores them."""
    return [ids[i:i + ctx] for i in range(0, len(ids) - 1, ctx) if len(ids[i:i + ctx]) > 1]


@torch.no_grad()
def evaluate(model, ids, ctx):
    """Mean negative log-likelihood per predicted token over the windows, and tokens routed per expert."""
    model.eval()
    nll, n, load = 0.0, 0, 0
    for w in windows(ids, ctx):
        x = torch.from_numpy(w.astype(np.int64))[None]
        logits, _, counts = model(x)
        nll += F.cross_entropy(logits[0, :-1], x[0, 1:], reduction='sum').item()
        n += len(w) - 1
        load = load + counts
    model.train()
    return nll / n, load


def bf16_bytes(t):
    return t.detach().to(torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes()


def write_safetensors(path, tensors):
    header, blobs, offset = {'__metadata__': {'format': 'pt'}}, [], 0
    for name in sorted(tensors):
        data = bf16_bytes(tensors[name])
        header[name] = {'dtype': 'BF16', 'shape': list(tensors[name].shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text)
        for b in blobs:
            f.write(b)


def config_json(a, vocab):
    return {
        'architectures': ['MixtralForCausalLM'], 'model_type': 'mixtral',
        'vocab_size': vocab, 'hidden_size': a.hidden, 'intermediate_size': a.expert_size,
        'num_hidden_layers': a.layers, 'num_attention_heads': a.heads, 'num_key_value_heads': a.kv_heads,
        'head_dim': a.hidden // a.heads, 'num_local_experts': a.experts, 'num_experts_per_tok': a.top_k,
        'hidden_act': 'silu', 'rms_norm_eps': 1e-5, 'rope_theta': a.rope_theta, 'max_position_embeddings': a.ctx,
        'sliding_window': None, 'tie_word_embeddings': False, 'bos_token_id': 1, 'eos_token_id': 2,
        'router_aux_loss_coef': a.aux_coef, 'output_router_logits': False, 'torch_dtype': 'bfloat16',
    }


def main():
    a = parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)
    train = np.fromfile(os.path.join(a.work, 'train.bin'), dtype=np.uint16)
    held = np.fromfile(os.path.join(a.work, 'heldout.bin'), dtype=np.uint16)
    with open(os.path.join(a.out, 'tokenizer.json')) as f:
        vocab = len(json.load(f)['model']['vocab'])
    model = Mixtral(a, vocab)
    params = sum(p.numel() for p in model.parameters())
    expert_params = sum(p.numel() for n, p in model.named_parameters() if '.experts.' in n)
    print(f'{params} parameters ({expert_params} in experts); {len(train)} training tokens, {len(held)} held out; '
          f'{a.steps} steps of {a.batch}x{a.ctx} tokens on {a.threads} threads', flush=True)
    decay = [p for p in model.parameters() if p.dim() == 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': a.weight_decay}, {'params': rest, 'weight_decay': 0.0}],
                            lr=a.lr, betas=(0.9, 0.95))
    curve = ['step\tseconds\ttrain_loss\taux_loss\theldout_loss\theldout_ppl']
    t0 = time.time()
    running = None
    for step in range(1, a.steps + 1):
        lr = a.lr * min(1.0, step / a.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / a.steps)))
        for g in opt.param_groups:
            g['lr'] = lr
        starts = rng.integers(0, len(train) - a.ctx - 1, a.batch)
        batch = torch.from_numpy(np.stack([train[s:s + a.ctx + 1] for s in starts]).astype(np.int64))
        logits, aux, _ = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, vocab), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        (loss + a.aux_coef * aux).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % a.eval_every == 0 or step == a.steps:
            held_loss, _ = evaluate(model, held, a.ctx)
            line = f'{step}\t{time.time() - t0:.0f}\t{running:.4f}\t{aux.item():.4f}\t{held_loss:.4f}\t{math.exp(held_loss):.2f}'
            curve.append(line)
            print(line, flush=True)
    seconds = time.time() - t0
    held_loss, load = evaluate(model, held, a.ctx)
    write_safetensors(os.path.join(a.out, 'model.safetensors'), model.hf_state())
    with open(os.path.join(a.out, 'config.json'), 'w') as f:
        json.dump(config_json(a, vocab), f, indent=2)
        f.write('\n')
    with open(os.path.join(a.out, 'generation_config.json'), 'w') as f:
        json.dump({'bos_token_id': 1, 'eos_token_id': 2}, f, indent=2)
        f.write('\n')
    with open(os.path.join(a.out, 'loss.tsv'), 'w') as f:
        f.write('\n'.join(curve) + '\n')
    summary = {
        'parameters': params, 'expert_parameters': expert_params, 'training_seconds': round(seconds),
        'steps': a.steps, 'tokens_seen': a.steps * a.batch * a.ctx, 'threads': a.threads, 'seed': a.seed,
        'torch': torch.__version__, 'heldout_ppl_f32_weights': math.exp(held_loss),
        'expert_load': load.tolist(), 'args': vars(a),
    }
    with open(os.path.join(a.out, 'training.json'), 'w') as f:
        json.dump(summary, f, indent=2)
        f.write('\n')
    print(f'done in {seconds:.0f} s: held-out perplexity {math.exp(held_loss):.2f} (f32 weights, before bf16)', flush=True)


if __name__ == '__main__':
    main()
