#!/usr/bin/env python3
"""Random config fuzz: tiny models of the supported architectures with random config fields, and
random PEFT LoRA adapters for them, saved by save_pretrained, and random generation defaults
(generation_config.json, or config.json's generation fields); the engine (scripts/generate.sh) must give
transformers + PEFT's greedy tokens (and generate()'s tokens for a request that leaves the sampling
fields to the model) or refuse the files by name. Not run by CI (the cases it found are
committed as conformance models by make_cases.py).

Usage: python fuzz_configs.py SEED COUNT WORKDIR   (cases that match are deleted; the others stay)
Prints per case: OK, REFUSED (generate.sh named what it refuses), BAD (tokens differ), or HF / PEFT
(the libraries themselves refused the drawn config). Gemma 2 references use eager attention (README).
"""
import os, sys, json, random, shutil, subprocess, warnings
from pathlib import Path
import torch
warnings.filterwarnings("ignore")
torch.set_num_threads(1)
import transformers
from transformers import (LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM, MistralConfig,
    MistralForCausalLM, Qwen3Config, Qwen3ForCausalLM, GemmaConfig, GemmaForCausalLM, Gemma2Config,
    Gemma2ForCausalLM, Phi3Config, Phi3ForCausalLM, Gemma3TextConfig, Gemma3ForCausalLM,
    GraniteConfig, GraniteForCausalLM, SmolLM3Config, SmolLM3ForCausalLM,
    Olmo2Config, Olmo2ForCausalLM, Olmo3Config, Olmo3ForCausalLM, MinistralConfig, MinistralForCausalLM,
    HeliumConfig, HeliumForCausalLM, Ernie4_5Config, Ernie4_5ForCausalLM, SeedOssConfig, SeedOssForCausalLM,
    GlmConfig, GlmForCausalLM, Glm4Config, Glm4ForCausalLM, Exaone4Config, Exaone4ForCausalLM,
    CohereConfig, CohereForCausalLM, StableLmConfig, StableLmForCausalLM, OlmoConfig, OlmoForCausalLM,
    Starcoder2Config, Starcoder2ForCausalLM, PhiConfig, PhiForCausalLM, NemotronConfig, NemotronForCausalLM,
    ArceeConfig, ArceeForCausalLM, Jais2Config, Jais2ForCausalLM, HunYuanDenseV1Config,
    HunYuanDenseV1ForCausalLM, VaultGemmaConfig, VaultGemmaForCausalLM, NanoChatConfig, NanoChatForCausalLM,
    FlexOlmoConfig, FlexOlmoForCausalLM, PersimmonConfig, PersimmonForCausalLM, Ministral3Config,
    Ministral3ForCausalLM, CwmConfig, CwmForCausalLM, Cohere2Config, Cohere2ForCausalLM, GPTNeoXConfig, GPTNeoXForCausalLM,
    GPT2Config, GPT2LMHeadModel, OPTConfig, OPTForCausalLM, GPTBigCodeConfig, GPTBigCodeForCausalLM,
    BloomConfig, BloomForCausalLM, GPTJConfig, GPTJForCausalLM, GPTNeoConfig, GPTNeoForCausalLM,
    FalconConfig, FalconForCausalLM, MptConfig, MptForCausalLM, CodeGenConfig, CodeGenForCausalLM,
    MixtralConfig, MixtralForCausalLM, Qwen3MoeConfig, Qwen3MoeForCausalLM, Qwen2MoeConfig, Qwen2MoeForCausalLM, Glm4MoeConfig, Glm4MoeForCausalLM, Dots1Config, Dots1ForCausalLM, ApertusConfig, ApertusForCausalLM, Ernie4_5_MoeConfig,
    Ernie4_5_MoeForCausalLM,
    GptOssConfig, GptOssForCausalLM, GraniteMoeConfig, GraniteMoeForCausalLM,
    GraniteMoeSharedConfig, GraniteMoeSharedForCausalLM,
    OlmoeConfig, OlmoeForCausalLM)
from peft import LoraConfig, get_peft_model, PeftModel
from transformers import AutoTokenizer
transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

REPO = Path(__file__).resolve().parents[4]
TOK = REPO / "models" / "stories260k" / "tokenizer.json"
TOKCFG = REPO / "models" / "stories260k" / "tokenizer_config.json"
GENERATE = str(REPO / "scripts" / "generate.sh")
V = 512
ARCH = dict(llama=(LlamaConfig, LlamaForCausalLM), qwen2=(Qwen2Config, Qwen2ForCausalLM),
            mistral=(MistralConfig, MistralForCausalLM), qwen3=(Qwen3Config, Qwen3ForCausalLM),
            gemma=(GemmaConfig, GemmaForCausalLM), gemma2=(Gemma2Config, Gemma2ForCausalLM),
            phi3=(Phi3Config, Phi3ForCausalLM), gemma3=(Gemma3TextConfig, Gemma3ForCausalLM),
            granite=(GraniteConfig, GraniteForCausalLM), smollm3=(SmolLM3Config, SmolLM3ForCausalLM),
            olmo2=(Olmo2Config, Olmo2ForCausalLM), olmo3=(Olmo3Config, Olmo3ForCausalLM),
            ministral=(MinistralConfig, MinistralForCausalLM), helium=(HeliumConfig, HeliumForCausalLM),
            ernie4_5=(Ernie4_5Config, Ernie4_5ForCausalLM), seed_oss=(SeedOssConfig, SeedOssForCausalLM),
            glm=(GlmConfig, GlmForCausalLM), glm4=(Glm4Config, Glm4ForCausalLM),
            exaone4=(Exaone4Config, Exaone4ForCausalLM), cohere=(CohereConfig, CohereForCausalLM),
            stablelm=(StableLmConfig, StableLmForCausalLM), olmo=(OlmoConfig, OlmoForCausalLM),
            starcoder2=(Starcoder2Config, Starcoder2ForCausalLM), phi=(PhiConfig, PhiForCausalLM),
            nemotron=(NemotronConfig, NemotronForCausalLM), arcee=(ArceeConfig, ArceeForCausalLM),
            jais2=(Jais2Config, Jais2ForCausalLM), hunyuan_dense=(HunYuanDenseV1Config, HunYuanDenseV1ForCausalLM),
            vaultgemma=(VaultGemmaConfig, VaultGemmaForCausalLM), nanochat=(NanoChatConfig, NanoChatForCausalLM),
            flex_olmo=(FlexOlmoConfig, FlexOlmoForCausalLM), cwm=(CwmConfig, CwmForCausalLM),
            cohere2=(Cohere2Config, Cohere2ForCausalLM), gpt_neox=(GPTNeoXConfig, GPTNeoXForCausalLM),
            persimmon=(PersimmonConfig, PersimmonForCausalLM),
            ministral3=(Ministral3Config, Ministral3ForCausalLM),
            gpt2=(GPT2Config, GPT2LMHeadModel), opt=(OPTConfig, OPTForCausalLM),
            gpt_bigcode=(GPTBigCodeConfig, GPTBigCodeForCausalLM), bloom=(BloomConfig, BloomForCausalLM),
            gptj=(GPTJConfig, GPTJForCausalLM), gpt_neo=(GPTNeoConfig, GPTNeoForCausalLM),
            falcon=(FalconConfig, FalconForCausalLM), mpt=(MptConfig, MptForCausalLM),
            codegen=(CodeGenConfig, CodeGenForCausalLM), mixtral=(MixtralConfig, MixtralForCausalLM),
            qwen3_moe=(Qwen3MoeConfig, Qwen3MoeForCausalLM), olmoe=(OlmoeConfig, OlmoeForCausalLM),
            qwen2_moe=(Qwen2MoeConfig, Qwen2MoeForCausalLM), gpt_oss=(GptOssConfig, GptOssForCausalLM),
            granitemoe=(GraniteMoeConfig, GraniteMoeForCausalLM),
            granitemoeshared=(GraniteMoeSharedConfig, GraniteMoeSharedForCausalLM),
            glm4_moe=(Glm4MoeConfig, Glm4MoeForCausalLM), dots1=(Dots1Config, Dots1ForCausalLM),
            apertus=(ApertusConfig, ApertusForCausalLM),
            ernie4_5_moe=(Ernie4_5_MoeConfig, Ernie4_5_MoeForCausalLM))

