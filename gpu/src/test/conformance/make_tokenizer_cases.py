#!/usr/bin/env python3
"""Tokenizer conformance fixtures: model folders' tokenizer files as the ecosystem writes them, and the
prompt ids transformers 5's AutoTokenizer gives for a set of texts (tok(text).input_ids).

transformers 5 does not run tokenizer.json as it is: AutoTokenizer picks a class from tokenizer_config.json
and config.json's model_type, and classes with their own __init__ (LlamaTokenizer, GemmaTokenizer,
Qwen2Tokenizer, GPT2Tokenizer, ...) keep only the vocabulary, merges and post-processor of the file and
rebuild normalizer, pre-tokenizer, decoder and model options in code; add_bos_token / add_eos_token
rewrite the post-processor; special tokens the configs name are added when missing. The engine's
tokenizer must give the same ids (TransformersTokenizerConformanceTest) or refuse the folder by name.

Writes gpu/src/test/resources/tokenizer-conformance/ (one folder per case plus cases.json) and the list of
transformers' tokenizer classes that rebuild their pipeline in code
(gpu/src/main/resources/io/flinklora/gpu/tokenizer/transformers-rebuilding-tokenizers.txt).
CI never runs it. Usage: python make_tokenizer_cases.py
"""
import json, shutil, warnings
from pathlib import Path
warnings.filterwarnings("ignore")
import transformers
from transformers import AutoTokenizer
from transformers.models.auto import tokenization_auto as ta
from transformers.tokenization_utils_tokenizers import TokenizersBackend
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers, processors, Regex, normalizers
transformers.utils.logging.set_verbosity_error()

REPO = Path(__file__).resolve().parents[4]
OUT = REPO / "gpu" / "src" / "test" / "resources" / "tokenizer-conformance"
CLASSES = REPO / "gpu" / "src" / "main" / "resources" / "io" / "flinklora" / "gpu" / "tokenizer" / \
    "transformers-rebuilding-tokenizers.txt"
SP = REPO / "models" / "stories260k" / "tokenizer.json"
REFERENCE = REPO / ".." / "shared" / "reference" / "stories260k-greedy.jsonl"

TEXTS = [
    "Once upon a time", "Hello world", "  Hello  world", " leading space", "trailing space ", "   ",
    "", ".", "a\nb\n\nc", "line\r\nbreak", "tab\there", "ünïcödé café naïve", "e\u0301 vs \u00e9",
    "日本語のテキスト", "emoji 🙂👍 ok", "I'm sure they'll say DON'T", "12345 67 8", "!!! ??? ...",
    "<s>Once</s> upon", "Once <s> upon", "Once<s>upon", "x</s>", "<unk> and <pad> and <mask>",
    "<|endoftext|>next", "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "a <|tool|> b",
    "<|begin_of_text|>Hi", "The dog ran. The cat sat.\n\nThe end.", "  \n  indented\n",
    "Tom and Lily went to the park to play with a big red ball",
    "left <|x|> right", " <|tool|>  <|im_end|> <mask> end",
]


def bytelevel_tokenizer(style):
    """A small byte-level BPE trained here: GPT-2's file pipeline or Llama 3's (split regex + BOS)."""
    corpus = [json.loads(l)["greedy_text"] for l in open(REFERENCE)] * 20 + TEXTS * 5
    tok = Tokenizer(models.BPE())
    if style == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                                       r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + (
        ["<|begin_of_text|>", "<|end_of_text|>"] if style == "llama3" else [])
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=[], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    tok.add_special_tokens(specials)
    if style == "llama3":
        bos = tok.token_to_id("<|begin_of_text|>")
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                          special_tokens=[("<|begin_of_text|>", bos)])])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return json.loads(tok.to_str())


def sp_file():
    return json.loads(SP.read_text())


LLAMA_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

