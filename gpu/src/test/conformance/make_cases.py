#!/usr/bin/env python3
"""Generate LoRA-serving conformance fixtures with Hugging Face transformers + PEFT.

Writes tiny random float32 causal LMs (several architectures / RoPE variants / config layouts),
PEFT LoRA adapters for them (plain, rsLoRA, rank/alpha patterns, layer subsets, regex targets,
excluded modules, LoRA bias), and reference greedy outputs + first-step logits for a set of
prompts, computed by transformers/PEFT on CPU.

Everything random is derived from --seed; re-running with the same seed reproduces the same
files. Not run by CI: the outputs are committed under gpu/src/test/resources/conformance/.

Usage:
    python make_cases.py [--seed N] [--out DIR] [shape flags, see --help]
The shape flags (--hidden, --intermediate, --layers, --heads, --gqa-group, --head-dim-override,
--max-position, --max-new-tokens, --prompt-max) default to the shapes of the committed fixtures.
See README.md next to this file for the output format.
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
import shutil
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
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

transformers.utils.logging.disable_progress_bar()
# Known, harmless PEFT warnings: lora_B.bias on a bias-free base layer (we never merge those), and
# the save-time ZeRO-3/FSDP shard heuristic that flags every 1-D tensor, including lora_B.bias.
warnings.filterwarnings("ignore", message=r".*`lora_bias=True` was passed but the targeted layer")
warnings.filterwarnings("ignore", message=r".*LoRA tensor\(s\) have invalid shape")

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
MAX_REDRAWS = 200

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
}
ALL_ADAPTERS = list(ADAPTERS)
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


def model_specs(shapes):
    """name, arch, config overrides, model feature tags, adapters, mixes, v4_of -- for the given shapes.

    KV heads keep each model's attention kind: GQA models use heads / gqa_group, mistral 1 (MQA),
    llama_attn_bias_headdim all heads (MHA).

    New models go at the END of the list: every random draw comes from generator(seed, <tag>, name, ...),
    so appending a model leaves the files of all earlier models byte-identical."""
    heads = shapes["heads"]
    gqa_kv = heads // shapes["gqa_group"]
    head_dim = shapes["head_dim_override"]
    yarn_original = shapes["max_position"] // int(YARN_FACTOR)
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
    ]


# ---------------------------------------------------------------- helpers

def generator(seed, *tags):
    """A torch.Generator derived from the seed and a tag path (stable across runs)."""
    digest = hashlib.sha256(("/".join([str(seed)] + [str(t) for t in tags])).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))


def randn(shape, std, gen, mean=0.0):
    return torch.randn(shape, generator=gen, dtype=torch.float32) * std + mean


@torch.no_grad()
def reinit_model(model, gen):
    for name, p in model.named_parameters():
        if name.endswith(".bias"):
            p.copy_(randn(p.shape, BIAS_STD, gen))
        elif "norm" in name:
            p.copy_(randn(p.shape, NORM_STD, gen, mean=1.0))
        else:
            p.copy_(randn(p.shape, MATRIX_STD, gen))


@torch.no_grad()
def reinit_lora(peft_model, adapter, gen):
    n = 0
    for _, mod in peft_model.named_modules():
        if isinstance(mod, LoraLayer) and adapter in mod.lora_A:
            mod.lora_A[adapter].weight.copy_(randn(mod.lora_A[adapter].weight.shape, LORA_A_STD, gen))
            b = mod.lora_B[adapter]
            b.weight.copy_(randn(b.weight.shape, LORA_B_STD, gen))
            if b.bias is not None:
                b.bias.copy_(randn(b.bias.shape, LORA_BIAS_STD, gen))
            n += 1
    assert n > 0, f"adapter {adapter}: no LoRA layers"


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
def greedy(model, prompt):
    """Manual greedy loop without KV cache. Returns (new ids, first-step logits, min relative gap)."""
    ids = torch.tensor([prompt], dtype=torch.long)
    new, first, min_gap = [], None, float("inf")
    for _ in range(MAX_NEW_TOKENS):
        logits = model(input_ids=ids, use_cache=False).logits[0, -1].to(torch.float32)
        if first is None:
            first = logits.clone()
        top2 = torch.topk(logits, 2).values
        min_gap = min(min_gap, float((top2[0] - top2[1]) / logits.abs().max()))
        nxt = int(torch.argmax(logits))
        new.append(nxt)
        ids = torch.cat([ids, torch.tensor([[nxt]], dtype=torch.long)], dim=1)
    return new, first, min_gap


def draw_prompt(gen):
    n = int(torch.randint(PROMPT_MIN_LEN, PROMPT_MAX_LEN + 1, (1,), generator=gen))
    return torch.randint(PROMPT_MIN_ID, VOCAB, (n,), generator=gen).tolist()


# ---------------------------------------------------------------- build

def build_source_model(spec, seed, out, shapes):
    config_cls, model_cls, _ = ARCH[spec["arch"]]
    kwargs = common_config(shapes)
    kwargs.update(spec["cfg"])
    config = config_cls(attn_implementation="eager", **kwargs)
    check_config(spec, config, shapes)
    model = model_cls(config).eval()
    if "qk_norm" in spec["features"]:
        check_qk_norm(spec, model)
    reinit_model(model, generator(seed, "weights", spec["name"]))
    if "generation_eos" in spec:
        model.generation_config.eos_token_id = list(spec["generation_eos"])
    mdir = out / spec["name"]
    model.save_pretrained(mdir, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(TOKENIZER_DIR / f, mdir / f)

    adir = mdir / "adapters"
    for name in spec["adapters"]:
        kw, _ = ADAPTERS[name]
        pm = get_peft_model(copy.deepcopy(model), LoraConfig(task_type=None, **kw), adapter_name=name)
        reinit_lora(pm, name, generator(seed, "adapter", spec["name"], name))
        if name == "patterns":
            check_patterns(pm, name)
        if name in LAYER_SUBSET_MODULES:
            check_layer_subset(pm, name, LAYER_SUBSET_MODULES[name])
        pm.save_pretrained(adir, selected_adapters=[name], safe_serialization=True)
        readme = adir / "README.md"
        if readme.exists():
            readme.unlink()
        assert sorted(os.listdir(adir / name)) == ["adapter_config.json", "adapter_model.safetensors"], \
            os.listdir(adir / name)
    return mdir


def check_config(spec, config, shapes):
    """The shape flags give what was asked for, and each model keeps its attention kind and RoPE setup."""
    heads, kv = config.num_attention_heads, config.num_key_value_heads
    assert (config.hidden_size, config.intermediate_size, config.num_hidden_layers, heads) == \
        (shapes["hidden"], shapes["intermediate"], shapes["layers"], shapes["heads"]), spec["name"]
    feats = spec["features"]
    if "mqa" in feats:
        assert kv == 1, (spec["name"], kv)
    elif "mha" in feats:
        assert kv == heads, (spec["name"], kv)
    else:
        assert "gqa" in feats and 1 < kv < heads and heads % kv == 0, (spec["name"], heads, kv)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    assert head_dim % 2 == 0, (spec["name"], head_dim)
    if "head_dim" in spec["cfg"]:
        assert head_dim == shapes["head_dim_override"] != config.hidden_size // heads, (spec["name"], head_dim)
    rope = config.rope_parameters
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


def build_v4_model(spec, out):
    src, dst = out / spec["v4_of"], out / spec["name"]
    shutil.copytree(src, dst)
    cfg = json.loads((src / "config.json").read_text())
    write_json(dst / "config.json", to_v4_config(cfg))
    return dst


@torch.no_grad()
def verify_v4(spec, out, seed):
    src, dst = load_model(out / spec["v4_of"]), load_model(out / spec["name"])
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
        assert not peft_model.peft_config[adapter].lora_bias, "no mixes with lora_bias adapters"
        for name, mod in lora_modules(peft_model, adapter):
            lin = merged.get_submodule(name)
            lin.weight += w * mod.get_delta_weight(adapter).to(lin.weight.dtype)
    return merged.eval()


def make_rows(spec, out, seed, stats):
    mdir = out / spec["name"]
    base = load_model(mdir)
    pm = None
    for i, name in enumerate(spec["adapters"]):
        path = mdir / "adapters" / name
        if pm is None:
            pm = PeftModel.from_pretrained(copy.deepcopy(base), path, adapter_name=name)
        else:
            pm.load_adapter(path, adapter_name=name)
    if pm is not None:
        pm.eval()

    # sanity: merging a single adapter with weight 1 reproduces PEFT's own forward
    for mix in spec["mixes"]:
        adapter = mix[0][0]
        pm.set_adapter(adapter)
        prompt = draw_prompt(generator(seed, "mergecheck", spec["name"], adapter))
        ids = torch.tensor([prompt])
        with torch.no_grad():
            a = pm(input_ids=ids, use_cache=False).logits[0, -1]
            b = merged_model(base, pm, [(adapter, 1.0)])(input_ids=ids, use_cache=False).logits[0, -1]
        diff = float((a - b).abs().max())
        assert diff < 1e-4 * max(1.0, float(a.abs().max())), f"merge check {spec['name']}/{adapter}: {diff}"

    jobs = [("base", [], base)]
    for name in spec["adapters"]:
        jobs.append((name, [(name, 1.0)], None))
    for mix in spec["mixes"]:
        rid = "mix_" + "_".join(f"{a}{w:+g}" for a, w in mix)
        jobs.append((rid, mix, merged_model(base, pm, mix)))

    rows = []
    for rid, adapters, model in jobs:
        gen = generator(seed, "prompt", spec["name"], rid)
        single = len(adapters) == 1 and model is None
        if single:
            pm.set_adapter(adapters[0][0])
            model = pm
        redraws_gap = redraws_same = 0
        while True:
            prompt = draw_prompt(gen)
            ids, first, gap = greedy(model, prompt)
            if gap < GAP_REL:
                redraws_gap += 1
            elif single and ids == greedy(base, prompt)[0]:
                redraws_same += 1
            else:
                break
            assert redraws_gap + redraws_same < MAX_REDRAWS, f"{spec['name']}/{rid}: too many redraws"
        stats["gap"] += redraws_gap
        stats["same"] += redraws_same
        if redraws_gap or redraws_same:
            print(f"    row {rid}: {redraws_gap} redraw(s) for small top-2 gap, "
                  f"{redraws_same} for output equal to base")
        rows.append({
            "id": rid,
            "adapters": [{"name": a, "weight": float(w)} for a, w in adapters],
            "prompt_ids": prompt,
            "max_new_tokens": MAX_NEW_TOKENS,
            "greedy_ids": ids,
            "first_logits": [float(x) for x in first.tolist()],
        })
    return rows


def case_features(spec):
    feats = list(spec["features"])
    for a in spec["adapters"]:
        feats += [f for f in ADAPTERS[a][1] if f not in feats]
    if spec["mixes"]:
        feats.append("weighted_mix")
        if any(w < 0 for mix in spec["mixes"] for _, w in mix):
            feats.append("negative_weight")
    return feats


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
    args = ap.parse_args()
    shapes = {k: getattr(args, k) for k in DEFAULT_SHAPES}
    check_shape_args(ap, args, shapes)
    MAX_NEW_TOKENS, PROMPT_MAX_LEN = args.max_new_tokens, args.prompt_max
    models = model_specs(shapes)
    t0 = time.time()
    torch.manual_seed(args.seed)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for spec in models:
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

    stats = {"gap": 0, "same": 0}
    cases = []
    for spec in models:
        print(f"[{time.time() - t0:6.1f}s] {spec['name']}")
        if "v4_of" in spec:
            build_v4_model(spec, out)
            verify_v4(spec, out, args.seed)
            arch = ARCH[next(s for s in models if s["name"] == spec["v4_of"])["arch"]][2]
        else:
            build_source_model(spec, args.seed, out, shapes)
            arch = ARCH[spec["arch"]][2]
        rows = make_rows(spec, out, args.seed, stats)
        assert len({r["id"] for r in rows}) == len(rows)
        cases.append({"model": spec["name"], "architecture": arch, "features": case_features(spec), "rows": rows})

    (out / "cases.json").write_text(dump_cases(cases))
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    nrows = sum(len(c["rows"]) for c in cases)
    print(f"[{time.time() - t0:6.1f}s] wrote {len(cases)} cases, {nrows} rows to {out}")
    print(f"prompt redraws: {stats['gap']} for small top-2 gap, {stats['same']} for adapter output equal to base")
    print(f"total size: {total} bytes ({total / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