def rand_rope(r, maxpos):
    t = r.choice(["default", "default", "linear", "dynamic", "yarn", "llama3"])
    theta = r.choice([10000.0, 500000.0, 1000.0])
    if t == "default":
        return {"rope_type": "default", "rope_theta": theta}
    if t == "linear":
        return {"rope_type": "linear", "rope_theta": theta, "factor": r.choice([2.0, 4.0])}
    if t == "dynamic":
        return {"rope_type": "dynamic", "rope_theta": theta, "factor": r.choice([2.0, 4.0])}
    if t == "yarn":
        d = {"rope_type": "yarn", "rope_theta": theta, "factor": 4.0, "original_max_position_embeddings": maxpos // 4}
        if r.random() < 0.5:
            d["beta_fast"] = 16.0; d["beta_slow"] = 2.0
        if r.random() < 0.3:
            d["attention_factor"] = 1.3
        return d
    return {"rope_type": "llama3", "rope_theta": theta, "factor": 4.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": maxpos // 8}

def rand_model(r, arch):
    heads = r.choice([2, 4])
    hd = r.choice([8, 16])
    hidden = r.choice([32, 48, 64])
    kv = r.choice([h for h in (1, 2, 4) if heads % h == 0 and h <= heads])
    cfg = dict(hidden_size=hidden, intermediate_size=r.choice([48, 64, 96]), num_hidden_layers=r.choice([2, 3]),
               num_attention_heads=heads, num_key_value_heads=kv, vocab_size=V, max_position_embeddings=256,
               bos_token_id=1, eos_token_id=2, tie_word_embeddings=r.random() < 0.5,
               rms_norm_eps=r.choice([1e-5, 1e-6]))
    if arch in ("llama", "qwen3", "gemma", "gemma2", "vaultgemma", "mistral", "granite", "smollm3", "olmo2", "olmo3") and r.random() < 0.6:
        cfg["head_dim"] = hd
    if arch != "phi3" and arch not in ("gemma", "gemma2", "vaultgemma", "gemma3", "gpt2", "opt", "gpt_bigcode", "bloom", "gptj",
                                       "gpt_neo", "codegen"):
        cfg["rope_parameters"] = rand_rope(r, 256)
    if arch == "gemma3":
        # Gemma 2's block, per-head (1 + w) q/k norms, one rotary embedding per layer type
        cfg["head_dim"] = hd
        cfg["sliding_window"] = r.choice([4, 6]); cfg["query_pre_attn_scalar"] = r.choice([16, 24])
        cfg["final_logit_softcapping"] = r.choice([None, None, 5.0])
        if r.random() < 0.1:  # transformers 5 ignores it, Google's code applies it: refused by name
            cfg["attn_logit_softcapping"] = 2.0
        local = {"rope_type": "default", "rope_theta": r.choice([10000.0, 1000.0])}
        if r.random() < 0.2:
            local = rand_rope(r, 256)
        cfg["rope_parameters"] = {"full_attention": rand_rope(r, 256), "sliding_attention": local}
        if r.random() < 0.5:
            cfg["layer_types"] = [r.choice(["sliding_attention", "full_attention"]) for _ in range(cfg["num_hidden_layers"])]
        else:
            cfg["sliding_window_pattern"] = r.choice([2, 3, 6])
    if arch == "llama":
        cfg["attention_bias"] = r.random() < 0.4
        cfg["mlp_bias"] = r.random() < 0.3
        cfg["hidden_act"] = r.choice(["silu", "silu", "gelu", "gelu_pytorch_tanh", "swish", "relu"])
    if arch == "qwen3":
        cfg["attention_bias"] = r.random() < 0.3
    if arch in ("olmo2", "olmo3"):
        cfg["pad_token_id"] = None
        cfg["attention_bias"] = r.random() < 0.4
    if arch == "helium":
        # a rotary over adjacent pairs; o_proj maps hidden_size, so head_dim is hidden / heads
        cfg["head_dim"] = cfg["hidden_size"] // cfg["num_attention_heads"]
        cfg["pad_token_id"] = None
        cfg["attention_bias"] = r.random() < 0.4
        cfg["mlp_bias"] = r.random() < 0.3
    if arch == "ernie4_5":
        # a rotary over adjacent pairs, use_bias on every projection; head_dim absent is 128, null hidden / heads
        cfg["pad_token_id"] = None
        cfg["use_bias"] = r.random() < 0.4
        choice = r.random()
        if choice < 0.4:
            cfg["head_dim"] = hd
        elif choice < 0.7:
            cfg["head_dim"] = None
        else:
            cfg.pop("head_dim", None)
    if arch == "cohere":
        # parallel block on one LayerNorm, rotary over adjacent pairs, logits times logit_scale
        cfg["pad_token_id"] = None
        cfg.pop("rms_norm_eps")
        cfg["layer_norm_eps"] = r.choice([1e-5, 1e-3])
        cfg["use_qk_norm"] = r.random() < 0.5
        cfg["attention_bias"] = r.random() < 0.4
        cfg["logit_scale"] = r.choice([0.0625, 0.5, 1.0, 3.0])
    if arch == "cohere2":
        # Cohere's parallel block without q/k norms; only the sliding layers rotate (the full ones are NoPE)
        cfg["pad_token_id"] = None
        cfg.pop("rms_norm_eps")
        cfg["layer_norm_eps"] = r.choice([1e-5, 1e-3])
        cfg["attention_bias"] = r.random() < 0.4
        cfg["logit_scale"] = r.choice([0.0625, 0.5, 1.0, 3.0])
        cfg["sliding_window"] = r.choice([4, 6, 6, 4096])
        if r.random() < 0.5:
            cfg["layer_types"] = [r.choice(["sliding_attention", "full_attention"])
                                  for _ in range(cfg["num_hidden_layers"])]
        else:
            cfg["sliding_window_pattern"] = r.choice([2, 3, 4])
    if arch == "stablelm":
        # LayerNorms with a bias, a partial rotary (default a quarter of each head), q/k/v biases,
        # per-head q/k LayerNorms, optionally attention and the MLP side by side
        cfg["pad_token_id"] = None
        cfg.pop("rms_norm_eps")
        cfg["layer_norm_eps"] = r.choice([1e-5, 1e-3])
        cfg["use_qkv_bias"] = r.random() < 0.5
        cfg["qk_layernorm"] = r.random() < 0.5
        cfg["use_parallel_residual"] = r.random() < 0.5
        cfg["hidden_act"] = r.choice(["silu", "silu", "gelu"])
        partial = r.choice([None, 0.25, 0.5, 1.0])
        if partial is not None:
            cfg["rope_parameters"]["partial_rotary_factor"] = partial
    if arch == "olmo":
        # LayerNorms without weight or bias (epsilon fixed), q/k/v/o biases, q, k and v clamped
        cfg["pad_token_id"] = None
        cfg.pop("rms_norm_eps")
        cfg["attention_bias"] = r.random() < 0.4
        cfg["clip_qkv"] = r.choice([None, None, 0.05, 0.2, 8.0])
    if arch == "starcoder2":
        # a gate-less MLP (c_fc, c_proj), use_bias on all six projections, LayerNorms with a bias,
        # every layer windowed when sliding_window is set
        cfg["pad_token_id"] = None
        cfg.pop("rms_norm_eps")
        cfg["norm_epsilon"] = r.choice([1e-5, 1e-3])
        cfg["use_bias"] = r.random() < 0.6
        cfg["sliding_window"] = r.choice([None, None, 4, 6])
        cfg["hidden_act"] = r.choice(["gelu_pytorch_tanh", "gelu_pytorch_tanh", "gelu", "silu", "relu"])
    if arch == "arcee":
        # Llama with a gate-less MLP (up, relu2, down)
        cfg["attention_bias"] = r.random() < 0.4
        cfg["mlp_bias"] = r.random() < 0.3
        cfg["hidden_act"] = r.choice(["relu2", "relu2", "relu", "silu", "gelu"])
    if arch == "hunyuan_dense":
        # Llama's attention with q/k RMSNorms after the rotary; head_dim required (absent: transformers fails);
        # a dynamic rotary with HunYuan's alpha and its checkpoints' unread yarn-style keys
        cfg["pad_token_id"] = r.choice([None, 0])
        if r.random() < 0.95:
            cfg["head_dim"] = r.choice([hd, cfg["hidden_size"] // cfg["num_attention_heads"]])
        cfg["attention_bias"] = r.random() < 0.4
        if r.random() < 0.5:
            cfg["rope_parameters"] = {"rope_type": "dynamic", "rope_theta": r.choice([10000.0, 1000.0]),
                                      "factor": 1.0, "alpha": r.choice([1.0, 10.0, 1000.0])}
            if r.random() < 0.5:
                cfg["rope_parameters"].update(beta_fast=32, beta_slow=1, mscale=1.0, mscale_all_dim=1.0)
    if arch == "nanochat":
        # weightless RMSNorms (one after the embeddings), q/k norms after a reversed rotary, fc1 / fc2, a final cap
        cfg["pad_token_id"] = r.choice([None, 1])
        cfg["attention_bias"] = r.random() < 0.4
        cfg["hidden_act"] = r.choice(["relu2", "relu2", "relu", "silu", "gelu"])
        if r.random() < 0.7:
            cfg["final_logit_softcapping"] = r.choice([None, 15.0, 3.0])
    if arch == "jais2":
        # Arcee's modules behind LayerNorms with a bias, attention and MLP biases on by default
        cfg["pad_token_id"] = None
        cfg.pop("rms_norm_eps")
        if r.random() < 0.7:
            cfg["layer_norm_eps"] = r.choice([1e-5, 1e-3])
        for k in ("attention_bias", "mlp_bias"):
            if r.random() < 0.5:
                cfg[k] = r.random() < 0.6
        cfg["hidden_act"] = r.choice(["relu2", "relu2", "relu", "silu", "gelu"])
    if arch == "nemotron":
        # a gate-less MLP (up, relu2, down) behind LayerNorm1Ps, a partial rotary (default half of each head)
        cfg["pad_token_id"] = None
        cfg.pop("rms_norm_eps")
        cfg["norm_eps"] = r.choice([1e-5, 1e-3])
        cfg["attention_bias"] = r.random() < 0.4
        cfg["mlp_bias"] = r.random() < 0.4
        cfg["hidden_act"] = r.choice(["relu2", "relu2", "relu", "silu", "gelu_pytorch_tanh"])
        partial = r.choice([None, None, 0.25, 0.5, 1.0])
        if partial is not None:
            cfg["rope_parameters"]["partial_rotary_factor"] = partial
    if arch == "gpt_neox":
        # q, k, v fused per head, attention and the MLP side by side on two LayerNorms with a bias (or in
        # sequence), a partial rotary (default a quarter of each head), 4.x rotary names now and then
        cfg["pad_token_id"] = None
        for k in ("rms_norm_eps", "num_key_value_heads"):
            cfg.pop(k)
        cfg["layer_norm_eps"] = r.choice([1e-5, 1e-3])
        cfg["hidden_act"] = r.choice(["gelu", "gelu", "gelu_new", "gelu_fast", "relu", "silu"])
        cfg["use_parallel_residual"] = r.random() < 0.6
        cfg["attention_bias"] = r.random() < 0.7
        partial = r.choice([None, None, 0.25, 0.5, 1.0])
        if partial is not None:
            cfg["rope_parameters"]["partial_rotary_factor"] = partial
    if arch == "ministral3":
        # Mistral's block, every layer windowed when sliding_window is set, Llama 4's query scale (beta and
        # original_max_position_embeddings in the rope parameters; without a beta transformers fails)
        cfg["sliding_window"] = r.choice([None, None, 4, 6])
        cfg["rms_norm_eps"] = r.choice([1e-5, 1e-6])
        if r.random() < 0.3:
            cfg.pop("rope_parameters")  # the class default: yarn, factor 16 over 16384, beta 0.1
        else:
            rope = cfg["rope_parameters"]
            if r.random() < 0.9:
                rope["llama_4_scaling_beta"] = r.choice([0.0, 0.1, 0.5, 1.0])
            if rope["rope_type"] not in ("yarn", "llama3", "longrope") or r.random() < 0.5:
                rope["original_max_position_embeddings"] = r.choice([2, 3, 5, 64])
            if r.random() < 0.3:
                rope["max_position_embeddings"] = 256
    if arch == "persimmon":
        # GPT-NeoX's fused query_key_value under Llama's root, per-head q/k LayerNorms with a bias (default
        # on), attention then the MLP each behind a LayerNorm with a bias, a partial rotary (default half)
        cfg["pad_token_id"] = None
        for k in ("rms_norm_eps", "num_key_value_heads"):
            cfg.pop(k)
        if r.random() < 0.1:  # not PersimmonConfig fields: served at the value its model uses, else refused
            cfg[r.choice(["num_key_value_heads", "head_dim"])] = r.choice([1, 8, cfg["hidden_size"] // heads])
        cfg["layer_norm_eps"] = r.choice([1e-5, 1e-3])
        cfg["hidden_act"] = r.choice(["relu2", "relu2", "gelu", "silu", "relu"])
        cfg["qk_layernorm"] = r.random() < 0.7
        partial = r.choice([None, None, 0.25, 0.5, 1.0])
        if partial is not None:
            cfg["rope_parameters"]["partial_rotary_factor"] = partial
    if arch == "gpt2":
        # GPT2Config's own names (hidden_size and the others are its aliases; the intermediate_size given
        # is saved but unread), Conv1D modules, learned positions, LayerNorms with a bias, its attention
        # scales; odd head widths now and then (no rotary to need even ones)
        cfg["pad_token_id"] = None
        for k in ("rms_norm_eps", "num_key_value_heads"):
            cfg.pop(k)
        if r.random() < 0.2:
            cfg["hidden_size"] = 36
        cfg["n_inner"] = r.choice([None, None, 40, 96])
        cfg["layer_norm_epsilon"] = r.choice([1e-5, 1e-3])
        cfg["activation_function"] = r.choice(["gelu_new", "gelu_new", "gelu", "relu", "gelu_fast",
                                               "gelu_pytorch_tanh", "silu", "quick_gelu"])
        cfg["scale_attn_weights"] = r.random() < 0.8
        cfg["scale_attn_by_inverse_layer_idx"] = r.random() < 0.3
        cfg["reorder_and_upcast_attn"] = r.random() < 0.2
        cfg["max_position_embeddings"] = r.choice([64, 256])
        if r.random() < 0.05:
            cfg["head_dim"] = hd  # not a GPT2Config field: refused by name
    if arch == "codegen":
        # GPT-J's config, block and rotary with a qkv_proj in four shards of whole heads
        cfg["num_attention_heads"] = r.choice([4, 8])
        cfg["hidden_size"] = cfg["num_attention_heads"] * r.choice([8, 16])
    if arch == "mixtral":
        # Mistral's attention and a sparse mixture of experts (the count sometimes under its alias)
        n = r.choice([2, 3, 4, 8])
        cfg["num_local_experts" if r.random() < 0.8 else "num_experts"] = n
        cfg["num_experts_per_tok"] = r.choice([1, 2, 2, n, n + 1 if r.random() < 0.1 else 2])
        if r.random() < 0.3:
            cfg["sliding_window"] = r.choice([None, 4, 16])
        if r.random() < 0.2:
            cfg["router_jitter_noise"] = 0.1  # training only
    if arch == "qwen3_moe":
        # Qwen3's attention and sparse layers (mlp_only_layers, decoder_sparse_step), the expert count
        # sometimes under its alias, renormalized or not, sometimes a window in every layer
        n = r.choice([2, 3, 4, 8])
        cfg["num_experts" if r.random() < 0.8 else "num_local_experts"] = n
        cfg["num_experts_per_tok"] = r.choice([1, 2, 2, n, n + 1 if r.random() < 0.1 else 2])
        cfg["moe_intermediate_size"] = r.choice([16, 24, 40])
        cfg["norm_topk_prob"] = r.random() < 0.5
        if r.random() < 0.4:
            cfg["decoder_sparse_step"] = r.choice([1, 2, 3])
        if r.random() < 0.4:
            cfg["mlp_only_layers"] = r.sample(range(cfg["num_hidden_layers"]), r.randint(0, 2))
        if r.random() < 0.3:
            cfg["use_sliding_window"] = True
            cfg["sliding_window"] = r.choice([None, 4, 16, 4096])
    if arch == "qwen2_moe":
        # Qwen2's attention (qkv_bias), sparse layers with a shared expert behind a sigmoid gate, its own
        # sliding rule (the even layers below max_window_layers)
        n = r.choice([2, 3, 4, 8])
        cfg["num_experts"] = n
        cfg["num_experts_per_tok"] = r.choice([1, 2, 2, n, n + 1 if r.random() < 0.1 else 2])
        cfg["moe_intermediate_size"] = r.choice([16, 24, 40])
        cfg["shared_expert_intermediate_size"] = r.choice([16, 48, 64])
        cfg["norm_topk_prob"] = r.random() < 0.5
        if r.random() < 0.3:
            cfg["qkv_bias"] = False
        if r.random() < 0.3:
            cfg["decoder_sparse_step"] = r.choice([1, 2])
        if r.random() < 0.3:
            cfg["mlp_only_layers"] = r.sample(range(cfg["num_hidden_layers"]), r.randint(0, 1))
        if r.random() < 0.3:
            cfg["use_sliding_window"] = True
            cfg["sliding_window"] = r.choice([4, 16])
            cfg["max_window_layers"] = r.choice([0, 1, 2, 3])
    if arch == "ernie4_5_moe":
        # the dense model's attention (adjacent pairs rotate) and biases, its experts picked by probability plus a
        # correction, shared experts or none, its sparse-layer rule and the sum's clamp; the counts under either name
        n = r.choice([2, 4, 6])
        cfg["moe_num_experts" if r.random() < 0.8 else "num_experts"] = n
        cfg["moe_k" if r.random() < 0.8 else "num_experts_per_tok"] = r.choice([1, 2, 2, n])
        cfg["moe_intermediate_size"] = r.choice([16, 24])
        cfg["moe_num_shared_experts"] = r.choice([0, 1, 2])
        cfg["moe_layer_start_index"] = r.choice([0, 1, 1, 2])
        cfg["moe_layer_interval"] = r.choice([1, 1, 2])
        if r.random() < 0.3:
            cfg["moe_layer_end_index"] = r.choice([-1, 1, 2])
        if r.random() < 0.3:
            cfg["moe_norm_min"] = r.choice([1e-12, 0.5, 0.9])
        cfg["use_bias"] = r.random() < 0.3
    if arch == "apertus":
        # Llama's attention with per-head q/k norms, an MLP without a gate around xIELU (its default) or another
        # activation; the class default rotary (llama3, theta 1.2e7) when the parameters are dropped
        cfg["hidden_act"] = r.choice(["xielu", "xielu", "xielu", "relu2", "silu", "gelu"])
        cfg["attention_bias"] = r.random() < 0.4
        if r.random() < 0.2:
            cfg.pop("rope_parameters")
            cfg["max_position_embeddings"] = 65536
    if arch == "dots1":
        # Qwen3's attention (q/k norms, biases) and its sliding layers (no use_sliding_window), GLM-4-MoE's experts
        # with required counts (Dots1Config's defaults are None)
        n = r.choice([2, 4, 6, 8])
        cfg["n_routed_experts" if r.random() < 0.85 else "num_local_experts"] = n
        cfg["n_group"] = r.choice([1, 1, 2, 3])
        cfg["topk_group"] = r.choice([1, 1, 2])
        cfg["num_experts_per_tok"] = r.choice([1, 2, 2, 3])
        cfg["moe_intermediate_size"] = r.choice([16, 24])
        cfg["n_shared_experts"] = r.choice([1, 1, 2])
        cfg["first_k_dense_replace"] = r.choice([0, 0, 1, 2])
        cfg["routed_scaling_factor"] = r.choice([1.0, 2.5])
        cfg["norm_topk_prob"] = r.random() < 0.5
        cfg["attention_bias"] = r.random() < 0.5
        cfg["sliding_window"] = r.choice([None, 4, 16, 4096])
        cfg["max_window_layers"] = r.choice([0, 1, 2, 62])
        if r.random() < 0.1:
            cfg.pop("n_shared_experts")  # Dots1Config's None: transformers fails, the engine refuses by name
    if arch == "glm4_moe":
        # Llama's attention (q/k/v biases, per-head q/k norms) rotating a leading share of each head (default half);
        # dense layers before first_k_dense_replace; DeepSeek-V3's grouped sigmoid router with a score correction,
        # renormalized and scaled, beside ungated shared experts; sometimes under the count's alias, sometimes
        # what transformers fails on (groups of one expert, too many picked)
        n = r.choice([2, 4, 6, 8])
        cfg["n_routed_experts" if r.random() < 0.85 else "num_local_experts"] = n
        cfg["n_group"] = r.choice([1, 1, 2, 2, 3, 4])
        cfg["topk_group"] = r.choice([1, 1, 2])
        cfg["num_experts_per_tok"] = r.choice([1, 2, 2, 3, n])
        cfg["moe_intermediate_size"] = r.choice([16, 24])
        cfg["n_shared_experts"] = r.choice([1, 1, 2, 0 if r.random() < 0.1 else 1])
        cfg["first_k_dense_replace"] = r.choice([0, 1, 1, 2])
        cfg["routed_scaling_factor"] = r.choice([1.0, 2.5, 0.5])
        cfg["norm_topk_prob"] = r.random() < 0.7
        cfg["use_qk_norm"] = r.random() < 0.5
        cfg["attention_bias"] = r.random() < 0.5
        partial = r.choice([None, None, 0.25, 0.5, 1.0])
        if partial is not None:
            cfg["rope_parameters"]["partial_rotary_factor"] = partial
    if arch == "gpt_oss":
        # sinks, biases, even layers sliding, YaRN by default; a biased router picking by logits, experts with
        # biases and a clamped SwiGLU
        n = r.choice([2, 3, 4, 8])
        cfg["num_local_experts" if r.random() < 0.8 else "num_experts"] = n
        cfg["num_experts_per_tok"] = r.choice([1, 2, 2, n, n + 1 if r.random() < 0.1 else 2])
        cfg["sliding_window"] = r.choice([4, 16, 128])
        if r.random() < 0.3:
            cfg["attention_bias"] = False
        if r.random() < 0.3:
            cfg["layer_types"] = [r.choice(["sliding_attention", "full_attention"])
                                  for _ in range(cfg["num_hidden_layers"])]
        if r.random() < 0.5:
            cfg.pop("rope_parameters", None)  # GptOssConfig's YaRN default
        if r.random() < 0.5:
            cfg["max_position_embeddings"] = 131072
    if arch in ("granitemoe", "granitemoeshared"):
        # Granite's multipliers with a sparse MLP picking by float32 logits (GraniteMoeShared: and a shared MLP,
        # none by default)
        if arch == "granitemoeshared" and r.random() < 0.8:
            cfg["shared_intermediate_size"] = r.choice([0, 8, 24, 48, 64])
        n = r.choice([2, 3, 4, 8])
        cfg["num_local_experts"] = n
        cfg["num_experts_per_tok"] = r.choice([1, 2, 2, n, n + 1 if r.random() < 0.1 else 2])
        for k, v in (("embedding_multiplier", 3.0), ("attention_multiplier", 0.2), ("residual_multiplier", 0.5),
                     ("logits_scaling", 2.5)):
            if r.random() < 0.5:
                cfg[k] = v
        cfg["attention_bias"] = r.random() < 0.3
        cfg.pop("head_dim", None)
    if arch == "cwm":
        # Llama's block, Qwen2's attention without biases windowed by layer type (default: 0, 4, 8 ... full)
        cfg["sliding_window"] = r.choice([4, 6, 4096])
        cfg["mlp_bias"] = r.random() < 0.3
        cfg["head_dim"] = r.choice([hd, cfg["hidden_size"] // cfg["num_attention_heads"]])
        if r.random() < 0.4:
            cfg["layer_types"] = [r.choice(["sliding_attention", "full_attention"])
                                  for _ in range(cfg["num_hidden_layers"])]
    if arch == "flex_olmo":
        # OLMo 2's block with OLMoE's experts in every layer, no clamp
        n = r.choice([2, 3, 4, 8])
        cfg["num_experts" if r.random() < 0.8 else "num_local_experts"] = n
        cfg["num_experts_per_tok"] = r.choice([1, 2, 2, n])
        cfg["norm_topk_prob"] = r.random() < 0.5
        cfg["attention_bias"] = r.random() < 0.4
        cfg["pad_token_id"] = None
        cfg.pop("head_dim", None)
    if arch == "olmoe":
        # whole-projection q/k norms, clip_qkv after them, experts in every layer
        n = r.choice([2, 3, 4, 8])
        cfg["num_experts" if r.random() < 0.8 else "num_local_experts"] = n
        cfg["num_experts_per_tok"] = r.choice([1, 2, 2, n, n + 1 if r.random() < 0.1 else 2])
        cfg["norm_topk_prob"] = r.random() < 0.5
        if r.random() < 0.4:
            cfg["clip_qkv"] = r.choice([None, 0.3, 2.0])
        cfg.pop("head_dim", None)
    if arch in ("gptj", "codegen"):
        # GPT-2's config names, attention and the MLP side by side on ln_1, the leading rotary_dim
        # dimensions of each head rotating in adjacent pairs, a head with a bias
        for k in ("rms_norm_eps", "num_key_value_heads"):
            cfg.pop(k)
        head = cfg["hidden_size"] // cfg["num_attention_heads"]
        cfg["rotary_dim"] = r.choice([2, head // 2 - head // 2 % 2, head, head + 2 if r.random() < 0.1 else head])
        cfg["n_inner"] = r.choice([None, None, 40, 96])
        cfg["layer_norm_epsilon"] = r.choice([1e-5, 1e-3])
        cfg["activation_function"] = r.choice(["gelu_new", "gelu_new", "gelu", "relu", "quick_gelu"])
    if arch == "gpt_neo":
        # GPT-2's tree with nn.Linear modules, unscaled scores, global and local (windowed) layers from
        # attention_types, or from an attention_layers that wins over them
        for k in ("rms_norm_eps", "num_key_value_heads"):
            cfg.pop(k)
        n = cfg["num_hidden_layers"]
        kinds = [r.choice(["global", "local"]) for _ in range(n)]
        cfg["attention_types"] = [[[k], 1] for k in kinds] if r.random() < 0.5 else [[["global", "local"], n // 2]] \
            + ([[["local"], 1]] if n % 2 else [])
        if r.random() < 0.3:
            cfg["attention_layers"] = [r.choice(["global", "local"]) for _ in range(n)]
        if r.random() < 0.05:
            cfg["attention_types"] = [[["global"], n + 1]]  # more layers than the model: refused by name
        cfg["window_size"] = r.choice([2, 3, 5, 8, 256])
        cfg["intermediate_size"] = r.choice([None, 48, 96])
        cfg["layer_norm_epsilon"] = r.choice([1e-5, 1e-3])
        cfg["activation_function"] = r.choice(["gelu_new", "gelu_new", "gelu", "relu", "quick_gelu"])
    if arch == "mpt":
        # MptConfig's own names, ALiBi (any head count), Wqkv, a 4 x d_model MLP, unbiased LayerNorms,
        # clip_qkv and softmax_scale; fields it never reads refused by name when they would matter
        for k in ("rms_norm_eps", "num_key_value_heads", "intermediate_size", "rope_parameters"):
            cfg.pop(k, None)
        cfg["num_attention_heads"] = r.choice([2, 3, 4, 6])
        cfg["hidden_size"] = cfg["num_attention_heads"] * r.choice([8, 16])
        cfg["max_seq_len"] = cfg.pop("max_position_embeddings")
        attn = {}
        if r.random() < 0.4:
            attn["clip_qkv"] = r.choice([0.5, 2.0, 8.0])
        if r.random() < 0.3:
            attn["softmax_scale"] = r.choice([0.1, 0.3])
        if r.random() < 0.05:
            attn["qk_ln"] = True  # refused by name
        if attn:
            cfg["attn_config"] = attn
        cfg["layer_norm_epsilon"] = r.choice([1e-5, 1e-3])
        if r.random() < 0.05:
            cfg["logit_scale"] = 2.0  # unread by transformers: refused by name
    if arch == "falcon":
        # key-value groups (new decoder architecture), one key and value head (multi_query) or one per query
        # head, side by side on one or two norms or in sequence, biases; ALiBi is refused by name
        for k in ("rms_norm_eps", "num_key_value_heads"):
            cfg.pop(k)
        cfg["hidden_size"] = cfg["num_attention_heads"] * r.choice([8, 16])
        cfg["new_decoder_architecture"] = r.random() < 0.4
        cfg["multi_query"] = r.random() < 0.6
        cfg["parallel_attn"] = r.random() < 0.7 or cfg["new_decoder_architecture"]
        if cfg["new_decoder_architecture"]:
            cfg["num_kv_heads"] = r.choice([k for k in (1, 2, 4) if cfg["num_attention_heads"] % k == 0])
            cfg["num_ln_in_parallel_attn"] = r.choice([None, 1, 2])
        cfg["bias"] = r.random() < 0.5
        cfg["ffn_hidden_size"] = r.choice([None, 48, 96])
        cfg["activation"] = r.choice(["gelu", "gelu", "relu", "gelu_new", "silu"])
        cfg["layer_norm_epsilon"] = r.choice([1e-5, 1e-3])
        cfg.pop("intermediate_size")
        if r.random() < 0.05:
            cfg["alibi"] = True  # refused by name
    if arch == "bloom":
        # ALiBi (head counts other than powers of two too), a LayerNorm after the embedding, q, k and v
        # fused per head, a 4 x hidden MLP (the intermediate_size given is saved but unread)
        for k in ("rms_norm_eps", "num_key_value_heads"):
            cfg.pop(k)
        cfg["num_attention_heads"] = r.choice([2, 3, 4, 6])
        cfg["hidden_size"] = cfg["num_attention_heads"] * r.choice([8, 12, 16])
        cfg["layer_norm_epsilon"] = r.choice([1e-5, 1e-3])
        cfg["pad_token_id"] = r.choice([None, 3])
        if r.random() < 0.05:
            cfg["apply_residual_connection_post_layernorm"] = True
    if arch == "gpt_bigcode":
        # GPT-2's config names, nn.Linear modules, one key and value head with multi_query (its saved
        # num_key_value_heads is rewritten from multi_query, and not read)
        for k in ("rms_norm_eps", "num_key_value_heads"):
            cfg.pop(k)
        if r.random() < 0.2:
            cfg["hidden_size"] = 36
        cfg["multi_query"] = r.random() < 0.6
        cfg["n_inner"] = r.choice([None, None, 40, 96])
        cfg["layer_norm_epsilon"] = r.choice([1e-5, 1e-3])
        cfg["activation_function"] = r.choice(["gelu_pytorch_tanh", "gelu_pytorch_tanh", "gelu", "relu",
                                               "gelu_new", "quick_gelu"])
        cfg["scale_attn_weights"] = r.random() < 0.8
        cfg["max_position_embeddings"] = r.choice([64, 256])
    if arch == "opt":
        # OPTConfig's own MLP width and activation (the intermediate_size given is saved but unread), learned
        # positions two rows into their table, pre- or post-LayerNorm blocks, biases by enable_bias
        for k in ("rms_norm_eps", "num_key_value_heads"):
            cfg.pop(k)
        if r.random() < 0.2:
            cfg["hidden_size"] = 36
        cfg["ffn_dim"] = r.choice([40, 64, 96])
        cfg["activation_function"] = r.choice(["relu", "relu", "gelu", "gelu_new", "silu", "quick_gelu"])
        cfg["do_layer_norm_before"] = r.random() < 0.7
        cfg["_remove_final_layer_norm"] = r.random() < 0.15
        cfg["enable_bias"] = r.random() < 0.8
        cfg["pad_token_id"] = r.choice([None, 1])
        if r.random() < 0.2:
            cfg["word_embed_proj_dim"] = 16  # OPT-350m's project_in / project_out
    if arch == "phi":
        # attention (q, k, v, dense) and a gate-less MLP (fc1, fc2) side by side on one LayerNorm with a
        # bias, biases everywhere (the output head too), a partial rotary (default half of each head)
        cfg["pad_token_id"] = None
        cfg.pop("rms_norm_eps")
        cfg["layer_norm_eps"] = r.choice([1e-5, 1e-3])
        cfg["hidden_act"] = r.choice(["gelu_new", "gelu_new", "gelu", "gelu_pytorch_tanh", "relu"])
        cfg["qk_layernorm"] = r.random() < 0.2  # LayerNorms with a bias over each head of q and k
        partial = r.choice([None, None, 0.25, 0.5, 1.0])
        if partial is not None:
            cfg["rope_parameters"]["partial_rotary_factor"] = partial
    if arch == "exaone4":
        # OLMo 2's layer with per-head q/k norms; with a window only the sliding layers rotate
        cfg["sliding_window"] = r.choice([4, 6, 6, None])
        if cfg["sliding_window"] is None or r.random() < 0.5:
            cfg["layer_types"] = [r.choice(["sliding_attention", "full_attention"]) if cfg["sliding_window"]
                                  else "full_attention" for _ in range(cfg["num_hidden_layers"])]
        else:
            cfg["sliding_window_pattern"] = r.choice([2, 3, 4])
    if arch in ("glm", "glm4"):
        # an interleaved partial rotary (default 0.5), q/k/v biases by default, fused gate_up_proj
        cfg["pad_token_id"] = None
        cfg["head_dim"] = hd
        if r.random() < 0.5:
            cfg["attention_bias"] = r.random() < 0.5
        if r.random() < 0.5:
            cfg["rope_parameters"]["partial_rotary_factor"] = r.choice([0.25, 0.5, 1.0])
        elif r.random() < 0.3:
            cfg["partial_rotary_factor"] = r.choice([0.25, 0.75])
    if arch == "seed_oss":
        # q/k/v biases by attention_bias (default true), o by attention_out_bias; head_dim default 128
        cfg["pad_token_id"] = None
        cfg["head_dim"] = hd
        for k in ("attention_bias", "attention_out_bias", "mlp_bias"):
            if r.random() < 0.5:
                cfg[k] = r.random() < 0.5
    if arch == "ministral":
        # Mistral's modules with per-layer sliding; MinistralAttention needs head_dim
        cfg["head_dim"] = hd
        cfg["sliding_window"] = r.choice([4, 6, None])
        if r.random() < 0.6:
            cfg["layer_types"] = [r.choice(["sliding_attention", "full_attention"]) for _ in range(cfg["num_hidden_layers"])]
    if arch == "olmo3":
        # OLMo 2's block, sliding layers (default: every fourth full), one rotary embedding per layer
        # type; a top-level rope_theta / rope_scaling (4.x layout) reaches the full-attention layers only
        cfg["sliding_window"] = r.choice([4, 6])
        if r.random() < 0.6:
            cfg["layer_types"] = [r.choice(["sliding_attention", "full_attention"]) for _ in range(cfg["num_hidden_layers"])]
        if r.random() < 0.3:
            full = rand_rope(r, 256)
            cfg.pop("rope_parameters", None)
            cfg["rope_theta"] = full.pop("rope_theta")
            if full["rope_type"] != "default":
                cfg["rope_scaling"] = full
        else:
            local = {"rope_type": "default", "rope_theta": r.choice([10000.0, 500000.0])}
            if r.random() < 0.2:
                local = rand_rope(r, 256)
            cfg["rope_parameters"] = {"full_attention": rand_rope(r, 256), "sliding_attention": local}
    if arch == "smollm3":
        cfg["pad_token_id"] = None
        cfg["attention_bias"] = r.random() < 0.3
        cfg["mlp_bias"] = r.random() < 0.3
        if r.random() < 0.5:
            cfg["no_rope_layers"] = [r.choice([0, 1]) for _ in range(cfg["num_hidden_layers"])]
        else:
            cfg["no_rope_layer_interval"] = r.choice([1, 2, 3, 4])
        if r.random() < 0.5:
            cfg["use_sliding_window"] = True; cfg["sliding_window"] = r.choice([4, 6])
            if r.random() < 0.3:
                cfg["layer_types"] = [r.choice(["sliding_attention", "full_attention"]) for _ in range(cfg["num_hidden_layers"])]
    if arch == "granite":
        cfg["attention_bias"] = r.random() < 0.4
        cfg["mlp_bias"] = r.random() < 0.3
        for k, vals in (("embedding_multiplier", [1.0, 12.0, 0.5]), ("attention_multiplier", [0.0078125, 0.1, 1.0]),
                        ("residual_multiplier", [0.22, 1.0, 2.0]), ("logits_scaling", [8.0, 1.0, 0.5])):
            if r.random() < 0.8:
                cfg[k] = r.choice(vals)
    if arch == "mistral" and r.random() < 0.5:
        cfg["sliding_window"] = r.choice([4, 8])
    if arch == "qwen2" and r.random() < 0.4:
        cfg["use_sliding_window"] = True; cfg["sliding_window"] = r.choice([4, 6]); cfg["max_window_layers"] = r.choice([0, 1, 2])
    if arch in ("gemma2", "vaultgemma"):
        cfg["sliding_window"] = r.choice([4, 6]); cfg["query_pre_attn_scalar"] = r.choice([16, 24])
        cfg["attn_logit_softcapping"] = r.choice([None, 2.0]); cfg["final_logit_softcapping"] = r.choice([None, 5.0])
        cfg["head_dim"] = hd
    if arch == "gemma":
        cfg["head_dim"] = hd
        cfg["hidden_act"] = r.choice(["gelu_pytorch_tanh", "gelu"])
        if r.random() < 0.5:
            cfg["hidden_activation"] = r.choice(["gelu_pytorch_tanh", "gelu"])
    if arch == "phi3":
        cfg["pad_token_id"] = 0
        if r.random() < 0.5:
            cfg["partial_rotary_factor"] = r.choice([0.5, 0.75])
        if r.random() < 0.4:
            rd = int(cfg["hidden_size"] // cfg["num_attention_heads"] * cfg.get("partial_rotary_factor", 1.0))
            cfg["original_max_position_embeddings"] = 32
            cfg["rope_parameters"] = {"rope_type": "longrope", "rope_theta": 10000.0,
                "short_factor": [round(1 + 3 * r.random(), 3) for _ in range(rd // 2)],
                "long_factor": [round(1 + 3 * r.random(), 3) for _ in range(rd // 2)]}
            # Phi3Config reads the earlier names su and yarn as longrope
            legacy = r.random()
            if legacy < 0.2:
                cfg["rope_parameters"]["rope_type"] = "yarn"
            elif legacy < 0.35:
                del cfg["rope_parameters"]["rope_type"]
                cfg["rope_parameters"]["type"] = "su"
                cfg["rope_parameters"]["original_max_position_embeddings"] = 32
        elif r.random() < 0.15:
            cfg["rope_parameters"] = rand_rope(r, 256)  # Phi3Config refuses all but default
    return cfg

LIN = dict(default=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
           phi3=["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
           glm=["q_proj", "k_proj", "v_proj", "o_proj", "gate_up_proj", "down_proj"],
           starcoder2=["q_proj", "k_proj", "v_proj", "o_proj", "c_fc", "c_proj"],
           phi=["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"],
           nemotron=["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"])
LIN["arcee"] = LIN["nemotron"]
LIN["jais2"] = LIN["nemotron"]
LIN["nanochat"] = ["q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2"]
LIN["gpt_neox"] = ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"]
LIN["gpt2"] = ["c_attn", "c_proj", "c_fc", "mlp.c_proj", "attn.c_proj"]
LIN["opt"] = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
LIN["gpt_bigcode"] = LIN["gpt2"]
LIN["bloom"] = LIN["gpt_neox"]
LIN["persimmon"] = LIN["gpt_neox"]
LIN["gptj"] = ["q_proj", "k_proj", "v_proj", "out_proj", "fc_in", "fc_out"]
LIN["gpt_neo"] = ["q_proj", "k_proj", "v_proj", "out_proj", "c_fc", "c_proj"]
LIN["falcon"] = LIN["gpt_neox"]
LIN["mpt"] = ["Wqkv", "out_proj", "up_proj", "down_proj"]
LIN["codegen"] = ["qkv_proj", "out_proj", "fc_in", "fc_out"]
# Mixtral: LoRA reaches its attention projections; PEFT 0.21 rewrites w1 / w2 / w3 / gate (the experts and
# router in transformers 4) into target_parameters on the stacked experts and the router (w1 alone: it fails)
LIN["mixtral"] = ["q_proj", "k_proj", "v_proj", "o_proj", "w1", "w3", "w2", "gate"]
# Qwen3-MoE: PEFT turns gate_proj / up_proj / down_proj into target_parameters on the experts
LIN["qwen3_moe"] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LIN["olmoe"] = LIN["qwen3_moe"]
LIN["flex_olmo"] = LIN["qwen3_moe"]
# Qwen2-MoE: PEFT applies these as written (the shared expert's projections, the dense layers' MLP)
LIN["gpt_oss"] = ["q_proj", "k_proj", "v_proj", "o_proj"]
MOE_PARAMETERS_GPT_OSS = ["gate_up_proj", "down_proj", "router.weight", "experts.gate_up_proj", "mlp.experts.down_proj",
                          "layers.0.mlp.router.weight"]
LIN["granitemoe"] = LIN["gpt_oss"]
# GraniteMoeShared: attention and the shared MLP's two nn.Linear modules
LIN["granitemoeshared"] = ["q_proj", "k_proj", "v_proj", "o_proj", "input_linear", "output_linear"]
MOE_PARAMETERS_ROUTER = ["gate_up_proj", "down_proj", "router.weight", "experts.gate_up_proj", "experts.down_proj",
                         "layers.0.block_sparse_moe.router.weight"]
# GLM-4-MoE: PEFT rewrites gate_proj / up_proj / down_proj into the experts' parameters (qwen2_moe's pattern)
LIN["glm4_moe"] = LIN["qwen3_moe"]
LIN["dots1"] = LIN["qwen3_moe"]
LIN["apertus"] = ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"]
LIN["ernie4_5_moe"] = LIN["qwen3_moe"]
LIN["qwen2_moe"] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
                    "shared_expert_gate"]
# LoRA on parameters named directly (target_parameters): the stacked experts and the router, by several paths
MOE_PARAMETERS = ["gate_up_proj", "down_proj", "gate.weight", "experts.gate_up_proj", "mlp.experts.down_proj",
                  "layers.0.mlp.gate.weight", "layers.1.mlp.experts.gate_up_proj"]

def rand_lora(r, arch, layers):
    names = LIN["phi3" if arch == "phi3" else "glm" if arch in ("glm", "glm4")
                else arch if arch in ("starcoder2", "phi", "nemotron", "arcee", "jais2", "nanochat", "gpt_neox", "gpt2", "opt", "gpt_bigcode",
                                      "persimmon", "bloom", "gptj", "gpt_neo", "falcon", "mpt", "codegen", "mixtral", "qwen3_moe",
                                      "olmoe", "flex_olmo", "qwen2_moe", "gpt_oss", "granitemoe",
                                      "granitemoeshared", "glm4_moe", "dots1", "apertus", "ernie4_5_moe")
                else "default"]
    # the input embedding's own name
    emb = ("embed_in" if arch == "gpt_neox" else "wte" if arch in ("gpt2", "gpt_bigcode", "gptj", "gpt_neo", "mpt", "codegen")
           else "word_embeddings" if arch in ("bloom", "falcon") else "embed_tokens")
    kw = dict(r=r.choice([1, 2, 4, 8]), lora_alpha=r.choice([1, 4, 8, 16, 3.5]), use_rslora=r.random() < 0.3)
    c = r.random()
    if c < 0.2:
        kw["target_modules"] = "all-linear"
    elif c < 0.3:
        kw["target_modules"] = (r"gpt_neox\.layers\.[01]\.(attention|mlp)\.(%s)" if arch == "gpt_neox"
                                else r"transformer\.h\.[01]\.(attn|mlp)\.(%s)" if arch in ("gpt2", "gpt_bigcode", "gptj",
                                                                                           "codegen")
                                else r"transformer\.h\.[01]\.(attn\.attention|mlp)\.(%s)" if arch == "gpt_neo"
                                else r"transformer\.h\.[01]\.(self_attention|mlp)\.(%s)" if arch in ("bloom", "falcon")
                                else r"transformer\.blocks\.[01]\.(attn|ffn)\.(%s)" if arch == "mpt"
                                else r"model\.decoder\.layers\.[01]\.(self_attn\.)?(%s)" if arch == "opt"
                                else r"model\.layers\.[01]\.(self_attn|mlp)\.(%s)") % "|".join(
            n.split(".")[-1] for n in r.sample(names, 2))
    else:
        kw["target_modules"] = r.sample(names, r.randint(1, len(names)))
    if isinstance(kw["target_modules"], list) and r.random() < 0.25:
        kw["layers_to_transform"] = r.sample(range(layers), r.randint(1, layers))
        kw["layers_pattern"] = r.choice(["h", ["h"], None] if arch in ("gpt2", "gpt_bigcode", "bloom", "gptj", "gpt_neo",
                                                                        "falcon", "codegen")
                                        else ["blocks", ["blocks"], None] if arch == "mpt"
                                        else ["layers", ["layers"], None])
    if r.random() < 0.25:
        kw["rank_pattern"] = {r.choice([r.choice(names), r"model\.layers\.1\." + r.choice(names), r"layers\.[01]\..*"]): r.choice([1, 3])}
    if r.random() < 0.25:
        kw["alpha_pattern"] = {r.choice(names): r.choice([2, 5])}
    if r.random() < 0.2:
        kw["use_dora"] = True
    elif r.random() < 0.2:
        kw["lora_bias"] = True
    if isinstance(kw["target_modules"], list) and r.random() < 0.15 and not kw.get("use_dora"):
        kw["target_modules"] = kw["target_modules"] + [emb]
    if r.random() < 0.1:
        kw["modules_to_save"] = ["lm_head"]
    if isinstance(kw["target_modules"], list) and r.random() < 0.15:
        ex = r.choice(names)
        if [t for t in kw["target_modules"] if t != ex and t != emb]:
            kw["exclude_modules"] = [ex]
    # rarer options: some are applied, the others must be refused by name
    c = r.random()
    if c < 0.05 and isinstance(kw["target_modules"], list):
        kw["target_modules"] = kw["target_modules"] + ["lm_head"]
    elif c < 0.10:
        kw["modules_to_save"] = [emb]
    elif c < 0.13:
        kw["trainable_token_indices"] = [5, 7]
    elif c < 0.16:
        kw["bias"] = r.choice(["all", "lora_only"])
    elif c < 0.19:
        kw["init_lora_weights"] = r.choice(["gaussian", False])
    elif c < 0.22 and isinstance(kw["target_modules"], list) and not kw.get("use_dora"):
        kw["layers_to_transform"] = r.randrange(layers)
    if r.random() < 0.5:
        kw["task_type"] = "CAUSAL_LM"
    if r.random() < 0.15:
        # initialisations PEFT's loader re-runs (olora, pissa rewrite the base), replaces (mica, eva), or cannot
        # repeat (pissa_niter_N, lora_ga): served as PEFT computes them or refused by name
        kw["init_lora_weights"] = r.choice(["olora", "pissa", "olora", "pissa", "mica", "eva", "pissa_niter_2",
                                            "lora_ga", "orthogonal"])
    if (r.random() < 0.15 and not kw.get("use_dora") and not kw.get("modules_to_save")
            and not kw.get("trainable_token_indices") and kw.get("bias", "none") == "none"
            and emb not in kw["target_modules"]):
        # activated LoRA (PEFT computes its offsets only in PeftModelForCausalLM)
        kw.update(alora_invocation_tokens=ALORA_INVOCATION, task_type="CAUSAL_LM")
    if arch in ("mixtral", "qwen3_moe", "olmoe", "flex_olmo", "qwen2_moe", "gpt_oss", "granitemoe",
                "granitemoeshared", "glm4_moe", "dots1", "ernie4_5_moe") and r.random() < 0.4:
        kw["target_parameters"] = r.sample(MOE_PARAMETERS_GPT_OSS if arch == "gpt_oss"
                                           else MOE_PARAMETERS_ROUTER if arch in ("granitemoe", "granitemoeshared")
                                           else MOE_PARAMETERS,
                                           r.randint(1, 3))
        if isinstance(kw["target_modules"], list) and r.random() < 0.3:
            kw["target_modules"] = None
    return kw

def v4_layout(path):
    """Rewrites a saved config into the transformers 4.x layout hub checkpoints carry (rope_theta and
    rope_scaling at the top level, torch_dtype); transformers 5 reads both."""
    cfg = json.load(open(path))
    rope = dict(cfg.pop("rope_parameters", None) or {})
    if rope:
        cfg["rope_theta"] = rope.pop("rope_theta", 10000.0)
        rope_type = rope.pop("rope_type", "default")
        partial = rope.pop("partial_rotary_factor", None)
        if partial is not None and partial != 1.0:
            cfg["partial_rotary_factor"] = partial
        cfg["rope_scaling"] = None if rope_type == "default" else {"type" if random.random() < 0.3 else "rope_type": rope_type, **rope}
        if cfg.get("model_type") == "gpt_neox":
            # GPT-NeoX's own 4.x names (GPTNeoXConfig leaves a top-level rope_theta unread)
            cfg["rotary_emb_base"] = cfg.pop("rope_theta")
            cfg.pop("partial_rotary_factor", None)
            cfg["rotary_pct"] = 0.25 if partial is None else partial
    if "full_attention" in rope:
        # Gemma 3: the global rotary at the top level, the local one's theta in rope_local_base_freq
        full, local = dict(rope["full_attention"]), dict(rope["sliding_attention"])
        cfg["rope_theta"] = full.pop("rope_theta", 1000000.0)
        rope_type = full.pop("rope_type", "default")
        cfg["rope_scaling"] = None if rope_type == "default" else {"rope_type": rope_type, **full}
        olmo3 = cfg.get("model_type") == "olmo3"
        if olmo3 and local == {"rope_type": "default", "rope_theta": 500000.0}:
            pass  # OLMo 3: the sliding layers keep Olmo3Config's theta; no 4.x field for another one
        elif local.get("rope_type", "default") == "default" and not olmo3:
            cfg["rope_local_base_freq"] = local.get("rope_theta", 10000.0)
        else:  # a scaled local rotary has no 4.x field: keep the 5.x layout
            cfg["rope_parameters"] = {"full_attention": rope["full_attention"], "sliding_attention": local}
            cfg.pop("rope_theta"); cfg.pop("rope_scaling")
    cfg["torch_dtype"] = cfg.pop("dtype", "float32")
    cfg.pop("layer_types", None) if cfg.get("model_type") in ("qwen2", "qwen3") else None
    json.dump(cfg, open(path, "w"), indent=2)


# Fields that neither add nor remove a weight: a config written by hand, or by a transformers version
# older than the field, may leave them out, and both sides must then apply transformers 5's default.
STRIPPABLE = ["rms_norm_eps", "rope_theta", "rope_parameters", "rope_scaling", "max_position_embeddings",
              "sliding_window", "use_sliding_window", "max_window_layers", "layer_types", "hidden_act",
              "hidden_activation", "query_pre_attn_scalar", "attn_logit_softcapping",
              "final_logit_softcapping", "partial_rotary_factor", "original_max_position_embeddings",
              "rope_local_base_freq", "sliding_window_pattern",
              "attention_dropout", "initializer_range", "use_cache", "bos_token_id", "eos_token_id",
              "norm_epsilon", "residual_dropout", "embedding_dropout", "layer_norm_eps", "norm_eps",
              "pretraining_tp", "resid_pdrop", "embd_pdrop", "torch_dtype", "dtype", "layer_norm_epsilon",
              "activation_function", "scale_attn_weights", "scale_attn_by_inverse_layer_idx",
              "reorder_and_upcast_attn", "attn_pdrop", "dropout", "layerdrop", "init_std"]


def strip_fields(r, path):
    """With probability 0.3, drops a random subset of the fields that do not change the weights."""
    if r.random() >= 0.3:
        return []
    cfg = json.load(open(path))
    # OPT's and GPT-Neo's max_position_embeddings sizes their learned position table: not strippable there
    keep = {"max_position_embeddings"} if cfg.get("model_type") in ("opt", "gpt_neo") else set()
    dropped = [k for k in STRIPPABLE if k in cfg and k not in keep and r.random() < 0.5]
    for k in dropped:
        del cfg[k]
    json.dump(cfg, open(path, "w"), indent=2)
    return dropped


def rand_generation_defaults(r, d):
    """Random generation defaults the engine applies, in generation_config.json or (as transformers 4
    wrote them) in config.json; None: none drawn. Returns the fields drawn."""
    if r.random() < 0.4:
        return None
    gen = {}
    if r.random() < 0.6:
        gen["repetition_penalty"] = round(r.uniform(1.05, 2.0), 3)
    if r.random() < 0.4:
        gen["no_repeat_ngram_size"] = r.randint(1, 4)
    length = r.random()
    if length < 0.4:
        gen["max_new_tokens"] = r.randint(3, 10)
    elif length < 0.7:
        gen["max_length"] = r.randint(8, 24)
    if r.random() < 0.2:
        gen[r.choice(["min_new_tokens", "min_length"])] = r.randint(0, 12)
    if r.random() < 0.3:
        gen.update(do_sample=True, temperature=round(r.uniform(0.3, 1.5), 2), top_p=0.9, top_k=20)
    if r.random() < 0.3:  # values at which the engine's unapplied fields do nothing
        gen.update(num_beams=1, typical_p=1.0, min_length=0, output_scores=True)
    path = os.path.join(d, "generation_config.json")
    if r.random() < 0.2:
        cfg = json.load(open(os.path.join(d, "config.json")))
        cfg.update(gen)
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
        if os.path.exists(path):
            os.remove(path)
        gen["_in"] = "config.json"
    else:
        file = json.load(open(path)) if os.path.exists(path) else {}
        file.update(gen)
        json.dump(file, open(path, "w"), indent=2)
    return gen


def generate_defaults(model, prompt, gen):
    """transformers' generate() with the folder's defaults, as a request setting only what must be
    set: greedy on a sampling model, and a length when the files set none. Returns (ids, gaps of
    the processed scores) or the error transformers raises."""
    kwargs = {}
    if gen.get("do_sample"):
        kwargs["do_sample"] = False
    if "max_new_tokens" not in gen and "max_length" not in gen:
        kwargs["max_new_tokens"] = 8
    try:
        with torch.no_grad():
            # the attention mask a tokenizer gives an unpadded prompt: without it generate() masks every
            # token equal to pad_token_id (OPT's default pad 1 can be a prompt's BOS here)
            ids = torch.tensor([prompt])
            out = model.generate(ids, attention_mask=torch.ones_like(ids), output_scores=True,
                                 return_dict_in_generate=True, **kwargs)
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}
    gaps = []
    for sc in out.scores:
        s = sc[0].double()
        finite = s[torch.isfinite(s)]
        top = torch.topk(s, 2).values
        gaps.append(float((top[0] - top[1]) / finite.abs().max()) if torch.isfinite(top[1]) else 1.0)
    return {"ids": out.sequences[0][len(prompt):].tolist(), "gaps": gaps}


ALORA_INVOCATION = [7, 8]


def alora_start(prompt):
    """PEFT's calculate_alora_offsets: where the invocation tokens last start in the prompt, -1 if absent."""
    n = len(ALORA_INVOCATION)
    starts = [i for i in range(len(prompt) - n + 1) if prompt[i:i + n] == ALORA_INVOCATION]
    return starts[-1] if starts else -1


def greedy(model, prompt, n, alora=False):
    """Greedy ids without KV cache; an activated LoRA gets the offsets PEFT's generate computes once from the
    prompt (a plain forward would search the generated tokens too)."""
    ids = list(prompt); out = []; gaps = []
    start = alora_start(prompt) if alora else None
    with torch.no_grad():
        for _ in range(n):
            kw = {} if start is None else {"alora_offsets": [None if start < 0 else len(ids) - start]}
            lg = model(torch.tensor([ids]), **kw).logits[0, -1].double()
            top = torch.topk(lg, 2)
            gaps.append(float((top.values[0] - top.values[1]) / lg.abs().max()))
            t = int(top.indices[0]); out.append(t); ids.append(t)
    return out, gaps

def check_defaults(rid, ref, o):
    """A request on the model's generation defaults against generate(): the same ids (up to a
    near-tie of the processed scores) and length, or an error where transformers raises."""
    if "error" in ref:
        if o is not None and "token_ids" in o:
            return [(rid, "served although generate() raises " + ref["error"][:120] + ": " + json.dumps(o)[:200])]
        return []
    if o is None or "token_ids" not in o:
        return [(rid, "ERR " + json.dumps(o)[:300] if o else "MISSING")]
    ids, want = o["token_ids"], ref["ids"]
    for j in range(max(len(ids), len(want))):
        if j >= len(ids) or j >= len(want) or ids[j] != want[j]:
            if j < len(ref["gaps"]) and ref["gaps"][j] <= 1e-4:
                return []
            return [(rid, f"DEFAULTS DIFF at {j}: {ids} vs {want}")]
    return []


def main(seed, count, root):
    r = random.Random(seed)
    results = []
    for case in range(count):
        torch.manual_seed(seed * 1000 + case)
        arch = r.choice(list(ARCH))
        Cfg, Cls = ARCH[arch]
        cfgkw = rand_model(r, arch)
        d = os.path.join(root, f"c{seed}_{case}")
        shutil.rmtree(d, ignore_errors=True)
        try:
            cfg = Cfg(**cfgkw)
            model = Cls(cfg).eval()
        except Exception as e:
            print(case, arch, "HF", str(e)[:100]); continue
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "norm" in n or ".ln_" in n:  # GPT-2's ln_1, ln_2, ln_f
                    p.copy_(torch.randn_like(p) * 0.1 + (0 if arch.startswith("gemma") else 1))
                else:
                    p.copy_(torch.randn_like(p) * 0.15)
            for n, b in model.named_buffers():
                if n.endswith("e_score_correction_bias"):  # GLM-4-MoE's router correction (zeros at init)
                    b.copy_(torch.randn_like(b) * 0.3)
        model.save_pretrained(d)
        shutil.copy(TOK, d); shutil.copy(TOKCFG, d)
        if r.random() < 0.3:
            v4_layout(os.path.join(d, "config.json"))
        stripped = strip_fields(r, os.path.join(d, "config.json"))
        gen = rand_generation_defaults(r, d)
        adapters = {}
        os.makedirs(os.path.join(d, "ad"))
        for k in range(2):
            kw = rand_lora(r, arch, cfgkw["num_hidden_layers"])
            try:
                base = Cls.from_pretrained(d).eval()
                pm = get_peft_model(base, LoraConfig(**kw))
            except Exception as e:
                print(case, arch, "PEFT", kw, str(e)[:100]); continue
            with torch.no_grad():
                for n, p in pm.named_parameters():
                    if "lora_" in n and "magnitude" not in n:
                        p.copy_(torch.randn_like(p) * 0.3)
                    elif "magnitude" in n:
                        p.mul_(1 + 0.2 * torch.randn_like(p))
                    elif "modules_to_save" in n:
                        p.add_(torch.randn_like(p) * 0.1)
                    elif n.endswith(".bias") and (kw.get("bias") == "all" or (
                            kw.get("bias") == "lora_only" and n.endswith(".base_layer.bias"))):
                        p.add_(torch.randn_like(p) * 0.3)  # the base biases PEFT trains and saves
            name = f"a{k}"
            pm.save_pretrained(os.path.join(d, "ad", name))
            adapters[name] = kw
        try:
            Cls.from_pretrained(d)
        except Exception as e:
            # transformers cannot load what it saved once the config was stripped or rewritten (seen:
            # Exaone 4 with sliding_window_pattern 0 and no layer_types, a modulo by zero): the engine
            # must refuse the model by name
            pr = subprocess.run([GENERATE, "--model", d], input=json.dumps(
                {"request_id": "x", "prompt_ids": [1, 5, 6], "max_new_tokens": 2, "temperature": 0}) + "\n",
                capture_output=True, text=True)
            refused = pr.returncode != 0 and "cannot load model" in pr.stderr
            print(case, arch, "HF-reload", "REFUSED" if refused else "BAD", str(e)[:100], json.dumps(cfgkw),
                  "stripped=" + ",".join(stripped) if stripped else "")
            if not refused:
                print("   served a model transformers cannot load:", pr.stdout[:300])
            else:
                shutil.rmtree(d, ignore_errors=True)
            sys.stdout.flush()
            continue
        prompts = [[1] + [r.randrange(3, V) for _ in range(r.randint(4, 14))] for _ in range(2)]
        at = r.randint(1, len(prompts[1]) - 1)
        prompts[1] = prompts[1][:at] + ALORA_INVOCATION + prompts[1][at:]  # an activated LoRA acts from here
        if arch == "phi3":
            prompts.append([1] + [r.randrange(3, V) for _ in range(r.randint(30, 45))])
        reqs = []; refs = {}
        text = r.choice(["  Once upon a time", "Lily <s> saw a dog", "The dog ran.\n\nThen", "é 日本 🙂 ok"])
        for name in [None] + list(adapters):
            kw_load = {"attn_implementation": "eager"} if arch in ("gemma2", "vaultgemma", "gemma3") else {}
            if name is None:
                m = Cls.from_pretrained(d, **kw_load).eval()
            else:
                try:
                    m = PeftModel.from_pretrained(Cls.from_pretrained(d, **kw_load), os.path.join(d, "ad", name)).eval()
                except Exception as e:
                    # PEFT cannot load what it saved (seen on OLMoE: a gate_up_proj matched by two
                    # rank_pattern keys got rank 3 from get_peft_model and 16 from from_pretrained, whose
                    # shape check then fails): the engine must refuse the adapter too
                    print(case, arch, "PEFT-load", name, str(e)[:100])
                    for i, p in enumerate(prompts):
                        refs[f"{name}-{i}"] = None
                        reqs.append({"request_id": f"{name}-{i}", "prompt_ids": p, "max_new_tokens": 8,
                                     "temperature": 0, "ignore_eos": True,
                                     "adapters": [{"name": name, "weight": 1.0}]})
                    continue
            for i, p in enumerate(prompts):
                rid = f"{name}-{i}"
                try:
                    refs[rid] = greedy(m, p, 8, alora=bool(name and adapters[name].get("alora_invocation_tokens")))
                except Exception as e:  # PEFT itself fails on some combinations: the engine must refuse
                    refs[rid] = None
                    print(case, arch, "PEFT-forward", name, str(e)[:100])
                req = {"request_id": rid, "prompt_ids": p, "max_new_tokens": 8, "temperature": 0, "ignore_eos": True,
                       "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "min_tokens": 0}
                if name:
                    req["adapters"] = [{"name": name, "weight": 1.0}]
                reqs.append(req)
            if gen is not None:
                # sampling fields left unset: the model's generation defaults, as generate() applies them
                rid = f"{name}-gen"
                refs[rid] = ("gen", generate_defaults(m, prompts[0], gen))
                req = {"request_id": rid, "prompt_ids": prompts[0]}
                if gen.get("do_sample"):
                    req["temperature"] = 0
                if "max_new_tokens" not in gen and "max_length" not in gen:
                    req["max_new_tokens"] = 8
                if name:
                    req["adapters"] = [{"name": name, "weight": 1.0}]
                reqs.append(req)
            # a text prompt: the engine tokenizes it as AutoTokenizer does for this folder (its class
            # depends on the model type)
            ids = AutoTokenizer.from_pretrained(d)(text).input_ids
            if ids:
                rid = f"{name}-text"
                try:
                    refs[rid] = greedy(m, ids, 8, alora=bool(name and adapters[name].get("alora_invocation_tokens")))
                except Exception as e:
                    refs[rid] = None
                req = {"request_id": rid, "prompt": text, "max_new_tokens": 8, "temperature": 0, "ignore_eos": True,
                       "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "min_tokens": 0}
                if name:
                    req["adapters"] = [{"name": name, "weight": 1.0}]
                reqs.append(req)
        inp = "\n".join(json.dumps(x) for x in reqs) + "\n"
        # engine settings that must not change tokens: chunked prefill, block size, strategy, caching
        engine_args = []
        if r.random() < 0.4:
            engine_args.append(f"--max-tokens-per-step={r.choice([3, 7, 16])}")
        if r.random() < 0.3:
            engine_args.append(f"--kv-block-size={r.choice([1, 4, 32])}")
        if r.random() < 0.3:
            engine_args.append(f"--lora-strategy={r.choice(['segmented', 'gathered', 'loop'])}")
        if r.random() < 0.2:
            engine_args.append("--prefix-caching=off")
        pr = subprocess.run([GENERATE, "--model", d, "--adapters", os.path.join(d, "ad")] + engine_args,
                            input=inp, capture_output=True, text=True)
        got = {}
        for line in pr.stdout.splitlines():
            try:
                o = json.loads(line)
                got[o.get("id")] = o
            except Exception:
                pass
        bad = []
        for rid, outcome in refs.items():
            o = got.get(rid)
            if outcome is None:
                if o is not None and "token_ids" in o:
                    bad.append((rid, "served although PEFT fails on it: " + json.dumps(o)[:200]))
                continue
            if outcome[0] == "gen":
                bad.extend(check_defaults(rid, outcome[1], o))
                continue
            ref, gaps = outcome
            if o is None or "token_ids" not in o:
                bad.append((rid, "ERR " + json.dumps(o)[:300] if o else "MISSING"))
                continue
            ids = o["token_ids"]
            for j in range(len(ref)):
                if j >= len(ids) or ids[j] != ref[j]:
                    if gaps[j] > 1e-4:
                        bad.append((rid, f"DIFF at {j} gap {gaps[j]:.2e}: {ids} vs {ref}"))
                    break
        refused = bool(bad) and all(
            b[1] == "MISSING" and pr.returncode != 0 or "ADAPTER_LOAD_FAILED" in b[1] for b in bad)
        status = "OK" if not bad else "REFUSED" if refused else "BAD"
        print(case, arch, status, json.dumps(cfgkw), json.dumps(adapters), " ".join(engine_args),
              "gen=" + json.dumps(gen) if gen else "", "stripped=" + ",".join(stripped) if stripped else "")
        if pr.returncode != 0:
            print("   rc", pr.returncode, pr.stderr.strip().splitlines()[-1][-400:] if pr.stderr.strip() else "")
        for b in bad if status == "BAD" else []:
            print("   ", b)
        if not bad:
            shutil.rmtree(d, ignore_errors=True)
        sys.stdout.flush()

if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
