"""What transformers 5 fills in for the fields a config.json leaves out, for ConfigDefaultsConformanceTest.

Run from the repository root with transformers installed:
    python gpu/src/test/conformance/make_config_defaults_cases.py
Writes gpu/src/test/resources/config-defaults/cases.json: per case a config.json (sizes only, or sizes
and a few fields) and the values transformers' config class resolves for it, in the terms the model
code uses them (which layers slide and how far, the attention scale, the biases the modules carry).
A config written by hand, or by a transformers version older than a field, leaves fields out; the
engine must then compute the model transformers 5 computes.
"""
import json
import os

import transformers
import torch
from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

OUT = "gpu/src/test/resources/config-defaults/cases.json"
# Fields whose explicit null transformers 5's config classes refuse (typed fields without a None
# default), per architecture: ModelConfig refuses them by name too instead of reading an absent field.
NON_NULLABLE = "gpu/src/main/resources/io/flinklora/gpu/model/transformers-non-nullable-config-fields.json"
ARCHS = [("LlamaForCausalLM", "llama"), ("MistralForCausalLM", "mistral"),
         ("Qwen2ForCausalLM", "qwen2"), ("Qwen3ForCausalLM", "qwen3"),
         ("GemmaForCausalLM", "gemma"), ("Gemma2ForCausalLM", "gemma2"),
         ("Gemma3ForCausalLM", "gemma3_text"), ("Phi3ForCausalLM", "phi3"),
         ("GraniteForCausalLM", "granite"), ("SmolLM3ForCausalLM", "smollm3"),
         ("Olmo2ForCausalLM", "olmo2"), ("Olmo3ForCausalLM", "olmo3"),
         ("MinistralForCausalLM", "ministral"), ("HeliumForCausalLM", "helium"),
         ("Ernie4_5ForCausalLM", "ernie4_5"), ("SeedOssForCausalLM", "seed_oss"),
         ("GlmForCausalLM", "glm"), ("Glm4ForCausalLM", "glm4"), ("Exaone4ForCausalLM", "exaone4"),
         ("CohereForCausalLM", "cohere"), ("StableLmForCausalLM", "stablelm"),
         ("OlmoForCausalLM", "olmo"), ("Starcoder2ForCausalLM", "starcoder2"),
         ("PhiForCausalLM", "phi"), ("NemotronForCausalLM", "nemotron"),
         ("ArceeForCausalLM", "arcee"), ("Jais2ForCausalLM", "jais2"), ("HunYuanDenseV1ForCausalLM", "hunyuan_v1_dense"), ("VaultGemmaForCausalLM", "vaultgemma"), ("NanoChatForCausalLM", "nanochat"), ("Cohere2ForCausalLM", "cohere2"), ("GPTNeoXForCausalLM", "gpt_neox"),
         ("GPT2LMHeadModel", "gpt2"), ("OPTForCausalLM", "opt"), ("GPTBigCodeForCausalLM", "gpt_bigcode"),
         ("BloomForCausalLM", "bloom"), ("GPTJForCausalLM", "gptj"), ("GPTNeoForCausalLM", "gpt_neo"),
         ("FalconForCausalLM", "falcon"), ("MptForCausalLM", "mpt"),
         ("CodeGenForCausalLM", "codegen"), ("MixtralForCausalLM", "mixtral"),
         ("Qwen3MoeForCausalLM", "qwen3_moe"), ("OlmoeForCausalLM", "olmoe"), ("FlexOlmoForCausalLM", "flex_olmo"), ("CwmForCausalLM", "cwm"), ("Qwen2MoeForCausalLM", "qwen2_moe"),
         ("GptOssForCausalLM", "gpt_oss"), ("GraniteMoeForCausalLM", "granitemoe"),
         ("GraniteMoeSharedForCausalLM", "granitemoeshared"), ("PersimmonForCausalLM", "persimmon"),
         ("Ministral3ForCausalLM", "ministral3"), ("Glm4MoeForCausalLM", "glm4_moe"),
         ("Dots1ForCausalLM", "dots1"), ("ApertusForCausalLM", "apertus"),
         ("Ernie4_5_MoeForCausalLM", "ernie4_5_moe")]
GEMMA2_LIKE = ("Gemma2ForCausalLM", "Gemma3ForCausalLM", "VaultGemmaForCausalLM")
# 32 heads: every architecture's default num_key_value_heads and head_dim divide into it.
SIZES = {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 4,
         "num_attention_heads": 32, "vocab_size": 40000}
