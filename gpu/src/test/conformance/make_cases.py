#!/usr/bin/env python3
"""Generate LoRA-serving conformance fixtures with Hugging Face transformers + PEFT.

Writes tiny random float32 causal LMs (several architectures / RoPE variants / config layouts,
sliding windows, Gemma / Gemma2 / Phi-3), PEFT LoRA adapters for them (plain, rsLoRA, rank/alpha
patterns, layer subsets, regex targets, excluded modules, LoRA bias, DoRA, modules_to_save,
embedding LoRA), and reference greedy outputs + first-step logits for a set of prompts, computed by
transformers/PEFT on CPU.

Everything random is derived from --seed; re-running with the same seed reproduces the same
files. Not run by CI: the outputs are committed under gpu/src/test/resources/conformance/.

Usage:
    python make_cases.py [--seed N] [--out DIR] [--models NAME,NAME,...] [shape flags, see --help]
--models writes only the named model cases (default: all). The shape flags (--hidden, --intermediate,
--layers, --heads, --gqa-group, --head-dim-override, --max-position, --max-new-tokens, --prompt-max)
default to the shapes of the committed fixtures. See README.md next to this file for the output format.
"""
import os
import sys

# PEFT stores target_modules / exclude_modules as a Python set, so the order in
# adapter_config.json depends on string hashing. Pin it so output is reproducible.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import argparse
import copy
import hashlib
import json
import platform
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import torch

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

import peft  # noqa: E402
import transformers  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from peft.tuners.lora import LoraLayer  # noqa: E402
from peft.tuners.lora.layer import ParamWrapper  # noqa: E402
from peft.utils.other import ModulesToSaveWrapper  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoConfig,
    AutoModelForCausalLM,
    Gemma2Config,
    Gemma2ForCausalLM,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    GemmaConfig,
    GraniteConfig,
    GraniteForCausalLM,
    GemmaForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Phi3Config,
    Phi3ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
    SmolLM3Config,
    SmolLM3ForCausalLM,
    Olmo2Config,
    Olmo2ForCausalLM,
    Olmo3Config,
    Olmo3ForCausalLM,
    MinistralConfig,
    Ministral3Config,
    Ministral3ForCausalLM,
    MinistralForCausalLM,
    HeliumConfig,
    HeliumForCausalLM,
    Ernie4_5Config,
    Ernie4_5ForCausalLM,
    SeedOssConfig,
    SeedOssForCausalLM,
    GlmConfig,
    GlmForCausalLM,
    Glm4Config,
    Glm4ForCausalLM,
    Exaone4Config,
    Exaone4ForCausalLM,
    CohereConfig,
    CohereForCausalLM,
    Cohere2Config,
    Cohere2ForCausalLM,
    GPTNeoXConfig,
    PersimmonConfig,
    PersimmonForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    OPTConfig,
    OPTForCausalLM,
    GPTBigCodeConfig,
    GPTBigCodeForCausalLM,
    BloomConfig,
    BloomForCausalLM,
    GPTJConfig,
    GPTJForCausalLM,
    GPTNeoConfig,
    GPTNeoForCausalLM,
    FalconConfig,
    FalconForCausalLM,
    MptConfig,
    MptForCausalLM,
    CodeGenConfig,
    CodeGenForCausalLM,
    MixtralConfig,
    MixtralForCausalLM,
    Qwen3MoeConfig,
    Qwen3MoeForCausalLM,
    OlmoeConfig,
    OlmoeForCausalLM,
    Qwen2MoeConfig,
    Glm4MoeConfig,
    Glm4MoeForCausalLM,
    Dots1Config,
    Dots1ForCausalLM,
    ApertusConfig,
    ApertusForCausalLM,
    Ernie4_5_MoeConfig,
    Ernie4_5_MoeForCausalLM,
    Qwen2MoeForCausalLM,
    GptOssConfig,
    GptOssForCausalLM,
    GraniteMoeConfig,
    GraniteMoeForCausalLM,
    GraniteMoeSharedConfig,
    GraniteMoeSharedForCausalLM,
    GPTNeoXForCausalLM,
    StableLmConfig,
    StableLmForCausalLM,
    OlmoConfig,
    OlmoForCausalLM,
    Starcoder2Config,
    Starcoder2ForCausalLM,
    PhiConfig,
    PhiForCausalLM,
    NemotronConfig,
    NemotronForCausalLM,
    ArceeConfig,
    ArceeForCausalLM,
    Jais2Config,
    Jais2ForCausalLM,
    HunYuanDenseV1Config,
    HunYuanDenseV1ForCausalLM,
    VaultGemmaConfig,
    VaultGemmaForCausalLM,
    NanoChatConfig,
    NanoChatForCausalLM,
    FlexOlmoConfig,
    FlexOlmoForCausalLM,
    CwmConfig,
    CwmForCausalLM,
)

transformers.utils.logging.disable_progress_bar()
# Known, harmless PEFT warnings: lora_B.bias on a bias-free base layer (we never merge those), and
# the save-time ZeRO-3/FSDP shard heuristic that flags every 1-D tensor, including lora_B.bias.
warnings.filterwarnings("ignore", message=r".*`lora_bias=True` was passed but the targeted layer")
warnings.filterwarnings("ignore", message=r".*LoRA tensor\(s\) have invalid shape")
# embed_lora targets embed_tokens: PEFT then also saves the base embedding (asserted equal to the model's).
warnings.filterwarnings("ignore", message=r".*Setting `save_embedding_layers` to `True`")

REPO = Path(__file__).resolve().parents[4]
TOKENIZER_DIR = REPO / "models" / "stories260k"
DEFAULT_OUT = REPO / "gpu" / "src" / "test" / "resources" / "conformance"

VOCAB = 512
# MAX_NEW_TOKENS and PROMPT_MAX_LEN are reassigned from --max-new-tokens / --prompt-max in main().
MAX_NEW_TOKENS = 10
PROMPT_MIN_LEN, PROMPT_MAX_LEN = 5, 20
PROMPT_MIN_ID = 3
GAP_REL = 1e-3          # top1 - top2 >= GAP_REL * max|logit| at every greedy step
MATRIX_STD, NORM_STD, BIAS_STD = 0.15, 0.1, 0.1
LORA_A_STD, LORA_B_STD, LORA_BIAS_STD = 0.3, 0.3, 0.3
BASE_BIAS_STD = 0.3
ALORA_INVOCATION = [301, 302, 303]
DORA_MAGNITUDE_STD = 0.2    # DoRA magnitude = its initial value (row norms of W) * (1 + N(0, 0.2))
SAVED_MODULE_STD = 0.1      # modules_to_save copies = base weights + N(0, 0.1)
LORA_EMBED_STD = 0.3        # lora_embedding_A / lora_embedding_B
MAX_REDRAWS = 200
# Models with a sliding window draw prompts of WINDOW_PROMPT_MIN..max(WINDOW_PROMPT_MIN, --prompt-max) tokens,
# longer than any of their windows, so the window already cuts the prompt at the first step.
WINDOW_PROMPT_MIN = 12
# phi3 longrope: original_max_position_embeddings = max_position / 8 (32 at 256). Short rows keep
# prompt + max_new_tokens <= it; long rows have prompts of original + 8 .. original + 28 tokens (40..60).
LONGROPE_ORIGINAL_DIV = 8
LONG_PROMPT_OFFSETS = (8, 28)
# A feature-off variant (window off, softcap off, DoRA as plain LoRA, ...) must move every row it concerns by at
# least this much: max|first_logits - reference| / max|reference| (the Java test allows 1e-4), unless it already
# changes the greedy ids.
FEATURE_MIN_REL = 1e-3
# Models with fp64_check: a row's float32 first logits must be within FP64_MAX_REL * max|logit| of the same
# transformers/PEFT model run in float64, else the prompt is redrawn (keeps a margin to the Java test's 1e-4).
FP64_MAX_REL = 1e-5

# Model shapes: the defaults are the shapes of the committed fixtures; each can be changed on the
# command line (see main()).
DEFAULT_SHAPES = dict(
    hidden=32,              # hidden_size
    intermediate=64,        # intermediate_size
    layers=3,               # num_hidden_layers (>= 3: adapters name layers 0, 1 and 2)
    heads=4,                # num_attention_heads
    gqa_group=2,            # query heads per KV head in the GQA models (mistral: 1 KV head, MHA: heads)
    head_dim_override=16,   # explicit head_dim of llama_attn_bias_headdim and qwen3
    max_position=256,       # max_position_embeddings
)
YARN_FACTOR = 4.0       # yarn original_max_position_embeddings = max_position / YARN_FACTOR (64 at 256)
LLAMA3_ORIGINAL_DIV = 8  # llama3 original_max_position_embeddings = max_position / 8 (32 at 256)


def common_config(shapes):
    return dict(
        hidden_size=shapes["hidden"],
        intermediate_size=shapes["intermediate"],
        num_hidden_layers=shapes["layers"],
        num_attention_heads=shapes["heads"],
        vocab_size=VOCAB,
        max_position_embeddings=shapes["max_position"],
        bos_token_id=1,
        eos_token_id=2,
    )

ARCH = {
    "llama": (LlamaConfig, LlamaForCausalLM, "LlamaForCausalLM"),
    "qwen2": (Qwen2Config, Qwen2ForCausalLM, "Qwen2ForCausalLM"),
    "mistral": (MistralConfig, MistralForCausalLM, "MistralForCausalLM"),
    "qwen3": (Qwen3Config, Qwen3ForCausalLM, "Qwen3ForCausalLM"),
    "gemma2": (Gemma2Config, Gemma2ForCausalLM, "Gemma2ForCausalLM"),
    "gemma": (GemmaConfig, GemmaForCausalLM, "GemmaForCausalLM"),
    "gemma3": (Gemma3TextConfig, Gemma3ForCausalLM, "Gemma3ForCausalLM"),
    "phi3": (Phi3Config, Phi3ForCausalLM, "Phi3ForCausalLM"),
    "granite": (GraniteConfig, GraniteForCausalLM, "GraniteForCausalLM"),
    "smollm3": (SmolLM3Config, SmolLM3ForCausalLM, "SmolLM3ForCausalLM"),
    "olmo2": (Olmo2Config, Olmo2ForCausalLM, "Olmo2ForCausalLM"),
    "olmo3": (Olmo3Config, Olmo3ForCausalLM, "Olmo3ForCausalLM"),
    "ministral": (MinistralConfig, MinistralForCausalLM, "MinistralForCausalLM"),
    "ministral3": (Ministral3Config, Ministral3ForCausalLM, "Ministral3ForCausalLM"),
    "helium": (HeliumConfig, HeliumForCausalLM, "HeliumForCausalLM"),
    "ernie4_5": (Ernie4_5Config, Ernie4_5ForCausalLM, "Ernie4_5ForCausalLM"),
    "seed_oss": (SeedOssConfig, SeedOssForCausalLM, "SeedOssForCausalLM"),
    "glm": (GlmConfig, GlmForCausalLM, "GlmForCausalLM"),
    "glm4": (Glm4Config, Glm4ForCausalLM, "Glm4ForCausalLM"),
    "exaone4": (Exaone4Config, Exaone4ForCausalLM, "Exaone4ForCausalLM"),
    "cohere": (CohereConfig, CohereForCausalLM, "CohereForCausalLM"),
    "cohere2": (Cohere2Config, Cohere2ForCausalLM, "Cohere2ForCausalLM"),
    "gpt_neox": (GPTNeoXConfig, GPTNeoXForCausalLM, "GPTNeoXForCausalLM"),
    "persimmon": (PersimmonConfig, PersimmonForCausalLM, "PersimmonForCausalLM"),
    "gpt2": (GPT2Config, GPT2LMHeadModel, "GPT2LMHeadModel"),
    "opt": (OPTConfig, OPTForCausalLM, "OPTForCausalLM"),
    "gpt_bigcode": (GPTBigCodeConfig, GPTBigCodeForCausalLM, "GPTBigCodeForCausalLM"),
    "bloom": (BloomConfig, BloomForCausalLM, "BloomForCausalLM"),
    "gptj": (GPTJConfig, GPTJForCausalLM, "GPTJForCausalLM"),
    "gpt_neo": (GPTNeoConfig, GPTNeoForCausalLM, "GPTNeoForCausalLM"),
    "falcon": (FalconConfig, FalconForCausalLM, "FalconForCausalLM"),
    "mpt": (MptConfig, MptForCausalLM, "MptForCausalLM"),
    "codegen": (CodeGenConfig, CodeGenForCausalLM, "CodeGenForCausalLM"),
    "mixtral": (MixtralConfig, MixtralForCausalLM, "MixtralForCausalLM"),
    "qwen3_moe": (Qwen3MoeConfig, Qwen3MoeForCausalLM, "Qwen3MoeForCausalLM"),
    "olmoe": (OlmoeConfig, OlmoeForCausalLM, "OlmoeForCausalLM"),
    "qwen2_moe": (Qwen2MoeConfig, Qwen2MoeForCausalLM, "Qwen2MoeForCausalLM"),
    "glm4_moe": (Glm4MoeConfig, Glm4MoeForCausalLM, "Glm4MoeForCausalLM"),
    "dots1": (Dots1Config, Dots1ForCausalLM, "Dots1ForCausalLM"),
    "apertus": (ApertusConfig, ApertusForCausalLM, "ApertusForCausalLM"),
    "ernie4_5_moe": (Ernie4_5_MoeConfig, Ernie4_5_MoeForCausalLM, "Ernie4_5_MoeForCausalLM"),
    "gpt_oss": (GptOssConfig, GptOssForCausalLM, "GptOssForCausalLM"),
    "granitemoe": (GraniteMoeConfig, GraniteMoeForCausalLM, "GraniteMoeForCausalLM"),
    "granitemoeshared": (GraniteMoeSharedConfig, GraniteMoeSharedForCausalLM, "GraniteMoeSharedForCausalLM"),
    "stablelm": (StableLmConfig, StableLmForCausalLM, "StableLmForCausalLM"),
    "olmo": (OlmoConfig, OlmoForCausalLM, "OlmoForCausalLM"),
    "starcoder2": (Starcoder2Config, Starcoder2ForCausalLM, "Starcoder2ForCausalLM"),
    "phi": (PhiConfig, PhiForCausalLM, "PhiForCausalLM"),
    "nemotron": (NemotronConfig, NemotronForCausalLM, "NemotronForCausalLM"),
    "arcee": (ArceeConfig, ArceeForCausalLM, "ArceeForCausalLM"),
    "jais2": (Jais2Config, Jais2ForCausalLM, "Jais2ForCausalLM"),
    "hunyuan_dense": (HunYuanDenseV1Config, HunYuanDenseV1ForCausalLM, "HunYuanDenseV1ForCausalLM"),
    "vaultgemma": (VaultGemmaConfig, VaultGemmaForCausalLM, "VaultGemmaForCausalLM"),
    "nanochat": (NanoChatConfig, NanoChatForCausalLM, "NanoChatForCausalLM"),
    "flex_olmo": (FlexOlmoConfig, FlexOlmoForCausalLM, "FlexOlmoForCausalLM"),
    "cwm": (CwmConfig, CwmForCausalLM, "CwmForCausalLM"),
}

# ---------------------------------------------------------------- adapters
# Layer-specific entries (rank_pattern/alpha_pattern keys, layers_to_transform, the regex target) name
# layers 0, 1 and 2 only, so they stay valid for any --layers >= 3.