# name -> (tokenizer.json, config.json, tokenizer_config.json or None)
CASES = {
    # the bundled model's files (a transformers 4 conversion: legacy normalizer, legacy true)
    "sp_llama_legacy": (sp_file(), {"model_type": "llama"}, dict(
        tokenizer_class="LlamaTokenizer", add_bos_token=True, add_eos_token=False, legacy=True,
        clean_up_tokenization_spaces=False, **LLAMA_SPECIALS)),
    # the same file read as transformers 5 does without legacy: Metaspace that prepends once
    "sp_llama_default": (sp_file(), {"model_type": "llama"}, dict(tokenizer_class="LlamaTokenizerFast", **LLAMA_SPECIALS)),
    "sp_llama_no_prefix_space": (sp_file(), {"model_type": "llama"}, dict(
        tokenizer_class="LlamaTokenizer", add_prefix_space=False, legacy=False, **LLAMA_SPECIALS)),
    # transformers 5 drops add_bos_token / add_eos_token whenever tokenizer.json exists: the file's
    # post-processor decides, and a file without one adds nothing
    "sp_llama_add_flags_dropped": (sp_file(), {"model_type": "llama"}, dict(
        tokenizer_class="LlamaTokenizer", add_bos_token=False, add_eos_token=True, **LLAMA_SPECIALS)),
    "sp_no_post_processor_add_bos_dropped": (dict(sp_file(), post_processor=None), {"model_type": "llama"}, dict(
        tokenizer_class="LlamaTokenizer", add_bos_token=True, legacy=True, **LLAMA_SPECIALS)),
    "sp_no_post_processor_no_tokenizer_config": (dict(sp_file(), post_processor=None), {"model_type": "llama"}, None),
    # no tokenizer_config.json: the file as it is
    "sp_no_tokenizer_config": (sp_file(), {"model_type": "llama"}, None),
    # Mistral and Phi-3 register the generic backend: a LlamaTokenizer class name is not used
    "sp_mistral_llama_class": (sp_file(), {"model_type": "mistral"}, dict(
        tokenizer_class="LlamaTokenizer", legacy=False, **LLAMA_SPECIALS)),
    "sp_phi3_llama_class_flags": (sp_file(), {"model_type": "phi3"}, dict(
        tokenizer_class="LlamaTokenizer", add_bos_token=False, add_eos_token=True, legacy=False, **LLAMA_SPECIALS)),
    # Gemma's class: its own pipeline, and its default <pad> / <mask> added when the configs name others
    "sp_gemma_class": (sp_file(), {"model_type": "gemma"}, dict(
        tokenizer_class="GemmaTokenizer", add_bos_token=True, **LLAMA_SPECIALS)),
    # a class transformers does not know: the generic backend
    "sp_unknown_class": (sp_file(), {"model_type": "llama"}, dict(tokenizer_class="MyOwnTokenizer", **LLAMA_SPECIALS)),
    "bl_qwen2_class": (bytelevel_tokenizer("gpt2"), {"model_type": "qwen2"}, dict(
        tokenizer_class="Qwen2Tokenizer", eos_token="<|endoftext|>", pad_token="<|endoftext|>", bos_token=None,
        unk_token=None)),
    # Qwen2 is in transformers' list of models whose hub class is wrong: Qwen2Tokenizer anyway
    "bl_qwen2_generic_class": (bytelevel_tokenizer("gpt2"), {"model_type": "qwen2"}, dict(
        tokenizer_class="PreTrainedTokenizerFast", eos_token="<|im_end|>")),
    "bl_qwen3_generic_class": (bytelevel_tokenizer("gpt2"), {"model_type": "qwen3"}, dict(
        tokenizer_class="PreTrainedTokenizerFast", eos_token="<|im_end|>")),
    "bl_gpt2_prefix_space": (bytelevel_tokenizer("gpt2"), {"model_type": "llama"}, dict(
        tokenizer_class="GPT2Tokenizer", add_prefix_space=True)),
    # Phi-1/2's tokenizer_config.json names CodeGenTokenizer: GPT2Tokenizer's pipeline
    "bl_codegen_phi": (bytelevel_tokenizer("gpt2"), {"model_type": "phi"}, dict(
        tokenizer_class="CodeGenTokenizer", add_prefix_space=True)),
    "bl_llama3": (bytelevel_tokenizer("llama3"), {"model_type": "llama"}, dict(
        tokenizer_class="PreTrainedTokenizerFast", bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>")),
    "bl_llama3_add_flags_dropped": (bytelevel_tokenizer("llama3"), {"model_type": "llama"}, dict(
        tokenizer_class="PreTrainedTokenizerFast", bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>",
        add_bos_token=True, add_eos_token=True)),
    # Gemma's class around a byte-level vocabulary without <unk>: transformers loads it, then raises on
    # every text that needs the unknown token (the engine refuses those prompts with a code)
    "bl_gemma_class_without_unk": (bytelevel_tokenizer("gpt2"), {"model_type": "gemma"}, dict(
        tokenizer_class="GemmaTokenizer")),
    # added_tokens_decoder naming a token tokenizer.json lacks, and a model-specific special token
    "bl_llama3_config_tokens": (bytelevel_tokenizer("llama3"), {"model_type": "llama"}, dict(
        tokenizer_class="PreTrainedTokenizerFast", bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>",
        added_tokens_decoder={"425": {"content": "<|tool|>", "lstrip": False, "normalized": False, "rstrip": False,
                                      "single_word": False, "special": True}})),
    # rules the tokenizer fuzz found (fuzz_tokenizers.py), appended so earlier folders stay as they were:
    # a named AddedToken re-added as a plain string (the string's properties win), a model-specific token
    "bl_llama3_addedtoken_then_string": (bytelevel_tokenizer("llama3"), {"model_type": "llama"}, dict(
        tokenizer_class="PreTrainedTokenizerFast", bos_token="<|begin_of_text|>", tool_token="<|tool|>",
        mask_token={"__type": "AddedToken", "content": "<|x|>", "lstrip": True, "rstrip": True, "normalized": False,
                    "single_word": False}, additional_special_tokens=["<|x|>"])),
    # Qwen2Tokenizer re-adds every special token with default properties at the end of its constructor
    "bl_qwen2_special_properties_reset": (bytelevel_tokenizer("gpt2"), {"model_type": "qwen2"}, dict(
        tokenizer_class="Qwen2Tokenizer", eos_token="<|im_end|>", mask_token={
            "__type": "AddedToken", "content": "<|x|>", "lstrip": True, "rstrip": True, "normalized": False,
            "single_word": False, "special": True})),
    # GPTNeoXTokenizer (GPT-NeoX, Pythia, OLMo 1): GPT-2's byte-level pipeline behind an NFC normalizer, and a
    # post-processor rebuilt from add_bos_token / add_eos_token, which from_pretrained drops whenever
    # tokenizer.json exists: no BOS, whatever the file's post-processor adds
    "bl_gptneox_class_drops_file_bos": (bytelevel_tokenizer("llama3"), {"model_type": "gpt_neox"}, dict(
        tokenizer_class="GPTNeoXTokenizer", add_bos_token=True, bos_token="<|endoftext|>",
        eos_token="<|endoftext|>", unk_token="<|endoftext|>")),
    "bl_gptneox_prefix_space_no_trim": (bytelevel_tokenizer("gpt2"), {"model_type": "gpt_neox"}, dict(
        tokenizer_class="GPTNeoXTokenizerFast", add_prefix_space=True, trim_offsets=False)),
    # OLMo 1 registers GPTNeoXTokenizer: a folder without tokenizer_config.json gets it, and its <|padding|>
    "bl_olmo_registered_gptneox": (bytelevel_tokenizer("gpt2"), {"model_type": "olmo"}, None),
    "bl_gptneox_registered": (bytelevel_tokenizer("llama3"), {"model_type": "gpt_neox"}, None),
    # CohereTokenizer (Command R, Cohere 2): NFC, digits split one by one before GPT-2's byte-level
    # pre-tokenizer, the file's post-processor; its seven default special tokens are added when new
    "bl_cohere_class": (bytelevel_tokenizer("llama3"), {"model_type": "cohere"}, dict(
        tokenizer_class="CohereTokenizerFast", bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>")),
    "bl_cohere_registered_prefix_space": (bytelevel_tokenizer("gpt2"), {"model_type": "cohere"}, dict(
        add_prefix_space=True)),
    "bl_cohere2_registered": (bytelevel_tokenizer("gpt2"), {"model_type": "cohere2"}, None),
    # the classes the later architectures' model types register (FlexOlmo: the generic backend; Jais 2:
    # GPT2Tokenizer) or none (HunYuan dense, VaultGemma, NanoChat: tokenizer.json as it is)
    "bl_flex_olmo_registered": (bytelevel_tokenizer("gpt2"), {"model_type": "flex_olmo"}, None),
    # a registered generic backend wins over the class tokenizer_config.json names (no LlamaTokenizer rebuild)
    "sp_flex_olmo_registered_over_llama_class": (sp_file(), {"model_type": "flex_olmo"}, dict(
        tokenizer_class="LlamaTokenizer", legacy=True, **LLAMA_SPECIALS)),
    "bl_jais2_registered": (bytelevel_tokenizer("llama3"), {"model_type": "jais2"}, None),
    "bl_hunyuan_dense_unregistered": (bytelevel_tokenizer("llama3"), {"model_type": "hunyuan_v1_dense"}, None),
    "sp_vaultgemma_unregistered": (sp_file(), {"model_type": "vaultgemma"}, None),
    "bl_nanochat_unregistered": (bytelevel_tokenizer("gpt2"), {"model_type": "nanochat"}, None),
    # GraniteMoeShared registers the generic backend, which wins over a LlamaTokenizer class
    "sp_granitemoeshared_registered_over_llama_class": (sp_file(), {"model_type": "granitemoeshared"}, dict(
        tokenizer_class="LlamaTokenizer", legacy=True, **LLAMA_SPECIALS)),
    # Ministral 3 registers MistralCommonBackend, or without mistral-common (not in this venv) the generic
    # backend, which wins over a LlamaTokenizer class
    "sp_ministral3_registered_over_llama_class": (sp_file(), {"model_type": "ministral3"}, dict(
        tokenizer_class="LlamaTokenizer", legacy=True, **LLAMA_SPECIALS)),
    # Persimmon registers the generic backend too (adept's checkpoints name LlamaTokenizer)
    "sp_persimmon_registered_over_llama_class": (sp_file(), {"model_type": "persimmon"}, dict(
        tokenizer_class="LlamaTokenizer", legacy=True, **LLAMA_SPECIALS)),
    # GLM-4-MoE registers the generic backend (GLM-4.5's checkpoints name PreTrainedTokenizerFast)
    "sp_glm4_moe_registered_over_llama_class": (sp_file(), {"model_type": "glm4_moe"}, dict(
        tokenizer_class="LlamaTokenizer", legacy=True, **LLAMA_SPECIALS)),
    # dots.llm1 registers none: tokenizer_config.json's class (Qwen2Tokenizer in its checkpoints), here none
    "bl_dots1_unregistered": (bytelevel_tokenizer("llama3"), {"model_type": "dots1"}, None),
    # Apertus registers none either
    "bl_apertus_unregistered": (bytelevel_tokenizer("llama3"), {"model_type": "apertus"}, None),
    # ERNIE 4.5's MoE registers the generic backend and is among the types whose hub class AutoTokenizer overrides
    "sp_ernie4_5_moe_registered_over_llama_class": (sp_file(), {"model_type": "ernie4_5_moe"}, dict(
        tokenizer_class="LlamaTokenizer", legacy=True, **LLAMA_SPECIALS)),
}

# legacy files beside tokenizer.json (read only without added_tokens_decoder in tokenizer_config.json)
EXTRA_FILES = {
    "sp_legacy_special_tokens_map_and_added_tokens": (
        (sp_file(), {"model_type": "llama"}, dict(tokenizer_class="LlamaTokenizer", legacy=True, tool_token="<|tool|>")),
        {"special_tokens_map.json": {"bos_token": {"content": "<s>", "lstrip": False}, "eos_token": "</s>",
                                     "unk_token": "<unk>"},
         "added_tokens.json": {"<|tool|>": 512, "<|x|>": 513}}),
    # EOS ids only the model configs name (ordinary pieces here): generate stops on them, but the
    # tokenizer does not know them, so decode keeps their text; a pad token naming an ordinary piece is
    # made special (decode drops it)
    "sp_llama_config_eos_ids_and_pad_piece": (
        (sp_file(), {"model_type": "llama", "bos_token_id": 1, "eos_token_id": [2, 400]}, dict(
            tokenizer_class="LlamaTokenizer", legacy=True, pad_token="▁lo", **LLAMA_SPECIALS)),
        {"generation_config.json": {"bos_token_id": 1, "eos_token_id": [2, 401, 300]}}),
    "bl_llama3_config_eos_ids": (
        (bytelevel_tokenizer("llama3"), {"model_type": "llama", "eos_token_id": [424, 400]}, dict(
            tokenizer_class="PreTrainedTokenizerFast", bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>",
            extra_special_tokens=["The"])),
        {"generation_config.json": {"eos_token_id": [424, 401]}}),
}

REFUSED = {
    # a transformers class that rebuilds its pipeline in code the engine does not replicate
    "refused_t5_class": (sp_file(), {"model_type": "llama"}, dict(tokenizer_class="T5Tokenizer", **LLAMA_SPECIALS),
                         "T5Tokenizer"),
    # found by name though no model type registers it (transformers exports it): refused all the same
    "refused_distilbert_class": (sp_file(), {"model_type": "llama"}, dict(
        tokenizer_class="DistilBertTokenizer", **LLAMA_SPECIALS), "DistilBertTokenizer"),
    "refused_split_special_tokens": (sp_file(), {"model_type": "llama"}, dict(
        tokenizer_class="LlamaTokenizer", split_special_tokens=True, **LLAMA_SPECIALS), "split_special_tokens"),
}


def encode(tok, text):
    try:
        return {"text": text, "ids": tok(text).input_ids}
    except Exception as e:  # the tokenizers library refuses the text itself
        return {"text": text, "error": str(e)}


def skipped_ids(tok):
    """Ids decode(skip_special_tokens=True) leaves out of text: each id whose text alone is not empty but
    is empty when special tokens are skipped (the ids a served completion's text must leave out too)."""
    out = []
    for i in range(len(tok)):
        if tok.decode([i], skip_special_tokens=False) != "" and tok.decode([i], skip_special_tokens=True) == "":
            out.append(i)
    return out


def anchor_id(tok):
    """An ordinary token whose text has no leading space and repeats as itself: decode([anchor, id])
    then shows id's text as it follows other text (a decoder's Strip of the leading space only
    touches the first token of a sequence)."""
    added = set(tok.added_tokens_decoder)
    for i in range(len(tok)):
        t = tok.decode([i])
        piece = tok.convert_ids_to_tokens(i)
        if i not in added and t and not t[0].isspace() and t.isprintable() and tok.decode([i, i]) == t + t \
                and not (piece.startswith("<0x") and piece.endswith(">")):  # byte pieces fuse with neighbours
            return i
    return None


def id_texts(tok):
    """decode([anchor, id], skip_special_tokens=True) for every id: the text each token adds to a completion."""
    a = anchor_id(tok)
    return {"anchor": a, "texts": [tok.decode([a, i], skip_special_tokens=True) for i in range(len(tok))]}


def write(folder, tj, cfg, tcfg):
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False))
    (folder / "config.json").write_text(json.dumps(cfg, indent=1))
    if tcfg is not None:
        (folder / "tokenizer_config.json").write_text(json.dumps(tcfg, indent=1, ensure_ascii=False))


def rebuilding_classes():
    """Names transformers resolves to a tokenizer class other than the generic backend: those the model
    types register, and every class transformers exports, which tokenizer_class_from_name finds by name
    too (CodeGenTokenizer, DistilBertTokenizer, ...; a class whose dependency is missing here is a
    placeholder, counted all the same)."""
    names = {v for v in ta.TOKENIZER_MAPPING_NAMES.values() if v} | set(ta.REGISTERED_FAST_ALIASES) \
        | set(ta.REGISTERED_TOKENIZER_CLASSES) \
        | {n for n in dir(transformers) if n.endswith(("Tokenizer", "TokenizerFast")) and n != "AutoTokenizer"}
    out = set()
    for n in names:
        try:
            c = ta.tokenizer_class_from_name(n)
        except Exception:
            c = None
        if c is not None and c is not TokenizersBackend and c.__name__ not in ("PythonBackend",
                                                                                "PreTrainedTokenizerFast"):
            out.add(n.removesuffix("Fast"))
    return sorted(out)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    cases = []
    for name, (tj, cfg, tcfg) in CASES.items():
        write(OUT / name, tj, cfg, tcfg)
        tok = AutoTokenizer.from_pretrained(OUT / name)
        cases.append({"name": name, "transformers_class": type(tok).__name__,
                      "texts": [encode(tok, t) for t in TEXTS], "skipped_ids": skipped_ids(tok), "id_texts": id_texts(tok)})
        if name == "sp_llama_default":
            # the same tokenizer as transformers 5 saves it (Metaspace in tokenizer.json, added_tokens_decoder)
            saved = OUT / "sp_llama_saved_by_transformers5"
            shutil.rmtree(saved, ignore_errors=True)
            tok.save_pretrained(saved)
            (saved / "config.json").write_text(json.dumps({"model_type": "llama"}, indent=1))
            again = AutoTokenizer.from_pretrained(saved)
            cases.append({"name": saved.name, "transformers_class": type(again).__name__,
                          "texts": [encode(again, t) for t in TEXTS], "skipped_ids": skipped_ids(again), "id_texts": id_texts(again)})
    for name, ((tj, cfg, tcfg), files) in EXTRA_FILES.items():
        write(OUT / name, tj, cfg, tcfg)
        for f, content in files.items():
            (OUT / name / f).write_text(json.dumps(content))
        tok = AutoTokenizer.from_pretrained(OUT / name)
        cases.append({"name": name, "transformers_class": type(tok).__name__,
                      "texts": [encode(tok, t) for t in TEXTS], "skipped_ids": skipped_ids(tok), "id_texts": id_texts(tok)})
    for name, (tj, cfg, tcfg, named) in REFUSED.items():
        write(OUT / name, tj, cfg, tcfg)
        cases.append({"name": name, "refused": named})
    (OUT / "cases.json").write_text(json.dumps({"transformers": transformers.__version__, "cases": cases},
                                               ensure_ascii=False, indent=1))
    CLASSES.parent.mkdir(parents=True, exist_ok=True)
    CLASSES.write_text(
        f"# transformers {transformers.__version__}: tokenizer classes AutoTokenizer resolves to a class of its own\n"
        "# (not the generic TokenizersBackend), without the Fast suffix. Written by\n"
        "# gpu/src/test/conformance/make_tokenizer_cases.py; the engine rebuilds LlamaTokenizer, GemmaTokenizer,\n"
        "# Qwen2Tokenizer, GPT2Tokenizer, CodeGenTokenizer, GPTNeoXTokenizer and CohereTokenizer as transformers\n"
        "# does and refuses the others by name.\n"
        + "".join(n + "\n" for n in rebuilding_classes()))
    print(f"{len(cases)} cases in {OUT}")


if __name__ == "__main__":
    main()