EXTRA = [
    {},
    {"num_key_value_heads": 8, "head_dim": 8},
    {"num_key_value_heads": 8, "head_dim": 8, "sliding_window": 64},
    {"num_key_value_heads": 8, "head_dim": 8, "use_sliding_window": True, "sliding_window": 64},
    {"num_key_value_heads": 8, "head_dim": 8, "max_position_embeddings": 1024},
    # explicit nulls transformers accepts (those it refuses are skipped below: the engine reads a
    # null as an absent field)
    {"sliding_window": None},
    {"head_dim": None},
    {"num_key_value_heads": None},
    # a null num_key_value_heads takes num_attention_heads, not the class default (Qwen2: 32)
    {"num_attention_heads": 16, "num_key_value_heads": None},
    {"num_key_value_heads": 8, "head_dim": 8, "rope_scaling": None},
    {"num_key_value_heads": 8, "head_dim": 8, "attn_logit_softcapping": None,
     "final_logit_softcapping": None},
    # Gemma 3's 4.x rotary fields and layer pattern
    {"num_key_value_heads": 8, "head_dim": 8, "rope_theta": 20000.0, "rope_local_base_freq": 500.0,
     "sliding_window_pattern": 2, "sliding_window": 16},
    {"num_key_value_heads": 8, "head_dim": 8, "rope_scaling": {"rope_type": "linear", "factor": 8.0}},
    # SmolLM3's NoPE layers (and the sliding layers derived from them)
    {"no_rope_layer_interval": 2},
    {"num_key_value_heads": 8, "use_sliding_window": True, "sliding_window": 64, "no_rope_layer_interval": 3},
    {"no_rope_layers": [1, 0, 0, 1]},
    # Granite's multipliers
    {"num_key_value_heads": 8, "embedding_multiplier": 12, "attention_multiplier": 0.0078125,
     "residual_multiplier": 0.22, "logits_scaling": 8.0},
    # no window with every layer full: Gemma 2 and 3, OLMo 3 and Ministral build the sliding mask anyway
    {"sliding_window": None, "layer_types": ["full_attention"] * 4},
    # biases: Helium's attention_bias stops at v, ERNIE 4.5's use_bias reaches every projection
    {"num_key_value_heads": 8, "head_dim": 8, "attention_bias": True, "mlp_bias": True, "use_bias": True},
    {"num_key_value_heads": 8, "head_dim": 8, "attention_bias": False, "attention_out_bias": True},
    # EXAONE 4's layer pattern
    {"num_key_value_heads": 8, "sliding_window": 32, "sliding_window_pattern": 2},
    # Cohere's LayerNorm epsilon and logit scale
    {"num_key_value_heads": 8, "layer_norm_eps": 1e-3, "logit_scale": 0.5, "use_qk_norm": True},
    # StableLM's LayerNorm epsilon, q/k/v biases, per-head q/k norms and parallel residual
    {"num_key_value_heads": 8, "layer_norm_eps": 1e-3, "use_qkv_bias": True, "qk_layernorm": True,
     "use_parallel_residual": True},
    # Starcoder2's LayerNorm epsilon and biases (with an rms_norm_eps it does not read)
    {"num_key_value_heads": 8, "norm_epsilon": 1e-3, "use_bias": False, "rms_norm_eps": 1e-2},
    # Nemotron's LayerNorm1P epsilon, biases and activation
    {"num_key_value_heads": 8, "norm_eps": 1e-3, "attention_bias": True, "mlp_bias": True,
     "hidden_act": "relu"},
    # OLMo's clamp of q, k and v (with an rms_norm_eps OlmoLayerNorm does not read)
    {"num_key_value_heads": 8, "clip_qkv": 8.0, "rms_norm_eps": 1e-3},
    # GPT-NeoX's 4.x rotary fields and its sequential residual
    {"rotary_emb_base": 20000.0, "rotary_pct": 0.5},
    {"rotary_pct": 1.0, "use_parallel_residual": False, "attention_bias": False},
    # EOS ids as config.json gives them (GLM's class default list is not what generate stops on)
    {"num_key_value_heads": 8, "eos_token_id": [3, 4]},
    {"num_key_value_heads": 8, "eos_token_id": 7},
    # GLM's partial rotary (default 0.5; StableLM's 0.25)
    {"num_key_value_heads": 8, "head_dim": 8, "partial_rotary_factor": 0.25},
    # the 4.x rotary fields alone (OLMo 3: they reach the full-attention layers only)
    {"num_key_value_heads": 8, "head_dim": 8, "rope_theta": 20000.0},
    {"num_key_value_heads": 8, "head_dim": 8, "rope_theta": 20000.0,
     "rope_scaling": {"rope_type": "linear", "factor": 8.0}},
    # OLMo 3's layer types and window
    {"num_key_value_heads": 8, "layer_types": ["full_attention", "sliding_attention",
                                                "sliding_attention", "full_attention"], "sliding_window": 32,
     "use_sliding_window": True},
    # GPT-2's own names: the MLP width (SIZES' intermediate_size is not read), epsilon, activation,
    # and its attention scales
    {"n_inner": 96, "layer_norm_epsilon": 1e-3, "activation_function": "relu"},
    {"scale_attn_weights": False},
    {"scale_attn_by_inverse_layer_idx": True, "n_positions": 64},
    {"n_inner": None},
    # OPT's MLP width and activation, its post-LayerNorm blocks, no final norm, no biases; the
    # projections around the decoder, LayerNorms without weights (refused by name)
    {"ffn_dim": 96, "activation_function": "gelu"},
    {"do_layer_norm_before": False},
    {"_remove_final_layer_norm": True, "enable_bias": False},
    {"word_embed_proj_dim": 128},
    {"layer_norm_elementwise_affine": False},
    # GPT-BigCode: a key and value head for each query head
    {"multi_query": False, "activation_function": "gelu"},
    # Bloom: the legacy n_embed over hidden_size; the residual after the norms (applied) and
    # tensor-parallel slices (refused by name)
    {"n_embed": 128},
    {"apply_residual_connection_post_layernorm": True},
    {"slow_but_exact": True, "pretraining_tp": 2},
    # GPT-J's rotary width
    {"rotary_dim": 4},
    # GPT-Neo's layer types (the default attention_types lists 24 layers, not SIZES' 4: refused), window,
    # MLP width (null: 4 x hidden), activation and epsilon; attention_layers wins over attention_types
    {"attention_types": [[["global", "local"], 2]]},
    {"attention_types": [[["local"], 1], [["global"], 3]], "window_size": 3},
    {"attention_types": [[["global", "local"], 2]], "intermediate_size": None, "activation_function": "relu",
     "layer_norm_epsilon": 1e-3},
    {"attention_types": [[["global"], 4]], "attention_layers": ["local", "local", "global", "local"],
     "window_size": 7},
    {"attention_types": [[["global", "local"], 3]]},
    {"attention_types": [[["global", "sparse"], 2]]},
    {"attention_types": [[["global"], 2]], "attention_layers": ["global", "local", "global", "local"]},
    # Falcon's layer forms and key-value heads (ALiBi is refused by name), its MLP width, activation and
    # epsilon, and the legacy n_embed
    {"new_decoder_architecture": True, "num_kv_heads": 8},
    {"new_decoder_architecture": True, "num_kv_heads": 4, "num_ln_in_parallel_attn": 1, "bias": True},
    {"multi_query": False, "parallel_attn": False, "bias": True},
    {"num_kv_heads": 8},
    {"multi_query": False, "num_kv_heads": 8},
    {"new_decoder_architecture": True, "parallel_attn": False},
    {"num_ln_in_parallel_attn": 2},
    {"alibi": True},
    {"ffn_hidden_size": 96, "activation": "relu", "layer_norm_epsilon": 1e-3, "n_embed": 128},
    # MPT's attention (clip_qkv, softmax_scale), its sequence bound and epsilon; the fields MptForCausalLM
    # keeps but never reads, and the attention it does not implement (refused by name)
    {"attn_config": {"clip_qkv": 6.0, "softmax_scale": 0.1}},
    {"max_seq_len": 512, "layer_norm_epsilon": 1e-3},
    {"expansion_ratio": 2},
    {"no_bias": False},
    {"logit_scale": 2.0},
    {"attn_config": {"alibi": False}},
    {"attn_config": {"alibi_bias_max": 16}},
    {"attn_config": {"attn_type": "multiquery_attention"}},
    {"attn_config": {"qk_ln": True}},
    {"attn_config": {"prefix_lm": True}},
    # CodeGen's rotary width and its legacy n_ctx (its heads must come in fours: HubConfigsTest)
    {"rotary_dim": 4, "n_ctx": 64},
    # Mixtral's experts, under both names of the count, and what transformers fails on
    {"num_key_value_heads": 8, "num_local_experts": 4, "num_experts_per_tok": 1},
    {"num_key_value_heads": 8, "num_experts": 6, "num_experts_per_tok": 3, "router_jitter_noise": 0.1,
     "output_router_logits": True, "router_aux_loss_coef": 0.02},
    {"num_local_experts": 2, "num_experts_per_tok": 3},
    # Qwen3-MoE's sparse and dense layers, widths and renormalization
    {"num_key_value_heads": 8, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 64,
     "norm_topk_prob": True, "decoder_sparse_step": 2, "mlp_only_layers": [3]},
    {"num_key_value_heads": 8, "num_experts": 0},
    {"num_key_value_heads": 8, "num_experts": 4, "num_experts_per_tok": 2, "use_sliding_window": True,
     "max_window_layers": 2},
    # Qwen2-MoE's shared expert width, q/k/v without bias, its own sliding rule (even layers below
    # max_window_layers)
    {"num_key_value_heads": 8, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 64,
     "shared_expert_intermediate_size": 96, "qkv_bias": False, "use_sliding_window": True,
     "max_window_layers": 3},
    # heads that do not divide hidden_size, head_dim given: Llama's, Gemma 2's and 3's, Arcee's, CWM's,
    # VaultGemma's and Jais 2's config classes refuse it (validate_architecture), others build it
    {"num_attention_heads": 24, "num_key_value_heads": 8, "head_dim": 8},
    # GraniteMoeShared's shared MLP (its default: none), with the experts' counts
    {"num_key_value_heads": 8, "shared_intermediate_size": 24, "num_local_experts": 4, "num_experts_per_tok": 2},
    {"num_key_value_heads": 8, "shared_intermediate_size": 0, "embedding_multiplier": 2},
    # GLM-4-MoE's grouped router, shared experts, dense layers, q/k norms and biases; every layer dense; what
    # transformers fails on (groups that do not divide the experts, or of one expert, topk_group > n_group)
    {"num_key_value_heads": 8, "n_routed_experts": 8, "num_experts_per_tok": 2, "n_group": 2, "topk_group": 1,
     "first_k_dense_replace": 2, "moe_intermediate_size": 64, "n_shared_experts": 2, "routed_scaling_factor": 2.5,
     "norm_topk_prob": False, "use_qk_norm": True, "attention_bias": True},
    {"num_key_value_heads": 8, "num_local_experts": 6, "num_experts_per_tok": 3, "first_k_dense_replace": 0,
     "moe_intermediate_size": 32},
    {"num_key_value_heads": 8, "first_k_dense_replace": 4, "n_routed_experts": 0},
    {"num_key_value_heads": 8, "n_routed_experts": 6, "n_group": 4, "num_experts_per_tok": 1,
     "moe_intermediate_size": 32},
    {"num_key_value_heads": 8, "n_routed_experts": 4, "n_group": 4, "num_experts_per_tok": 1,
     "moe_intermediate_size": 32},
    {"num_key_value_heads": 8, "n_routed_experts": 8, "n_group": 2, "topk_group": 3, "num_experts_per_tok": 1,
     "moe_intermediate_size": 32},
    # dots.llm1: its experts need their counts (Dots1Config's defaults are None); its window applies from
    # max_window_layers on without a use_sliding_window switch
    {"num_key_value_heads": 8, "n_routed_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 1,
     "moe_intermediate_size": 32},
    {"num_key_value_heads": 8, "n_routed_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 1,
     "moe_intermediate_size": 32, "sliding_window": 64, "max_window_layers": 2, "first_k_dense_replace": 1,
     "norm_topk_prob": True},
    {"num_key_value_heads": 8, "n_routed_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 1,
     "moe_intermediate_size": 32, "sliding_window": None, "max_window_layers": 2},
    {"num_key_value_heads": 8, "n_routed_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 1,
     "moe_intermediate_size": 32, "sliding_window": 64, "layer_types": ["full_attention", "sliding_attention",
                                                                         "full_attention", "sliding_attention"]},
    # Apertus's activations: xIELU (its default), another one, and xIELU where it is not Apertus's MLP
    {"num_key_value_heads": 8, "hidden_act": "xielu"},
    {"num_key_value_heads": 8, "hidden_act": "relu2", "attention_bias": True},
    # ERNIE 4.5's MoE: its sparse-layer rule, no shared experts, the sum's clamp, the aliases, biases (on the
    # attention, the dense layers' MLP, the shared experts and the output head)
    {"num_key_value_heads": 8, "moe_num_experts": 4, "moe_k": 2, "moe_intermediate_size": 32,
     "moe_num_shared_experts": 0, "moe_layer_start_index": 0, "moe_layer_end_index": 2, "moe_layer_interval": 2,
     "moe_norm_min": 0.5},
    {"num_key_value_heads": 8, "num_experts": 6, "num_experts_per_tok": 3, "moe_intermediate_size": 32,
     "moe_num_shared_experts": 1, "use_bias": False},
    {"num_key_value_heads": 8, "moe_num_experts": 4, "moe_k": 2, "moe_intermediate_size": 32,
     "moe_num_shared_experts": 0, "use_bias": True},
    {"num_key_value_heads": 8, "moe_num_experts": 4, "moe_k": 2, "moe_intermediate_size": 32, "use_bias": True},
]
# MPT's fields transformers keeps but never reads, or reads only to ignore, with the value that would matter:
# the engine refuses them by name (in mptNames' order)
MPT_REFUSED = [("expansion_ratio", lambda v: v != 4), ("no_bias", lambda v: v is False),
               ("logit_scale", lambda v: v is not None)]
