"""Greedy outputs of transformers' logits processors on stories260k, for SamplingConformanceTest.

Run from the repository root with torch, transformers and peft installed:
    python gpu/src/test/conformance/make_sampling_cases.py
Writes gpu/src/test/resources/sampling/cases.json: per case the prompt ids, the generate() settings
and the ids transformers chose (greedy, EOS ignored), so CI needs no Python.
"""
import json
import os

import torch
import transformers
from transformers import AutoModelForCausalLM

torch.manual_seed(0)
MODEL = "models/stories260k"
OUT = "gpu/src/test/resources/sampling/cases.json"

model = AutoModelForCausalLM.from_pretrained(MODEL, torch_dtype=torch.float32)
model.eval()
rows = [json.loads(l) for l in open("gpu/src/test/resources/stories260k-greedy.jsonl")]
prompts = [r["prompt_ids"] for r in rows[:4]]

SETTINGS = [
    {"no_repeat_ngram_size": 1},
    {"no_repeat_ngram_size": 2},
    {"no_repeat_ngram_size": 3},
    {"no_repeat_ngram_size": 4},
    {"repetition_penalty": 1.3},
    {"repetition_penalty": 1.3, "no_repeat_ngram_size": 3},
    # transformers' sequence_bias on one-token sequences is the OpenAI/vLLM logit_bias.
    {"sequence_bias": {"13": -100.0, "432": -3.0, "261": 2.5}},
    {"sequence_bias": {"13": -100.0, "432": -3.0, "261": 2.5}, "repetition_penalty": 1.3},
]
cases = []
for settings in SETTINGS:
    for ids in prompts:
        kwargs = dict(settings)
        if "sequence_bias" in kwargs:
            kwargs["sequence_bias"] = {(int(k),): v for k, v in kwargs["sequence_bias"].items()}
        with torch.no_grad():
            out = model.generate(
                torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                do_sample=False,
                max_new_tokens=48,
                min_new_tokens=48,  # EOS ignored, as the engine's ignore_eos
                pad_token_id=0,
                **kwargs,
            )
        cases.append({"prompt_ids": ids, "settings": settings, "expected_ids": out[0, len(ids):].tolist()})
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump(
        {"versions": {"torch": torch.__version__, "transformers": transformers.__version__}, "cases": cases},
        f,
        indent=1,
    )
print(f"wrote {len(cases)} cases to {OUT}")
