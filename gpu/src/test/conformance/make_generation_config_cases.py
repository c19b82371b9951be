"""What transformers' generate() does with a model folder's generation defaults, for
GenerationConfigConformanceTest.

Run from the repository root with torch and transformers installed:
    python gpu/src/test/conformance/make_generation_config_cases.py
Writes gpu/src/test/resources/generation-config/: per case a folder with the files that differ from
models/stories260k (config.json, and generation_config.json unless the case has none), and
cases.json: per case the request fields sent (the rest left unset), and per prompt the new ids
transformers' generate() returns when given only what the request sets, or its error. Cases marked
"refused" name the field the engine must refuse (transformers applies it and the engine cannot).
"""
import json
import os
import shutil

import torch
import transformers
from transformers import AutoModelForCausalLM

BASE = "models/stories260k"
OUT = "gpu/src/test/resources/generation-config"
rows = [json.loads(l) for l in open("gpu/src/test/resources/stories260k-greedy.jsonl")]
PROMPTS = [r["prompt_ids"] for r in rows[:3]] + [[1] + [403, 407, 292, 26, 278] * 5]

GEN_IDS = {"bos_token_id": 1, "eos_token_id": 2}
DOT_EOS = {"bos_token_id": 1, "eos_token_id": [2, 426]}
DOT_CONFIG = {"eos_token_id": [2, 426]}
CASES = [
    # name, generation_config.json (None: no file), fields added to config.json, request, refused
    ("penalties", {**GEN_IDS, "repetition_penalty": 1.3, "no_repeat_ngram_size": 3,
                   "max_new_tokens": 24}, {}, {}, None),
    ("config_json_fields", None, {"repetition_penalty": 1.5, "no_repeat_ngram_size": 2,
                                  "max_length": 30}, {}, None),
    ("file_wins_over_config_json", {**GEN_IDS, "max_new_tokens": 10},
     {"repetition_penalty": 2.0, "max_length": 25}, {}, None),
    ("sampling_model_greedy_request", {**GEN_IDS, "do_sample": True, "temperature": 0.6,
                                       "top_p": 0.9, "top_k": 20, "repetition_penalty": 1.1,
                                       "max_new_tokens": 16}, {}, {"temperature": 0.0}, None),
    ("request_overrides", {**GEN_IDS, "repetition_penalty": 1.3, "no_repeat_ngram_size": 2,
                           "max_new_tokens": 8}, {},
     {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "max_new_tokens": 12}, None),
    ("neutral_fields", {**GEN_IDS, "num_beams": 1, "min_length": 0, "typical_p": 1.0,
                        "num_return_sequences": 1, "output_scores": True, "length_penalty": 2.0,
                        "early_stopping": True, "bad_words_ids": None, "renormalize_logits": True,
                        "remove_invalid_values": True, "use_cache": True,
                        "repetition_penalty": 1.2, "max_new_tokens": 10,
                        "transformers_version": transformers.__version__}, {}, {}, None),
    ("max_length_only", {**GEN_IDS, "max_length": 20}, {}, {}, None),
    ("max_new_tokens_over_max_length", {**GEN_IDS, "max_length": 12, "max_new_tokens": 15}, {},
     {}, None),
    ("refused_num_beams", {**GEN_IDS, "num_beams": 3}, {}, {}, "num_beams"),
    ("refused_suppress_tokens", {**GEN_IDS, "suppress_tokens": [5]}, {}, {}, "suppress_tokens"),
    # "." (426) as a second EOS makes EOS likely early, so the minimum lengths show: transformers
    # bans every EOS id until min_new_tokens (or min_length, prompt included) is reached.
    ("eos_dot", {**DOT_EOS, "max_new_tokens": 40}, DOT_CONFIG, {}, None),
    ("min_new_tokens", {**DOT_EOS, "min_new_tokens": 14, "max_new_tokens": 40}, DOT_CONFIG, {},
     None),
    ("min_length", {**DOT_EOS, "min_length": 24, "max_new_tokens": 40}, DOT_CONFIG, {}, None),
    ("min_new_tokens_wins_over_min_length", {**DOT_EOS, "min_new_tokens": 3, "min_length": 30,
                                             "max_new_tokens": 40}, DOT_CONFIG, {}, None),
    ("min_new_tokens_zero_cancels_min_length", {**DOT_EOS, "min_new_tokens": 0, "min_length": 30,
                                                "max_new_tokens": 40}, DOT_CONFIG, {}, None),
    ("min_new_tokens_beyond_max_new_tokens", {**DOT_EOS, "min_new_tokens": 50,
                                              "max_new_tokens": 20}, DOT_CONFIG, {}, None),
    ("request_min_tokens_over_model", {**DOT_EOS, "min_new_tokens": 14, "max_new_tokens": 40},
     DOT_CONFIG, {"min_tokens": 6}, None),
    ("min_length_in_config_json", None, {**DOT_CONFIG, "min_length": 20, "max_length": 60}, {},
     None),
    ("refused_forced_eos", {**GEN_IDS, "forced_eos_token_id": 2}, {}, {}, "forced_eos_token_id"),
    ("refused_unknown_field", {**GEN_IDS, "chat_format": "chatml"}, {}, {}, "chat_format"),
    ("refused_config_json_beams", None, {"num_beams": 2}, {}, "num_beams"),
    # generate stops on the ids of the file it reads and on no others: not on config.json's beside
    # a generation_config.json, not on the tokenizer's eos_token, and on none when that file has
    # no eos_token_id (whatever config.json says).
    ("eos_config_json_beside_file", {**GEN_IDS, "max_new_tokens": 40}, DOT_CONFIG, {}, None),
    ("eos_tokenizer_config_only", {**GEN_IDS, "max_new_tokens": 40}, {}, {}, None),
    ("eos_file_without_ids", {"max_new_tokens": 40}, DOT_CONFIG, {}, None),
]
# tokenizer_config.json fields that differ from stories260k's, per case
TOKENIZER_CONFIG = {"eos_tokenizer_config_only": {"eos_token": "."}}


