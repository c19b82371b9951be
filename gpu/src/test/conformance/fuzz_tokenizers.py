#!/usr/bin/env python3
"""Random tokenizer-folder fuzz: the files of make_tokenizer_cases.py with random tokenizer_config.json
fields (class, legacy, add_prefix_space, add_bos/eos flags, special tokens, added_tokens_decoder
entries, model-specific and extra special tokens), model types and texts; writes a case folder set that
TransformersTokenizerConformanceTest runs (the engine must give transformers 5's ids or refuse by name).
Not run by CI.

Usage: python fuzz_tokenizers.py SEED COUNT WORKDIR
  then: mvn -o -q test -pl gpu -Dtest=TransformersTokenizerConformanceTest -Dtokenizer.conformance.dir=WORKDIR
"""
import json, random, sys, warnings
from pathlib import Path
warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_tokenizer_cases as m
from transformers import AutoTokenizer

PIECES = ["Once", " upon", "  ", " ", "\n", "\r\n", "\t", "time", "Lily", "ü", "é", "e\u0301", "日本", "🙂", "'s",
          "I'm", "DON'T", "123", "4", ".", "!!", "?", "<s>", "</s>", "<unk>", "<pad>", "<mask>", "<bos>", "<eos>",
          "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|tool|>", "<|x|>", "ab", "the"]
CLASSES = ["LlamaTokenizer", "LlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast", "Qwen2Tokenizer",
           "Qwen2TokenizerFast", "GPT2Tokenizer", "CodeGenTokenizer", "PreTrainedTokenizerFast", "TokenizersBackend", "SomeTokenizer",
           None, "GPTNeoXTokenizer", "GPTNeoXTokenizerFast", "CohereTokenizer", "CohereTokenizerFast"]
# every model type the engine serves (AutoTokenizer picks a class per type)
MODEL_TYPES = ["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "gemma3_text", "granite",
               "smollm3", "olmo2", "olmo3", "ministral", "helium", "ernie4_5", "seed_oss", "glm", "glm4", "exaone4",
               "cohere", "stablelm", "olmo", "starcoder2", "phi", "nemotron", "arcee", "jais2", "hunyuan_v1_dense", "vaultgemma", "nanochat", "flex_olmo", "cwm", "gpt_neox", "cohere2",
               "granitemoeshared", "persimmon", "ministral3", "glm4_moe", "dots1", "apertus", "ernie4_5_moe"]
SPECIALS = ["<s>", "</s>", "<unk>", "<pad>", "<mask>", "<bos>", "<eos>", "<|endoftext|>", "<|im_end|>",
            "<|begin_of_text|>", "<|x|>", None]


def text(r):
    return "".join(r.choice(PIECES) for _ in range(r.randint(0, 12)))


def main(seed, count, work):
    r = random.Random(seed)
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    bases = {"sp": m.sp_file(), "gpt2": m.bytelevel_tokenizer("gpt2"), "llama3": m.bytelevel_tokenizer("llama3")}
    cases = []
    for i in range(count):
        base = r.choice(list(bases))
        tj = json.loads(json.dumps(bases[base]))
        if r.random() < 0.15:
            tj["post_processor"] = None
        cfg = {"model_type": r.choice(MODEL_TYPES)}
        tcfg = None
        if r.random() < 0.85:
            tcfg = {}
            c = r.choice(CLASSES)
            if c:
                tcfg["tokenizer_class"] = c
            for k in ["legacy", "add_prefix_space", "add_bos_token", "add_eos_token", "trim_offsets"]:
                if r.random() < 0.35:
                    tcfg[k] = r.choice([True, False, None])
            for k in ["bos_token", "eos_token", "unk_token", "pad_token", "mask_token"]:
                if r.random() < 0.4:
                    tcfg[k] = r.choice(SPECIALS)
            if r.random() < 0.2:
                tcfg["tool_token"] = "<|tool|>"
            if r.random() < 0.2:
                tcfg["additional_special_tokens"] = r.sample(["<|x|>", "<|y|>", "<s>"], r.randint(1, 2))
            if r.random() < 0.2:
                n = len(tj["model"]["vocab"]) + len(tj["added_tokens"])
                tcfg["added_tokens_decoder"] = {str(t["id"]): {k: v for k, v in t.items() if k != "id"}
                                                for t in tj["added_tokens"]}
                tcfg["added_tokens_decoder"][str(n)] = {"content": "<|tool|>", "lstrip": False, "rstrip": False,
                                                        "normalized": False, "single_word": False, "special": True}
        if r.random() < 0.2:
            # an added token of the file's own: non-special, matched on normalized text or not
            tj["added_tokens"].append({"id": len(tj["model"]["vocab"]) + len(tj["added_tokens"]) + 3,
                                       "content": r.choice(["ab", "the", " upon", "DON"]), "single_word": False,
                                       "lstrip": r.random() < 0.3, "rstrip": r.random() < 0.3,
                                       "normalized": r.random() < 0.5, "special": False})
        if tcfg is not None and r.random() < 0.2:
            tcfg[r.choice(["mask_token", "pad_token", "bos_token"])] = {
                "__type": "AddedToken", "content": r.choice(["<|x|>", "<mask>", "<s>", "<|im_end|>"]),
                "lstrip": r.random() < 0.5, "rstrip": r.random() < 0.3, "normalized": r.random() < 0.3,
                "single_word": False, **({"special": r.random() < 0.5} if r.random() < 0.5 else {})}
        name = f"t{seed}_{i}"
        m.write(work / name, tj, cfg, tcfg)
        if r.random() < 0.1:
            (work / name / "config.json").unlink()
        if r.random() < 0.15:
            (work / name / "special_tokens_map.json").write_text(json.dumps({
                "bos_token": r.choice(["<s>", "<|begin_of_text|>", {"content": "<|x|>", "lstrip": True}]),
                "eos_token": r.choice(["</s>", "<|im_end|>"]),
                **({"additional_special_tokens": ["<|y|>"]} if r.random() < 0.5 else {})}))
        if r.random() < 0.1:
            n = len(tj["model"]["vocab"]) + len(tj["added_tokens"])
            (work / name / "added_tokens.json").write_text(json.dumps({"<|tool|>": n, "<|x|>": n + 1}))
        texts = [text(r) for _ in range(12)]
        try:
            tok = AutoTokenizer.from_pretrained(work / name)
            rows = [m.encode(tok, t) for t in texts]
        except Exception as e:  # transformers itself refuses: nothing to compare
            print(name, "HF", type(e).__name__, str(e)[:120])
            continue
        cases.append({"name": name, "transformers_class": type(tok).__name__, "texts": rows,
                      "skipped_ids": m.skipped_ids(tok), "id_texts": m.id_texts(tok),
                      "drawn": {"base": base, "config": cfg, "tokenizer_config": tcfg}})
    (work / "cases.json").write_text(json.dumps({"cases": cases}, ensure_ascii=False, indent=1))
    print(len(cases), "cases in", work)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