ADAPTERS = {
    "plain": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
        ["lora"],
    ),
    "rslora_all_linear": (
        dict(r=8, lora_alpha=16, use_rslora=True, target_modules="all-linear"),
        ["rslora", "all_linear"],
    ),
    "patterns": (
        dict(
            r=4,
            lora_alpha=8,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
            rank_pattern={"gate_proj|up_proj": 2, "model.layers.1.self_attn.o_proj": 6},
            alpha_pattern={"gate_proj|up_proj": 3, r"layers\.0\..*v_proj": 16},
        ),
        ["rank_pattern", "alpha_pattern"],
    ),
    "layers_subset": (
        dict(
            r=4,
            lora_alpha=4,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
            layers_to_transform=[0, 2],
            layers_pattern="layers",
        ),
        ["layers_to_transform"],
    ),
    "regex_target": (
        dict(r=4, lora_alpha=8, target_modules=r"model\.layers\.[02]\.(self_attn\.(q|k)_proj|mlp\.down_proj)"),
        ["regex_target_modules"],
    ),
    "exclude": (
        dict(r=4, lora_alpha=8, target_modules="all-linear", exclude_modules=["o_proj", "down_proj"]),
        ["exclude_modules"],
    ),
    "lora_bias": (
        dict(r=4, lora_alpha=8, lora_bias=True, target_modules=["q_proj", "v_proj", "down_proj"]),
        ["lora_bias"],
    ),
    # DoRA: lora_magnitude_vector per adapted module; after creation A/B are random and the magnitudes are
    # their initial value (row norms of W) * (1 + N(0, 0.2)).
    "dora": (
        dict(r=4, lora_alpha=8, use_dora=True, target_modules=["q_proj", "v_proj", "o_proj", "down_proj"]),
        ["dora"],
    ),
    "dora_rslora_all_linear": (
        dict(r=8, lora_alpha=16, use_dora=True, use_rslora=True, target_modules="all-linear"),
        ["dora", "rslora", "all_linear"],
    ),
    # modules_to_save: a full copy of lm_head (base + N(0, 0.1)) replaces it while the adapter is active.
    # Not named "save_lm_head": PEFT matches modules_to_save by key.endswith("lm_head"), which would also hit the
    # adapter's own "...q_proj.lora_A.save_lm_head" and make get_peft_model raise.
    "save_head": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], modules_to_save=["lm_head"]),
        ["modules_to_save_lm_head"],
    ),
    "save_embed": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj"], modules_to_save=["embed_tokens"]),
        ["modules_to_save_embed_tokens"],
    ),
    # LoRA on the embedding (lora_embedding_A / lora_embedding_B, both random, std 0.3) and on q_proj.
    "embed_lora": (
        dict(r=4, lora_alpha=8, target_modules=["embed_tokens", "q_proj"]),
        ["embedding_lora"],
    ),
    # LoRA on the output head (lora_A r x hidden, lora_B vocab x r); PEFT also saves the head itself
    # (lm_head.base_layer.weight, save_embedding_layers="auto"), an exact copy of the model's.
    "head_lora": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "lm_head"]),
        ["lm_head_lora"],
    ),
    # PEFT's TrainableTokens: the adapter's own embedding rows for 64 token ids (and output rows, on a tied
    # head); the rows start as copies of the model's and get N(0, 0.3) noise.
    "trainable_tokens": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], trainable_token_indices=list(range(100, 164))),
        ["trainable_token_indices"],
    ),
    # PEFT's bias = "all" / "lora_only" on a model without biases: nothing to train or save, the same adapter
    # as bias = "none" (with biases, PEFT saves them and the engine refuses those tensors by name).
    "bias_all": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], bias="all"),
        ["peft_bias_all_without_biases"],
    ),
    "bias_lora_only": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "o_proj"], bias="lora_only"),
        ["peft_bias_lora_only_without_biases"],
    ),
    # The same options on a model with biases: PEFT trains and saves the base biases (every bias with "all",
    # the target modules' with "lora_only"; drawn as the model's + N(0, BASE_BIAS_STD)) and its loader writes
    # them over the model's.
    "bias_all_trained": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], bias="all"),
        ["peft_bias_all_trained"],
    ),
    "bias_lora_only_trained": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "o_proj", "up_proj"], bias="lora_only"),
        ["peft_bias_lora_only_trained"],
    ),
    # Activated LoRA: acts from the last occurrence of its invocation tokens in the prompt on (and on every
    # generated token), nowhere when the prompt lacks them. Its rows: the tokens once, twice (the last counts)
    # and not at all. task_type CAUSAL_LM: PEFT computes the offsets only in PeftModelForCausalLM.
    "alora": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"],
             alora_invocation_tokens=ALORA_INVOCATION, task_type="CAUSAL_LM"),
        ["alora"],
    ),
    # DoRA's term subtracts the (replaced) bias from the base output: (g - 1)(x W^T) + g s B A x
    "dora_bias_all_trained": (
        dict(r=4, lora_alpha=8, use_dora=True, target_modules=["q_proj", "v_proj", "down_proj"], bias="all"),
        ["dora", "peft_bias_all_trained"],
    ),
    # lora_bias on the output head too: lm_head.lora_B carries a bias (vocab), scaled like B
    "head_lora_bias": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "lm_head"], lora_bias=True),
        ["lm_head_lora", "lora_bias"],
    ),
    # OLoRA and PiSSA: PEFT's loader re-runs the initialisation, rewriting each adapted base weight to
    # W - s Q[:, :r] R[:r] (QR of W) or W - U_r S_r V_r^T (SVD of W); the saved A and B act beside it. With a
    # fused module (Phi-3's qkv_proj / gate_up_proj) the QR / SVD is of the fused weight.
    "olora": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "o_proj", "down_proj"], init_lora_weights="olora"),
        ["olora"],
    ),
    "pissa": (
        dict(r=4, lora_alpha=16, use_rslora=True, target_modules=["q_proj", "k_proj", "up_proj", "down_proj"],
             init_lora_weights="pissa"),
        ["pissa", "rslora"],
    ),
    # DoRA over the rewritten base: magnitude / ||W - s Q R + s B A|| per row
    "dora_olora": (
        dict(r=4, lora_alpha=8, use_dora=True, target_modules=["q_proj", "v_proj", "down_proj"],
             init_lora_weights="olora"),
        ["olora", "dora"],
    ),
    "pissa_patterns": (
        dict(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights="pissa",
             rank_pattern={"gate_proj|up_proj": 2, "model.layers.1.self_attn.o_proj": 6},
             alpha_pattern={"gate_proj|up_proj": 3}),
        ["pissa", "rank_pattern", "alpha_pattern", "all_linear"],
    ),
    # MiCA and EVA leave the base alone: their initial A and B are replaced by the saved ones, so they are
    # plain LoRA when loaded (EVA's chosen ranks are in rank_pattern; eva_config is read only by its init).
    "mica": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights="mica"),
        ["mica"],
    ),
    "eva": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights="eva",
             eva_config={"rho": 2.0}, rank_pattern={"model.layers.0.self_attn.q_proj": 6}),
        ["eva"],
    ),
    # Saved with save_pretrained(save_embedding_layers=True): the whole embedding (and output head) beside the
    # LoRA tensors, which PEFT's loader writes over the model's; equal to the model's here (SAVE_KW).
    "saved_embedding_layers": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]),
        ["save_embedding_layers"],
    ),
    # DoRA on the output head: each vocabulary row scaled by magnitude / ||W + s B A||
    "head_dora": (
        dict(r=4, lora_alpha=8, target_modules=["v_proj", "lm_head"], use_dora=True),
        ["lm_head_lora", "dora"],
    ),
    # Starcoder2's gate-less MLP under its own module names: c_fc (up) and c_proj (down), with biases
    "c_fc_c_proj": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "c_fc", "c_proj"], rank_pattern={"c_fc": 2},
             alpha_pattern={"c_proj": 16}, lora_bias=True),
        ["c_fc_c_proj", "rank_pattern", "alpha_pattern", "lora_bias"],
    ),
    "dora_c_fc": (
        dict(r=4, lora_alpha=8, use_dora=True, target_modules=["v_proj", "c_fc", "c_proj"]),
        ["dora", "c_fc_c_proj"],
    ),
    # Phi's module names: dense (o), fc1 (up) and fc2 (down), with biases
    "fc1_fc2": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "dense", "fc1", "fc2"], rank_pattern={"fc1": 2},
             alpha_pattern={"dense": 16}, lora_bias=True),
        ["dense_fc1_fc2", "rank_pattern", "alpha_pattern", "lora_bias"],
    ),
    "dora_fc": (
        dict(r=4, lora_alpha=8, use_dora=True, target_modules=["v_proj", "fc1", "fc2"]),
        ["dora", "dense_fc1_fc2"],
    ),
    # GPT-NeoX's module names: query_key_value (q, k, v per head), dense (o), dense_h_to_4h (up),
    # dense_4h_to_h (down), all with biases
    "neox_qkv": (
        dict(r=4, lora_alpha=8, target_modules=["query_key_value"]),
        ["query_key_value"],
    ),
    "neox_patterns_bias": (
        dict(r=4, lora_alpha=8, target_modules=["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
             rank_pattern={"dense_h_to_4h": 2}, alpha_pattern={"query_key_value": 16}, lora_bias=True),
        ["query_key_value", "dense_mlp", "rank_pattern", "alpha_pattern", "lora_bias"],
    ),
    "neox_dora": (
        dict(r=4, lora_alpha=8, use_dora=True, target_modules=["query_key_value", "dense_4h_to_h"]),
        ["dora", "query_key_value"],
    ),
    # GPT-NeoX's input embedding is gpt_neox.embed_in (not embed_tokens): LoRA on it, saved whole, and
    # PEFT's trainable rows of it
    "neox_embed_lora": (
        dict(r=4, lora_alpha=8, target_modules=["embed_in", "query_key_value"]),
        ["embedding_lora", "query_key_value"],
    ),
    "neox_save_embed": (
        dict(r=4, lora_alpha=8, target_modules=["query_key_value"], modules_to_save=["embed_in"]),
        ["modules_to_save_embed_in"],
    ),
    "neox_trainable_tokens": (
        dict(r=4, lora_alpha=8, target_modules=["dense"], trainable_token_indices=list(range(100, 164))),
        ["trainable_token_indices"],
    ),
    # GPT-2's Conv1D modules (weights stored [in, out]; PEFT sets fan_in_fan_out true on them): c_attn (q, k,
    # v in that order), attn.c_proj (o), mlp.c_fc (up), mlp.c_proj (down), all with biases
    "gpt2_c_attn": (
        dict(r=4, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True),
        ["c_attn"],
    ),
    "gpt2_patterns_bias": (
        dict(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj", "c_fc"], rank_pattern={"c_fc": 2},
             alpha_pattern={"c_attn": 16}, lora_bias=True, fan_in_fan_out=True),
        ["c_attn", "c_proj_c_fc", "rank_pattern", "alpha_pattern", "lora_bias"],
    ),
    "gpt2_dora": (
        dict(r=4, lora_alpha=8, use_dora=True, target_modules=["c_attn", "mlp.c_proj"], fan_in_fan_out=True),
        ["dora", "c_attn"],
    ),
    # GPT-2's input embedding is transformer.wte: LoRA on it, saved whole, and PEFT's trainable rows of it
    "gpt2_embed_lora": (
        dict(r=4, lora_alpha=8, target_modules=["wte", "c_attn"]),
        ["embedding_lora", "c_attn"],
    ),
    "gpt2_saved_embedding": (
        dict(r=4, lora_alpha=8, target_modules=["c_attn"], modules_to_save=["wte"]),
        ["modules_to_save_wte"],
    ),
    "gpt2_trainable_tokens": (
        dict(r=4, lora_alpha=8, target_modules=["c_proj"], trainable_token_indices=list(range(100, 164))),
        ["trainable_token_indices"],
    ),
    # OPT's module names: Llama's q, k, v with out_proj (o), fc1 (up) and fc2 (down) in the decoder layer
    # GPT-J's module names: Llama's q, k, v with out_proj (no biases), fc_in and fc_out (with biases)
    "gptj_attn": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
        ["q_proj_v_proj"],
    ),
    "gptj_patterns_bias": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "out_proj", "fc_in", "fc_out"],
             rank_pattern={"fc_in": 2}, alpha_pattern={"out_proj": 16}, lora_bias=True),
        ["out_proj_fc_in_fc_out", "rank_pattern", "alpha_pattern", "lora_bias"],
    ),
    "gptj_dora": (
        dict(r=4, lora_alpha=8, use_dora=True, target_modules=["k_proj", "fc_out"]),
        ["dora", "out_proj_fc_in_fc_out"],
    ),
    # GPT-Neo's module names: Llama's q, k, v (no biases) with out_proj under attn.attention, c_fc and c_proj
    # (nn.Linear, with biases) under mlp
    "neo_attn": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
        ["q_proj_v_proj"],
    ),
    "neo_patterns_bias": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "out_proj", "c_fc", "c_proj"],
             rank_pattern={"c_fc": 2}, alpha_pattern={"out_proj": 16}, lora_bias=True),
        ["out_proj_c_fc_c_proj", "rank_pattern", "alpha_pattern", "lora_bias"],
    ),
    "neo_dora": (
        dict(r=4, lora_alpha=8, use_dora=True, target_modules=["k_proj", "c_proj"]),
        ["dora", "out_proj_c_fc_c_proj"],
    ),
    "neo_embed_lora": (
        dict(r=4, lora_alpha=8, target_modules=["wte", "q_proj"]),
        ["embedding_lora", "q_proj_v_proj"],
    ),
    # MPT's module names: Wqkv (q | k | v), out_proj, ffn.up_proj and ffn.down_proj, no biases
    "mpt_wqkv": (
        dict(r=4, lora_alpha=8, target_modules=["Wqkv"]),
        ["wqkv"],
    ),
    "mpt_patterns_bias": (
        dict(r=4, lora_alpha=8, target_modules=["Wqkv", "out_proj", "up_proj", "down_proj"],
             rank_pattern={"up_proj": 2}, alpha_pattern={"Wqkv": 16}, lora_bias=True),
        ["wqkv", "out_proj_up_proj_down_proj", "rank_pattern", "alpha_pattern", "lora_bias"],
    ),
    "mpt_dora": (
        dict(r=4, lora_alpha=8, use_dora=True, target_modules=["Wqkv", "down_proj"]),
        ["dora", "wqkv"],
    ),
    "mpt_embed_lora": (
        dict(r=4, lora_alpha=8, target_modules=["wte", "Wqkv"]),
        ["embedding_lora", "wqkv"],
    ),
    # CodeGen's module names: qkv_proj (q, k, v in four shards), out_proj, fc_in and fc_out
    "codegen_qkv": (
        dict(r=4, lora_alpha=8, target_modules=["qkv_proj"]),
        ["qkv_proj"],
    ),
    "codegen_patterns_bias": (
        dict(r=4, lora_alpha=8, target_modules=["qkv_proj", "out_proj", "fc_in", "fc_out"],
             rank_pattern={"fc_in": 2}, alpha_pattern={"qkv_proj": 16}, lora_bias=True),
        ["qkv_proj", "out_proj_fc_in_fc_out", "rank_pattern", "alpha_pattern", "lora_bias"],
    ),
    # Mixtral and Qwen3-MoE: LoRA on the attention projections (PEFT's all-linear adds target_parameters on the
    # experts and the router, which the engine refuses by name; PEFT 0.21 turns gate_proj / up_proj / down_proj
    # targets on Qwen3-MoE, even in a regex, into target_parameters on the stacked experts, and leaves the dense
    # layers' MLP unadapted)
    "mixtral_patterns_bias": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
             rank_pattern={"k_proj": 2}, alpha_pattern={"o_proj": 16}, lora_bias=True),
        ["q_k_v_o", "rank_pattern", "alpha_pattern", "lora_bias"],
    ),
    "mixtral_rslora": (
        dict(r=8, lora_alpha=16, use_rslora=True, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]),
        ["rslora", "q_k_v_o"],
    ),
    "mixtral_dora": (
        dict(r=4, lora_alpha=8, use_dora=True, target_modules=["q_proj", "o_proj"]),
        ["dora"],
    ),
    # LoRA on the experts and the router (PEFT's target_parameters, one ParamWrapper per stacked parameter):
    # all-linear, which PEFT 0.21 rewrites on these models into q/k/v/o plus target_parameters gate_up_proj (rank
    # and alpha doubled, as w1 + w3 / gate_proj + up_proj are fused), down_proj and the router's gate.weight; the
    # experts named directly, with rsLoRA and rank / alpha patterns, and layers_to_transform (which restricts the
    # modules only: PEFT matches parameters by name alone); the router of one layer and nothing else
    "moe_all_linear": (
        dict(r=4, lora_alpha=8, target_modules="all-linear"),
        ["all_linear_moe", "expert_lora", "router_lora", "fused_expert_rank_doubled"],
    ),
    "moe_experts_patterns": (
        dict(r=4, lora_alpha=8, use_rslora=True, target_modules=["q_proj", "v_proj"], layers_to_transform=[0],
             target_parameters=["experts.gate_up_proj", "experts.down_proj"],
             rank_pattern={"down_proj": 2}, alpha_pattern={"gate_up_proj": 16}),
        ["expert_lora", "rslora", "rank_pattern", "alpha_pattern", "layers_to_transform_modules_only"],
    ),
    "moe_router_layer0": (
        dict(r=2, lora_alpha=4, target_modules=None, target_parameters=["layers.0.mlp.gate.weight"]),
        ["router_lora", "one_layer_parameter", "parameters_only"],
    ),
    "moe_router_layer1": (
        dict(r=2, lora_alpha=4, target_modules=["k_proj"], target_parameters=["layers.1.mlp.gate.weight"]),
        ["router_lora", "one_layer_parameter"],
    ),
    # Adapters trained on transformers 4, whose experts were modules: per-expert tensors (w1 / w3 / w2 on
    # Mixtral, gate_proj / up_proj / down_proj elsewhere) and the router's (block_sparse_moe.gate on Mixtral),
    # with the transformers-4 names in target_modules. PEFT 0.21 rewrites both when it loads them on
    # transformers 5 (target_parameters; rank and alpha doubled on the fused gate_up_proj, so rsLoRA's scale
    # there becomes 2 alpha / sqrt(2r)). get_peft_model cannot write this layout: written by hand
    # (write_v4_expert_adapter), as PEFT of that time saved it.
    # GPT-OSS's router is mlp.router (weight and bias), GraniteMoE's block_sparse_moe.router: LoRA on its weight
    "gpt_oss_router": (
        dict(r=2, lora_alpha=4, target_modules=["k_proj"], target_parameters=["router.weight"]),
        ["router_lora"],
    ),
    # lora_bias on Qwen2-MoE's shared expert (nn.Linear modules: gate_proj, up_proj, down_proj and
    # shared_expert_gate, whose names the dense layer's MLP shares) and on q_proj
    "shared_expert_lora_bias": (
        dict(r=2, lora_alpha=4, lora_bias=True,
             target_modules=["q_proj", "gate_proj", "up_proj", "down_proj", "shared_expert_gate"]),
        ["lora_bias", "shared_expert_lora"],
    ),
    # GraniteMoeShared's shared MLP: input_linear (gate and up fused in one nn.Linear, chunked after it) and
    # output_linear, LoRA'd as modules beside attention; rsLoRA with a rank pattern; lora_bias; DoRA
    "granite_shared_mlp": (
        dict(r=4, lora_alpha=8, use_rslora=True, target_modules=["q_proj", "input_linear", "output_linear"],
             rank_pattern={"output_linear": 2}),
        ["shared_expert_lora", "fused_gate_up_module", "rslora", "rank_pattern"],
    ),
    "granite_shared_lora_bias": (
        dict(r=2, lora_alpha=4, lora_bias=True, target_modules=["v_proj", "input_linear", "output_linear"]),
        ["lora_bias", "shared_expert_lora"],
    ),
    "granite_shared_dora": (
        dict(r=2, lora_alpha=4, use_dora=True, target_modules=["k_proj", "input_linear", "output_linear"]),
        ["dora", "shared_expert_lora"],
    ),
    # DoRA on the same modules (the shared expert's have no bias)
    "shared_expert_dora": (
        dict(r=2, lora_alpha=4, use_dora=True,
             target_modules=["k_proj", "gate_proj", "up_proj", "down_proj", "shared_expert_gate"]),
        ["dora", "shared_expert_lora"],
    ),
    # GPT-OSS's biases trained with PEFT's bias option: "all" trains the attention projections' and the
    # router's (mlp.router.bias; not the experts' gate_up_proj_bias / down_proj_bias, whose names do not end
    # in ".bias"), "lora_only" with the router's weight in target_parameters trains mlp.router.base_layer.bias
    "gpt_oss_bias_all": (
        dict(r=2, lora_alpha=4, target_modules=["q_proj", "o_proj"], bias="all"),
        ["peft_bias_all_trained", "router_bias_trained"],
    ),
    "gpt_oss_router_lora_only": (
        dict(r=2, lora_alpha=4, target_modules=["k_proj"], target_parameters=["router.weight"],
             bias="lora_only"),
        ["router_lora", "peft_bias_lora_only_trained", "router_bias_trained"],
    ),
    "v4_experts": (
        dict(r=2, lora_alpha=8, target_modules=["q_proj", "v_proj", "{up0}", "{up1}", "{down}", "gate"]),
        ["transformers4_expert_adapter", "expert_lora", "router_lora"],
    ),
    "v4_experts_rslora": (
        dict(r=2, lora_alpha=8, use_rslora=True, target_modules=["k_proj", "{up0}", "{up1}", "{down}"]),
        ["transformers4_expert_adapter", "expert_lora", "rslora"],
    ),
    "codegen_dora": (
        dict(r=4, lora_alpha=8, use_dora=True, target_modules=["qkv_proj", "fc_out"]),
        ["dora", "qkv_proj"],
    ),
    # Bloom's embedding is transformer.word_embeddings
    "bloom_embed_lora": (
        dict(r=4, lora_alpha=8, target_modules=["word_embeddings", "query_key_value"]),
        ["embedding_lora", "query_key_value"],
    ),
    "opt_q_v": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
        ["q_proj_v_proj"],
    ),
    "opt_patterns_bias": (
        dict(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
             rank_pattern={"fc1": 2}, alpha_pattern={"out_proj": 16}, lora_bias=True),
        ["out_proj_fc1_fc2", "rank_pattern", "alpha_pattern", "lora_bias"],
    ),
    "opt_dora": (
        dict(r=4, lora_alpha=8, use_dora=True, target_modules=["v_proj", "out_proj", "fc2"]),
        ["dora", "out_proj_fc1_fc2"],
    ),
}
# save_pretrained arguments other than the defaults, per adapter
SAVE_KW = {"saved_embedding_layers": dict(save_embedding_layers=True)}
# The adapters of the original ten models (the first ten model_specs entries use these lists).
ALL_ADAPTERS = ["plain", "rslora_all_linear", "patterns", "layers_subset", "regex_target", "exclude", "lora_bias"]
STD_ADAPTERS = ["plain", "rslora_all_linear", "lora_bias"]

# ---------------------------------------------------------------- models

def llama3_rope(shapes):
    return {
        "rope_type": "llama3",
        "rope_theta": 10000.0,
        "factor": 4.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": shapes["max_position"] // LLAMA3_ORIGINAL_DIV,
    }


MIXES_1 = [
    [("plain", 0.7), ("rslora_all_linear", 0.3)],
    [("patterns", 1.5), ("regex_target", -0.5)],
]
MIXES_3 = [[("plain", 0.5), ("rslora_all_linear", 0.5)]]

MISTRAL_WINDOW, QWEN2_WINDOW, GEMMA2_WINDOW = 8, 6, 6
GPT_NEO_WINDOW = 5
GEMMA2_ATTN_SOFTCAP, GEMMA2_FINAL_SOFTCAP = 2.0, 5.0