def generate(folder, prompt, request):
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model.eval()
    kwargs = dict(request)
    if "min_tokens" in kwargs:  # the engine's request field; transformers' min_new_tokens
        kwargs["min_new_tokens"] = kwargs.pop("min_tokens")
    if kwargs.get("temperature") == 0.0:  # the engine's greedy request is do_sample=False
        del kwargs["temperature"]
        kwargs["do_sample"] = False
    try:
        with torch.no_grad():
            out = model.generate(torch.tensor([prompt]), **kwargs)
        return {"ids": out[0][len(prompt):].tolist()}
    except Exception as e:  # transformers refuses the folder or the prompt
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    cases = []
    base_config = json.load(open(os.path.join(BASE, "config.json")))
    for name, gen, extra, request, refused in CASES:
        folder = os.path.join(OUT, name)
        os.makedirs(folder)
        json.dump({**base_config, **extra}, open(os.path.join(folder, "config.json"), "w"),
                  indent=2)
        if gen is not None:
            json.dump(gen, open(os.path.join(folder, "generation_config.json"), "w"), indent=2)
        if name in TOKENIZER_CONFIG:
            tc = json.load(open(os.path.join(BASE, "tokenizer_config.json")))
            json.dump({**tc, **TOKENIZER_CONFIG[name]},
                      open(os.path.join(folder, "tokenizer_config.json"), "w"), indent=2)
        # transformers reads the weights and tokenizer beside them: a full folder in a temp dir
        tmp = "/tmp/generation-config-case"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(BASE, tmp)
        os.remove(os.path.join(tmp, "generation_config.json"))
        for f in os.listdir(folder):
            shutil.copy(os.path.join(folder, f), tmp)
        results = [dict(prompt=p, **generate(tmp, p, request)) for p in PROMPTS]
        cases.append({"name": name, "request": request, "refused": refused,
                      "generation_config": gen is not None, "results": results})
    fields = sorted(transformers.GenerationConfig().__dict__.keys())
    json.dump({"transformers": transformers.__version__, "torch": torch.__version__,
               "generation_config_fields": fields, "cases": cases}, open(os.path.join(OUT, "cases.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