MPT_ATTN_REFUSED = [("attn_type", lambda v: v != "multihead_attention"), ("prefix_lm", bool), ("qk_ln", bool),
                    ("attn_uses_sequence_id", bool), ("alibi", lambda v: v is False),
                    ("alibi_bias_max", lambda v: v != 8)]
# 4.x fields every config class still accepts (to_dict writes rope_parameters instead)
LEGACY = ("rope_theta", "rope_scaling")
# common fields GPT2LMHeadModel never reads (Gpt2Names refuses them by name; a null is as absent)
GPT2_UNREAD = ("num_key_value_heads", "head_dim", "hidden_act", "rms_norm_eps", "rope_theta", "rope_scaling",
               "rope_parameters", "partial_rotary_factor", "original_max_position_embeddings")
# common fields Bloom never reads: GPT-2's list (OwnConfigNames refuses them by name, in this order)
BLOOM_UNREAD = GPT2_UNREAD
# and GPT-NeoX's own 4.x names of rope_theta and partial_rotary_factor
LEGACY_BY_ARCH = {"GPTNeoXForCausalLM": ("rotary_emb_base", "rotary_pct"),
                  # and names a config class maps onto its own (attribute_map), which to_dict does not list
                  "MixtralForCausalLM": ("num_experts",), "Qwen3MoeForCausalLM": ("num_experts", "num_local_experts"),
                  "OlmoeForCausalLM": ("num_experts", "num_local_experts"),
                  "FlexOlmoForCausalLM": ("num_experts", "num_local_experts"),
                  "GptOssForCausalLM": ("num_experts",), "Glm4MoeForCausalLM": ("num_local_experts",),
                  "Dots1ForCausalLM": ("num_local_experts",),
                  "Ernie4_5_MoeForCausalLM": ("num_experts", "num_experts_per_tok")}


