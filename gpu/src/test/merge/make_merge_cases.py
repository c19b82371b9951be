#!/usr/bin/env python3
"""Generate adapter-combining fixtures with PEFT's LoraModel.add_weighted_adapter.

Builds a tiny random Llama and four tiny random PEFT LoRA adapters with non-zero lora_B (different
ranks, alphas, rsLoRA, rank/alpha patterns and target modules), combines them with every deterministic
combination_type of add_weighted_adapter, and saves inputs and PEFT's outputs (save_pretrained) under
gpu/src/test/resources/merge/. CI never runs this script; AdapterCombinerMatchesPeftTest reads the files.

Usage: python make_merge_cases.py [--seed N] [--out DIR]
"""
import os
import sys

# PEFT stores target_modules as a set: pin string hashing so adapter_config.json is reproducible.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import argparse
import json
import platform
import shutil
import tempfile
from pathlib import Path

import peft
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

# name -> LoraConfig kwargs. a, b and d share rank 4 (linear, ties, magnitude_prune, dare need equal
# ranks); c differs in rank, alpha, rsLoRA, per-module patterns and targets (cat and *svd allow it).
ADAPTERS = {
    "a": dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]),
    "b": dict(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "o_proj"]),
    "c": dict(r=6, lora_alpha=3, use_rslora=True, target_modules=["q_proj", "k_proj", "gate_proj", "up_proj"],
              rank_pattern={"k_proj": 2}, alpha_pattern={"up_proj": 5}),
    "d": dict(r=4, lora_alpha=4, target_modules=["q_proj", "v_proj"]),
    # LoRA on the input embedding (lora_embedding_A/B; PEFT saves the base embedding beside it).
    "e": dict(r=4, lora_alpha=8, target_modules=["q_proj", "embed_tokens"]),
}

# name -> add_weighted_adapter arguments (adapters, weights, combination_type, extra kwargs).
CASES = {
    "linear": (["a", "b"], [0.6, -0.4], "linear", {}),
    "linear_three": (["a", "b", "d"], [0.5, 0.3, 0.9], "linear", {}),
    "cat": (["a", "b", "c"], [0.6, 0.4, -0.7], "cat", {}),
    "svd": (["a", "b", "c"], [0.6, 0.4, 0.7], "svd", {}),
    "svd_rank3": (["c", "a"], [1.0, -0.5], "svd", {"svd_rank": 3}),
    "ties": (["a", "b", "d"], [0.6, 0.4, 0.8], "ties", {"density": 0.5}),
    "ties_frequency": (["a", "b", "d"], [0.6, -0.4, 0.8], "ties", {"density": 0.7, "majority_sign_method": "frequency"}),
    "magnitude_prune": (["a", "b", "d"], [0.6, 0.4, 0.8], "magnitude_prune", {"density": 0.3}),
    "ties_svd": (["a", "b", "c"], [0.6, 0.4, 0.7], "ties_svd", {"density": 0.5}),
    "magnitude_prune_svd": (["a", "c"], [0.6, 0.9], "magnitude_prune_svd", {"density": 0.4, "svd_rank": 5}),
    "cat_embedding": (["e", "a"], [0.5, 0.7], "cat", {}),
    "linear_embedding": (["e", "a", "d"], [0.5, -0.7, 0.2], "linear", {}),
    "svd_embedding": (["e", "c"], [0.8, -0.6], "svd", {"svd_rank": 5}),
    "ties_svd_embedding": (["e", "b"], [0.8, 0.6], "ties_svd", {"density": 0.6}),
}


def tiny_llama(seed):
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(cfg).eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "resources" / "merge"))
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    (out / "inputs").mkdir(parents=True)
    (out / "peft").mkdir()
    tmp = Path(tempfile.mkdtemp())
    base = tiny_llama(args.seed)
    base.save_pretrained(tmp / "model")
    shutil.copy(tmp / "model" / "config.json", out / "config.json")
    # The base weights too (small): the project's loader checks a saved base embedding against them.
    shutil.copy(tmp / "model" / "model.safetensors", out / "model.safetensors")

    # Inputs: random A and B (B non-zero, so every product is informative), saved as PEFT saves them.
    for i, (name, kw) in enumerate(ADAPTERS.items()):
        model = get_peft_model(tiny_llama(args.seed), LoraConfig(task_type="CAUSAL_LM", **kw))
        gen = torch.Generator().manual_seed(args.seed * 100 + i)
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if "lora_" in pname:
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
        model.save_pretrained(out / "inputs" / name)

    for case, (names, weights, ctype, kw) in CASES.items():
        model = PeftModel.from_pretrained(tiny_llama(args.seed), out / "inputs" / names[0], adapter_name=names[0])
        for n in names[1:]:
            model.load_adapter(out / "inputs" / n, adapter_name=n)
        model.add_weighted_adapter(names, weights, case, combination_type=ctype, **kw)
        model.save_pretrained(tmp / "saved", selected_adapters=[case])
        shutil.copytree(tmp / "saved" / case, out / "peft" / case)
        # The combined adapter must load back (what the Java output must also do).
        PeftModel.from_pretrained(tiny_llama(args.seed), out / "peft" / case)

    for d in list((out / "inputs").iterdir()) + list((out / "peft").iterdir()):
        readme = d / "README.md"
        if readme.exists():
            readme.unlink()
    cases = {c: {"adapters": n, "weights": w, "combination_type": t, **kw} for c, (n, w, t, kw) in CASES.items()}
    (out / "cases.json").write_text(json.dumps(cases, indent=2) + "\n")
    (out / "VERSIONS.json").write_text(json.dumps({
        "peft": peft.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
        "python": platform.python_version(), "seed": args.seed}, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
