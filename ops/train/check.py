#!/usr/bin/env python3
"""The independent check of a trained checkpoint: PyTorch's own forward pass (train.py's model) on the bf16 weights.

Reads a JSON request on stdin: {"windows": [[ids...], ...], "prompts": [[ids...], ...], "max_tokens": N}; prints
{"nll_sum": float, "tokens": int, "greedy": [[ids...], ...]}: the summed negative log-likelihood of every window's
tokens after its first (as `eaas eval` scores them), and each prompt's greedy continuation (full recomputation).
Usage: check.py MODEL_DIR < request.json
"""
import json
import struct
import sys
from types import SimpleNamespace

import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit('/', 1)[0])
from train import Mixtral  # noqa: E402


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == '__metadata__':
            continue
        if h['dtype'] != 'BF16':
            raise SystemExit(f'{name}: expected BF16, got {h["dtype"]}')
        b, e = h['data_offsets']
        raw = torch.frombuffer(bytearray(data[b:e]), dtype=torch.int16)
        out[name] = raw.view(torch.bfloat16).to(torch.float32).reshape(h['shape'])
    return out


def main():
    model_dir = sys.argv[1]
    with open(f'{model_dir}/config.json') as f:
        c = json.load(f)
    a = SimpleNamespace(hidden=c['hidden_size'], layers=c['num_hidden_layers'], heads=c['num_attention_heads'],
                        kv_heads=c['num_key_value_heads'], experts=c['num_local_experts'], top_k=c['num_experts_per_tok'],
                        expert_size=c['intermediate_size'], rope_theta=c['rope_theta'], ctx=c['max_position_embeddings'])
    model = Mixtral(a, c['vocab_size'])
    state = {('lm_head.weight' if k == 'lm_head.weight' else k[len('model.'):]): v for k, v in read_safetensors(f'{model_dir}/model.safetensors').items()}
    model.load_state_dict(state)
    model.eval()
    req = json.load(sys.stdin)
    nll, tokens, greedy = 0.0, 0, []
    with torch.no_grad():
        for w in req.get('windows', []):
            x = torch.tensor([w])
            logits = model(x)[0][0].double()
            nll += F.cross_entropy(logits[:-1], x[0, 1:], reduction='sum').item()
            tokens += len(w) - 1
        for p in req.get('prompts', []):
            ids = list(p)
            for _ in range(req.get('max_tokens', 8)):
                ids.append(int(model(torch.tensor([ids]))[0][0, -1].argmax()))
            greedy.append(ids[len(p):])
    json.dump({'nll_sum': nll, 'tokens': tokens, 'greedy': greedy}, sys.stdout)


if __name__ == '__main__':
    main()