def resolved(c, arch, model):
    heads = c.num_attention_heads
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // heads
    layers = c.num_hidden_layers
    gpt2 = arch in ("GPT2LMHeadModel", "GPTBigCodeForCausalLM")  # GPT-BigCode: GPT-2's tree, nn.Linear
    opt = arch == "OPTForCausalLM"
    bloom = arch == "BloomForCausalLM"
    gptj = arch in ("GPTJForCausalLM", "CodeGenForCausalLM")  # CodeGen: GPT-J's block, fused qkv_proj
    neo = arch == "GPTNeoForCausalLM"  # GPT-2's tree with nn.Linear modules under attn.attention
    mpt = arch == "MptForCausalLM"  # transformer.blocks, Wqkv, ffn, ALiBi
    falcon = arch == "FalconForCausalLM"  # Bloom's tree, rotary
    # GPT-2 and OPT have no rotary embedding (every rotary_layers entry false): the engine's unused default
    rope = {"rope_type": "default", "rope_theta": 10000.0} if gpt2 or opt or bloom or gptj or neo or mpt \
        else c.rope_parameters
    if gptj:
        # create_sinusoidal_positions: theta 10000 over the leading rotary_dim dimensions
        rope = {"rope_type": "default", "rope_theta": 10000.0,
                "partial_rotary_factor": c.rotary_dim / (c.hidden_size // c.num_attention_heads)}
    local = None
    if arch in ("Gemma3ForCausalLM", "Olmo3ForCausalLM"):
        rope, local = rope["full_attention"], rope["sliding_attention"]
    if arch in ("MistralForCausalLM", "Phi3ForCausalLM", "Starcoder2ForCausalLM", "MixtralForCausalLM",
                "Qwen3MoeForCausalLM", "Ministral3ForCausalLM"):
        window = c.sliding_window
        sliding = [window is not None] * layers
    elif arch == "SmolLM3ForCausalLM":
        # the mask follows layer_types; SmolLM3Config derives sliding types only with a window
        window = c.sliding_window
        sliding = [t == "sliding_attention" and window is not None for t in c.layer_types]
    elif arch in ("Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen2MoeForCausalLM", "GptOssForCausalLM", "Olmo3ForCausalLM",
                  "Dots1ForCausalLM",
                  "CwmForCausalLM",
                  "MinistralForCausalLM",
                  "Exaone4ForCausalLM", "Cohere2ForCausalLM") + GEMMA2_LIKE:
        window = c.sliding_window
        # the attention modules window a sliding layer by config.sliding_window; None: not at all
        sliding = [t == "sliding_attention" and window is not None for t in c.layer_types]
    elif neo:
        # GPTNeoSelfAttention's local layers mask all but the window_size positions up to the query
        window = c.window_size
        sliding = [t == "local" for t in c.attention_layers]
    else:
        window, sliding = None, [False] * layers
    scale = (c.query_pre_attn_scalar if arch in GEMMA2_LIKE else head_dim) ** -0.5
    if arch in ("GraniteForCausalLM", "GraniteMoeForCausalLM", "GraniteMoeSharedForCausalLM"):
        scale = c.attention_multiplier  # GraniteAttention.scaling
    if gpt2:
        scale = model.transformer.h[0].attn.scaling  # layer 0's (scale_attn_weights)
    if neo:
        scale = 1.0  # GPTNeoSelfAttention._attn does not scale its scores
    if mpt:
        scale = model.transformer.blocks[0].attn.softmax_scale
    # the biases the built modules carry (Helium's o_proj has none, ERNIE 4.5's use_bias sets all)
    neox = arch == "GPTNeoXForCausalLM"
    # GPT-NeoX's, GPT-2's, OPT's roots
    base = (model.gpt_neox if neox else model.transformer if gpt2 or bloom or gptj or neo or falcon or mpt
            else model.model.decoder if opt else model.model)
    layer0 = base.blocks[0] if mpt else base.h[0] if gpt2 or bloom or gptj or neo or falcon else base.layers[0]
    attn = (layer0.attention if neox else layer0.attn.attention if neo else layer0.attn if gpt2 or gptj
            else layer0.self_attention if bloom or falcon else layer0.attn if mpt else layer0.self_attn)
    # OPT's fc1 and fc2 sit in the decoder layer; GraniteMoE names its MLP block_sparse_moe
    mlp = layer0 if opt else layer0.ffn if mpt else getattr(layer0, "mlp", None) or layer0.block_sparse_moe
    # the MLP of the first sparse layer: a router (gate) and stacked experts
    moe_arch = arch in ("MixtralForCausalLM", "Qwen3MoeForCausalLM", "OlmoeForCausalLM", "FlexOlmoForCausalLM",
                        "Qwen2MoeForCausalLM", "Glm4MoeForCausalLM", "Dots1ForCausalLM", "Ernie4_5_MoeForCausalLM",
                        "GptOssForCausalLM", "GraniteMoeForCausalLM", "GraniteMoeSharedForCausalLM")
    block = lambda layer: getattr(layer, "mlp", None) or layer.block_sparse_moe
    sparse_layers = [hasattr(block(layer), "experts") for layer in base.layers] if moe_arch else []
    moe_mlp = next((block(layer) for layer in base.layers if hasattr(block(layer), "experts")), None) if moe_arch \
        else None
    moe = moe_mlp is not None
    if moe_arch:
        # the dense layers' MLP (Qwen3-MoE's mlp_only_layers), else the sparse one
        mlp = next((block(layer) for layer in base.layers if not hasattr(block(layer), "experts")), moe_mlp)
    dense_mlp = moe_arch and not hasattr(mlp, "experts")
    qkv_bias = (getattr(attn, "q_proj", None) or getattr(attn, "qkv_proj", None)
                or getattr(attn, "c_attn", None) or getattr(attn, "Wqkv", None) or attn.query_key_value).bias is not None
    # Phi and GPT-NeoX name it dense, GPT-2 c_proj
    o_bias = (getattr(attn, "o_proj", None) or getattr(attn, "c_proj", None) or getattr(attn, "out_proj", None)
              or attn.dense).bias is not None
    act = ("silu" if arch == "GptOssForCausalLM"  # unread: GptOssExperts' own clamped SwiGLU
           else c.hidden_activation if arch in GEMMA2_LIKE else c.activation_function if gpt2 or opt or gptj or neo
           else "gelu_pytorch_tanh" if bloom else c.activation if falcon else "gelu" if mpt else c.hidden_act)  # Bloom: its own tanh GELU
    eos = c.eos_token_id
    return {
        "num_key_value_heads": attn.kv_heads if arch == "GPTBigCodeForCausalLM"
                               else attn.num_kv_heads if falcon
                               else getattr(c, "num_key_value_heads", heads),  # GPT-NeoX: one per query head
        "head_dim": head_dim,
        # Bloom (ALiBi) has none: the engine serves 2048 (BLOOM's training length) unless the config
        # gives a bound
        "max_position_embeddings": c.max_seq_len if mpt else getattr(c, "max_position_embeddings", 2048) if bloom
                                   else c.max_position_embeddings,
        # OlmoLayerNorm hard-codes its epsilon
        # GPT-2's MLP is n_inner wide, or 4 x n_embd
        "intermediate_size": getattr(mlp.c_fc, "nf", None) or mlp.c_fc.out_features if gpt2 or neo else
                             mlp.dense_h_to_4h.out_features if bloom or falcon else
                             mlp.up_proj.out_features if mpt else
                             mlp.fc_in.out_features if gptj else mlp.fc1.out_features if opt else c.intermediate_size,
        "rms_norm_eps": (c.layer_norm_epsilon if gpt2 or bloom or gptj or neo or falcon or mpt
                         else layer0.self_attn_layer_norm.eps if opt
                         else c.layer_norm_eps if arch in ("CohereForCausalLM", "Cohere2ForCausalLM", "StableLmForCausalLM",
                                                      "PhiForCausalLM", "GPTNeoXForCausalLM", "Jais2ForCausalLM",
                                                      "PersimmonForCausalLM")
                         else 1e-5 if arch == "OlmoForCausalLM"
                         else c.norm_epsilon if arch == "Starcoder2ForCausalLM"
                         else c.norm_eps if arch == "NemotronForCausalLM" else c.rms_norm_eps),
        "rope_type": rope.get("rope_type", "default"),
        "rope_theta": rope["rope_theta"],
        "sliding_rope_type": (local or rope).get("rope_type", "default"),
        "sliding_rope_theta": (local or rope)["rope_theta"],
        "qk_norm": arch in ("Qwen3ForCausalLM", "Qwen3MoeForCausalLM", "Dots1ForCausalLM", "ApertusForCausalLM", "OlmoeForCausalLM", "FlexOlmoForCausalLM",
                            "Gemma3ForCausalLM", "Olmo2ForCausalLM", "Olmo3ForCausalLM",
                            "Exaone4ForCausalLM") or bool(getattr(c, "use_qk_norm", False))
                   or bool(getattr(c, "qk_layernorm", False))
                   # HunYuan's per-head norms (after the rotary), read off the built attention
                   or hasattr(getattr(layer0, "self_attn", None), "query_layernorm")
                   # NanoChat's weightless per-head norms (after the rotary)
                   or arch == "NanoChatForCausalLM",
        # attention and the MLP side by side (Cohere; StableLM's use_parallel_residual), and norms
        # with a bias (StableLM's nn.LayerNorm), read off the built decoder layer
        "parallel_block": layer0.__class__.__name__ in ("CohereDecoderLayer", "Cohere2DecoderLayer",
                                                        "PhiDecoderLayer", "GPTJBlock", "CodeGenBlock")
                          or bool(getattr(c, "use_parallel_residual", False))
                          or (falcon and (c.parallel_attn or c.new_decoder_architecture)),
        # GPT-NeoX's parallel block reads a norm of its own for the MLP (post_attention_layernorm), as
        # Falcon's new decoder architecture does with two norms (ln_attn, ln_mlp)
        "parallel_two_norms": (neox and bool(c.use_parallel_residual))
                              or (falcon and c.new_decoder_architecture and c.num_ln_in_parallel_attn == 2),
        # Phi names its final norm final_layernorm
        "norm_bias": (layer0.self_attn_layer_norm.bias is not None) if opt
                     else getattr(getattr(base, "norm", None) or getattr(base, "final_layernorm", None)
                                  or getattr(base, "ln_f", None) or getattr(base, "norm_f", None)
                                  or base.final_layer_norm, "bias", None) is not None,
        # OPT: LayerNorms after each residual add (do_layer_norm_before false), a final norm or none
        "post_layer_norm": opt and not c.do_layer_norm_before,
        "final_norm": not opt or base.final_layer_norm is not None,
        # OPT's embeddings may be narrower than the decoder (project_in / project_out)
        "embedding_width": model.get_input_embeddings().weight.shape[1],
        "head_bias": model.lm_head.bias is not None,
        "clip_qkv": (c.attn_config.clip_qkv if mpt else getattr(c, "clip_qkv", None)) or 0.0,
        "partial_rotary_factor": rope.get("partial_rotary_factor",
                                          getattr(c, "partial_rotary_factor", 1.0)),
        "tie_word_embeddings": c.tie_word_embeddings,
        "qkv_bias": bool(qkv_bias),
        "o_bias": bool(o_bias),
        # Starcoder2's MLP has no gate: c_fc and c_proj stand in for up and down
        # ERNIE 4.5's use_bias reaches its dense layers' MLP
        "mlp_bias": (dense_mlp and mlp.down_proj.bias is not None) if arch == "Ernie4_5_MoeForCausalLM"
                    else False if moe_arch else (getattr(mlp, "down_proj", None) or getattr(mlp, "c_proj", None) or getattr(mlp, "fc2", None)
                     or getattr(mlp, "fc_out", None)
                     or mlp.dense_4h_to_h).bias is not None,
        "gated_mlp": hasattr(mlp, "gate_proj") or hasattr(mlp, "gate_up_proj") or moe_arch,
        # the TopKRouter: top_k of num_experts, the picked probabilities renormalized (always in Mixtral's)
        # (GPT-OSS's router is mlp.router; it softmaxes the picked logits, with nothing to renormalize)
        "experts": {"count": moe_mlp.experts.num_experts,
                    "per_token": (getattr(moe_mlp, "gate", None) or moe_mlp.router).top_k,
                    "normalize": False if arch in ("GptOssForCausalLM", "GraniteMoeForCausalLM",
                                                   "GraniteMoeSharedForCausalLM")
                                 else getattr(moe_mlp.gate, "norm_topk_prob", True),
                    "intermediate": getattr(moe_mlp.experts, "intermediate_dim", None)
                                    or moe_mlp.experts.intermediate_size,
                    "sparse": sparse_layers,
                    # Qwen2-MoE's shared expert, GraniteMoeShared's shared MLP (0: none)
                    # GLM-4-MoE's router: groups, the groups that compete, the weights' scale
                    "grouped": {"groups": moe_mlp.gate.num_group, "topk_group": moe_mlp.gate.topk_group,
                                "scale": moe_mlp.gate.routed_scaling_factor}
                               if arch in ("Glm4MoeForCausalLM", "Dots1ForCausalLM") else None,
                    # ERNIE 4.5's sum clamp (moe_norm_min)
                    "norm_min": moe_mlp.gate.norm_min if arch == "Ernie4_5_MoeForCausalLM" else None,
                    "shared": moe_mlp.shared_expert.gate_proj.out_features if hasattr(moe_mlp, "shared_expert")
                              else moe_mlp.shared_experts.gate_proj.out_features
                              if getattr(moe_mlp, "shared_experts", None) is not None
                              else layer0.shared_mlp.input_linear.out_features // 2
                              if getattr(layer0, "shared_mlp", None) is not None
                              else 0} if moe
                   else None,
        "hidden_act": act,
        "sliding_layers": sliding,
        "sliding_window": window if any(sliding) else None,
        "attention_scale": scale,
        # the last layer's (GPT-2's scale_attn_by_inverse_layer_idx divides it by the layer count)
        "attention_scale_last": model.transformer.h[-1].attn.scaling if gpt2 else scale,
        "attn_logit_softcapping": getattr(c, "attn_logit_softcapping", None),
        "final_logit_softcapping": getattr(c, "final_logit_softcapping", None),
        # Gemma's embeddings scale by sqrt(hidden) (a float32 tensor), Granite's by embedding_multiplier
        "embedding_multiplier": (float(torch.tensor(c.hidden_size ** 0.5, dtype=torch.float32))
                                 if arch == "GemmaForCausalLM" or arch in GEMMA2_LIKE
                                 else getattr(c, "embedding_multiplier", 1.0)),
        "residual_multiplier": getattr(c, "residual_multiplier", 1.0),
        "logits_scaling": getattr(c, "logits_scaling", 1.0),
        # Cohere's (MptForCausalLM keeps its own logit_scale unread; a value is refused)
        "logit_scale": 1.0 if mpt else getattr(c, "logit_scale", 1.0),
        # Cohere2Attention rotates where it windows (a sliding type and a window)
        "rotary_layers": ([c.sliding_window is None or t == "sliding_attention" for t in c.layer_types]
                          if arch == "Exaone4ForCausalLM"
                          else [c.sliding_window is not None and t == "sliding_attention" for t in c.layer_types]
                          if arch == "Cohere2ForCausalLM"
                          else [False] * layers if gpt2 or opt or bloom or neo or mpt
                          else [bool(x) for x in getattr(c, "no_rope_layers", None) or [1] * layers]),
        # Ministral 3's query scale (get_llama_4_attn_scale reads the standardized rope parameters)
        "query_scale": {"beta": rope["llama_4_scaling_beta"], "original_max": rope["original_max_position_embeddings"]}
                       if arch == "Ministral3ForCausalLM" else None,
        "bos_token_id": c.bos_token_id,
        "eos_token_ids": [] if eos is None else eos if isinstance(eos, list) else [eos],
    }


def main():
    cases = []
    tmp = "/tmp/config-defaults-case"
    os.makedirs(tmp, exist_ok=True)
    for arch, model_type in ARCHS:
        known = AutoConfig.for_model(model_type).to_dict()
        seen = []
        for i, extra in enumerate(EXTRA):
            # only fields this architecture reads (the engine refuses the others by name)
            extra = {k: v for k, v in extra.items()
                     if k in known or k in LEGACY or k in LEGACY_BY_ARCH.get(arch, ())}
            if extra in seen:
                continue
            seen.append(extra)
            sizes = {k: v for k, v in SIZES.items() if not (arch == "MptForCausalLM" and k == "intermediate_size")}
            config = {"architectures": [arch], "model_type": model_type, **sizes, **extra}
            json.dump(config, open(os.path.join(tmp, "config.json"), "w"))
            unread = [k for k in GPT2_UNREAD if extra.get(k) is not None
                      # GPTBigCodeConfig rewrites num_key_value_heads from multi_query: not refused
                      and not (k == "num_key_value_heads" and arch == "GPTBigCodeForCausalLM")] \
                if arch in ("GPT2LMHeadModel", "OPTForCausalLM", "GPTBigCodeForCausalLM", "GPTJForCausalLM",
                            "GPTNeoForCausalLM", "MptForCausalLM", "CodeGenForCausalLM") else []
            if arch == "BloomForCausalLM":
                unread = [k for k in ("slow_but_exact",)
                          if extra.get(k)] + [k for k in BLOOM_UNREAD if extra.get(k) is not None]
            if arch == "OPTForCausalLM":
                # weightless LayerNorms: refused by name
                unread += [k for k, v in extra.items() if (k, v) == ("layer_norm_elementwise_affine", False)]
            if unread:
                # GPT-2 and OPT do not read them; the engine refuses them by name rather than guess
                cases.append({"name": f"{model_type}_{i}", "config": config, "refused": unread[0]})
                continue
            if arch == "MptForCausalLM":
                unread += [k for k, bad in MPT_REFUSED if k in extra and bad(extra[k])]
                unread += [k for k, bad in MPT_ATTN_REFUSED if k in extra.get("attn_config", {})
                           and bad(extra["attn_config"][k])]
                if unread:
                    cases.append({"name": f"{model_type}_{i}", "config": config, "refused": unread[0]})
                    continue
            if extra.get("hidden_act") == "xielu" and arch not in ("ApertusForCausalLM", "GptOssForCausalLM"):
                # ACT2FN["xielu"] adds learned parameters to the MLP: the engine serves them on Apertus only
                # (GPT-OSS never reads hidden_act)
                cases.append({"name": f"{model_type}_{i}", "config": config, "refused": "xielu"})
                continue
            if arch == "FalconForCausalLM" and extra.get("alibi"):
                # transformers computes it; the engine refuses it by name (bfloat16 slopes, scaled)
                cases.append({"name": f"{model_type}_{i}", "config": config, "refused": "alibi"})
                continue
            try:
                c = AutoConfig.from_pretrained(tmp)
                # the model must build from it too (MinistralAttention fails without head_dim)
                # OPT's forward reads a tensor's value (.item()), which a meta tensor has not
                # and so do Mixtral's experts (which rows each expert takes: nonzero)
                with torch.device("cpu" if arch in ("OPTForCausalLM", "MixtralForCausalLM", "Qwen3MoeForCausalLM",
                                                    "OlmoeForCausalLM", "FlexOlmoForCausalLM", "Qwen2MoeForCausalLM",
                                                    "GptOssForCausalLM", "Glm4MoeForCausalLM", "Dots1ForCausalLM",
                                                    "Ernie4_5_MoeForCausalLM",
                                                    "GraniteMoeForCausalLM", "GraniteMoeSharedForCausalLM")
                                  else "meta"):
                    model = AutoModelForCausalLM.from_config(c)
                    # and run (Helium's o_proj maps hidden_size whatever head_dim is)
                    model(input_ids=torch.zeros(1, 3, dtype=torch.long))
                r = resolved(c, arch, model)
                if "head_dim" not in config and config["hidden_size"] % config["num_attention_heads"] != 0:
                    # transformers floors hidden_size / num_attention_heads here; the engine refuses
                    # such a config by name rather than serve heads that do not tile the hidden size
                    cases.append({"name": f"{model_type}_{i}", "config": config,
                                  "refused": "no head_dim is given"})
                    continue
                # the EOS ids generate stops on: without generation_config.json, from_pretrained
                # reads config.json itself as the generation config (not the class's defaults)
                eos = GenerationConfig.from_pretrained(
                    tmp, config_file_name="config.json", _from_model_config=True).eos_token_id
                r["eos_token_ids"] = [] if eos is None else eos if isinstance(eos, list) else [eos]
                cases.append({"name": f"{model_type}_{i}", "config": config, "transformers": r})
            except Exception as e:
                if any(v is None for v in extra.values()):
                    continue  # transformers refuses this null: the cases below cover it
                cases.append({"name": f"{model_type}_{i}", "config": config,
                              "error": f"{type(e).__name__}: {e}"})
    non_nullable = {}
    for arch, model_type in ARCHS:
        known = AutoConfig.for_model(model_type).to_dict()
        refused = []
        for k in sorted(known):
            if k in ("architectures", "model_type", "transformers_version"):
                continue
            config = {"architectures": [arch], "model_type": model_type, **SIZES, k: None}
            json.dump(config, open(os.path.join(tmp, "config.json"), "w"))
            try:
                AutoConfig.from_pretrained(tmp)
            except Exception as e:
                # a null the field's type refuses (EXAONE 4's null window fails only where the layer
                # types are derived from it: that case is recorded as an error, not as a null refused)
                if type(e).__name__ == "StrictDataclassFieldValidationError":
                    refused.append(k)
                cases.append({"name": f"{model_type}_null_{k}", "config": config,
                              "error": f"{type(e).__name__}: {str(e)[:200]}"})
        non_nullable[arch] = refused
    json.dump(non_nullable, open(NON_NULLABLE, "w"), indent=1)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    json.dump({"transformers": transformers.__version__, "cases": cases}, open(OUT, "w"), indent=1)


if __name__ == "__main__":
    main()