def longrope_factors(seed, shapes):
    """phi3 short_factor / long_factor: head_dim/2 values each, uniform in [1, 4], rounded to 4 decimals."""
    half = (shapes["hidden"] // shapes["heads"]) // 2
    gen = generator(seed, "rope", "phi3")
    short = [round(1.0 + 3.0 * float(x), 4) for x in torch.rand(half, generator=gen)]
    long = [round(1.0 + 3.0 * float(x), 4) for x in torch.rand(half, generator=gen)]
    assert all(abs(a - b) > 1e-3 for a, b in zip(short, long)), (short, long)
    return short, long


# ---- feature-off variants: each new model asserts that its features change the reference (see check_features).

def cfg_set(**kv):
    def f(d):
        d.update(kv)
    return f


def rope_set(**kv):
    def f(d):
        d["rope_parameters"] = {**d["rope_parameters"], **kv}
    return f


def adapter_as_plain_lora(cfg, tensors, base_sd):
    """DoRA -> plain LoRA with the same A/B (drop the magnitudes)."""
    cfg["use_dora"] = False
    return cfg, {k: v for k, v in tensors.items() if "lora_magnitude_vector" not in k}


def dora_initial_magnitudes(cfg, tensors, base_sd):
    """DoRA with the magnitudes at their initial value (row norms of the base W), i.e. not perturbed."""
    out = dict(tensors)
    for k in tensors:
        if k.endswith(".lora_magnitude_vector"):
            w = base_sd[k.removeprefix("base_model.model.").removesuffix("lora_magnitude_vector") + "weight"]
            out[k] = torch.linalg.norm(w, dim=1)
    return cfg, out


def drop_modules_to_save(cfg, tensors, base_sd):
    saved = cfg["modules_to_save"]
    cfg["modules_to_save"] = None
    return cfg, {k: v for k, v in tensors.items() if not any(f".{m}." in k for m in saved)}


def drop_embedding_lora(cfg, tensors, base_sd):
    names = ("embed_tokens", "embed_in", "wte", "word_embeddings")  # Llama's and the others', GPT-NeoX's, GPT-2's, Bloom's
    cfg["target_modules"] = [t for t in cfg["target_modules"] if t not in names]
    return cfg, {k: v for k, v in tensors.items() if not any(f".{n}." in k for n in names)}


def drop_trainable_tokens(cfg, tensors, base_sd):
    cfg["trainable_token_indices"] = None
    return cfg, {k: v for k, v in tensors.items() if "trainable_tokens_delta" not in k}


def drop_alora(cfg, tensors, base_sd):
    cfg["alora_invocation_tokens"] = None
    return cfg, tensors


def drop_base_biases(cfg, tensors, base_sd):
    cfg["bias"] = "none"
    return cfg, {k: v for k, v in tensors.items() if not k.endswith(".bias") or "lora_" in k}


def drop_lora_bias(cfg, tensors, base_sd):
    cfg["lora_bias"] = False
    return cfg, {k: v for k, v in tensors.items() if not k.endswith(".lora_B.bias")}


def drop_base_rewrite(cfg, tensors, base_sd):
    cfg["init_lora_weights"] = True
    return cfg, tensors


def drop_head_lora(cfg, tensors, base_sd):
    cfg["target_modules"] = [t for t in cfg["target_modules"] if t != "lm_head"]
    return cfg, {k: v for k, v in tensors.items() if ".lm_head." not in k}


def model_specs(shapes, seed=0):
    """name, arch, config overrides, model feature tags, adapters, mixes, v4_of -- for the given shapes.

    KV heads keep each model's attention kind: GQA models use heads / gqa_group, mistral 1 (MQA),
    llama_attn_bias_headdim all heads (MHA).

    Optional keys of the later models: prompt_len (lo, hi) for their prompts, long_prompt_len (phi3: every row
    also gets a twin "<id>_long" with such a prompt), cross_prompt_len (a twin "<id>_cross" whose generation crosses
    original_max_position_embeddings), short_total_max (phi3: prompt + max_new_tokens of the
    other rows), norm_mean (Gemma RMSNorm weights are 1 + w: drawn as N(0, 0.1)), adapter_kw (per-model LoRA
    settings replacing ADAPTERS[name][0]), offs (feature-off variants that must change the reference), notes
    (written into the case), fp64_check (redraw prompts whose float32 first logits are ill-conditioned).

    New models go at the END of the list: every random draw comes from generator(seed, <tag>, name, ...),
    so appending a model leaves the files of all earlier models byte-identical."""
    heads = shapes["heads"]
    gqa_kv = heads // shapes["gqa_group"]
    head_dim = shapes["head_dim_override"]
    yarn_original = shapes["max_position"] // int(YARN_FACTOR)
    layers = shapes["layers"]
    window_prompts = (WINDOW_PROMPT_MIN, max(WINDOW_PROMPT_MIN, PROMPT_MAX_LEN))
    # Gemma 3's sliding_window_pattern 3: every third layer full attention
    gemma3_types = ["sliding_attention" if (i + 1) % 3 else "full_attention" for i in range(layers)]
    phi3_original = shapes["max_position"] // LONGROPE_ORIGINAL_DIV
    short_factor, long_factor = longrope_factors(seed, shapes)
    # phi3_partial_longrope: 0.75 of each head rotates, so longrope lists one factor per rotary frequency
    head_dim_plain = shapes["hidden"] // heads
    partial_half = int(head_dim_plain * 0.75) // 2
    gen = generator(seed, "rope", "phi3_partial_longrope")
    partial_short = [round(1.0 + 3.0 * float(x), 4) for x in torch.rand(partial_half, generator=gen)]
    partial_long = [round(1.0 + 3.0 * float(x), 4) for x in torch.rand(partial_half, generator=gen)]
    gemma2_scalar = head_dim * 3 // 2   # query_pre_attn_scalar 24: != head_dim, so the scaling is visible
    return [
        dict(
            name="llama_gqa_llama3",
            arch="llama",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False, rope_parameters=llama3_rope(shapes)),
            features=["gqa", "rope_llama3", "untied_embeddings", "config_v5"],
            adapters=ALL_ADAPTERS,
            mixes=MIXES_1,
        ),
        dict(
            name="llama_gqa_llama3_v4",
            v4_of="llama_gqa_llama3",
            features=["gqa", "rope_llama3", "untied_embeddings", "config_v4"],
            adapters=ALL_ADAPTERS,
            mixes=MIXES_1,
        ),
        dict(
            name="qwen2_bias_tied",
            arch="qwen2",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
            features=["gqa", "qkv_bias", "tied_embeddings", "rope_default", "config_v5"],
            adapters=STD_ADAPTERS,
            mixes=MIXES_3,
        ),
        dict(
            name="qwen2_bias_tied_v4",
            v4_of="qwen2_bias_tied",
            features=["gqa", "qkv_bias", "tied_embeddings", "rope_default", "config_v4"],
            adapters=STD_ADAPTERS,
            mixes=MIXES_3,
        ),
        dict(
            name="mistral",
            arch="mistral",
            cfg=dict(num_key_value_heads=1, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["mqa", "sliding_window_4096", "rope_default", "config_v5"],
            adapters=STD_ADAPTERS,
            mixes=[],
        ),
        dict(
            name="llama_attn_bias_headdim",
            arch="llama",
            cfg=dict(num_key_value_heads=heads, attention_bias=True, head_dim=head_dim, tie_word_embeddings=False,
                     rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0}),
            features=["mha", "qkvo_bias", f"explicit_head_dim_{head_dim}", "rope_linear", "config_v5"],
            adapters=STD_ADAPTERS,
            mixes=[],
        ),
        dict(
            name="llama_yarn",
            arch="llama",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False,
                     rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": YARN_FACTOR,
                                      "original_max_position_embeddings": yarn_original}),
            features=["gqa", "rope_yarn", "config_v5"],
            adapters=STD_ADAPTERS,
            mixes=[],
        ),
        dict(
            name="llama_dynamic",
            arch="llama",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False,
                     rope_parameters={"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0}),
            features=["gqa", "rope_dynamic", "config_v5"],
            adapters=["plain"],
            mixes=[],
        ),
        dict(
            name="llama_eos_list",
            arch="llama",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False, eos_token_id=[2, 7, 9],
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            generation_eos=[2, 7, 9],
            features=["gqa", "rope_default", "eos_token_id_list", "config_v5"],
            adapters=["plain"],
            mixes=[],
        ),
        dict(
            name="qwen3",
            arch="qwen3",
            # per-head RMSNorm q_norm / k_norm over head_dim, applied before RoPE; head_dim explicit
            # (--head-dim-override, != hidden/heads); sliding window off
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, attention_bias=False, tie_word_embeddings=False,
                     use_sliding_window=False,
                     rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
            features=["gqa", "qk_norm", f"explicit_head_dim_{head_dim}", "untied_embeddings", "rope_default",
                      "no_sliding_window", "config_v5"],
            adapters=STD_ADAPTERS,
            mixes=MIXES_3,
        ),
        dict(
            name="mistral_window",
            arch="mistral",
            cfg=dict(num_key_value_heads=1, sliding_window=MISTRAL_WINDOW,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["mqa", f"sliding_window_{MISTRAL_WINDOW}", "rope_default", "config_v5"],
            adapters=["plain", "lora_bias"],
            mixes=[],
            prompt_len=window_prompts,
            fp64_check=True,
            offs=[dict(what="sliding_window off", config=cfg_set(sliding_window=None))],
        ),
        dict(
            name="qwen2_window",
            arch="qwen2",
            # layer_types: layer 0 full attention, layers >= max_window_layers (1) slide
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=True, use_sliding_window=True,
                     sliding_window=QWEN2_WINDOW, max_window_layers=1,
                     rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
            layer_types=["full_attention"] + ["sliding_attention"] * (layers - 1),
            features=["gqa", "qkv_bias", "tied_embeddings", "rope_default", f"sliding_window_{QWEN2_WINDOW}",
                      "max_window_layers_1", "config_v5"],
            adapters=["plain", "rslora_all_linear"],
            mixes=[],
            prompt_len=window_prompts,
            fp64_check=True,
            offs=[
                dict(what="sliding window off (use_sliding_window false)",
                     config=cfg_set(use_sliding_window=False, sliding_window=None,
                                    layer_types=["full_attention"] * layers)),
                dict(what="every layer sliding (max_window_layers 0)",
                     config=cfg_set(max_window_layers=0, layer_types=["sliding_attention"] * layers)),
            ],
        ),
        dict(
            name="gemma2",
            arch="gemma2",
            # layer_types keeps its default: sliding, full, sliding, ... (layer i slides when i is even)
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, query_pre_attn_scalar=gemma2_scalar,
                     attn_logit_softcapping=GEMMA2_ATTN_SOFTCAP, final_logit_softcapping=GEMMA2_FINAL_SOFTCAP,
                     sliding_window=GEMMA2_WINDOW, hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            layer_types=["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)],
            features=["gqa", f"explicit_head_dim_{head_dim}", f"query_pre_attn_scalar_{gemma2_scalar}",
                      f"attn_logit_softcapping_{GEMMA2_ATTN_SOFTCAP:g}",
                      f"final_logit_softcapping_{GEMMA2_FINAL_SOFTCAP:g}",
                      f"sliding_window_{GEMMA2_WINDOW}_alternating", "gelu_pytorch_tanh", "rmsnorm_one_plus_weight",
                      "pre_post_feedforward_norms", "embed_scale_sqrt_hidden", "tied_embeddings", "rope_default",
                      "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "layers_subset"],
            mixes=[],
            prompt_len=window_prompts,
            norm_mean=0.0,
            fp64_check=True,
            offs=[
                dict(what="attn_logit_softcapping off", config=cfg_set(attn_logit_softcapping=None)),
                dict(what="final_logit_softcapping off", config=cfg_set(final_logit_softcapping=None)),
                dict(what="sliding window off (all layers full)",
                     config=cfg_set(layer_types=["full_attention"] * layers)),
                dict(what="every layer sliding", config=cfg_set(layer_types=["sliding_attention"] * layers)),
                dict(what=f"query_pre_attn_scalar = head_dim ({head_dim})",
                     config=cfg_set(query_pre_attn_scalar=head_dim)),
                # information only: exact GELU moves the logits by about 1e-4 of max|logit|, not more
                dict(what="exact gelu instead of gelu_pytorch_tanh (info)", config=cfg_set(hidden_activation="gelu"),
                     info=True),
            ],
        ),
        dict(
            name="gemma",
            arch="gemma",
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, hidden_act="gelu_pytorch_tanh",
                     tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", f"explicit_head_dim_{head_dim}", "gelu_pytorch_tanh", "rmsnorm_one_plus_weight",
                      "embed_scale_sqrt_hidden", "tied_embeddings", "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear"],
            mixes=[],
            norm_mean=0.0,
            fp64_check=True,
            offs=[
                # information only (hidden_act "gelu" would be read as gelu_pytorch_tanh by GemmaConfig)
                dict(what="exact gelu instead of gelu_pytorch_tanh (info)", config=cfg_set(hidden_act="gelu_python"),
                     info=True),
            ],
        ),
        dict(
            name="phi3",
            arch="phi3",
            # original_max_position_embeddings is also a top-level Phi3Config field (default 4096) and wins over
            # the one in rope_parameters, so both are set.
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False, pad_token_id=None,
                     original_max_position_embeddings=phi3_original,
                     rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                                      "short_factor": short_factor, "long_factor": long_factor,
                                      "original_max_position_embeddings": phi3_original}),
            features=["gqa", "fused_qkv_proj", "fused_gate_up_proj", "rope_longrope", "longrope_short_rows",
                      "longrope_long_rows", "untied_embeddings", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias"],
            adapter_kw={
                "plain": dict(r=4, lora_alpha=8, target_modules=["qkv_proj", "o_proj"]),
                "lora_bias": dict(r=4, lora_alpha=8, lora_bias=True,
                                  target_modules=["qkv_proj", "gate_up_proj", "down_proj"]),
            },
            mixes=[],
            short_total_max=phi3_original,
            long_prompt_len=(phi3_original + LONG_PROMPT_OFFSETS[0], phi3_original + LONG_PROMPT_OFFSETS[1]),
            fp64_check=True,
            offs=[
                dict(what="short rows with long_factor", rows="short",
                     config=rope_set(short_factor=long_factor)),
                dict(what="long rows with short_factor", rows="long",
                     config=rope_set(long_factor=short_factor)),
                dict(what="attention_factor 1", config=rope_set(attention_factor=1.0)),
            ],
        ),
        dict(
            name="llama_peft_features",
            arch="llama",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "rope_default", "untied_embeddings", "config_v5"],
            adapters=["plain", "dora", "dora_rslora_all_linear", "save_head", "save_embed", "embed_lora"],
            mixes=[],
            fp64_check=True,
            offs=[
                dict(what="dora as plain LoRA (same A/B)", adapter="dora", fn=adapter_as_plain_lora),
                dict(what="dora with initial magnitudes", adapter="dora", fn=dora_initial_magnitudes),
                dict(what="dora_rslora_all_linear as plain LoRA (same A/B)", adapter="dora_rslora_all_linear",
                     fn=adapter_as_plain_lora),
                dict(what="dora_rslora_all_linear with initial magnitudes", adapter="dora_rslora_all_linear",
                     fn=dora_initial_magnitudes),
                dict(what="save_head without its lm_head copy", adapter="save_head", fn=drop_modules_to_save),
                dict(what="save_embed without its embed_tokens copy", adapter="save_embed", fn=drop_modules_to_save),
                dict(what="embed_lora without the embedding LoRA", adapter="embed_lora", fn=drop_embedding_lora),
            ],
        ),
        # Files the ecosystem writes that the first ten models did not cover (found by a random config fuzz).
        dict(
            name="phi3_partial_rotary",
            arch="phi3",
            # As Phi-3-mini-4k: default rotary and the top-level original_max_position_embeddings Phi3Config always
            # saves (unread with the default type); a partial rotary (half of each head rotates) as Phi-4-mini's.
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False, pad_token_id=None,
                     original_max_position_embeddings=shapes["max_position"], partial_rotary_factor=0.5,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "fused_qkv_proj", "fused_gate_up_proj", "rope_default", "partial_rotary_0.5",
                      "top_level_original_max_position_unread", "untied_embeddings", "config_v5"],
            adapters=["plain", "lora_bias"],
            adapter_kw={
                "plain": dict(r=4, lora_alpha=8, target_modules=["qkv_proj", "o_proj"]),
                "lora_bias": dict(r=4, lora_alpha=8, lora_bias=True,
                                  target_modules=["qkv_proj", "gate_up_proj", "down_proj"]),
            },
            mixes=[],
            fp64_check=True,
            offs=[
                dict(what="whole heads rotate (partial_rotary_factor 1)", config=rope_set(partial_rotary_factor=1.0)),
            ],
        ),
        dict(
            name="phi3_partial_longrope",
            arch="phi3",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False, pad_token_id=None,
                     original_max_position_embeddings=phi3_original, partial_rotary_factor=0.75,
                     rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                                      "short_factor": partial_short, "long_factor": partial_long,
                                      "original_max_position_embeddings": phi3_original}),
            features=["gqa", "fused_qkv_proj", "fused_gate_up_proj", "rope_longrope", "partial_rotary_0.75",
                      "longrope_short_rows", "longrope_long_rows", "untied_embeddings", "config_v5"],
            adapters=["plain", "rslora_all_linear"],
            adapter_kw={"plain": dict(r=4, lora_alpha=8, target_modules=["qkv_proj", "o_proj"])},
            mixes=[],
            short_total_max=phi3_original,
            long_prompt_len=(phi3_original + LONG_PROMPT_OFFSETS[0], phi3_original + LONG_PROMPT_OFFSETS[1]),
            cross_prompt_len=(phi3_original - 6, phi3_original - 2),
            fp64_check=True,
            offs=[
                dict(what="whole heads rotate (partial_rotary_factor 1, factors padded)",
                     config=rope_set(partial_rotary_factor=1.0,
                                     short_factor=partial_short + [1.0] * (head_dim_plain // 2 - len(partial_short)),
                                     long_factor=partial_long + [1.0] * (head_dim_plain // 2 - len(partial_long)))),
            ],
        ),
        dict(
            name="llama_gelu_mlp_bias",
            arch="llama",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False, hidden_act="gelu", mlp_bias=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "hidden_act_gelu", "mlp_bias", "rope_default", "untied_embeddings", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora"],
            mixes=[],
            fp64_check=True,
            offs=[
                dict(what="silu instead of gelu", config=cfg_set(hidden_act="silu")),
                dict(what="gelu_pytorch_tanh instead of gelu (info)", config=cfg_set(hidden_act="gelu_pytorch_tanh"),
                     info=True),
            ],
        ),
        dict(
            name="gemma_legacy_activation",
            arch="gemma",
            # The official Gemma releases' layout: hidden_act "gelu" (GemmaConfig reads it as gelu_pytorch_tanh)
            # and a hidden_activation field that transformers 4 read and transformers 5 ignores (they agree here).
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, hidden_act="gelu",
                     hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", f"explicit_head_dim_{head_dim}", "legacy_hidden_act_gelu", "hidden_activation_field",
                      "rmsnorm_one_plus_weight", "embed_scale_sqrt_hidden", "tied_embeddings", "rope_default",
                      "config_v5"],
            saved_config=dict(hidden_act="gelu"),
            adapters=["plain"],
            mixes=[],
            norm_mean=0.0,
            fp64_check=True,
        ),
        dict(
            name="mistral_relu",
            arch="mistral",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False, hidden_act="relu",
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "hidden_act_relu", "rope_default", "untied_embeddings", "config_v5"],
            adapters=["plain", "rslora_all_linear"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="silu instead of relu", config=cfg_set(hidden_act="silu"))],
        ),
        dict(
            name="llama_head_lora",
            arch="llama",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "rope_default", "untied_embeddings", "config_v5"],
            adapters=["head_lora", "plain"],
            mixes=[[("head_lora", 0.6), ("plain", 0.4)]],
            fp64_check=True,
            offs=[dict(what="head_lora without the lm_head LoRA", adapter="head_lora", fn=drop_head_lora)],
        ),
        dict(
            # the head LoRA before Gemma 2's final soft-cap, on a head tied to the embedding
            name="gemma2_head_lora",
            arch="gemma2",
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, query_pre_attn_scalar=gemma2_scalar,
                     attn_logit_softcapping=GEMMA2_ATTN_SOFTCAP, final_logit_softcapping=GEMMA2_FINAL_SOFTCAP,
                     sliding_window=GEMMA2_WINDOW, tie_word_embeddings=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", f"explicit_head_dim_{head_dim}", "final_logit_softcapping_5", "tied_embeddings",
                      "rope_default", "config_v5"],
            adapters=["head_lora"],
            mixes=[],
            norm_mean=0.0,
            prompt_len=window_prompts,
            fp64_check=True,
            offs=[dict(what="head_lora without the lm_head LoRA", adapter="head_lora", fn=drop_head_lora)],
        ),
        dict(
            name="llama_trainable_tokens",
            arch="llama",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "rope_default", "untied_embeddings", "config_v5"],
            adapters=["trainable_tokens", "plain"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="trainable_tokens without its rows", adapter="trainable_tokens", fn=drop_trainable_tokens)],
        ),
        dict(
            # on a tied head PEFT replaces the same rows of the output layer
            name="qwen2_trainable_tokens_tied",
            arch="qwen2",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
            features=["gqa", "qkv_bias", "tied_embeddings", "rope_default", "config_v5"],
            adapters=["trainable_tokens"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="trainable_tokens without its rows", adapter="trainable_tokens", fn=drop_trainable_tokens)],
        ),
        dict(
            name="llama_peft_bias_options",
            arch="llama",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "rope_default", "untied_embeddings", "config_v5"],
            adapters=["bias_all", "bias_lora_only", "head_lora_bias", "head_dora"],
            mixes=[],
            fp64_check=True,
        ),
        dict(
            name="llama_alora",
            arch="llama",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "rope_default", "untied_embeddings", "config_v5"],
            adapters=["alora", "plain"],
            alora_rows=["once", "twice", "absent"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="aLoRA acting on every token", adapter="alora", fn=drop_alora)],
        ),
        dict(
            name="llama_trained_base_biases",
            arch="llama",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False, attention_bias=True, mlp_bias=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "attention_bias", "mlp_bias", "rope_default", "untied_embeddings", "config_v5"],
            adapters=["bias_all_trained", "bias_lora_only_trained", "dora_bias_all_trained"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="bias = all without its base biases", adapter="bias_all_trained", fn=drop_base_biases),
                  dict(what="bias = lora_only without its base biases", adapter="bias_lora_only_trained",
                       fn=drop_base_biases),
                  dict(what="DoRA with bias = all without its base biases", adapter="dora_bias_all_trained",
                       fn=drop_base_biases)],
        ),
        dict(
            name="llama_base_rewriting_inits",
            arch="llama",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "rope_default", "untied_embeddings", "config_v5"],
            adapters=["olora", "pissa", "dora_olora", "pissa_patterns", "mica", "eva"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what=f"{a} without its base rewrite", adapter=a, fn=drop_base_rewrite)
                  for a in ("olora", "pissa", "dora_olora", "pissa_patterns")],
        ),
        dict(
            # save_embedding_layers=True on a tied model: PEFT saves the embedding (and the head tied to it)
            name="qwen2_saved_embedding_layers",
            arch="qwen2",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
            features=["gqa", "qkv_bias", "tied_embeddings", "rope_default", "config_v5"],
            adapters=["saved_embedding_layers", "plain"],
            mixes=[],
            fp64_check=True,
        ),
        dict(
            # Gemma 3: Gemma 2's block with per-head q/k norms ((1 + w) RMSNorm) and one rotary embedding per
            # layer type (full attention: linear, theta 1e6; sliding: default, theta 1e4); no soft-caps.
            name="gemma3",
            arch="gemma3",
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, query_pre_attn_scalar=gemma2_scalar,
                     sliding_window=GEMMA2_WINDOW, hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
                     rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0,
                                                         "rope_theta": 1000000.0},
                                      "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}},
                     layer_types=gemma3_types),
            layer_types=gemma3_types,
            features=["gqa", f"explicit_head_dim_{head_dim}", f"query_pre_attn_scalar_{gemma2_scalar}",
                      "qk_norm_one_plus_weight", f"sliding_window_{GEMMA2_WINDOW}_pattern_3",
                      "rope_per_layer_type", "rope_linear_full_attention", "gelu_pytorch_tanh",
                      "rmsnorm_one_plus_weight", "pre_post_feedforward_norms", "embed_scale_sqrt_hidden",
                      "tied_embeddings", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora", "layers_subset"],
            mixes=[[("plain", 0.7), ("rslora_all_linear", -0.4)]],
            prompt_len=window_prompts,
            norm_mean=0.0,
            fp64_check=True,
            offs=[
                dict(what="the full-attention rotary for every layer",
                     config=cfg_set(rope_parameters={
                         "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
                         "sliding_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0}})),
                dict(what="sliding window off (all layers full)",
                     config=cfg_set(layer_types=["full_attention"] * layers)),
                dict(what=f"query_pre_attn_scalar = head_dim ({head_dim})",
                     config=cfg_set(query_pre_attn_scalar=head_dim)),
            ],
        ),
        dict(
            # the same files with the transformers 4 fields of the released checkpoints: rope_theta,
            # rope_local_base_freq, rope_scaling, sliding_window_pattern instead of layer_types
            name="gemma3_v4",
            v4_of="gemma3",
            features=["gqa", "qk_norm_one_plus_weight", "rope_per_layer_type", "sliding_window_pattern",
                      "tied_embeddings", "config_v4"],
            adapters=["plain", "dora"],
            mixes=[],
        ),
        dict(
            # the QR / SVD is of the fused qkv_proj and gate_up_proj weights
            name="phi3_base_rewriting_inits",
            arch="phi3",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False, pad_token_id=None,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "fused_qkv_proj", "fused_gate_up_proj", "rope_default", "untied_embeddings",
                      "config_v5"],
            adapter_kw={
                "olora": dict(r=4, lora_alpha=8, target_modules=["qkv_proj", "o_proj", "gate_up_proj"],
                              init_lora_weights="olora"),
                "pissa": dict(r=4, lora_alpha=16, use_rslora=True, target_modules=["qkv_proj", "down_proj"],
                              init_lora_weights="pissa"),
            },
            adapters=["olora", "pissa"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what=f"{a} without its base rewrite", adapter=a, fn=drop_base_rewrite)
                  for a in ("olora", "pissa")],
        ),
        dict(
            # Granite: Llama's modules with four multipliers (embeddings, attention scale in place of
            # head_dim^-1/2, each block's output before its residual add, logits divided)
            name="granite",
            arch="granite",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=True, attention_bias=True,
                     embedding_multiplier=3.0, attention_multiplier=0.2, residual_multiplier=0.5,
                     logits_scaling=2.5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "attention_bias", "granite_multipliers", "tied_embeddings", "rope_default",
                      "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[
                dict(what="embedding_multiplier 1", config=cfg_set(embedding_multiplier=1.0)),
                dict(what="attention_multiplier = head_dim^-1/2",
                     config=cfg_set(attention_multiplier=head_dim_plain ** -0.5)),
                dict(what="residual_multiplier 1", config=cfg_set(residual_multiplier=1.0)),
                dict(what="logits_scaling 1", config=cfg_set(logits_scaling=1.0)),
            ],
        ),
        dict(
            # the same files as transformers 4 writes them (rope_theta, no rope_parameters)
            name="granite_v4",
            v4_of="granite",
            features=["gqa", "granite_multipliers", "config_v4"],
            adapters=["plain"],
            mixes=[],
        ),
        dict(
            # SmolLM3: Llama's modules, no rotary on the layers no_rope_layers marks 0, and those NoPE
            # layers slide (use_sliding_window, layer_types derived by SmolLM3Config)
            name="smollm3",
            arch="smollm3",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=True, pad_token_id=None,
                     no_rope_layers=[int(i % 2 == 0) for i in range(layers)],
                     use_sliding_window=True, sliding_window=GEMMA2_WINDOW,
                     rope_parameters={"rope_type": "default", "rope_theta": 2000000.0}),
            features=["gqa", "no_rope_layers", f"sliding_window_{GEMMA2_WINDOW}_nope_layers", "tied_embeddings",
                      "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            prompt_len=window_prompts,
            fp64_check=True,
            offs=[
                dict(what="rotary on every layer", config=cfg_set(no_rope_layers=[1] * layers)),
                dict(what="sliding window off (all layers full)",
                     config=cfg_set(layer_types=["full_attention"] * layers)),
            ],
        ),
        dict(
            # OLMo 2: no norm before attention or the MLP, their outputs normed before each residual add;
            # q/k RMSNorm over the whole projection (not per head)
            name="olmo2",
            arch="olmo2",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False, attention_bias=True, pad_token_id=None,
                     rope_parameters={"rope_type": "default", "rope_theta": 500000.0}),
            features=["gqa", "attention_bias", "post_norms_only", "qk_norm_whole_projection", "untied_embeddings",
                      "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
        ),
        dict(
            name="olmo2_v4",
            v4_of="olmo2",
            features=["gqa", "post_norms_only", "config_v4"],
            adapters=["plain"],
            mixes=[],
        ),
        dict(
            # OLMo 3: OLMo 2's block, sliding layers by layer_types, one rotary embedding per layer type
            # (the full-attention one linear-scaled with its own theta, the sliding one Olmo3Config's 5e5)
            name="olmo3",
            arch="olmo3",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=False, pad_token_id=None,
                     sliding_window=GEMMA2_WINDOW, layer_types=gemma3_types,
                     rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0,
                                                         "rope_theta": 10000.0},
                                      "sliding_attention": {"rope_type": "default", "rope_theta": 500000.0}}),
            layer_types=gemma3_types,
            features=["gqa", "post_norms_only", "qk_norm_whole_projection", f"sliding_window_{GEMMA2_WINDOW}_pattern_3",
                      "rope_per_layer_type", "rope_linear_full_attention", "untied_embeddings", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora", "layers_subset"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            prompt_len=window_prompts,
            fp64_check=True,
            offs=[
                dict(what="the full-attention rotary for every layer",
                     config=cfg_set(rope_parameters={
                         "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 10000.0},
                         "sliding_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 10000.0}})),
                dict(what="sliding window off (all layers full)",
                     config=cfg_set(layer_types=["full_attention"] * layers)),
            ],
        ),
        dict(
            # the 4.x layout: rope_theta and rope_scaling at the top level reach the full-attention layers
            # only; the sliding layers keep 5e5
            name="olmo3_v4",
            v4_of="olmo3",
            features=["gqa", "post_norms_only", "rope_per_layer_type", "config_v4"],
            adapters=["plain"],
            mixes=[],
        ),
        dict(
            # Ministral: Mistral's modules (no biases) with Qwen2's per-layer sliding (layer_types); its
            # attention reads head_dim as given (transformers fails without one), so the case gives one
            name="ministral",
            arch="ministral",
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, sliding_window=MISTRAL_WINDOW,
                     layer_types=["full_attention" if i % 2 else "sliding_attention" for i in range(layers)],
                     rope_parameters={"rope_type": "default", "rope_theta": 100000.0}),
            layer_types=["full_attention" if i % 2 else "sliding_attention" for i in range(layers)],
            features=["gqa", f"explicit_head_dim_{head_dim}", f"sliding_window_{MISTRAL_WINDOW}_layer_types",
                      "untied_embeddings", "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear", "dora", "layers_subset"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            prompt_len=window_prompts,
            fp64_check=True,
            offs=[
                dict(what="sliding window off (all layers full)",
                     config=cfg_set(layer_types=["full_attention"] * layers)),
                dict(what="every layer sliding", config=cfg_set(layer_types=["sliding_attention"] * layers)),
            ],
        ),
        dict(
            # Ministral 3: Mistral's block (every layer windowed when sliding_window is set), a YaRN rotary
            # whose attention factor mscale / mscale_all_dim makes 1, and Llama 4's query scale: queries after
            # the rotary times 1 + beta * log(1 + floor(position / original_max_position_embeddings)), here over 4
            # positions so that the prompts' later tokens scale (the class default: beta 0.1 over 16384)
            name="ministral3",
            arch="ministral3",
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, sliding_window=MISTRAL_WINDOW,
                     rope_parameters={"rope_type": "yarn", "rope_theta": 100000.0,
                                      "factor": shapes["max_position"] / 4, "original_max_position_embeddings": 4,
                                      "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0,
                                      "llama_4_scaling_beta": 0.5, "max_position_embeddings": shapes["max_position"]}),
            features=["gqa", f"explicit_head_dim_{head_dim}", f"sliding_window_{MISTRAL_WINDOW}_all_layers",
                      "rope_yarn_mscale", "llama4_query_scale", "untied_embeddings", "config_v5"],
            adapters=["plain", "rslora_all_linear", "dora", "layers_subset"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            prompt_len=window_prompts,
            fp64_check=True,
            offs=[
                dict(what="query scale off (beta 0)", config=rope_set(llama_4_scaling_beta=0.0)),
                dict(what="sliding window off", config=cfg_set(sliding_window=None)),
            ],
        ),
        dict(
            # Ministral 3 with a default rotary whose parameters carry the query scale's own
            # original_max_position_embeddings (transformers warns it is unrecognized for that type, and reads
            # it), no window, tied embeddings
            name="ministral3_default_rope_tied",
            arch="ministral3",
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, tie_word_embeddings=True, pad_token_id=None,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "llama_4_scaling_beta": 0.3,
                                      "original_max_position_embeddings": 3}),
            features=["gqa", f"explicit_head_dim_{head_dim}", "llama4_query_scale", "tied_embeddings", "rope_default",
                      "config_v5"],
            adapters=["plain", "rslora_all_linear"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="query scale over 200 positions", config=rope_set(original_max_position_embeddings=200))],
        ),
        dict(
            # Helium: Llama's modules rotating adjacent pairs of each head's dimensions (GPT-J style);
            # attention_bias reaches q, k and v only (o_proj maps hidden_size to hidden_size)
            name="helium",
            arch="helium",
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim_plain, attention_bias=True, mlp_bias=True,
                     pad_token_id=None, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "interleaved_rotary", "qkv_bias_no_o_bias", "mlp_bias", "untied_embeddings",
                      "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
        ),
        dict(
            # ERNIE 4.5: Llama's modules rotating adjacent pairs, use_bias on every projection, tied
            name="ernie4_5",
            arch="ernie4_5",
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, use_bias=True, tie_word_embeddings=True,
                     pad_token_id=None, rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}),
            features=["gqa", f"explicit_head_dim_{head_dim}", "interleaved_rotary", "use_bias_all_projections",
                      "tied_embeddings", "rope_linear", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora", "layers_subset"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
        ),
        dict(
            # Seed-OSS: Llama's modules with q/k/v biases (attention_bias, default true), an o bias of its
            # own (attention_out_bias) and MLP biases; the head_dim default is 128
            name="seed_oss",
            arch="seed_oss",
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, attention_out_bias=True, mlp_bias=True,
                     pad_token_id=None, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", f"explicit_head_dim_{head_dim}", "qkv_bias", "attention_out_bias", "mlp_bias",
                      "untied_embeddings", "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
        ),
        dict(
            # GLM: Llama's attention (q/k/v biases by default, none on o) rotating adjacent pairs of the
            # leading half of each head, Phi-3's fused gate_up_proj
            name="glm",
            arch="glm",
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, pad_token_id=None, eos_token_id=2,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5}),
            features=["gqa", f"explicit_head_dim_{head_dim}", "interleaved_partial_rotary", "qkv_bias",
                      "fused_gate_up_proj", "untied_embeddings", "rope_default", "config_v5"],
            adapter_kw={
                "plain": dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "gate_up_proj", "down_proj"]),
            },
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
        ),
        dict(
            # GLM with an odd rotary count and a linear-scaled rotary: head_dim 10 x 0.5 = 5 dimensions give 3
            # frequencies (over 5), repeated in adjacent pairs over cos.shape[-1] = 6 dimensions
            name="glm_odd_rotary",
            arch="glm",
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=10, pad_token_id=None, eos_token_id=2,
                     rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0,
                                      "partial_rotary_factor": 0.5}),
            features=["gqa", "explicit_head_dim_10", "interleaved_partial_rotary", "odd_partial_rotary", "qkv_bias",
                      "fused_gate_up_proj", "untied_embeddings", "rope_linear", "config_v5"],
            adapter_kw={
                "plain": dict(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "gate_up_proj"]),
            },
            adapters=["plain", "rslora_all_linear"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="four rotary dimensions (head_dim 10 x 0.4)", config=rope_set(partial_rotary_factor=0.4))],
        ),
        dict(
            # GLM-4: GLM with a norm after attention and after the MLP (post_self_attn_layernorm,
            # post_mlp_layernorm), each before its residual add
            name="glm4",
            arch="glm4",
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, pad_token_id=None, eos_token_id=2,
                     attention_bias=False, rope_parameters={"rope_type": "linear", "factor": 2.0,
                                                            "rope_theta": 10000.0, "partial_rotary_factor": 0.5}),
            features=["gqa", f"explicit_head_dim_{head_dim}", "interleaved_partial_rotary", "sandwich_norms",
                      "fused_gate_up_proj", "untied_embeddings", "rope_linear", "config_v5"],
            adapter_kw={
                "plain": dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "gate_up_proj", "down_proj"]),
            },
            adapters=["plain", "rslora_all_linear", "dora"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
        ),
        dict(
            # EXAONE 4: OLMo 2's decoder layer (norms after attention and the MLP only) with per-head q/k
            # norms; its sliding layers rotate and its full-attention layers have no position embedding
            name="exaone4",
            arch="exaone4",
            cfg=dict(num_key_value_heads=gqa_kv, sliding_window=GEMMA2_WINDOW, layer_types=gemma3_types,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            layer_types=gemma3_types,
            features=["gqa", "post_norms_only", "qk_norm_per_head", f"sliding_window_{GEMMA2_WINDOW}_pattern_3",
                      "nope_full_attention_layers", "untied_embeddings", "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora", "layers_subset"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            prompt_len=window_prompts,
            fp64_check=True,
            offs=[
                dict(what="sliding window off (all layers full, none rotating)",
                     config=cfg_set(layer_types=["full_attention"] * layers)),
                dict(what="every layer sliding and rotating",
                     config=cfg_set(layer_types=["sliding_attention"] * layers)),
            ],
        ),
        dict(
            # Cohere: attention and MLP side by side on one mean-centred LayerNorm (no bias), a rotary over
            # adjacent pairs, per-head LayerNorms on q and k (use_qk_norm), logits times logit_scale
            name="cohere",
            arch="cohere",
            cfg=dict(num_key_value_heads=gqa_kv, use_qk_norm=True, attention_bias=True, logit_scale=0.4,
                     layer_norm_eps=1e-4, tie_word_embeddings=True, pad_token_id=None,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "parallel_block", "layer_norm", "interleaved_rotary", "qk_layer_norm_per_head",
                      "attention_bias", "logit_scale", "tied_embeddings", "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora", "layers_subset"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="logit_scale 1", config=cfg_set(logit_scale=1.0))],
        ),
        dict(
            # StableLM: Llama's modules (use_qkv_bias on q, k and v) behind LayerNorms with a bias, a
            # rotary on the leading quarter of each head (StableLmConfig's partial_rotary_factor), and
            # per-head q/k LayerNorms saved as one module per head (qk_layernorm)
            name="stablelm",
            arch="stablelm",
            cfg=dict(num_key_value_heads=gqa_kv, use_qkv_bias=True, qk_layernorm=True, layer_norm_eps=1e-4,
                     pad_token_id=None, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "layer_norm_with_bias", "partial_rotary_default_quarter", "qkv_bias",
                      "qk_layer_norm_per_head_modules", "untied_embeddings", "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora", "layers_subset"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="rotary over whole heads", config=rope_set(partial_rotary_factor=1.0))],
        ),
        dict(
            # StableLM with use_parallel_residual: attention and the MLP side by side on the input
            # LayerNorm (no post-attention norm), half of each head rotating, tied embeddings
            name="stablelm_parallel",
            arch="stablelm",
            cfg=dict(num_key_value_heads=gqa_kv, use_parallel_residual=True, tie_word_embeddings=True,
                     pad_token_id=None, rope_parameters={"rope_type": "linear", "factor": 2.0,
                                                         "rope_theta": 10000.0, "partial_rotary_factor": 0.5}),
            features=["gqa", "layer_norm_with_bias", "parallel_residual", "partial_rotary_half",
                      "tied_embeddings", "rope_linear", "config_v5"],
            adapters=["plain", "rslora_all_linear", "dora"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="a quarter of each head rotating", config=rope_set(partial_rotary_factor=0.25))],
        ),
        dict(
            # OLMo (1): Llama's modules (attention_bias on q, k, v and o) behind LayerNorms without weight
            # or bias, q, k and v clamped to [-clip_qkv, clip_qkv] after their projections (LoRA included)
            name="olmo",
            arch="olmo",
            cfg=dict(num_key_value_heads=gqa_kv, attention_bias=True, clip_qkv=0.1, pad_token_id=None,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "layer_norm_without_weights", "clip_qkv", "attention_bias", "untied_embeddings",
                      "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora", "layers_subset"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="clip_qkv off", config=cfg_set(clip_qkv=None))],
        ),
        dict(
            # Starcoder2: Llama's attention modules and a gate-less MLP (c_fc, act, c_proj), use_bias on all
            # six, LayerNorms with a bias (norm_epsilon), every layer attending through sliding_window
            name="starcoder2",
            arch="starcoder2",
            cfg=dict(num_key_value_heads=gqa_kv, sliding_window=MISTRAL_WINDOW, norm_epsilon=1e-4,
                     pad_token_id=None, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "gateless_mlp", "layer_norm_with_bias", "use_bias", f"sliding_window_{MISTRAL_WINDOW}",
                      "gelu_pytorch_tanh", "tied_embeddings", "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear", "c_fc_c_proj", "dora_c_fc"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            prompt_len=window_prompts,
            fp64_check=True,
            offs=[dict(what="sliding_window off", config=cfg_set(sliding_window=None)),
                  dict(what="no biases", config=cfg_set(use_bias=False))],
        ),
        dict(
            # Phi (1, 1.5, 2): attention (q, k, v, dense) and a gate-less MLP (fc1, gelu_new, fc2) side by side
            # on one LayerNorm with a bias, biases on every linear module and the output head, half of each
            # head rotating (PhiConfig's default partial_rotary_factor), untied head, final_layernorm
            name="phi",
            arch="phi",
            cfg=dict(num_key_value_heads=gqa_kv, layer_norm_eps=1e-4, pad_token_id=None,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "gateless_mlp", "parallel_block", "layer_norm_with_bias", "head_bias",
                      "partial_rotary_default_half", "gelu_new", "untied_embeddings", "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear", "fc1_fc2", "dora_fc", "head_lora"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="rotary over whole heads", config=rope_set(partial_rotary_factor=1.0)),
                  dict(what="relu in place of gelu_new", config=cfg_set(hidden_act="relu"))],
        ),
        dict(
            # three quarters of each head rotating (Phi-2 rotates 0.4 of its 80: 32), with a linear-scaled rotary,
            # a tied head (its bias kept), and an adapter saving the whole head (its own bias with it)
            name="phi_tied",
            arch="phi",
            cfg=dict(num_key_value_heads=gqa_kv, tie_word_embeddings=True, pad_token_id=None,
                     rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0,
                                      "partial_rotary_factor": 0.75}),
            features=["gqa", "gateless_mlp", "parallel_block", "layer_norm_with_bias", "head_bias",
                      "partial_rotary_three_quarters", "tied_embeddings", "rope_linear", "config_v5"],
            adapters=["plain", "rslora_all_linear", "save_head"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="half of each head rotating", config=rope_set(partial_rotary_factor=0.5))],
        ),
        dict(
            # Phi with qk_layernorm: a LayerNorm with a bias over each head of q and of k (one module shared by
            # the heads), before the partial rotary
            name="phi_qk_layernorm",
            arch="phi",
            cfg=dict(num_key_value_heads=gqa_kv, qk_layernorm=True, pad_token_id=None,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "gateless_mlp", "parallel_block", "layer_norm_with_bias", "head_bias",
                      "qk_layernorm_with_bias", "partial_rotary_default_half", "untied_embeddings", "config_v5"],
            adapters=["plain", "rslora_all_linear", "dora_fc"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="no q/k LayerNorms", config=cfg_set(qk_layernorm=False))],
        ),
        dict(
            # Nemotron: Llama's modules with a gate-less MLP (up_proj, relu2, down_proj) behind LayerNorm1Ps
            # (LayerNorms with a bias, weight stored less one), half of each head rotating (the class default),
            # attention_bias and mlp_bias
            name="nemotron",
            arch="nemotron",
            cfg=dict(num_key_value_heads=gqa_kv, norm_eps=1e-4, attention_bias=True, mlp_bias=True,
                     pad_token_id=None, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            norm_mean=0.0,
            features=["gqa", "gateless_mlp", "relu2", "layer_norm_1p_with_bias", "attention_bias", "mlp_bias",
                      "partial_rotary_default_half", "untied_embeddings", "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora", "layers_subset"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="rotary over whole heads", config=rope_set(partial_rotary_factor=1.0)),
                  dict(what="relu in place of relu2", config=cfg_set(hidden_act="relu"))],
        ),
        dict(
            # Arcee (AFM): Llama with Nemotron's gate-less MLP (up_proj, relu2, down_proj), llama3 rotary
            name="arcee",
            arch="arcee",
            cfg=dict(num_key_value_heads=gqa_kv, attention_bias=True, rope_parameters=llama3_rope(shapes)),
            features=["gqa", "gateless_mlp", "relu2", "attention_bias", "rope_llama3", "untied_embeddings",
                      "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora", "layers_subset"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="silu in place of relu2", config=cfg_set(hidden_act="silu"))],
        ),
        dict(
            # Jais 2: Arcee's modules (Llama's attention, a gate-less up_proj / relu2 / down_proj MLP) behind
            # nn.LayerNorms with a bias (layer_norm_eps), biases on all six projections (the class defaults)
            name="jais2",
            arch="jais2",
            cfg=dict(num_key_value_heads=gqa_kv, layer_norm_eps=1e-4, pad_token_id=None,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "gateless_mlp", "relu2", "layer_norm_with_bias", "attention_bias_default_true",
                      "mlp_bias_default_true", "untied_embeddings", "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora", "layers_subset"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="relu in place of relu2", config=cfg_set(hidden_act="relu"))],
        ),
        dict(
            # HunYuan (dense): Llama's attention (attention_bias on q, k, v and o) with an RMSNorm over each head
            # of q and of k AFTER the rotary (query_layernorm, key_layernorm), an MLP without biases, head_dim
            # required, and a dynamic rotary whose base is rope_theta x alpha ^ (head_dim / (head_dim - 2)),
            # saved with the yarn-style keys HunYuan's checkpoints carry (unread)
            name="hunyuan_dense",
            arch="hunyuan_dense",
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, attention_bias=True,
                     pad_token_id=None, rms_norm_eps=1e-4,
                     rope_parameters={"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 1.0, "alpha": 50.0,
                                      "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0}),
            features=["gqa", "qk_norm_after_rotary", "attention_bias", "rope_dynamic_alpha", "untied_embeddings",
                      "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora", "layers_subset"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="rotary without alpha", config=rope_set(alpha=1.0))],
        ),
        dict(
            # HunYuan (dense) with a default rotary and tied embeddings, no biases
            name="hunyuan_dense_tied",
            arch="hunyuan_dense",
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, tie_word_embeddings=True,
                     pad_token_id=None, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "qk_norm_after_rotary", "tied_embeddings", "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear", "dora"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[],
        ),
        dict(
            # VaultGemma: Gemma 2's block without the norms after attention and the MLP (input_layernorm, then
            # pre_feedforward_layernorm before the MLP), (1 + w) RMSNorms, soft-caps, query_pre_attn_scalar,
            # alternating sliding layers (the class default), embeddings times sqrt(hidden)
            name="vaultgemma",
            arch="vaultgemma",
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, query_pre_attn_scalar=gemma2_scalar,
                     attn_logit_softcapping=GEMMA2_ATTN_SOFTCAP, final_logit_softcapping=GEMMA2_FINAL_SOFTCAP,
                     sliding_window=GEMMA2_WINDOW, hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
                     pad_token_id=None, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            layer_types=["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)],
            features=["gqa", f"explicit_head_dim_{head_dim}", f"query_pre_attn_scalar_{gemma2_scalar}",
                      f"attn_logit_softcapping_{GEMMA2_ATTN_SOFTCAP:g}",
                      f"final_logit_softcapping_{GEMMA2_FINAL_SOFTCAP:g}",
                      f"sliding_window_{GEMMA2_WINDOW}_alternating", "gelu_pytorch_tanh", "rmsnorm_one_plus_weight",
                      "pre_feedforward_norm_only", "embed_scale_sqrt_hidden", "tied_embeddings", "rope_default",
                      "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora", "layers_subset"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            prompt_len=window_prompts,
            norm_mean=0.0,
            fp64_check=True,
            offs=[
                dict(what="attn_logit_softcapping off", config=cfg_set(attn_logit_softcapping=None)),
                dict(what="sliding window off (all layers full)",
                     config=cfg_set(layer_types=["full_attention"] * layers)),
            ],
        ),
        dict(
            # CWM: Llama's block with Qwen2's attention (no biases) windowed on the layers layer_types marks
            # (default: layers 0, 4, 8, ... full, the others sliding), mlp_bias, a llama3 rotary
            name="cwm",
            arch="cwm",
            cfg=dict(num_key_value_heads=gqa_kv, head_dim=head_dim, sliding_window=GEMMA2_WINDOW, mlp_bias=True,
                     bos_token_id=1, eos_token_id=2, rope_parameters=llama3_rope(shapes)),
            layer_types=["full_attention" if i % 4 == 0 else "sliding_attention" for i in range(layers)],
            features=["gqa", f"explicit_head_dim_{head_dim}", f"sliding_window_{GEMMA2_WINDOW}_from_layer_1",
                      "mlp_bias", "rope_llama3", "untied_embeddings", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora", "layers_subset"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            prompt_len=window_prompts,
            fp64_check=True,
            offs=[dict(what="sliding window off (all layers full)",
                       config=cfg_set(layer_types=["full_attention"] * layers))],
        ),
        dict(
            # NanoChat: Qwen3's attention modules (attention_bias on q, k, v and o) with weightless RMSNorms over
            # each head of q and k AFTER a rotary that turns the other way (rotate_half = cat(x2, -x1)), CLIP's
            # MLP (fc1, relu2, fc2) without biases, weightless RMSNorms around the blocks and one after the
            # embeddings, the final logits soft-capped (Gemma 2's head)
            name="nanochat",
            arch="nanochat",
            cfg=dict(num_key_value_heads=gqa_kv, attention_bias=True, final_logit_softcapping=3.0, pad_token_id=None,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "weightless_rmsnorms", "embedding_norm", "qk_norm_after_rotary", "reversed_rotary",
                      "gateless_mlp", "relu2", "attention_bias", "final_logit_softcapping_3", "untied_embeddings",
                      "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora", "layers_subset"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="final_logit_softcapping off", config=cfg_set(final_logit_softcapping=None)),
                  dict(what="relu in place of relu2", config=cfg_set(hidden_act="relu"))],
        ),
        dict(
            # Cohere 2: Cohere's parallel block (no q/k norms) whose sliding layers alone rotate, over
            # adjacent pairs; its full-attention layers have no position embedding
            name="cohere2",
            arch="cohere2",
            cfg=dict(num_key_value_heads=gqa_kv, attention_bias=True, logit_scale=0.4, layer_norm_eps=1e-4,
                     sliding_window=GEMMA2_WINDOW, layer_types=gemma3_types, pad_token_id=None,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            layer_types=gemma3_types,
            features=["gqa", "parallel_block", "layer_norm", "interleaved_rotary",
                      f"sliding_window_{GEMMA2_WINDOW}_pattern_3", "nope_full_attention_layers", "attention_bias",
                      "logit_scale", "tied_embeddings", "rope_default", "config_v5"],
            adapters=["plain", "rslora_all_linear", "lora_bias", "dora", "layers_subset"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            prompt_len=window_prompts,
            fp64_check=True,
            offs=[
                dict(what="sliding window off (all layers full, none rotating)",
                     config=cfg_set(layer_types=["full_attention"] * layers)),
                dict(what="every layer sliding and rotating",
                     config=cfg_set(layer_types=["sliding_attention"] * layers)),
            ],
        ),
        dict(
            # GPT-NeoX (Pythia): q, k and v fused per head in query_key_value, attention and the MLP
            # (dense_h_to_4h, gelu, dense_4h_to_h) side by side, each behind its own LayerNorm with a bias,
            # biases everywhere, a quarter of each head rotating, the head saved as embed_out
            name="gpt_neox",
            arch="gpt_neox",
            cfg=dict(layer_norm_eps=1e-4, pad_token_id=None,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25}),
            features=["mha", "fused_qkv_per_head", "gateless_mlp", "parallel_block_two_norms",
                      "layer_norm_with_bias", "partial_rotary_default_quarter", "gelu", "untied_embeddings",
                      "rope_default", "config_v5"],
            adapters=["neox_qkv", "rslora_all_linear", "neox_patterns_bias", "neox_dora"],
            mixes=[[("neox_qkv", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="rotary over whole heads", config=rope_set(partial_rotary_factor=1.0)),
                  dict(what="sequential residual", config=cfg_set(use_parallel_residual=False))],
        ),
        dict(
            # GPT-NeoX with an odd rotary count: head_dim 12 x 0.25 = 3 dimensions give 2 frequencies (over 3), and
            # the rotation covers cos.shape[-1] = 4 dimensions, as GPTNeoX's apply_rotary_pos_emb slices them
            name="gpt_neox_odd_rotary",
            arch="gpt_neox",
            cfg=dict(hidden_size=48, num_attention_heads=4, layer_norm_eps=1e-4, pad_token_id=None,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25}),
            features=["mha", "fused_qkv_per_head", "gateless_mlp", "parallel_block_two_norms",
                      "layer_norm_with_bias", "odd_partial_rotary", "gelu", "untied_embeddings",
                      "rope_default", "config_v5"],
            adapters=["neox_qkv", "rslora_all_linear"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="two rotary dimensions (head_dim 12 x 1/6)",
                       config=rope_set(partial_rotary_factor=1 / 6))],
        ),
        dict(
            # GPT-NeoX without the parallel residual (attention, then the MLP on its own norm), no attention
            # biases, half of each head rotating under a linear-scaled rotary, a tied head, and GPT-NeoX-20B's
            # gelu_fast
            name="gpt_neox_sequential_tied",
            arch="gpt_neox",
            cfg=dict(use_parallel_residual=False, attention_bias=False, tie_word_embeddings=True,
                     hidden_act="gelu_fast", pad_token_id=None,
                     rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0,
                                      "partial_rotary_factor": 0.5}),
            features=["mha", "fused_qkv_per_head", "gateless_mlp", "layer_norm_with_bias",
                      "partial_rotary_half", "gelu_fast", "tied_embeddings", "rope_linear", "config_v5"],
            adapters=["neox_qkv", "rslora_all_linear"],
            mixes=[[("neox_qkv", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="parallel residual", config=cfg_set(use_parallel_residual=True)),
                  dict(what="relu in place of gelu_fast", config=cfg_set(hidden_act="relu"))],
        ),
        dict(
            # Persimmon: GPT-NeoX's query_key_value (q, k, v per head) under Llama's root and self_attn, a
            # LayerNorm with a bias over each head of q and of k (qk_layernorm, default true) before a rotary over
            # half of each head (the class default), attention then the MLP (dense_h_to_4h, relu2,
            # dense_4h_to_h) each behind its own LayerNorm with a bias, biases on every projection, no head bias
            name="persimmon",
            arch="persimmon",
            cfg=dict(layer_norm_eps=1e-4, pad_token_id=None,
                     rope_parameters={"rope_type": "default", "rope_theta": 25000.0}),
            features=["mha", "fused_qkv_per_head", "gateless_mlp", "relu2", "layer_norm_with_bias",
                      "qk_layernorm_with_bias", "partial_rotary_default_half", "untied_embeddings", "rope_default",
                      "config_v5"],
            adapters=["neox_qkv", "rslora_all_linear", "neox_patterns_bias", "neox_dora"],
            mixes=[[("neox_qkv", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="qk_layernorm off", config=cfg_set(qk_layernorm=False)),
                  dict(what="rotary over whole heads", config=rope_set(partial_rotary_factor=1.0)),
                  dict(what="relu in place of relu2", config=cfg_set(hidden_act="relu"))],
        ),
        dict(
            # Persimmon without q/k LayerNorms, a tied head, gelu and a linear-scaled rotary over a quarter of
            # each head
            name="persimmon_plain_tied",
            arch="persimmon",
            cfg=dict(qk_layernorm=False, tie_word_embeddings=True, hidden_act="gelu", pad_token_id=None,
                     rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0,
                                      "partial_rotary_factor": 0.25}),
            features=["mha", "fused_qkv_per_head", "gateless_mlp", "gelu", "layer_norm_with_bias",
                      "partial_rotary_quarter", "tied_embeddings", "rope_linear", "config_v5"],
            adapters=["neox_qkv", "rslora_all_linear"],
            mixes=[[("neox_qkv", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="qk_layernorm on", config=cfg_set(qk_layernorm=True))],
        ),
        dict(
            # adapters on GPT-NeoX's input embedding, gpt_neox.embed_in: embedding LoRA, the embedding saved
            # whole (modules_to_save), trainable rows; one PEFT model each (they cannot share one)
            name="gpt_neox_embedding_adapters",
            arch="gpt_neox",
            cfg=dict(pad_token_id=None,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25}),
            features=["mha", "fused_qkv_per_head", "gateless_mlp", "parallel_block_two_norms",
                      "layer_norm_with_bias", "partial_rotary_default_quarter", "gelu", "untied_embeddings",
                      "rope_default", "config_v5"],
            adapters=["neox_embed_lora", "neox_save_embed", "neox_trainable_tokens"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="neox_embed_lora without its embedding LoRA", adapter="neox_embed_lora",
                       fn=drop_embedding_lora),
                  dict(what="neox_save_embed without its embedding", adapter="neox_save_embed",
                       fn=drop_modules_to_save),
                  dict(what="neox_trainable_tokens without its rows", adapter="neox_trainable_tokens",
                       fn=drop_trainable_tokens)],
        ),
        dict(
            # trainable rows of gpt_neox.embed_in on a tied GPT-NeoX: PEFT changes the tied head's rows alike
            name="gpt_neox_tied_trainable_tokens",
            arch="gpt_neox",
            cfg=dict(pad_token_id=None, tie_word_embeddings=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25}),
            features=["mha", "fused_qkv_per_head", "gateless_mlp", "parallel_block_two_norms",
                      "layer_norm_with_bias", "partial_rotary_default_quarter", "gelu", "tied_embeddings",
                      "rope_default", "config_v5"],
            adapters=["neox_trainable_tokens", "neox_qkv"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="neox_trainable_tokens without its rows", adapter="neox_trainable_tokens",
                       fn=drop_trainable_tokens)],
        ),
        dict(
            # GPT-2: Conv1D modules stored [in, out] (q, k, v fused in c_attn), learned position embeddings
            # added to the token embeddings, LayerNorms with a bias, gelu_new, a tied head; the
            # intermediate_size given to GPT2Config is saved but not read (n_inner None: 4 x n_embd)
            name="gpt2",
            arch="gpt2",
            cfg=dict(layer_norm_epsilon=1e-4),
            features=["mha", "conv1d_fused_qkv", "gateless_mlp", "learned_positions", "layer_norm_with_bias",
                      "gelu_new", "tied_embeddings", "config_v5"],
            adapters=["gpt2_c_attn", "rslora_all_linear", "gpt2_patterns_bias", "gpt2_dora"],
            mixes=[[("gpt2_c_attn", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="layer i's scores divided by i + 1", config=cfg_set(scale_attn_by_inverse_layer_idx=True)),
                  dict(what="relu in place of gelu_new", config=cfg_set(activation_function="relu"))],
        ),
        dict(
            # GPT-2 with an untied head, n_inner, gelu, unscaled scores divided by the layer index
            name="gpt2_untied_inverse_layer_scale",
            arch="gpt2",
            cfg=dict(tie_word_embeddings=False, n_inner=48, activation_function="gelu", scale_attn_weights=False,
                     scale_attn_by_inverse_layer_idx=True),
            features=["mha", "conv1d_fused_qkv", "gateless_mlp", "learned_positions", "layer_norm_with_bias",
                      "gelu", "untied_embeddings", "config_v5"],
            adapters=["gpt2_c_attn", "gpt2_patterns_bias"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="scores scaled by head_dim^-1/2",
                       config=cfg_set(scale_attn_weights=True)),
                  dict(what="scores not divided by the layer index",
                       config=cfg_set(scale_attn_by_inverse_layer_idx=False))],
        ),
        dict(
            # adapters on GPT-2's input embedding, transformer.wte (untied): embedding LoRA, the embedding saved
            # whole, trainable rows; one PEFT model each
            name="gpt2_embedding_adapters",
            arch="gpt2",
            cfg=dict(tie_word_embeddings=False),
            features=["mha", "conv1d_fused_qkv", "gateless_mlp", "learned_positions", "layer_norm_with_bias",
                      "gelu_new", "untied_embeddings", "config_v5"],
            adapters=["gpt2_embed_lora", "gpt2_saved_embedding", "gpt2_trainable_tokens"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="gpt2_embed_lora without its embedding LoRA", adapter="gpt2_embed_lora",
                       fn=drop_embedding_lora),
                  dict(what="gpt2_saved_embedding without its embedding", adapter="gpt2_saved_embedding",
                       fn=drop_modules_to_save),
                  dict(what="gpt2_trainable_tokens without its rows", adapter="gpt2_trainable_tokens",
                       fn=drop_trainable_tokens)],
        ),
        dict(
            # trainable rows of transformer.wte on the tied GPT-2 PEFT changes in the head alike; and the
            # checkpoint as GPT-2's hub checkpoints store it (keys without transformer., n_ctx and
            # task_specific_params in the config)
            name="gpt2_tied_trainable_tokens_bare_checkpoint",
            arch="gpt2",
            cfg=dict(),
            bare_checkpoint=True,
            features=["mha", "conv1d_fused_qkv", "gateless_mlp", "learned_positions", "layer_norm_with_bias",
                      "gelu_new", "tied_embeddings", "bare_checkpoint", "config_v5"],
            adapters=["gpt2_trainable_tokens", "gpt2_c_attn"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="gpt2_trainable_tokens without its rows", adapter="gpt2_trainable_tokens",
                       fn=drop_trainable_tokens)],
        ),
        dict(
            # OPT: a decoder under model.decoder., learned positions two rows into their table, LayerNorms
            # with a bias before each sublayer and a final one, relu, a tied head, pad id 1 (the class
            # default); the MLP is ffn_dim wide (the intermediate_size given is saved but unread)
            name="opt",
            arch="opt",
            cfg=dict(ffn_dim=64),
            features=["mha", "gateless_mlp", "learned_positions_offset_2", "layer_norm_with_bias", "relu",
                      "tied_embeddings", "config_v5"],
            adapters=["opt_q_v", "rslora_all_linear", "opt_patterns_bias", "opt_dora", "embed_lora"],
            mixes=[[("opt_q_v", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="gelu in place of relu", config=cfg_set(activation_function="gelu")),
                  dict(what="the final LayerNorm removed", config=cfg_set(_remove_final_layer_norm=True))],
        ),
        dict(
            # OPT with do_layer_norm_before false (OPT-350m's post-LayerNorm blocks: each sum normed after its
            # residual add, no final norm), an untied head, no biases, quick_gelu (x sigmoid(1.702 x))
            name="opt_post_layer_norm",
            arch="opt",
            cfg=dict(ffn_dim=48, do_layer_norm_before=False, tie_word_embeddings=False, enable_bias=False,
                     activation_function="quick_gelu", pad_token_id=None),
            features=["mha", "gateless_mlp", "learned_positions_offset_2", "post_layer_norm", "quick_gelu",
                      "untied_embeddings", "config_v5"],
            adapters=["opt_q_v", "opt_patterns_bias"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="LayerNorms before each sublayer (and a final one at its initial weights)",
                       config=cfg_set(do_layer_norm_before=True)),
                  dict(what="gelu in place of quick_gelu", config=cfg_set(activation_function="gelu"))],
        ),
        dict(
            # OPT as its hub checkpoints store it: saved from the bare model (keys decoder.*, no model.), with
            # the embedding adapters (LoRA on it, saved whole) on its tied head
            name="opt_bare_checkpoint",
            arch="opt",
            cfg=dict(ffn_dim=64),
            bare_checkpoint=True,
            features=["mha", "gateless_mlp", "learned_positions_offset_2", "layer_norm_with_bias", "relu",
                      "tied_embeddings", "bare_checkpoint", "config_v5"],
            adapters=["opt_q_v", "save_embed"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="save_embed without its embedding", adapter="save_embed", fn=drop_modules_to_save)],
        ),
        dict(
            # OPT-350m's shape: embeddings (and the tied head's input) narrower than the decoder, mapped in and out
            # by project_in / project_out, post-LayerNorm blocks; LoRA on the narrow embedding
            name="opt_projected_embeddings",
            arch="opt",
            cfg=dict(ffn_dim=64, word_embed_proj_dim=16, do_layer_norm_before=False),
            features=["mha", "gateless_mlp", "learned_positions_offset_2", "post_layer_norm", "project_in_out",
                      "relu", "tied_embeddings", "config_v5"],
            adapters=["opt_q_v", "opt_patterns_bias", "embed_lora"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="LayerNorms before each sublayer (and a final one at its initial weights)",
                       config=cfg_set(do_layer_norm_before=True))],
        ),
        dict(
            # GPT-BigCode (StarCoder 1, SantaCoder): GPT-2's tree and config names with nn.Linear modules, one
            # key and value head (multi_query: c_attn holds q, then k and v one head wide), gelu_pytorch_tanh,
            # a tied head; GPT-2's adapters (their fan_in_fan_out true is reset by PEFT on nn.Linear)
            name="gpt_bigcode",
            arch="gpt_bigcode",
            cfg=dict(),
            features=["mqa", "fused_qkv_multi_query", "gateless_mlp", "learned_positions", "layer_norm_with_bias",
                      "gelu_pytorch_tanh", "tied_embeddings", "config_v5"],
            adapters=["gpt2_c_attn", "rslora_all_linear", "gpt2_patterns_bias", "gpt2_dora"],
            mixes=[[("gpt2_c_attn", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="relu in place of gelu_pytorch_tanh", config=cfg_set(activation_function="relu")),
                  dict(what="unscaled scores", config=cfg_set(scale_attn_weights=False))],
        ),
        dict(
            # GPT-BigCode without multi_query: c_attn holds q, k and v one head after another; untied, n_inner
            name="gpt_bigcode_multi_head",
            arch="gpt_bigcode",
            cfg=dict(multi_query=False, tie_word_embeddings=False, n_inner=48),
            features=["mha", "fused_qkv_per_head", "gateless_mlp", "learned_positions", "layer_norm_with_bias",
                      "gelu_pytorch_tanh", "untied_embeddings", "config_v5"],
            adapters=["gpt2_c_attn", "gpt2_patterns_bias"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="relu in place of gelu_pytorch_tanh", config=cfg_set(activation_function="relu"))],
        ),
        dict(
            # Bloom: ALiBi (per-head slopes times key position on the scores; 4 heads: a power of two), a
            # LayerNorm after the token embedding, q, k and v fused per head, its tanh GELU, a tied head
            name="bloom",
            arch="bloom",
            cfg=dict(),
            # bigscience/bloom-560m's config fields BloomConfig does not read, and no max_position_embeddings
            hub_config=dict(drop=["max_position_embeddings", "dtype"],
                            set=dict(attention_softmax_in_fp32=True, bias_dropout_fusion=True,
                                     masked_softmax_fusion=True, n_inner=None, offset_alibi=100,
                                     skip_bias_add=True, skip_bias_add_qkv=False, unk_token_id=0)),
            features=["mha", "alibi", "embedding_layer_norm", "fused_qkv_per_head", "gateless_mlp",
                      "layer_norm_with_bias", "tied_embeddings", "config_v5"],
            adapters=["neox_qkv", "rslora_all_linear", "neox_patterns_bias", "neox_dora", "bloom_embed_lora"],
            mixes=[[("neox_qkv", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[],
        ),
        dict(
            # Bloom with 6 heads (not a power of two: ALiBi's extra slopes), untied
            name="bloom_six_heads_untied",
            arch="bloom",
            cfg=dict(num_attention_heads=6, hidden_size=48, tie_word_embeddings=False),
            features=["mha", "alibi_extra_slopes", "embedding_layer_norm", "fused_qkv_per_head", "gateless_mlp",
                      "layer_norm_with_bias", "untied_embeddings", "config_v5"],
            adapters=["neox_qkv", "neox_patterns_bias"],
            mixes=[],
            fp64_check=True,
            offs=[],
        ),
        dict(
            # Bloom with apply_residual_connection_post_layernorm: each sublayer's output joins its input
            # LayerNorm's output (the residual taken after the norms) instead of the residual stream
            name="bloom_residual_post_layernorm",
            arch="bloom",
            cfg=dict(apply_residual_connection_post_layernorm=True),
            features=["mha", "alibi", "embedding_layer_norm", "fused_qkv_per_head", "gateless_mlp",
                      "layer_norm_with_bias", "residual_post_layernorm", "tied_embeddings", "config_v5"],
            adapters=["neox_qkv", "rslora_all_linear", "neox_dora"],
            mixes=[[("neox_qkv", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="the residual stream as the residual", config=cfg_set(
                apply_residual_connection_post_layernorm=False))],
        ),
        dict(
            # GPT-J: attention (no biases) and the MLP (fc_in, gelu_new, fc_out) side by side on ln_1, the leading
            # rotary_dim (4 of 8) dimensions of each head rotating in adjacent pairs, an untied head with a bias
            name="gptj",
            arch="gptj",
            cfg=dict(rotary_dim=4),
            features=["mha", "parallel_block", "interleaved_partial_rotary", "gateless_mlp", "layer_norm_with_bias",
                      "gelu_new", "untied_embeddings", "head_bias", "config_v5"],
            adapters=["gptj_attn", "rslora_all_linear", "gptj_patterns_bias", "gptj_dora"],
            mixes=[[("gptj_attn", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="every dimension rotating", config=cfg_set(rotary_dim=8)),
                  dict(what="relu in place of gelu_new", config=cfg_set(activation_function="relu"))],
        ),
        dict(
            # GPT-J with its head tied to wte (the head's bias kept) and n_inner
            name="gptj_tied",
            arch="gptj",
            cfg=dict(rotary_dim=6, tie_word_embeddings=True, n_inner=48),
            features=["mha", "parallel_block", "interleaved_partial_rotary", "gateless_mlp", "layer_norm_with_bias",
                      "gelu_new", "tied_embeddings", "head_bias", "config_v5"],
            adapters=["gptj_attn", "gptj_patterns_bias"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="two dimensions rotating", config=cfg_set(rotary_dim=2))],
        ),
        dict(
            # GPT-Neo: GPT-2's tree with nn.Linear modules (q, k, v without biases under attn.attention), learned
            # positions, unscaled scores, a global first layer and local (windowed) layers after it, gelu_new, a
            # tied head
            name="gpt_neo",
            arch="gpt_neo",
            prompt_len=window_prompts,
            cfg=dict(attention_types=[[["global"], 1], [["local"], layers - 1]], window_size=GPT_NEO_WINDOW),
            features=["mha", "learned_positions", "unscaled_attention", "local_attention_layers", "gateless_mlp",
                      "layer_norm_with_bias", "gelu_new", "tied_embeddings", "config_v5"],
            adapters=["neo_attn", "rslora_all_linear", "neo_patterns_bias", "neo_dora", "neo_embed_lora"],
            mixes=[[("neo_attn", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            # the saved attention_layers wins over attention_types, so the variants change it
            offs=[dict(what="every layer global", config=cfg_set(attention_layers=["global"] * layers)),
                  dict(what="a window wider than every row", config=cfg_set(window_size=64)),
                  dict(what="relu in place of gelu_new", config=cfg_set(activation_function="relu"))],
        ),
        dict(
            # GPT-Neo as the hub's files write it (attention_types beside the expanded attention_layers, the
            # summary head's fields, gradient_checkpointing), untied; its saved
            # attention_layers (local, global, local...) disagrees with attention_types (all global) and wins, as
            # GPTNeoConfig sets it after expanding attention_types
            name="gpt_neo_hub_layers_untied",
            arch="gpt_neo",
            prompt_len=window_prompts,
            cfg=dict(attention_types=[[["global"], layers]],
                     attention_layers=["local" if i % 2 == 0 else "global" for i in range(layers)],
                     window_size=GPT_NEO_WINDOW - 1, tie_word_embeddings=False),
            hub_config=dict(drop=["dtype"],
                            set=dict(gradient_checkpointing=False, summary_activation=None,
                                     summary_first_dropout=0.1, summary_proj_to_labels=True,
                                     summary_type="cls_index", summary_use_proj=True,
                                     tokenizer_class="GPT2Tokenizer")),
            features=["mha", "learned_positions", "unscaled_attention", "local_attention_layers", "gateless_mlp",
                      "layer_norm_with_bias", "gelu_new", "untied_embeddings", "config_v5"],
            adapters=["neo_attn", "neo_patterns_bias"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="the layers of attention_types (all global)",
                       config=lambda d: d.pop("attention_layers"))],
        ),
        dict(
            # Falcon-7B's layer: one key and value head (multi_query: query_key_value holds q, then k and v),
            # attention and the MLP side by side on input_layernorm, rotary over whole heads, gelu, no biases,
            # a tied head; the config as tiiuae/falcon-7b writes it (fields transformers 5 does not read)
            name="falcon",
            arch="falcon",
            cfg=dict(),
            hub_config=dict(drop=["dtype"],
                            set=dict(apply_residual_connection_post_layernorm=False,
                                     auto_map={"AutoConfig": "configuration_falcon.FalconConfig",
                                               "AutoModelForCausalLM": "modeling_falcon.FalconForCausalLM"})),
            features=["mqa", "fused_qkv_groups", "parallel_block", "gateless_mlp", "layer_norm_with_bias", "gelu",
                      "tied_embeddings", "config_v5"],
            adapters=["neox_qkv", "rslora_all_linear", "neox_patterns_bias", "neox_dora", "bloom_embed_lora"],
            mixes=[[("neox_qkv", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="relu in place of gelu", config=cfg_set(activation="relu")),
                  dict(what="rope_theta 100", config=rope_set(rope_theta=100.0))],
        ),
        dict(
            # Falcon-40B's layer (new_decoder_architecture): 2 key-value groups of 2 query heads each in
            # query_key_value, attention on ln_attn and the MLP on ln_mlp side by side, biases, untied
            name="falcon_new_architecture",
            arch="falcon",
            cfg=dict(new_decoder_architecture=True, num_kv_heads=2, bias=True, tie_word_embeddings=False),
            features=["gqa", "fused_qkv_groups", "parallel_block_two_norms", "gateless_mlp", "layer_norm_with_bias",
                      "gelu", "untied_embeddings", "config_v5"],
            adapters=["neox_qkv", "neox_patterns_bias", "neox_dora"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="relu in place of gelu", config=cfg_set(activation="relu"))],
        ),
        dict(
            # Falcon in sequence (parallel_attn false: post_attention_layernorm before the MLP), q, k and v per
            # head (multi_query false), biases, an ffn_hidden_size
            name="falcon_sequential_per_head",
            arch="falcon",
            cfg=dict(parallel_attn=False, multi_query=False, bias=True, ffn_hidden_size=48),
            features=["mha", "fused_qkv_per_head", "gateless_mlp", "layer_norm_with_bias", "gelu",
                      "tied_embeddings", "config_v5"],
            adapters=["neox_qkv", "neox_patterns_bias"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="relu in place of gelu", config=cfg_set(activation="relu"))],
        ),
        dict(
            # the new decoder architecture with one shared norm (num_ln_in_parallel_attn 1) and one key-value
            # group
            name="falcon_new_architecture_one_norm",
            arch="falcon",
            cfg=dict(new_decoder_architecture=True, num_kv_heads=1, num_ln_in_parallel_attn=1),
            features=["mqa", "fused_qkv_groups", "parallel_block", "gateless_mlp", "layer_norm_with_bias", "gelu",
                      "tied_embeddings", "config_v5"],
            adapters=["neox_qkv", "neox_patterns_bias"],
            mixes=[],
            fp64_check=True,
            offs=[],
        ),
        dict(
            # MPT: ALiBi with MPT's slopes (4 heads: a power of two), Wqkv (q | k | v), an MLP 4 x d_model wide
            # with exact GELU, LayerNorms without bias, no biases, a tied head; the config as mosaicml/mpt-7b
            # writes it (fields transformers 5 does not read: learned_pos_emb, init_config, tokenizer_name)
            name="mpt",
            arch="mpt",
            cfg=dict(),
            hub_config=dict(drop=["dtype"],
                            set=dict(learned_pos_emb=True, init_device="cpu", norm_type="low_precision_layernorm",
                                     tokenizer_name="EleutherAI/gpt-neox-20b",
                                     init_config={"init_std": 0.02, "name": "kaiming_normal_"})),
            features=["mha", "alibi_mpt", "fused_qkv", "gateless_mlp", "layer_norm_without_bias", "gelu",
                      "tied_embeddings", "config_v5"],
            adapters=["mpt_wqkv", "rslora_all_linear", "mpt_patterns_bias", "mpt_dora", "mpt_embed_lora"],
            mixes=[[("mpt_wqkv", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[],
        ),
        dict(
            # MPT with 6 heads (MPT's interleaved slopes of the next power of two), q, k and v clamped
            # (clip_qkv), a softmax_scale, untied
            name="mpt_six_heads_clip_scale",
            arch="mpt",
            cfg=dict(hidden_size=48, num_attention_heads=6, tie_word_embeddings=False,
                     attn_config=dict(clip_qkv=0.3, softmax_scale=0.2)),
            features=["mha", "alibi_mpt_interleaved_slopes", "clip_qkv", "softmax_scale", "fused_qkv",
                      "gateless_mlp", "layer_norm_without_bias", "gelu", "untied_embeddings", "config_v5"],
            adapters=["mpt_wqkv", "mpt_patterns_bias"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="q, k and v unclamped",
                       config=lambda d: d["attn_config"].update(clip_qkv=None)),
                  dict(what="head_dim^-1/2 in place of softmax_scale",
                       config=lambda d: d["attn_config"].update(softmax_scale=None))],
        ),
        dict(
            # CodeGen: GPT-J's block (attention and the MLP side by side on ln_1, the leading rotary_dim
            # dimensions rotating in adjacent pairs, a head with a bias) with qkv_proj holding q, v and k in
            # four model-parallel shards of whole heads (8 heads: two per shard), untied
            name="codegen",
            arch="codegen",
            cfg=dict(num_attention_heads=8, rotary_dim=2),
            features=["mha", "parallel_block", "interleaved_partial_rotary", "fused_qkv_mp_shards", "gateless_mlp",
                      "layer_norm_with_bias", "gelu_new", "untied_embeddings", "head_bias", "config_v5"],
            adapters=["codegen_qkv", "rslora_all_linear", "codegen_patterns_bias", "codegen_dora"],
            mixes=[[("codegen_qkv", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="every dimension rotating", config=cfg_set(rotary_dim=4)),
                  dict(what="relu in place of gelu_new", config=cfg_set(activation_function="relu"))],
        ),
        dict(
            # CodeGen with 4 heads (one per shard), tied (the head's bias kept), n_inner
            name="codegen_tied",
            arch="codegen",
            cfg=dict(rotary_dim=4, tie_word_embeddings=True, n_inner=48),
            features=["mha", "parallel_block", "interleaved_partial_rotary", "fused_qkv_mp_shards", "gateless_mlp",
                      "layer_norm_with_bias", "gelu_new", "tied_embeddings", "head_bias", "config_v5"],
            adapters=["codegen_qkv", "codegen_patterns_bias"],
            mixes=[],
            fp64_check=True,
            offs=[dict(what="two dimensions rotating", config=cfg_set(rotary_dim=2))],
        ),
        dict(
            # Mixtral: Mistral's attention (no window: MixtralConfig's default) and a sparse mixture of 4
            # experts (Mistral's gated MLP each) of which the router picks 2 per token, weights renormalized;
            # saved as transformers 5 saves it (block_sparse_moe.gate, block_sparse_moe.experts.e.w1/w2/w3)
            name="mixtral",
            arch="mixtral",
            cfg=dict(num_key_value_heads=gqa_kv, num_local_experts=4, num_experts_per_tok=2,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "moe_4_experts_top_2", "hub_expert_layout", "rope_default", "untied_embeddings",
                      "config_v5"],
            adapters=["plain", "mixtral_rslora", "mixtral_patterns_bias", "mixtral_dora"],
            mixes=[[("plain", 0.6), ("mixtral_rslora", -0.4)]],
            fp64_check=True,
            offs=[dict(what="one expert per token in place of two", config=cfg_set(num_experts_per_tok=1)),
                  dict(what="three experts per token in place of two", config=cfg_set(num_experts_per_tok=3))],
        ),
        dict(
            # Mixtral with 6 experts, 3 per token, a sliding window, the expert count under its alias
            # num_experts (MixtralConfig's attribute_map), tied; the weights as transformers 5's modules
            # hold them (mlp.gate, mlp.experts.gate_up_proj / down_proj), which it loads as they are
            name="mixtral_stacked_experts_window",
            arch="mixtral",
            cfg=dict(num_key_value_heads=gqa_kv, num_local_experts=6, num_experts_per_tok=3,
                     sliding_window=MISTRAL_WINDOW, tie_word_embeddings=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            hub_config=dict(drop=["num_local_experts"], set=dict(num_experts=6)),
            stacked_experts=True,
            features=["gqa", "moe_6_experts_top_3", "stacked_expert_layout", "num_experts_alias",
                      f"sliding_window_{MISTRAL_WINDOW}", "rope_default", "tied_embeddings", "config_v5"],
            adapters=["plain", "mixtral_patterns_bias"],
            mixes=[],
            prompt_len=window_prompts,
            fp64_check=True,
            offs=[dict(what="sliding_window off", config=cfg_set(sliding_window=None)),
                  dict(what="two experts per token in place of three", config=cfg_set(num_experts_per_tok=2))],
        ),
        dict(
            # Qwen3-MoE: Qwen3's attention (per-head q/k norms) and 4 experts 24 wide of which the router picks
            # 2 per token, their weights not renormalized (norm_topk_prob false); layer 2 keeps the dense MLP
            # (mlp_only_layers), which LoRA reaches; saved as transformers 5 saves it (mlp.gate,
            # mlp.experts.e.gate_proj / up_proj / down_proj)
            name="qwen3_moe",
            arch="qwen3_moe",
            cfg=dict(num_key_value_heads=gqa_kv, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=24,
                     mlp_only_layers=[2], rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "qk_norm", "moe_4_experts_top_2", "dense_layer_2", "hub_expert_layout",
                      "rope_default", "untied_embeddings", "config_v5"],
            adapters=["plain", "mixtral_rslora", "mixtral_patterns_bias", "mixtral_dora"],
            mixes=[[("plain", 0.6), ("mixtral_rslora", -0.4)]],
            fp64_check=True,
            offs=[dict(what="weights renormalized (norm_topk_prob)", config=cfg_set(norm_topk_prob=True)),
                  dict(what="one expert per token in place of two", config=cfg_set(num_experts_per_tok=1))],
        ),
        dict(
            # Qwen3-MoE with every other layer sparse (decoder_sparse_step 2), 3 of 4 experts renormalized, a
            # window in every layer (use_sliding_window), tied; the weights as transformers 5's modules hold
            # them (mlp.experts.gate_up_proj / down_proj)
            name="qwen3_moe_step_window_stacked",
            arch="qwen3_moe",
            cfg=dict(num_key_value_heads=gqa_kv, num_experts=4, num_experts_per_tok=3, moe_intermediate_size=40,
                     norm_topk_prob=True, decoder_sparse_step=2, use_sliding_window=True,
                     sliding_window=MISTRAL_WINDOW, tie_word_embeddings=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            stacked_experts=True,
            features=["gqa", "qk_norm", "moe_4_experts_top_3", "decoder_sparse_step_2", "norm_topk_prob",
                      "stacked_expert_layout", f"sliding_window_{MISTRAL_WINDOW}", "rope_default",
                      "tied_embeddings", "config_v5"],
            adapters=["plain", "mixtral_patterns_bias"],
            mixes=[],
            prompt_len=window_prompts,
            fp64_check=True,
            offs=[dict(what="use_sliding_window off", config=cfg_set(use_sliding_window=False)),
                  dict(what="weights not renormalized", config=cfg_set(norm_topk_prob=False))],
        ),
        dict(
            # OLMoE: Llama's pre-norm block with RMSNorms over the whole q and k projections, q (after its
            # norm), k and v clamped by clip_qkv, and 4 experts (intermediate_size wide) of which the router
            # picks 2, weights not renormalized; saved as transformers 5 saves it (mlp.experts.e.gate_proj ...)
            name="olmoe",
            arch="olmoe",
            cfg=dict(num_key_value_heads=gqa_kv, num_experts=4, num_experts_per_tok=2, clip_qkv=0.4,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "whole_qk_norm", "clip_qkv_after_norm", "moe_4_experts_top_2", "hub_expert_layout",
                      "rope_default", "untied_embeddings", "config_v5"],
            adapters=["plain", "mixtral_rslora", "mixtral_patterns_bias", "mixtral_dora"],
            mixes=[[("plain", 0.6), ("mixtral_rslora", -0.4)]],
            fp64_check=True,
            offs=[dict(what="q, k and v unclamped", config=cfg_set(clip_qkv=None)),
                  dict(what="weights renormalized (norm_topk_prob)", config=cfg_set(norm_topk_prob=True))],
        ),
        dict(
            # LoRA on the experts and the router (target_parameters) of a hub-layout Mixtral: PEFT's all-linear, the
            # experts named with patterns, one layer's router; a weighted mix of the first two (each loaded
            # apart: PEFT loads adapters with different target_parameters into one model only one at a time)
            name="mixtral_expert_lora",
            arch="mixtral",
            cfg=dict(num_key_value_heads=gqa_kv, num_local_experts=4, num_experts_per_tok=2,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "moe_4_experts_top_2", "hub_expert_layout", "rope_default", "untied_embeddings",
                      "config_v5"],
            adapters=["moe_all_linear", "moe_experts_patterns", "moe_router_layer0", "v4_experts",
                      "v4_experts_rslora"],
            mixes=[[("moe_all_linear", 0.6), ("moe_experts_patterns", -0.4)]],
            mix_loads_apart=True,
            fp64_check=True,
            offs=[],
        ),
        dict(
            # The same on Qwen3-MoE with a dense layer (mlp_only_layers: PEFT's rewrite of all-linear leaves its
            # MLP unadapted) in transformers 5's stacked layout, 3 of 6 experts renormalized
            name="qwen3_moe_expert_lora",
            arch="qwen3_moe",
            cfg=dict(num_key_value_heads=gqa_kv, num_experts=6, num_experts_per_tok=3, moe_intermediate_size=24,
                     norm_topk_prob=True, mlp_only_layers=[1],
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            stacked_experts=True,
            features=["gqa", "qk_norm", "moe_6_experts_top_3", "norm_topk_prob", "dense_layer_1",
                      "stacked_expert_layout", "rope_default", "untied_embeddings", "config_v5"],
            adapters=["moe_all_linear", "moe_experts_patterns", "moe_router_layer0", "v4_experts"],
            mixes=[[("moe_experts_patterns", 0.5), ("moe_router_layer0", 0.5)]],
            mix_loads_apart=True,
            fp64_check=True,
            offs=[],
        ),
        dict(
            name="olmoe_expert_lora",
            arch="olmoe",
            cfg=dict(num_key_value_heads=gqa_kv, num_experts=4, num_experts_per_tok=2, clip_qkv=0.4,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "whole_qk_norm", "clip_qkv_after_norm", "moe_4_experts_top_2", "hub_expert_layout",
                      "rope_default", "untied_embeddings", "config_v5"],
            adapters=["moe_all_linear", "moe_experts_patterns", "v4_experts_rslora"],
            mixes=[],
            fp64_check=True,
            offs=[],
        ),
        dict(
            # FlexOlmo: OLMo 2's block (attention and the MLP read the residual stream as it is, their outputs
            # normed: post_attention_layernorm, post_feedforward_layernorm; q/k RMSNorms over whole projections)
            # with OLMoE's experts (softmax, then the top k, renormalized only with norm_topk_prob), no clamp
            name="flex_olmo",
            arch="flex_olmo",
            cfg=dict(num_key_value_heads=gqa_kv, num_experts=4, num_experts_per_tok=2, attention_bias=True,
                     pad_token_id=None, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "post_norms_only", "whole_qk_norm", "moe_4_experts_top_2", "hub_expert_layout",
                      "attention_bias", "rope_default", "untied_embeddings", "config_v5"],
            adapters=["plain", "mixtral_rslora", "mixtral_patterns_bias", "mixtral_dora"],
            mixes=[[("plain", 0.6), ("mixtral_rslora", -0.4)]],
            fp64_check=True,
            # (norm_topk_prob is no off-check here: its per-token scale is undone by post_feedforward_layernorm)
            offs=[dict(what="one expert per token in place of two", config=cfg_set(num_experts_per_tok=1))],
        ),
        dict(
            # LoRA on FlexOlmo's experts and router (target_parameters), as on OLMoE's
            name="flex_olmo_expert_lora",
            arch="flex_olmo",
            cfg=dict(num_key_value_heads=gqa_kv, num_experts=4, num_experts_per_tok=2, pad_token_id=None,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "post_norms_only", "whole_qk_norm", "moe_4_experts_top_2", "hub_expert_layout",
                      "rope_default", "untied_embeddings", "config_v5"],
            adapters=["moe_all_linear", "moe_experts_patterns", "v4_experts_rslora"],
            mixes=[],
            fp64_check=True,
            offs=[],
        ),
        dict(
            # Qwen2-MoE: Qwen2's attention (q, k, v biased), 4 experts 24 wide of which the router picks 2 (not
            # renormalized), and a shared expert 40 wide behind a sigmoid gate in every sparse layer; layer 1 dense
            # (mlp_only_layers); with use_sliding_window the even layers below max_window_layers slide (layer 0
            # here); saved as transformers 5 saves it (mlp.experts.e.gate_proj ..., mlp.shared_expert.*,
            # mlp.shared_expert_gate). PEFT 0.21 does not rewrite Qwen2-MoE's targets (qwen2_moe is not in its
            # conversion map): all-linear adapts the attention, the shared expert's projections and gate, and the
            # dense layer's MLP; the routed experts and the router only through target_parameters
            name="qwen2_moe",
            arch="qwen2_moe",
            cfg=dict(num_key_value_heads=gqa_kv, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=24,
                     shared_expert_intermediate_size=40, mlp_only_layers=[1], use_sliding_window=True,
                     sliding_window=MISTRAL_WINDOW, max_window_layers=2,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "qkv_bias", "moe_4_experts_top_2", "shared_expert_sigmoid_gate", "dense_layer_1",
                      f"sliding_window_{MISTRAL_WINDOW}_even_layers", "hub_expert_layout", "rope_default",
                      "untied_embeddings", "config_v5"],
            adapters=["plain", "moe_all_linear", "moe_experts_patterns", "moe_router_layer0", "mixtral_rslora",
                      "shared_expert_lora_bias", "shared_expert_dora"],
            mixes=[[("moe_all_linear", 0.6), ("moe_router_layer0", -0.4)]],
            mix_loads_apart=True,
            prompt_len=window_prompts,
            fp64_check=True,
            offs=[dict(what="use_sliding_window off", config=cfg_set(use_sliding_window=False)),
                  dict(what="three experts per token in place of two", config=cfg_set(num_experts_per_tok=3)),
                  dict(what="lora_bias dropped (shared expert and q_proj)", adapter="shared_expert_lora_bias",
                       fn=drop_lora_bias)],
        ),
        dict(
            # GLM-4-MoE (GLM-4.5): Llama's attention with q/k/v biases and per-head q/k RMSNorms, rotating the leading
            # half of each head (partial_rotary_factor's class default 0.5, rotate_half); layer 0 dense
            # (first_k_dense_replace); 8 experts 24 wide in 2 groups of 4, DeepSeek-V3's router: sigmoid scores plus a
            # per-expert correction (e_score_correction_bias, drawn at random here) pick within the best group (each
            # scored by its two best), 3 per token weighted by their plain scores, renormalized (+1e-20) and times
            # routed_scaling_factor; a shared expert (gate_proj, up_proj, down_proj) every token passes, ungated. PEFT
            # 0.21 rewrites GLM-4-MoE's gate_proj / up_proj / down_proj targets (its conversion map sends glm4_moe to
            # qwen2_moe's pattern): LoRA reaches the attention here
            name="glm4_moe",
            arch="glm4_moe",
            cfg=dict(num_key_value_heads=gqa_kv, n_routed_experts=8, num_experts_per_tok=3, moe_intermediate_size=24,
                     n_shared_experts=1, n_group=2, topk_group=1, routed_scaling_factor=2.5, first_k_dense_replace=1,
                     use_qk_norm=True, attention_bias=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5}),
            score_correction_std=0.1,
            features=["gqa", "qkv_bias", "qk_norm", "partial_rotary_0.5", "moe_8_experts_2_groups_top_3",
                      "sigmoid_grouped_router", "score_correction_bias", "routed_scaling_factor", "shared_experts",
                      "dense_layer_0", "hub_expert_layout", "rope_default", "untied_embeddings", "config_v5"],
            adapters=["plain", "mixtral_rslora", "mixtral_patterns_bias", "mixtral_dora"],
            mixes=[[("plain", 0.6), ("mixtral_rslora", -0.4)]],
            fp64_check=True,
            offs=[dict(what="no group limit (topk_group 2)", config=cfg_set(topk_group=2)),
                  dict(what="routed_scaling_factor 1", config=cfg_set(routed_scaling_factor=1.0)),
                  dict(what="weights not renormalized", config=cfg_set(norm_topk_prob=False)),
                  dict(what="score correction zeroed", model_fn=zero_score_correction)],
        ),
        dict(
            # LoRA on GLM-4-MoE's experts and router (target_parameters) with every layer sparse
            # (first_k_dense_replace 0), 6 experts in 2 groups, 2 per token from the best group, not renormalized, in
            # transformers 5's stacked layout; all-linear (rewritten by PEFT into the attention plus the experts and
            # the router), patterns, one layer's router, and a transformers-4 per-expert adapter
            name="glm4_moe_expert_lora",
            arch="glm4_moe",
            cfg=dict(num_key_value_heads=gqa_kv, n_routed_experts=6, num_experts_per_tok=2, moe_intermediate_size=24,
                     n_shared_experts=2, n_group=2, topk_group=1, norm_topk_prob=False, first_k_dense_replace=0,
                     tie_word_embeddings=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5}),
            score_correction_std=0.1,
            stacked_experts=True,
            features=["gqa", "partial_rotary_0.5", "moe_6_experts_2_groups_top_2", "sigmoid_grouped_router",
                      "score_correction_bias", "shared_experts_2", "stacked_expert_layout", "rope_default",
                      "tied_embeddings", "config_v5"],
            adapters=["moe_all_linear", "moe_experts_patterns", "moe_router_layer0", "v4_experts"],
            mixes=[[("moe_experts_patterns", 0.5), ("moe_router_layer0", 0.5)]],
            mix_loads_apart=True,
            fp64_check=True,
            offs=[],
        ),
        dict(
            # dots.llm1: Qwen3's attention (per-head q/k norms, biases on q, k, v and o) with its sliding layers (the
            # window always applies, from max_window_layers on: layers 1 and 2 here), GLM-4-MoE's experts: 6 in 3
            # groups of 2, 2 per token from the 2 best groups, renormalized, times 2, a random score correction, a
            # shared expert; layer 0 dense. PEFT rewrites its expert targets too (dots1 maps to qwen2_moe's pattern)
            name="dots1",
            arch="dots1",
            cfg=dict(num_key_value_heads=gqa_kv, n_routed_experts=6, num_experts_per_tok=2, moe_intermediate_size=24,
                     n_shared_experts=1, n_group=3, topk_group=2, routed_scaling_factor=2.0, norm_topk_prob=True,
                     first_k_dense_replace=1, attention_bias=True, sliding_window=MISTRAL_WINDOW, max_window_layers=1,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            score_correction_std=0.3,
            features=["gqa", "attention_bias", "qk_norm", f"sliding_window_{MISTRAL_WINDOW}_from_layer_1",
                      "moe_6_experts_3_groups_top_2", "sigmoid_grouped_router", "score_correction_bias",
                      "routed_scaling_factor", "shared_experts", "dense_layer_0", "hub_expert_layout", "rope_default",
                      "untied_embeddings", "config_v5"],
            adapters=["plain", "mixtral_rslora", "moe_experts_patterns", "v4_experts"],
            mixes=[[("plain", 0.6), ("mixtral_rslora", -0.4)]],
            mix_loads_apart=True,
            prompt_len=window_prompts,
            fp64_check=True,
            offs=[dict(what="sliding window off (every layer full)",
                       config=lambda c: c.update(layer_types=["full_attention"] * len(c["layer_types"]))),
                  dict(what="routed_scaling_factor 1", config=cfg_set(routed_scaling_factor=1.0)),
                  dict(what="score correction zeroed", model_fn=zero_score_correction)],
        ),
        dict(
            # ERNIE 4.5's MoE: the dense model's attention (adjacent pairs rotate) and MLP (layer 0 dense,
            # moe_layer_start_index 1), 6 experts of which the router picks 2 by softmax probability plus a per-expert
            # correction (moe_statics, drawn at random here), weighted by the plain probabilities over their sum, a
            # shared expert; saved as transformers 5 saves it (mlp.moe_statics.e_score_correction_bias, the experts one
            # by one); use_bias puts biases on the attention, the dense and shared MLPs and the output head. PEFT
            # rewrites its expert targets (ernie4_5_moe maps to qwen2_moe's pattern)
            name="ernie4_5_moe",
            arch="ernie4_5_moe",
            cfg=dict(num_key_value_heads=gqa_kv, moe_num_experts=6, moe_k=2, moe_intermediate_size=24,
                     moe_num_shared_experts=1, moe_layer_start_index=1, tie_word_embeddings=False, use_bias=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            score_correction_std=0.3,
            features=["gqa", "interleaved_rotary", "moe_6_experts_top_2", "softmax_corrected_router",
                      "score_correction_bias", "shared_experts", "dense_layer_0", "use_bias_with_head_bias",
                      "hub_expert_layout", "rope_default", "untied_embeddings", "config_v5"],
            adapters=["plain", "mixtral_rslora", "moe_experts_patterns", "v4_experts"],
            mixes=[[("plain", 0.6), ("mixtral_rslora", -0.4)]],
            mix_loads_apart=True,
            fp64_check=True,
            offs=[dict(what="score correction zeroed", model_fn=zero_score_correction),
                  dict(what="no shared expert", config=cfg_set(moe_num_shared_experts=0)),
                  dict(what="use_bias off (the biases of attention, MLPs, shared expert and head dropped)",
                       config=cfg_set(use_bias=False)),
                  dict(what="three experts per token in place of two", config=cfg_set(moe_k=3))],
        ),
        dict(
            # ERNIE 4.5's MoE in transformers 5's module layout (mlp.experts.gate_up_proj, mlp.gate.moe_statics) with
            # every other layer sparse from layer 0 (moe_layer_interval 2: layers 1 and 3... of those up to
            # moe_layer_end_index), no shared experts, the correction's sum clamp at work (moe_norm_min 0.9)
            name="ernie4_5_moe_stacked",
            arch="ernie4_5_moe",
            cfg=dict(num_key_value_heads=gqa_kv, moe_num_experts=4, moe_k=2, moe_intermediate_size=24,
                     moe_num_shared_experts=0, moe_layer_start_index=0, moe_layer_interval=2, moe_norm_min=0.9,
                     tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            score_correction_std=0.3,
            stacked_experts=True,
            features=["gqa", "interleaved_rotary", "moe_4_experts_top_2", "softmax_corrected_router",
                      "score_correction_bias", "moe_layer_interval_2", "norm_min", "stacked_expert_layout",
                      "rope_default", "tied_embeddings", "config_v5"],
            adapters=["plain", "moe_all_linear", "moe_router_layer1"],
            mixes=[],
            mix_loads_apart=True,
            fp64_check=True,
            offs=[dict(what="moe_norm_min at its default", config=cfg_set(moe_norm_min=1e-12))],
        ),
        dict(
            # Apertus: Llama's attention (biases on q, k, v and o with attention_bias) with per-head q/k RMSNorms
            # before the rotary, attention_layernorm / feedforward_layernorm, an MLP without a gate (up_proj, down_proj)
            # around xIELU: each layer's learned alpha_p and alpha_n (drawn at random as every parameter) and its
            # beta and eps buffers (drawn here, so that the values saved are the ones that count); llama3 rotary
            name="apertus",
            arch="apertus",
            cfg=dict(num_key_value_heads=gqa_kv, attention_bias=True, rope_parameters=llama3_rope(shapes)),
            buffers={"mlp.act_fn.beta": (0.5, 0.2), "mlp.act_fn.eps": (-1e-6, 0.0)},
            features=["gqa", "attention_bias", "qk_norm", "up_down_mlp", "xielu", "xielu_buffers", "rope_llama3",
                      "untied_embeddings", "config_v5"],
            adapters=["plain", "rslora_all_linear", "mixtral_dora", "mixtral_patterns_bias"],
            mixes=[[("plain", 0.6), ("rslora_all_linear", -0.4)]],
            fp64_check=True,
            offs=[dict(what="silu in place of xIELU", config=cfg_set(hidden_act="silu")),
                  dict(what="xIELU's beta at its default 0.5", model_fn=default_xielu_beta)],
        ),
        dict(
            # GPT-OSS: attention with q/k/v/o biases and a learned sink logit per head, the even layers sliding
            # (window 8), YaRN by default (factor 32, truncate false); 4 experts of which a biased router picks
            # 2 by their logits (softmax over the picked two), experts stored transposed with biases, gate and
            # up interleaved, the gate clamped at 7, up at +-7, (up + 1) * gate * sigmoid(1.702 gate); the
            # experts' gate_up weights drawn larger so that the clamps act
            name="gpt_oss",
            arch="gpt_oss",
            # (max_position_embeddings its default 131072: YaRN's factor 32 times its original 4096)
            cfg=dict(num_key_value_heads=gqa_kv, num_local_experts=4, num_experts_per_tok=2, head_dim=head_dim,
                     sliding_window=MISTRAL_WINDOW, max_position_embeddings=131072),
            scale_params={"mlp.experts.gate_up_proj": 12.0},
            features=["gqa", "attention_bias", "attention_sinks", f"sliding_window_{MISTRAL_WINDOW}_even_layers",
                      "rope_yarn_default", "moe_4_experts_top_2_logits", "router_bias", "expert_biases",
                      "interleaved_gate_up", "clamped_swiglu", "stacked_transposed_experts", "untied_embeddings",
                      "config_v5"],
            adapters=["plain", "moe_experts_patterns", "gpt_oss_router", "mixtral_rslora", "gpt_oss_bias_all",
                      "gpt_oss_router_lora_only"],
            mixes=[[("plain", 0.6), ("mixtral_rslora", -0.4)]],
            mix_loads_apart=True,
            prompt_len=window_prompts,
            fp64_check=True,
            offs=[dict(what="sliding window off (every layer full)",
                       config=cfg_set(layer_types=["full_attention"] * layers)),
                  dict(what="one expert per token in place of two", config=cfg_set(num_experts_per_tok=1)),
                  dict(what="bias = all without its router and attention biases", adapter="gpt_oss_bias_all",
                       fn=drop_base_biases),
                  dict(what="bias = lora_only without its router bias", adapter="gpt_oss_router_lora_only",
                       fn=drop_base_biases)],
        ),
        dict(
            # GraniteMoE: Granite's multipliers and modules with a sparse MLP (block_sparse_moe) of 4 experts
            # whose router picks 2 by float32 logits and softmaxes the picked ones; saved as transformers 5
            # saves it (block_sparse_moe.input_linear / output_linear / router.layer, the hub's layout)
            name="granitemoe",
            arch="granitemoe",
            cfg=dict(num_key_value_heads=gqa_kv, num_local_experts=4, num_experts_per_tok=2,
                     embedding_multiplier=3.0, attention_multiplier=0.2, residual_multiplier=0.5,
                     logits_scaling=2.5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "granite_multipliers", "moe_4_experts_top_2_logits", "hub_expert_layout",
                      "rope_default", "untied_embeddings", "config_v5"],
            adapters=["plain", "moe_experts_patterns", "gpt_oss_router", "mixtral_rslora"],
            mixes=[[("plain", 0.6), ("mixtral_rslora", -0.4)]],
            mix_loads_apart=True,
            fp64_check=True,
            offs=[dict(what="residual_multiplier 1", config=cfg_set(residual_multiplier=1.0)),
                  dict(what="one expert per token in place of two", config=cfg_set(num_experts_per_tok=1))],
        ),
        dict(
            # GraniteMoeShared: GraniteMoE with a shared MLP in every layer beside block_sparse_moe
            # (shared_mlp.input_linear: gate then up in one nn.Linear, chunk(2) after it; act(gate) * up;
            # shared_mlp.output_linear), its output added ungated to the experts'; LoRA on the shared MLP's two
            # modules (all-linear takes them too), on the experts and on the router
            name="granitemoeshared",
            arch="granitemoeshared",
            cfg=dict(num_key_value_heads=gqa_kv, num_local_experts=4, num_experts_per_tok=2,
                     shared_intermediate_size=48, embedding_multiplier=3.0, attention_multiplier=0.2,
                     residual_multiplier=0.5, logits_scaling=2.5,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
            features=["gqa", "granite_multipliers", "moe_4_experts_top_2_logits", "shared_mlp_ungated",
                      "fused_gate_up_module", "hub_expert_layout", "rope_default", "untied_embeddings",
                      "config_v5"],
            adapters=["plain", "granite_shared_mlp", "granite_shared_lora_bias", "granite_shared_dora",
                      "rslora_all_linear", "moe_experts_patterns", "gpt_oss_router"],
            mixes=[[("granite_shared_mlp", 0.6), ("moe_experts_patterns", -0.4)]],
            mix_loads_apart=True,
            fp64_check=True,
            offs=[dict(what="one expert per token in place of two", config=cfg_set(num_experts_per_tok=1)),
                  dict(what="no shared MLP (shared_intermediate_size 0)", config=cfg_set(shared_intermediate_size=0)),
                  dict(what="lora_bias dropped (shared MLP and v_proj)", adapter="granite_shared_lora_bias",
                       fn=drop_lora_bias)],
        ),
    ]


# ---------------------------------------------------------------- helpers

def generator(seed, *tags):
    """A torch.Generator derived from the seed and a tag path (stable across runs)."""
    digest = hashlib.sha256(("/".join([str(seed)] + [str(t) for t in tags])).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))


def randn(shape, std, gen, mean=0.0):
    return torch.randn(shape, generator=gen, dtype=torch.float32) * std + mean


@torch.no_grad()
def reinit_model(model, gen, norm_mean=1.0):
    """Random weights; norm weights N(norm_mean, 0.1) (Gemma's RMSNorm multiplies by 1 + w: norm_mean 0)."""
    for name, p in model.named_parameters():
        if name.endswith(".bias"):
            p.copy_(randn(p.shape, BIAS_STD, gen))
        elif "norm" in name or re.search(r"\.ln_(\d+|f)\.", name):  # GPT-2's ln_1, ln_2, ln_f
            p.copy_(randn(p.shape, NORM_STD, gen, mean=norm_mean))
        else:
            p.copy_(randn(p.shape, MATRIX_STD, gen))


@torch.no_grad()
def reinit_lora(peft_model, adapter, gen):
    """Random A/B (and lora_B bias); DoRA magnitudes * (1 + N(0, 0.2)); random embedding A/B; noise on
    modules_to_save copies. Draw order: LoRA layers in module order, then the modules_to_save copies."""
    n = 0
    for _, mod in peft_model.named_modules():
        if isinstance(mod, LoraLayer) and adapter in mod.lora_A:
            mod.lora_A[adapter].weight.copy_(randn(mod.lora_A[adapter].weight.shape, LORA_A_STD, gen))
            b = mod.lora_B[adapter]
            b.weight.copy_(randn(b.weight.shape, LORA_B_STD, gen))
            if b.bias is not None:
                b.bias.copy_(randn(b.bias.shape, LORA_BIAS_STD, gen))
            if adapter in mod.lora_magnitude_vector:
                # created as the row norms of W (B = 0 at creation); still that value now
                mag = mod.lora_magnitude_vector[adapter].weight
                w = mod.get_base_layer().weight
                if mod.fan_in_fan_out:
                    w = w.T  # GPT-2's Conv1D stores [in, out]
                if peft_model.peft_config[adapter].init_lora_weights not in ("olora", "pissa"):
                    # (OLoRA / PiSSA: ||W - s B0 A0 + s B0 A0|| of the rewritten base, the same up to rounding)
                    assert torch.allclose(mag, torch.linalg.norm(w, dim=1)), "DoRA magnitude is not ||W|| rows"
                mag.mul_(1.0 + randn(mag.shape, DORA_MAGNITUDE_STD, gen))
            n += 1
        elif isinstance(mod, LoraLayer) and adapter in mod.lora_embedding_A:
            mod.lora_embedding_A[adapter].copy_(randn(mod.lora_embedding_A[adapter].shape, LORA_EMBED_STD, gen))
            mod.lora_embedding_B[adapter].copy_(randn(mod.lora_embedding_B[adapter].shape, LORA_EMBED_STD, gen))
            n += 1
    assert n > 0, f"adapter {adapter}: no LoRA layers"
    for name, p in peft_model.named_parameters():
        if "trainable_tokens_delta" in name and name.endswith("." + adapter):
            p.add_(randn(p.shape, LORA_EMBED_STD, gen))
    bias = peft_model.peft_config[adapter].bias
    for name, p in peft_model.named_parameters():
        # the base biases PEFT trains and saves: all of them, or those of the LoRA-wrapped modules
        if name.endswith(".bias") and "lora_" not in name and (
                bias == "all" or (bias == "lora_only" and name.endswith(".base_layer.bias"))):
            p.add_(randn(p.shape, BASE_BIAS_STD, gen))
    for _, mod in peft_model.named_modules():
        if isinstance(mod, ModulesToSaveWrapper) and adapter in mod.modules_to_save:
            for p in mod.modules_to_save[adapter].parameters():
                p.add_(randn(p.shape, SAVED_MODULE_STD, gen))


def lora_modules(peft_model, adapter):
    """(module name in the plain base model, LoraLayer) for every module adapted by `adapter`."""
    out = []
    for name, mod in peft_model.base_model.model.named_modules():
        if isinstance(mod, LoraLayer) and adapter in mod.lora_A:
            out.append((name, mod))
    return out


def check_patterns(peft_model, adapter):
    seen = {}
    for name, mod in lora_modules(peft_model, adapter):
        seen[name] = (mod.r[adapter], mod.lora_alpha[adapter])
    for layer in range(peft_model.base_model.model.config.num_hidden_layers):
        for proj in ("gate_proj", "up_proj"):
            assert seen[f"model.layers.{layer}.mlp.{proj}"] == (2, 3), seen
        assert seen[f"model.layers.{layer}.mlp.down_proj"] == (4, 8), seen
        assert seen[f"model.layers.{layer}.self_attn.o_proj"] == ((6, 8) if layer == 1 else (4, 8)), seen
        assert seen[f"model.layers.{layer}.self_attn.v_proj"] == ((4, 16) if layer == 0 else (4, 8)), seen
        assert seen[f"model.layers.{layer}.self_attn.q_proj"] == (4, 8), seen
    print(f"    patterns: up/gate_proj r=2 alpha=3, layers.1.o_proj r=6, layers.0.v_proj alpha=16: OK")


def check_layer_subset(peft_model, adapter, expected_modules):
    """layers_to_transform / regex target: exactly the modules of layers 0 and 2 are adapted."""
    got = sorted(name for name, _ in lora_modules(peft_model, adapter))
    want = sorted(f"model.layers.{layer}.{m}" for layer in (0, 2) for m in expected_modules)
    assert got == want, (adapter, got, want)
    print(f"    {adapter}: adapts {len(got)} modules, all in layers 0 and 2: OK")


LAYER_SUBSET_MODULES = {
    "layers_subset": ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"],
    "regex_target": ["self_attn.q_proj", "self_attn.k_proj", "mlp.down_proj"],
}


def to_v4_config(cfg):
    """Rewrite a transformers-5 config dict into the transformers-4.x layout."""
    out = {}
    for k, v in cfg.items():
        if k == "rope_parameters":
            continue
        out["torch_dtype" if k == "dtype" else k] = v
    if "full_attention" in cfg["rope_parameters"] and cfg["architectures"] == ["Olmo3ForCausalLM"]:
        # OLMo 3: the full-attention rotary in rope_theta / rope_scaling; the sliding one must be the
        # 5e5 default Olmo3Config gives it (a 4.x file has no field for it)
        full = dict(cfg["rope_parameters"]["full_attention"])
        assert cfg["rope_parameters"]["sliding_attention"] == {"rope_type": "default", "rope_theta": 500000.0}
        out["rope_theta"] = full.pop("rope_theta")
        rope_type = full.pop("rope_type", "default")
        out["rope_scaling"] = None if rope_type == "default" else {"rope_type": rope_type, **full}
        return out
    if "full_attention" in cfg["rope_parameters"]:
        # Gemma 3: the global rotary in rope_theta / rope_scaling, the local theta in rope_local_base_freq,
        # and the layer pattern as sliding_window_pattern
        full = dict(cfg["rope_parameters"]["full_attention"])
        local = dict(cfg["rope_parameters"]["sliding_attention"])
        assert local.get("rope_type", "default") == "default" and set(local) <= {"rope_type", "rope_theta"}, local
        out["rope_theta"] = full.pop("rope_theta")
        out["rope_local_base_freq"] = local["rope_theta"]
        rope_type = full.pop("rope_type", "default")
        out["rope_scaling"] = None if rope_type == "default" else {"rope_type": rope_type, **full}
        types = out.pop("layer_types")
        out.pop("_sliding_window_pattern", None)
        out["sliding_window_pattern"] = next(
            n for n in range(1, len(types) + 2)
            if types == ["sliding_attention" if (i + 1) % n else "full_attention" for i in range(len(types))])
        return out
    rope = dict(cfg["rope_parameters"])
    out["rope_theta"] = rope.pop("rope_theta")
    rope_type = rope.pop("rope_type", "default")
    out["rope_scaling"] = None if rope_type == "default" else {"rope_type": rope_type, **rope}
    return out


def write_json(path, obj):
    with open(path, "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def load_model(path):
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager", dtype=torch.float32)
    return model.eval()


@torch.no_grad()
def greedy(model, prompt, alora=None):
    """Manual greedy loop without KV cache. Returns (new ids, first-step logits, min relative gap).

    alora: for an activated LoRA, where its invocation starts in the prompt (-1: absent). Each step then passes
    the offsets PEFT's generate computes once from the prompt (positions from that start on, and every generated
    token), where a plain forward would search the generated tokens too."""
    ids = torch.tensor([prompt], dtype=torch.long)
    new, first, min_gap = [], None, float("inf")
    for _ in range(MAX_NEW_TOKENS):
        kw = {}
        if alora is not None:
            kw["alora_offsets"] = [None if alora < 0 else ids.shape[1] - alora]
        logits = model(input_ids=ids, use_cache=False, **kw).logits[0, -1].to(torch.float32)
        if first is None:
            first = logits.clone()
        top2 = torch.topk(logits, 2).values
        min_gap = min(min_gap, float((top2[0] - top2[1]) / logits.abs().max()))
        nxt = int(torch.argmax(logits))
        new.append(nxt)
        ids = torch.cat([ids, torch.tensor([[nxt]], dtype=torch.long)], dim=1)
    return new, first, min_gap


def draw_prompt(gen, lengths=None):
    lo, hi = lengths or (PROMPT_MIN_LEN, PROMPT_MAX_LEN)
    n = int(torch.randint(lo, hi + 1, (1,), generator=gen))
    return torch.randint(PROMPT_MIN_ID, VOCAB, (n,), generator=gen).tolist()


def with_invocation(prompt, how, gen):
    """The prompt with aLoRA's invocation tokens: none (absent), once, or twice (the later one counts); never at
    the very end, so positions after it differ too."""
    prompt = [t for t in prompt if t not in ALORA_INVOCATION]
    if how == "absent":
        return prompt
    n = len(ALORA_INVOCATION)
    at = int(torch.randint(1, max(2, len(prompt) - 2), (1,), generator=gen))
    out = prompt[:at] + ALORA_INVOCATION + prompt[at:]
    if how == "twice":
        at2 = int(torch.randint(at + n + 1, len(out), (1,), generator=gen))
        out = out[:at2] + ALORA_INVOCATION + out[at2:]
    return out


def alora_start(prompt):
    """PEFT's calculate_alora_offsets: the start of the invocation tokens' last occurrence, -1 when absent."""
    n = len(ALORA_INVOCATION)
    starts = [i for i in range(len(prompt) - n + 1) if prompt[i:i + n] == ALORA_INVOCATION]
    return starts[-1] if starts else -1


def short_prompt_len(spec):
    """Prompt lengths of a model's ordinary rows (phi3: prompt + max_new_tokens stays within the short factors)."""
    lo, hi = spec.get("prompt_len", (PROMPT_MIN_LEN, PROMPT_MAX_LEN))
    if "short_total_max" in spec:
        hi = min(hi, spec["short_total_max"] - MAX_NEW_TOKENS)
    return lo, hi


# ---------------------------------------------------------------- build

def build_source_model(spec, seed, out, shapes):
    config_cls, model_cls, _ = ARCH[spec["arch"]]
    kwargs = common_config(shapes)
    if spec["arch"] == "mpt":
        # MptConfig names the longest sequence max_seq_len and has no MLP width (4 x d_model)
        kwargs["max_seq_len"] = kwargs.pop("max_position_embeddings")
        kwargs.pop("intermediate_size")
    kwargs.update(spec["cfg"])
    config = config_cls(attn_implementation="eager", **kwargs)
    check_config(spec, config, shapes)
    model = model_cls(config).eval()
    if "qk_norm" in spec["features"] and spec["arch"] not in ("qwen3_moe", "glm4_moe", "dots1", "apertus"):
        check_qk_norm(spec, model)
    check_new_features(spec, model)
    if "norm_mean" in spec:
        reinit_model(model, generator(seed, "weights", spec["name"]), norm_mean=spec["norm_mean"])
    else:
        reinit_model(model, generator(seed, "weights", spec["name"]))
    with torch.no_grad():
        if "score_correction_std" in spec:
            # GLM-4-MoE's e_score_correction_bias (a buffer, zeros at init): drawn so that it moves the routing
            gen = generator(seed, "score_correction", spec["name"])
            # (a buffer in GLM-4-MoE and dots.llm1, a frozen parameter in ERNIE 4.5's moe_statics)
            found = [b for name, b in list(model.named_buffers()) + list(model.named_parameters())
                     if name.endswith("e_score_correction_bias")]
            assert found, spec["name"]
            for b in found:
                b.copy_(randn(b.shape, spec["score_correction_std"], gen))
        for suffix, (mean, std) in spec.get("buffers", {}).items():
            # buffers the checkpoint saves and the forward reads (Apertus's xIELU beta and eps)
            gen = generator(seed, "buffers", spec["name"], suffix)
            found = [b for n, b in model.named_buffers() if n.endswith(suffix)]
            assert found, (spec["name"], suffix)
            for b in found:
                b.copy_(randn(b.shape, std, gen, mean=mean) if std else torch.full(b.shape, mean))
        for suffix, factor in spec.get("scale_params", {}).items():
            scaled = [p for n, p in model.named_parameters() if n.endswith(suffix)]
            assert scaled, (spec["name"], suffix)
            for p in scaled:
                p.mul_(factor)
    if "generation_eos" in spec:
        model.generation_config.eos_token_id = list(spec["generation_eos"])
    mdir = out / spec["name"]
    model.save_pretrained(mdir, safe_serialization=True)
    if "saved_config" in spec:
        # fields as the official checkpoints write them, which transformers 5 normalizes on load
        cfg = json.loads((mdir / "config.json").read_text())
        cfg.update(spec["saved_config"])
        write_json(mdir / "config.json", cfg)
        reloaded = AutoConfig.from_pretrained(mdir)
        for k in spec["saved_config"]:
            assert getattr(reloaded, k) == getattr(model.config, k), (spec["name"], k, getattr(reloaded, k))
    if spec.get("bare_checkpoint"):
        # keys as GPTModel-style base checkpoints store them (no base_model_prefix): transformers adds the
        # prefix on load, and must load the very same model from them
        prefix = model.base_model_prefix + "."
        sd = load_file(mdir / "model.safetensors")
        bare = {k.removeprefix(prefix): v for k, v in sd.items()}
        assert len(bare) == len(sd) and any(k != b for k, b in zip(sd, bare)), spec["name"]
        save_file(bare, mdir / "model.safetensors", metadata={"format": "pt"})
        if spec["arch"] == "gpt2":
            # and the config as the original checkpoints write it: the legacy n_ctx, pipeline presets, no dtype
            cfg = json.loads((mdir / "config.json").read_text())
            cfg.pop("dtype", None)
            cfg.update(n_ctx=cfg["n_positions"], task_specific_params={"text-generation": {"do_sample": True,
                                                                                            "max_length": 50}})
            write_json(mdir / "config.json", cfg)
        reloaded = model_cls.from_pretrained(mdir, attn_implementation="eager").eval()
        ids = torch.arange(1, 9).unsqueeze(0)
        with torch.no_grad():
            assert torch.equal(reloaded(ids).logits, model(ids).logits), spec["name"]
    if spec.get("stacked_experts"):
        # the model's own parameter names and layout (transformers 5 loads them without conversion)
        sd = {k: v.contiguous() for k, v in model.state_dict().items()}
        if model.config.tie_word_embeddings:
            sd.pop("lm_head.weight")
        assert any(k.endswith("mlp.experts.gate_up_proj") for k in sd), spec["name"]
        save_file(sd, mdir / "model.safetensors", metadata={"format": "pt"})
        reloaded = model_cls.from_pretrained(mdir, attn_implementation="eager").eval()
        ids = torch.arange(1, 9).unsqueeze(0)
        with torch.no_grad():
            assert torch.equal(reloaded(ids).logits, model(ids).logits), spec["name"]
    if "hub_config" in spec:
        # the config as the original checkpoints write it (fields the config class does not read), checked to
        # load the same model
        cfg = json.loads((mdir / "config.json").read_text())
        for k in spec["hub_config"].get("drop", []):
            cfg.pop(k, None)
        cfg.update(spec["hub_config"].get("set", {}))
        write_json(mdir / "config.json", cfg)
        reloaded = model_cls.from_pretrained(mdir, attn_implementation="eager").eval()
        ids = torch.arange(1, 9).unsqueeze(0)
        with torch.no_grad():
            assert torch.equal(reloaded(ids).logits, model(ids).logits), spec["name"]
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(TOKENIZER_DIR / f, mdir / f)

    adir = mdir / "adapters"
    for name in spec["adapters"]:
        if name.startswith("v4_"):
            write_v4_expert_adapter(spec, model, name, adir / name, generator(seed, "adapter", spec["name"], name))
            continue
        kw = adapter_kwargs(spec, name)
        pm = get_peft_model(copy.deepcopy(model), LoraConfig(**{"task_type": None, **kw}), adapter_name=name)
        reinit_lora(pm, name, generator(seed, "adapter", spec["name"], name))
        if name == "patterns":
            check_patterns(pm, name)
        if name in LAYER_SUBSET_MODULES:
            check_layer_subset(pm, name, LAYER_SUBSET_MODULES[name])
        pm.save_pretrained(adir, selected_adapters=[name], safe_serialization=True, **SAVE_KW.get(name, {}))
        readme = adir / "README.md"
        if readme.exists():
            readme.unlink()
        assert sorted(os.listdir(adir / name)) == ["adapter_config.json", "adapter_model.safetensors"], \
            os.listdir(adir / name)
        check_saved_adapter(name, kw, adir / name, model)
        if name.startswith("moe_") and pm.peft_config[name].target_parameters:
            check_expert_lora(name, pm, adir / name)
    return mdir


def adapter_kwargs(spec, name):
    return spec.get("adapter_kw", {}).get(name, ADAPTERS[name][0])


def write_v4_expert_adapter(spec, model, name, path, gen):
    """An adapter as PEFT saved it on transformers 4's mixtures of experts: one LoRA per expert module (w1 / w3 /
    w2, or gate_proj / up_proj / down_proj) and on the router (an nn.Linear then), plus attention modules; the
    sparse layers only (transformers 5 leaves a dense layer's MLP unadapted). PEFT 0.21 converts it on loading,
    which load_peft checks."""
    kw = dict(ADAPTERS[name][0])
    mixtral = spec["arch"] == "mixtral"
    up0, up1, down = ("w1", "w3", "w2") if mixtral else ("gate_proj", "up_proj", "down_proj")
    kw["target_modules"] = [t.format(up0=up0, up1=up1, down=down) for t in kw["target_modules"]]
    config = model.config
    hidden, experts = config.hidden_size, (config.num_local_experts if mixtral or spec["arch"] in ("glm4_moe", "dots1")
                                           else config.moe_num_experts if spec["arch"] == "ernie4_5_moe"
                                           else config.num_experts)
    inter = config.moe_intermediate_size if spec["arch"] in ("qwen3_moe", "qwen2_moe", "glm4_moe", "dots1",
                                                             "ernie4_5_moe") \
        else config.intermediate_size
    r = kw["r"]
    block = "block_sparse_moe" if mixtral else "mlp"
    tensors = {}
    for l, layer in enumerate(model.model.layers):
        pre = f"base_model.model.model.layers.{l}"
        for t in kw["target_modules"]:
            if t.endswith("_proj") and hasattr(layer.self_attn, t):
                lin = getattr(layer.self_attn, t)
                tensors[f"{pre}.self_attn.{t}.lora_A.weight"] = randn((r, lin.in_features), LORA_A_STD, gen)
                tensors[f"{pre}.self_attn.{t}.lora_B.weight"] = randn((lin.out_features, r), LORA_B_STD, gen)
        if not hasattr(layer.mlp, "experts"):
            continue
        if "gate" in kw["target_modules"]:
            tensors[f"{pre}.{block}.gate.lora_A.weight"] = randn((r, hidden), LORA_A_STD, gen)
            tensors[f"{pre}.{block}.gate.lora_B.weight"] = randn((experts, r), LORA_B_STD, gen)
        for e in range(experts):
            for part, (fan_in, fan_out) in ((up0, (hidden, inter)), (up1, (hidden, inter)), (down, (inter, hidden))):
                if part in kw["target_modules"]:
                    tensors[f"{pre}.{block}.experts.{e}.{part}.lora_A.weight"] = randn((r, fan_in), LORA_A_STD, gen)
                    tensors[f"{pre}.{block}.experts.{e}.{part}.lora_B.weight"] = randn((fan_out, r), LORA_B_STD, gen)
    path.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, path / "adapter_model.safetensors",
              metadata={"format": "pt"})
    write_json(path / "adapter_config.json",
               dict(peft_type="LORA", task_type="CAUSAL_LM", base_model_name_or_path=None, lora_dropout=0.0,
                    bias="none", fan_in_fan_out=False, inference_mode=True, **kw))
    # PEFT 0.21 loads it through its transformers-4 conversion: every tensor used, experts as parameters
    pm = load_peft(model, path, name)
    conf = pm.peft_config[name]
    assert conf.target_parameters and not {up0, up1, down, "gate"} & set(conf.target_modules), conf
    wrapped = [m for _, m in pm.named_modules() if isinstance(m, ParamWrapper)]
    assert wrapped and all(float(m.lora_B[name].weight.abs().sum()) > 0 for m in wrapped), name


def check_expert_lora(name, pm, path):
    """LoRA on parameters as PEFT 0.21 saves it: one ParamWrapper per targeted parameter of a module, the first
    registered (gate_up_proj) innermost, so its tensors sit one `base_layer.` deeper than down_proj's; A is
    [r * experts, in] and B [out, r * experts], the stacked parameters [experts, out, in] (not transposed)."""
    tensors = load_file(path / "adapter_model.safetensors")
    model = pm.get_base_model()
    wrappers = [(n, m) for n, m in model.named_modules() if isinstance(m, ParamWrapper)]
    assert wrappers, name
    for n, m in wrappers:
        # GPT-OSS stores its experts [experts, in, out] (is_transposed): PEFT then keeps in and out as they
        # are, and A and B keep the same roles ([r * experts, in], [out, r * experts])
        transposed = getattr(m.get_base_layer(), "is_transposed", False)
        assert transposed == (model.config.model_type == "gpt_oss") or m.parameter_name == "weight", (name, n)
        assert m.lora_A[name].weight.shape[1] == m.in_features, (name, n)
        assert m.lora_dropout[name].__class__.__name__ == "Identity", (name, n)
        key = f"base_model.model.{n}.lora_A.weight"
        assert key in tensors, (name, key, sorted(tensors)[:4])
        if m.parameter_name == "gate_up_proj" and n.endswith(".experts"):
            raise AssertionError(f"{name}: gate_up_proj is the outer wrapper at {n}")
        if m.parameter_name == "down_proj":
            assert n.endswith(".experts"), (name, n)


def check_saved_adapter(name, kw, path, model):
    """What PEFT wrote for the new adapter kinds: magnitudes, saved module copies, embedding LoRA tensors."""
    tensors = load_file(path / "adapter_model.safetensors")
    base = model.state_dict()
    if SAVE_KW.get(name, {}).get("save_embedding_layers"):
        key = "base_model.model.model.embed_tokens.weight"
        assert torch.equal(tensors[key], base["model.embed_tokens.weight"]), name
    mags = [k for k in tensors if k.endswith(".lora_magnitude_vector")]
    if kw.get("use_dora"):
        assert mags and all(tensors[k].dim() == 1 for k in mags), name
        n_a = sum(k.endswith(".lora_A.weight") for k in tensors)
        assert len(mags) == n_a, (name, len(mags), n_a)
    else:
        assert not mags, name
    for m in kw.get("modules_to_save") or []:
        key = next(k for k in base if k.endswith(f"{m}.weight"))
        saved = tensors[f"base_model.model.{key}"]
        assert saved.shape == base[key].shape and not torch.equal(saved, base[key]), (name, key)
    if "embed_tokens" in (kw.get("target_modules") or []):
        # PEFT's save_embedding_layers="auto" also saves the (unchanged) base embedding of a targeted embedding
        emb = next(k for k in base if k.endswith("embed_tokens.weight")).removesuffix(".weight")  # OPT: model.decoder.
        copy_key = f"base_model.model.{emb}.base_layer.weight"
        assert torch.equal(tensors[copy_key], base[f"{emb}.weight"]), name
        assert {f"base_model.model.{emb}.lora_embedding_A",
                f"base_model.model.{emb}.lora_embedding_B"} <= set(tensors), name


def check_new_features(spec, model):
    """Configuration details of the later models that must hold before the weights are drawn."""
    config = model.config
    if "layer_types" in spec:
        assert list(config.layer_types) == spec["layer_types"], (spec["name"], config.layer_types)
    if spec["arch"] == "mistral" and "sliding_window" in spec["cfg"]:
        assert config.sliding_window == spec["cfg"]["sliding_window"], spec["name"]
    if spec["arch"] == "qwen2" and spec["cfg"].get("use_sliding_window"):
        assert config.sliding_window == spec["cfg"]["sliding_window"], spec["name"]
        for i, layer in enumerate(model.model.layers):
            want = config.sliding_window if i >= config.max_window_layers else None
            assert layer.self_attn.sliding_window == want, (spec["name"], i)
    if spec["arch"] in ("mixtral", "qwen3_moe", "olmoe", "flex_olmo", "qwen2_moe", "gpt_oss", "granitemoe",
                        "granitemoeshared", "glm4_moe", "dots1", "ernie4_5_moe"):
        # the layers that route through experts, as the spec means them
        # (GraniteMoE's decoder layer names its MLP block_sparse_moe)
        sparse = [hasattr(getattr(layer, "mlp", None) or layer.block_sparse_moe, "experts")
                  for layer in model.model.layers]
        want = [i not in spec["cfg"].get("mlp_only_layers", []) and (i + 1) % spec["cfg"].get("decoder_sparse_step", 1) == 0
                for i in range(config.num_hidden_layers)]
        if spec["arch"] in ("glm4_moe", "dots1"):
            want = [i >= spec["cfg"]["first_k_dense_replace"] for i in range(config.num_hidden_layers)]
            moe = next(layer.mlp for layer in model.model.layers if hasattr(layer.mlp, "experts"))
            assert moe.gate.num_group == spec["cfg"]["n_group"], spec["name"]
            assert moe.shared_experts.gate_proj.out_features == config.moe_intermediate_size * config.n_shared_experts
        if spec["arch"] == "ernie4_5_moe":
            c = spec["cfg"]
            want = [(i + 1) % c.get("moe_layer_interval", 1) == 0 and i >= c["moe_layer_start_index"]
                    for i in range(config.num_hidden_layers)]
        if spec["arch"] == "glm4_moe":
            attn = model.model.layers[0].self_attn
            assert attn.use_qk_norm == spec["cfg"].get("use_qk_norm", False), spec["name"]
        if spec["arch"] == "dots1":
            # the window from max_window_layers on
            assert [l.self_attn.sliding_window for l in model.model.layers] == [
                spec["cfg"]["sliding_window"] if i >= spec["cfg"]["max_window_layers"] else None
                for i in range(config.num_hidden_layers)], spec["name"]
        assert sparse == want and any(sparse), (spec["name"], sparse)
        if spec["arch"] == "granitemoeshared":
            # the shared MLP beside block_sparse_moe, gate and up fused in input_linear
            shared = [layer.shared_mlp for layer in model.model.layers]
            assert all(m is not None and m.input_linear.out_features == 2 * config.shared_intermediate_size
                       and m.output_linear.in_features == config.shared_intermediate_size for m in shared), spec["name"]
        if spec["arch"] == "qwen3_moe":
            attn = model.model.layers[0].self_attn
            assert attn.q_norm.weight.shape == (attn.head_dim,), spec["name"]
    if spec["arch"] == "gpt_neo":
        # the layer types come from attention_layers when given, else from attention_types
        want = spec["cfg"].get("attention_layers") or config.expand_attention_types_params(spec["cfg"]["attention_types"])
        assert [b.attn.attention_type for b in model.transformer.h] == want and "local" in want, (spec["name"], want)
        assert all(b.attn.attention.q_proj.bias is None and b.attn.attention.out_proj.bias is not None
                   for b in model.transformer.h), spec["name"]
    if spec["name"] == "llama_gelu_mlp_bias":
        mlp = model.model.layers[0].mlp
        assert mlp.gate_proj.bias is not None and mlp.down_proj.bias is not None, spec["name"]
        assert type(mlp.act_fn).__name__ == "GELUActivation", type(mlp.act_fn)
    if spec["name"] == "gemma_legacy_activation":
        assert config.hidden_act == "gelu_pytorch_tanh", config.hidden_act
    if spec["arch"] in ("gemma", "gemma2", "gemma3"):
        # RMSNorm weights start at 0: the norm multiplies by (1 + w)
        norms = [p for n, p in model.named_parameters() if "norm" in n]
        assert norms and all(torch.all(p == 0) for p in norms), spec["name"]
        scale = model.model.embed_tokens.embed_scale
        assert scale.dtype == torch.float32 and float(scale) == float(torch.tensor(config.hidden_size ** 0.5)), scale
        assert model.config.tie_word_embeddings, spec["name"]
    if spec["arch"] == "gemma3":
        rot = model.model.rotary_emb
        assert not torch.equal(rot.full_attention_inv_freq, rot.sliding_attention_inv_freq), spec["name"]
        assert rot.full_attention_attention_scaling == rot.sliding_attention_attention_scaling == 1.0
        layer = model.model.layers[0].self_attn
        assert layer.q_norm.weight.shape == (config.head_dim,) and config.attn_logit_softcapping is None
    if spec["arch"] in ("gemma2", "gemma3"):
        n_ff = sum(1 for n, _ in model.named_parameters() if "feedforward_layernorm" in n)
        assert n_ff == 2 * config.num_hidden_layers, n_ff
        for i, layer in enumerate(model.model.layers):
            attn = layer.self_attn
            assert attn.scaling == config.query_pre_attn_scalar ** -0.5 != attn.head_dim ** -0.5, spec["name"]
            want = config.sliding_window if config.layer_types[i] == "sliding_attention" else None
            assert attn.sliding_window == want, (spec["name"], i)
    if spec["arch"] == "phi3":
        rope = config.rope_parameters
        if "rope_longrope" in spec["features"]:
            assert rope["rope_type"] == "longrope" and rope["original_max_position_embeddings"] == \
                config.original_max_position_embeddings == spec["short_total_max"], rope
            assert rope["short_factor"] != rope["long_factor"], rope
        else:
            assert rope["rope_type"] == "default" and "original_max_position_embeddings" not in rope, rope
        partial = spec["cfg"].get("partial_rotary_factor", 1.0)
        assert rope.get("partial_rotary_factor", 1.0) == partial, rope
        attn = model.model.layers[0].self_attn
        hd = config.hidden_size // config.num_attention_heads
        assert model.model.rotary_emb.inv_freq.numel() == int(hd * partial) // 2, model.model.rotary_emb.inv_freq
        assert attn.qkv_proj.weight.shape == ((config.num_attention_heads + 2 * config.num_key_value_heads) * hd,
                                              config.hidden_size), attn.qkv_proj.weight.shape
        assert model.model.layers[0].mlp.gate_up_proj.weight.shape == (2 * config.intermediate_size,
                                                                        config.hidden_size)


def check_config(spec, config, shapes):
    """The shape flags give what was asked for, and each model keeps its attention kind and RoPE setup."""
    # GPT-NeoX has no num_key_value_heads: one key and value head per query head
    heads = config.num_attention_heads
    kv = getattr(config, "num_key_value_heads", heads)
    if spec["arch"] == "falcon":
        # FalconAttention: num_kv_heads groups with the new decoder architecture, else one head with
        # multi_query, else one per query head
        kv = config.num_kv_heads if config.new_decoder_architecture else 1 if config.multi_query else heads
    if spec["arch"] == "gpt_bigcode":
        # GPTBigCodeAttention reads multi_query; the config's num_key_value_heads can be stale (its
        # __post_init__ computes it before the num_attention_heads alias lands), and is unread
        kv = 1 if config.multi_query else heads
    mpt = spec["arch"] == "mpt"  # MptMLP is 4 x d_model wide
    assert (config.hidden_size, 4 * config.hidden_size if mpt else config.intermediate_size,
            config.num_hidden_layers, heads) == \
        (spec["cfg"].get("hidden_size", shapes["hidden"]),
         4 * spec["cfg"].get("hidden_size", shapes["hidden"]) if mpt else shapes["intermediate"], shapes["layers"],
         spec["cfg"].get("num_attention_heads", shapes["heads"])), spec["name"]
    feats = spec["features"]
    if "mqa" in feats:
        assert kv == 1, (spec["name"], kv)
    elif "mha" in feats:
        assert kv == heads, (spec["name"], kv)
    else:
        assert "gqa" in feats and 1 < kv < heads and heads % kv == 0, (spec["name"], heads, kv)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    assert head_dim % 2 == 0, (spec["name"], head_dim)
    if spec["arch"] in ("gpt2", "opt", "gpt_bigcode", "bloom", "gptj", "gpt_neo", "mpt", "codegen"):
        return  # learned positions or ALiBi, or GPT-J's own rotary (rotary_dim): no rope_parameters to check
    # Helium: hidden / heads, given explicitly; the odd rotary cases pick their own head_dim
    if "head_dim" in spec["cfg"] and spec["arch"] != "helium" and "odd_partial_rotary" not in spec["features"]:
        assert head_dim == shapes["head_dim_override"] != config.hidden_size // heads, (spec["name"], head_dim)
    rope = config.rope_parameters
    if "full_attention" in rope:
        rope = rope["full_attention"]  # Gemma 3: one entry per layer type
    if "original_max_position_embeddings" in rope:
        assert rope["original_max_position_embeddings"] < config.max_position_embeddings, (spec["name"], rope)
    if rope["rope_type"] == "yarn":
        # keeps factor == max_position_embeddings / original_max_position_embeddings (no transformers warning)
        assert rope["factor"] * rope["original_max_position_embeddings"] == config.max_position_embeddings, rope


def check_qk_norm(spec, model):
    """Qwen3: every layer has per-head q_norm / k_norm of size head_dim, and no layer uses a sliding window."""
    config = model.config
    assert config.sliding_window is None and set(config.layer_types) == {"full_attention"}, \
        (spec["name"], config.sliding_window, config.layer_types)
    for layer in model.model.layers:
        attn = layer.self_attn
        assert attn.q_norm.weight.shape == attn.k_norm.weight.shape == (config.head_dim,), spec["name"]
        assert attn.q_proj.bias is None and attn.o_proj.bias is None, spec["name"]


def build_v4_model(spec, out, src_root):
    src, dst = src_root / spec["v4_of"], out / spec["name"]
    shutil.copytree(src, dst)
    cfg = json.loads((src / "config.json").read_text())
    write_json(dst / "config.json", to_v4_config(cfg))
    return dst


@torch.no_grad()
def verify_v4(spec, out, seed, src_root):
    src, dst = load_model(src_root / spec["v4_of"]), load_model(out / spec["name"])
    assert src.config.rope_parameters == dst.config.rope_parameters, \
        (src.config.rope_parameters, dst.config.rope_parameters)
    prompt = draw_prompt(generator(seed, "v4check", spec["name"]))
    a = src(input_ids=torch.tensor([prompt]), use_cache=False).logits[0, -1]
    b = dst(input_ids=torch.tensor([prompt]), use_cache=False).logits[0, -1]
    diff = float((a - b).abs().max())
    assert diff <= 1e-6, f"{spec['name']}: v4 config gives different logits (max diff {diff})"
    print(f"    v4 layout reloads with rope_parameters={dst.config.rope_parameters}; "
          f"first logits max|diff| vs {spec['v4_of']} = {diff}")


# ---------------------------------------------------------------- references

@torch.no_grad()
def merged_model(base, peft_model, mix):
    """Copy of base with W + sum_i w_i * delta_i (PEFT's get_delta_weight) merged in."""
    merged = copy.deepcopy(base)
    for adapter, w in mix:
        pm = peft_model[adapter] if isinstance(peft_model, dict) else peft_model
        assert not pm.peft_config[adapter].lora_bias, "no mixes with lora_bias adapters"
        for name, mod in lora_modules(pm, adapter):
            if isinstance(mod, ParamWrapper):
                # LoRA on a parameter (the stacked experts, the router): W + s B A per expert, as it merges
                owner = merged.get_submodule(name.replace(".base_layer", ""))
                param = getattr(owner, mod.parameter_name)
                param += w * mod.get_delta_weight(adapter).to(param.dtype)
                continue
            lin = merged.get_submodule(name)
            lin.weight += w * mod.get_delta_weight(adapter).to(lin.weight.dtype)
    return merged.eval()


def load_peft(base, path, name):
    """A fresh PEFT model with one adapter (adapters with modules_to_save / embedding LoRA do not share one)."""
    return PeftModel.from_pretrained(copy.deepcopy(base), path, adapter_name=name).eval()


def make_rows(spec, out, seed, stats):
    """Returns (rows, base model)."""
    mdir = out / spec["name"]
    base = load_model(mdir)
    pm = None
    if spec["mixes"] and spec.get("mix_loads_apart"):
        # PEFT loads adapters with target_parameters into one model only when they target the same parameters:
        # each mixed adapter in its own model, their deltas merged into one copy of the base
        pm = {name: load_peft(base, mdir / "adapters" / name, name) for name in spec["adapters"]}
    elif spec["mixes"]:
        for name in spec["adapters"]:
            path = mdir / "adapters" / name
            if pm is None:
                pm = PeftModel.from_pretrained(copy.deepcopy(base), path, adapter_name=name)
            else:
                pm.load_adapter(path, adapter_name=name)
        pm.eval()

    # sanity: merging a single adapter with weight 1 reproduces PEFT's own forward
    for mix in spec["mixes"]:
        adapter = mix[0][0]
        if isinstance(pm, dict):
            own = pm[adapter]
        else:
            pm.set_adapter(adapter)
            own = pm
        prompt = draw_prompt(generator(seed, "mergecheck", spec["name"], adapter))
        ids = torch.tensor([prompt])
        with torch.no_grad():
            a = own(input_ids=ids, use_cache=False).logits[0, -1]
            b = merged_model(base, pm, [(adapter, 1.0)])(input_ids=ids, use_cache=False).logits[0, -1]
        diff = float((a - b).abs().max())
        assert diff < 1e-4 * max(1.0, float(a.abs().max())), f"merge check {spec['name']}/{adapter}: {diff}"

    short, long = short_prompt_len(spec), spec.get("long_prompt_len")
    jobs = [("base", [], base, short)]
    for name in spec["adapters"]:
        if name == "alora":
            jobs += [(f"{name}_{how}", [(name, 1.0)], None, short) for how in spec["alora_rows"]]
        else:
            jobs.append((name, [(name, 1.0)], None, short))
    for mix in spec["mixes"]:
        rid = "mix_" + "_".join(f"{a}{w:+g}" for a, w in mix)
        jobs.append((rid, mix, merged_model(base, pm, mix), short))
    if long:
        # phi3: every row gets a twin with a prompt past original_max_position_embeddings (long rope factors)
        jobs = [j for job in jobs for j in (job, (job[0] + "_long", job[1], job[2], long))]
    cross = spec.get("cross_prompt_len")
    if cross:
        # and one whose generation crosses original_max_position_embeddings: Phi-3's generation then drops its
        # cache and recomputes every position with long_factor; the manual loop below recomputes every step
        jobs = [j for job in jobs if not job[0].endswith("_long")
                for j in (job, (job[0] + "_cross", job[1], job[2], cross))] + \
               [job for job in jobs if job[0].endswith("_long")]

    rows = []
    for rid, adapters, model, lengths in jobs:
        gen = generator(seed, "prompt", spec["name"], rid)
        single = len(adapters) == 1 and model is None
        if single:
            model = load_peft(base, mdir / "adapters" / adapters[0][0], adapters[0][0])
        model64 = copy.deepcopy(model).double() if spec.get("fp64_check") else None
        if model64 is not None and spec["arch"] in ("mixtral", "qwen3_moe", "olmoe", "flex_olmo", "qwen2_moe", "gpt_oss",
                                                    "glm4_moe", "dots1", "ernie4_5_moe",
                                                    "granitemoe", "granitemoeshared"):
            # torch's grouped_mm (transformers 5's default experts) has no float64 kernel: the same experts
            # computed one by one
            (model64.get_base_model() if hasattr(model64, "get_base_model") else model64) \
                .set_experts_implementation("eager")
        redraws_gap = redraws_same = redraws_fp64 = 0
        alora = rid.startswith("alora_")
        while True:
            prompt = draw_prompt(gen, lengths)
            if alora:
                prompt = with_invocation(prompt, rid.removeprefix("alora_"), gen)
            ids, first, gap = greedy(model, prompt, alora_start(prompt) if alora else None)
            if gap < GAP_REL:
                redraws_gap += 1
            elif model64 is not None and fp64_rel(model64, prompt, first) > FP64_MAX_REL:
                redraws_fp64 += 1
            elif single and rid != "alora_absent" and ids == greedy(base, prompt)[0]:
                redraws_same += 1
            else:
                break
            assert redraws_gap + redraws_same + redraws_fp64 < MAX_REDRAWS, f"{spec['name']}/{rid}: too many redraws"
        stats["gap"] += redraws_gap
        stats["same"] += redraws_same
        stats["fp64"] += redraws_fp64
        if redraws_gap or redraws_same or redraws_fp64:
            print(f"    row {rid}: {redraws_gap} redraw(s) for small top-2 gap, "
                  f"{redraws_same} for output equal to base" +
                  (f", {redraws_fp64} for float32 vs float64 first logits" if redraws_fp64 else ""))
        rows.append({
            "id": rid,
            "adapters": [{"name": a, "weight": float(w)} for a, w in adapters],
            "prompt_ids": prompt,
            "max_new_tokens": MAX_NEW_TOKENS,
            "greedy_ids": ids,
            "first_logits": float32_text(first),
        })
        check_row_lengths(spec, rows[-1], lengths is long, lengths is cross)
    return rows, base


@torch.no_grad()
def fp64_rel(model64, prompt, first):
    """max|float32 first logits - float64 ones| / max|float32 first logits|, same model in float64."""
    ref = model64(input_ids=torch.tensor([prompt]), use_cache=False).logits[0, -1]
    return float((first.double() - ref).abs().max() / first.abs().max())


def check_row_lengths(spec, row, is_long, is_cross=False):
    n = len(row["prompt_ids"])
    window = spec.get("cfg", {}).get("sliding_window", spec.get("cfg", {}).get("window_size"))
    if window is not None:
        assert n > window, (spec["name"], row["id"], n, window)
    if "short_total_max" in spec:
        if is_cross:
            assert n <= spec["short_total_max"] < n + MAX_NEW_TOKENS - 1, (spec["name"], row["id"], n)
        elif is_long:
            assert n > spec["short_total_max"], (spec["name"], row["id"], n)
        else:
            assert n + MAX_NEW_TOKENS <= spec["short_total_max"], (spec["name"], row["id"], n)


# ---------------------------------------------------------------- feature checks

@torch.no_grad()
def zero_score_correction(model):
    """GLM-4-MoE without its routers' per-expert score correction (e_score_correction_bias, a buffer)."""
    n = 0
    for name, b in list(model.named_buffers()) + list(model.named_parameters()):
        if name.endswith("e_score_correction_bias"):
            b.zero_()
            n += 1
    assert n, "no e_score_correction_bias"


@torch.no_grad()
def default_xielu_beta(model):
    """Apertus with every xIELU's beta buffer back at XIELUActivation's default 0.5."""
    n = 0
    for name, b in model.named_buffers():
        if name.endswith("act_fn.beta"):
            b.fill_(0.5)
            n += 1
    assert n, "no xIELU beta"


def variant_model(mdir, change, tmp):
    """The model of mdir with its config.json changed by change(dict), loaded the same way as the reference."""
    vdir = Path(tmp) / "model"
    shutil.rmtree(vdir, ignore_errors=True)
    vdir.mkdir(parents=True)
    for f in os.listdir(mdir):
        if (mdir / f).is_file():
            shutil.copyfile(mdir / f, vdir / f)
    cfg = json.loads((mdir / "config.json").read_text())
    change(cfg)
    write_json(vdir / "config.json", cfg)
    return load_model(vdir)


def variant_adapter(path, fn, base, tmp):
    """The adapter at path with (config, tensors) changed by fn, as a fresh PEFT model on base."""
    vdir = Path(tmp) / "adapter"
    shutil.rmtree(vdir, ignore_errors=True)
    vdir.mkdir(parents=True)
    cfg = json.loads((path / "adapter_config.json").read_text())
    cfg, tensors = fn(cfg, load_file(path / "adapter_model.safetensors"), base.state_dict())
    write_json(vdir / "adapter_config.json", cfg)
    save_file({k: v.contiguous() for k, v in tensors.items()}, vdir / "adapter_model.safetensors")
    name = path.name
    return PeftModel.from_pretrained(copy.deepcopy(base), vdir, adapter_name=name).eval()


def row_kind(row):
    return "long" if row["id"].endswith("_long") else "short"


@torch.no_grad()
def check_features(spec, out, rows, base, report):
    """Each feature-off variant of spec["offs"] must change every row it concerns: its greedy ids, or its first
    logits by at least min_rel (default FEATURE_MIN_REL) of max|logit|. Variants marked info are only printed."""
    mdir = out / spec["name"]
    for off in spec.get("offs", []):
        min_rel = off.get("min_rel", FEATURE_MIN_REL)
        with tempfile.TemporaryDirectory() as tmp:
            if "config" in off or "model_fn" in off:
                variant = variant_model(mdir, off.get("config", lambda c: None), tmp)
                if "model_fn" in off:
                    off["model_fn"](variant)
                todo = [r for r in rows if off.get("rows", "all") in ("all", row_kind(r))]
                models = {}
                for r in todo:
                    name = r["adapters"][0]["name"] if r["adapters"] else None
                    if name not in models:
                        models[name] = variant if name is None else load_peft(variant, mdir / "adapters" / name, name)
            else:
                todo = [r for r in rows if [a["name"] for a in r["adapters"]] == [off["adapter"]]]
                models = {off["adapter"]: variant_adapter(mdir / "adapters" / off["adapter"], off["fn"], base, tmp)}
            assert todo, (spec["name"], off["what"])
            rels, changed = [], 0
            for r in todo:
                model = models[r["adapters"][0]["name"] if r["adapters"] else None]
                ids, first, _ = greedy(model, r["prompt_ids"])
                ref = torch.tensor(r["first_logits"])
                rel = float((first - ref).abs().max() / ref.abs().max())
                rels.append(rel)
                changed += ids != r["greedy_ids"]
                assert off.get("info") or ids != r["greedy_ids"] or rel >= min_rel, \
                    f"{spec['name']}: {off['what']} hardly changes row {r['id']} (rel {rel:.2e})"
        line = (f"{off['what']}: {len(todo)} row(s), greedy ids changed in {changed}, "
                f"first-logit change {min(rels):.2e}..{max(rels):.2e} of max|logit|")
        print(f"    off-check {line}")
        if not off.get("info"):
            report.append(line)


def case_notes(spec, rows, base):
    notes = dict(spec.get("notes", {}))
    if "long_prompt_len" in spec:
        notes["longrope"] = (
            f"rows whose id ends in _long have prompts longer than original_max_position_embeddings "
            f"({spec['short_total_max']}): transformers uses long_factor for every position from the first step. "
            f"The other rows keep prompt + max_new_tokens <= {spec['short_total_max']} and use short_factor "
            f"throughout. attention_factor scales cos and sin in both.")
        notes["long_rows"] = [r["id"] for r in rows if row_kind(r) == "long"]
        notes["short_rows"] = [r["id"] for r in rows if row_kind(r) == "short"]
        # transformers: factor = max_position_embeddings / original_max_position_embeddings (no "factor" key),
        # attention_factor = sqrt(1 + ln(factor) / ln(original_max_position_embeddings))
        notes["attention_factor"] = float(base.model.rotary_emb.attention_scaling)
    if "cross_prompt_len" in spec:
        notes["longrope_cross"] = (
            f"rows whose id ends in _cross have prompts within original_max_position_embeddings "
            f"({spec['short_total_max']}) and generate past it: Phi-3's generation drops its cache on the step "
            f"that crosses it and recomputes every position with long_factor (the reference recomputes every step)")
        notes["cross_rows"] = [r["id"] for r in rows if r["id"].endswith("_cross")]
    if "embed_lora" in spec["adapters"]:
        notes["embed_lora"] = (
            "adapter_model.safetensors also holds base_model.model.model.embed_tokens.base_layer.weight, an exact "
            "copy of the base model's embed_tokens (PEFT save_embedding_layers='auto' saves a targeted embedding)")
    if any(adapter_kwargs(spec, a).get("modules_to_save") for a in spec["adapters"]):
        notes["modules_to_save"] = (
            "the saved copy (base_model.model.<module>.weight) replaces the module while that adapter is active")
    return notes


def case_features(spec):
    feats = list(spec["features"])
    for a in spec["adapters"]:
        feats += [f for f in ADAPTERS[a][1] if f not in feats]
    if spec["mixes"]:
        feats.append("weighted_mix")
        if any(w < 0 for mix in spec["mixes"] for _, w in mix):
            feats.append("negative_weight")
    return feats


def float32_text(t):
    """A float32 tensor's values as the shortest decimals that read back as the same float32s (numpy's
    repr), not as the 17-digit doubles they widen to: cases.json stays a third smaller, and Java's
    Float.parseFloat gives back every bit."""
    assert t.dtype == torch.float32, t.dtype
    return [float(str(v)) for v in t.numpy()]


def dump_cases(cases):
    """cases.json with one line per row (keeps diffs readable and the file small)."""
    lines = ['{"cases": [']
    for ci, case in enumerate(cases):
        head = {k: v for k, v in case.items() if k != "rows"}
        lines.append("  " + json.dumps(head)[:-1] + ', "rows": [')
        for ri, row in enumerate(case["rows"]):
            lines.append("    " + json.dumps(row) + ("," if ri < len(case["rows"]) - 1 else ""))
        lines.append("  ]}" + ("," if ci < len(cases) - 1 else ""))
    lines.append("]}")
    return "\n".join(lines) + "\n"


def check_shape_args(ap, args, shapes):
    if min(list(shapes.values()) + [args.max_new_tokens, args.prompt_max]) < 1:
        ap.error("shape flags must be positive")
    if args.layers < 3:
        ap.error("--layers must be >= 3 (adapters name layers 0, 1 and 2)")
    if args.hidden % args.heads or (args.hidden // args.heads) % 2:
        ap.error("--hidden must be a multiple of --heads with an even hidden/heads (RoPE head size)")
    kv = args.heads // args.gqa_group
    if args.heads % args.gqa_group or not 1 < kv < args.heads:
        ap.error(f"--heads {args.heads} / --gqa-group {args.gqa_group} must give a whole number of KV heads "
                 f"strictly between 1 and heads, so the GQA models stay GQA")
    if args.head_dim_override % 2 or args.head_dim_override == args.hidden // args.heads:
        ap.error(f"--head-dim-override must be even and differ from hidden/heads = {args.hidden // args.heads}")
    if args.max_position % LLAMA3_ORIGINAL_DIV:
        ap.error(f"--max-position must be a multiple of {LLAMA3_ORIGINAL_DIV}")
    if args.prompt_max < PROMPT_MIN_LEN:
        ap.error(f"--prompt-max must be >= {PROMPT_MIN_LEN}")
    if args.prompt_max + args.max_new_tokens > args.max_position:
        # beyond max_position_embeddings dynamic NTK would change frequencies mid-row
        ap.error("--prompt-max + --max-new-tokens must not exceed --max-position")


def check_selected_args(ap, args, selected):
    """Limits that only concern some of the later models."""
    names = {s["name"] for s in selected}
    if any("prompt_len" in s for s in selected) and \
            max(WINDOW_PROMPT_MIN, args.prompt_max) + args.max_new_tokens > args.max_position:
        ap.error(f"the sliding-window models need max({WINDOW_PROMPT_MIN}, --prompt-max) + --max-new-tokens "
                 f"<= --max-position")
    if "phi3" in names:
        original = args.max_position // LONGROPE_ORIGINAL_DIV
        if original - args.max_new_tokens < PROMPT_MIN_LEN:
            ap.error(f"phi3 needs --max-position / {LONGROPE_ORIGINAL_DIV} - --max-new-tokens >= {PROMPT_MIN_LEN} "
                     f"(short longrope rows keep prompt + output within original_max_position_embeddings)")
        if original + LONG_PROMPT_OFFSETS[1] + args.max_new_tokens > args.max_position:
            ap.error(f"phi3 long rows need --max-position / {LONGROPE_ORIGINAL_DIV} + {LONG_PROMPT_OFFSETS[1]} "
                     f"+ --max-new-tokens <= --max-position")


def select_models(ap, all_specs, arg):
    """The specs named by --models (comma-separated), in the script's order; all when not given."""
    if arg is None:
        return all_specs
    names = [n.strip() for n in arg.split(",") if n.strip()]
    known = [s["name"] for s in all_specs]
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        ap.error(f"--models: unknown or no model names {unknown or names}; known: {','.join(known)}")
    return [s for s in all_specs if s["name"] in names]


def main():
    global MAX_NEW_TOKENS, PROMPT_MAX_LEN
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    d = DEFAULT_SHAPES
    shape = ap.add_argument_group("model shapes (defaults = the committed fixtures)")
    shape.add_argument("--hidden", type=int, default=d["hidden"], help="hidden_size (default %(default)s)")
    shape.add_argument("--intermediate", type=int, default=d["intermediate"],
                       help="intermediate_size (default %(default)s)")
    shape.add_argument("--layers", type=int, default=d["layers"],
                       help="num_hidden_layers, >= 3 (default %(default)s)")
    shape.add_argument("--heads", type=int, default=d["heads"], help="num_attention_heads (default %(default)s)")
    shape.add_argument("--gqa-group", "--kv-heads-scale", dest="gqa_group", type=int, default=d["gqa_group"],
                       help="query heads per KV head in the GQA models: they get heads/N KV heads; mistral "
                            "keeps 1 (MQA), llama_attn_bias_headdim keeps heads (MHA) (default %(default)s)")
    shape.add_argument("--head-dim-override", type=int, default=d["head_dim_override"],
                       help="explicit head_dim of llama_attn_bias_headdim and qwen3; even, != hidden/heads "
                            "(default %(default)s)")
    shape.add_argument("--max-position", type=int, default=d["max_position"],
                       help="max_position_embeddings, a multiple of 8; llama3 / yarn "
                            "original_max_position_embeddings are 1/8 and 1/4 of it (default %(default)s)")
    shape.add_argument("--max-new-tokens", type=int, default=MAX_NEW_TOKENS,
                       help="greedy tokens per row (default %(default)s)")
    shape.add_argument("--prompt-max", type=int, default=PROMPT_MAX_LEN,
                       help=f"longest prompt, >= {PROMPT_MIN_LEN} (default %(default)s)")
    ap.add_argument("--models", metavar="NAME,NAME,...",
                    help="write only these model cases (cases.json holds them in the script's order); "
                         "default: all models")
    args = ap.parse_args()
    shapes = {k: getattr(args, k) for k in DEFAULT_SHAPES}
    check_shape_args(ap, args, shapes)
    MAX_NEW_TOKENS, PROMPT_MAX_LEN = args.max_new_tokens, args.prompt_max
    all_models = model_specs(shapes, args.seed)
    models = select_models(ap, all_models, args.models)
    check_selected_args(ap, args, models)
    t0 = time.time()
    torch.manual_seed(args.seed)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    # every model folder the script knows goes, so OUT holds exactly the cases of cases.json
    for spec in all_models:
        if (out / spec["name"]).exists():
            shutil.rmtree(out / spec["name"])
    for f in ("cases.json", "VERSIONS.json"):
        if (out / f).exists():
            (out / f).unlink()

    write_json(out / "VERSIONS.json", {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "seed": args.seed,
    })

    stats = {"gap": 0, "same": 0, "fp64": 0}
    feature_report = []
    cases = []
    selected = {s["name"] for s in models}
    scratch = tempfile.TemporaryDirectory()
    for spec in models:
        print(f"[{time.time() - t0:6.1f}s] {spec['name']}")
        if "v4_of" in spec:
            src_spec = next(s for s in all_models if s["name"] == spec["v4_of"])
            src_root = out
            if src_spec["name"] not in selected:
                # the v4 copy needs its source model: build it (same draws) outside OUT
                src_root = Path(scratch.name)
                if not (src_root / src_spec["name"]).exists():
                    build_source_model(src_spec, args.seed, src_root, shapes)
            build_v4_model(spec, out, src_root)
            verify_v4(spec, out, args.seed, src_root)
            arch = ARCH[src_spec["arch"]][2]
        else:
            build_source_model(spec, args.seed, out, shapes)
            arch = ARCH[spec["arch"]][2]
        rows, base = make_rows(spec, out, args.seed, stats)
        assert len({r["id"] for r in rows}) == len(rows)
        check_features(spec, out, rows, base, feature_report)
        case = {"model": spec["name"], "architecture": arch, "features": case_features(spec)}
        # every module path of the base model, as PEFT's target matching walks them
        case["modules"] = sorted(n for n, _ in load_model(out / spec["name"]).named_modules() if n)
        notes = case_notes(spec, rows, base)
        if notes:
            case["notes"] = notes
        case["rows"] = rows
        cases.append(case)

    scratch.cleanup()
    (out / "cases.json").write_text(dump_cases(cases))
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    nrows = sum(len(c["rows"]) for c in cases)
    print(f"[{time.time() - t0:6.1f}s] wrote {len(cases)} cases, {nrows} rows to {out}")
    print(f"prompt redraws: {stats['gap']} for small top-2 gap, {stats['same']} for adapter output equal to base, "
          f"{stats['fp64']} for float32 first logits off the float64 ones by > {FP64_MAX_REL:g}")
    print(f"feature-off checks passed: {len(feature_report)}")
    print(f"total size: {total} bytes ({total / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
