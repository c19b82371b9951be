package io.flinklora.gpu.model;

import com.fasterxml.jackson.databind.JsonNode;
import io.flinklora.annotation.Internal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The {@code config.json} fields this server knows, per architecture, and what it does with each. A
 * field outside this catalogue may change the computation in a way not implemented here, so it is
 * refused by name rather than ignored. The README's table is checked against this class.
 */
@Internal
public final class ModelFields {
    private ModelFields() {}

    /**
     * How a field is treated: read and applied (possibly with refused values), or without effect on
     * the forward pass.
     */
    public enum Use {
        APPLIED,
        NO_EFFECT
    }

    /** One known field: how it is used and, for the README, what is supported or refused. */
    public record Field(String name, Use use, String note) {}

    private static final List<Field> COMMON =
            List.of(
                    new Field(
                            "architectures",
                            Use.APPLIED,
                            "the architectures above; others refused"),
                    new Field("hidden_size", Use.APPLIED, ""),
                    new Field("intermediate_size", Use.APPLIED, ""),
                    new Field("num_hidden_layers", Use.APPLIED, ""),
                    new Field("num_attention_heads", Use.APPLIED, ""),
                    new Field("num_key_value_heads", Use.APPLIED, "grouped-query attention"),
                    new Field(
                            "head_dim",
                            Use.APPLIED,
                            "may differ from hidden_size / num_attention_heads (defaults as transformers: Qwen3 128, Gemma 256);"
                                    + " a hidden_size that is not a multiple of num_attention_heads is"
                                    + " refused where head_dim is absent, and always for Llama, Gemma 2"
                                    + " and 3, VaultGemma, Arcee, CWM and Jais 2, whose config classes"
                                    + " refuse it"),
                    new Field("vocab_size", Use.APPLIED, ""),
                    new Field(
                            "max_position_embeddings", Use.APPLIED, "the longest sequence served"),
                    new Field(
                            "rms_norm_eps",
                            Use.APPLIED,
                            "absent: the config class's default (1e-5 for Phi-3, OLMo 2 and 3, ERNIE"
                                    + " 4.5 and EXAONE 4, 1e-8 Helium, 1.5625e-7 GLM, 1e-6 otherwise);"
                                    + " no effect for Cohere, StableLM, Phi, Persimmon and Jais 2 (layer_norm_eps),"
                                    + " Starcoder2 (norm_epsilon), Nemotron (norm_eps) and OLMo (its"
                                    + " LayerNorm fixes"
                                    + " 1e-5)"),
                    new Field("tie_word_embeddings", Use.APPLIED, ""),
                    new Field("rope_theta", Use.APPLIED, "transformers 4.x layout"),
                    new Field(
                            "rope_scaling",
                            Use.APPLIED,
                            "4.x layout; rope_type default, linear, llama3, yarn, dynamic, longrope; others refused"),
                    new Field(
                            "rope_parameters",
                            Use.APPLIED,
                            "5.x layout, flat or per layer type (equal entries); same rope types"),
                    new Field(
                            "original_max_position_embeddings",
                            Use.APPLIED,
                            "top-level override for llama3 / yarn / longrope; unread by other"
                                    + " rope types, as in transformers"),
                    new Field(
                            "partial_rotary_factor",
                            Use.APPLIED,
                            "Phi3, GLM, GLM-4-MoE, Phi, Persimmon and Nemotron (default 0.5), StableLM and GPT-NeoX (default 0.25): the leading"
                                    + " share of each head rotates (an odd count n: ceil(n / 2) frequencies"
                                    + " over n rotating n + 1 dimensions on GPT-NeoX, Phi3, GLM, GLM-4, GLM-4-MoE and"
                                    + " Nemotron with a default, linear, llama3 or dynamic rotary, as"
                                    + " transformers; refused elsewhere, where transformers fails); 1.0 only"
                                    + " elsewhere"),
                    new Field("bos_token_id", Use.APPLIED, ""),
                    new Field(
                            "eos_token_id",
                            Use.APPLIED,
                            "an id or a list: generation stops on any of them; absent: none from"
                                    + " here, as transformers' generate reads config.json itself"
                                    + " without generation_config.json (not the config class's"
                                    + " default)"),
                    new Field("transformers_version", Use.NO_EFFECT, ""),
                    new Field("model_type", Use.NO_EFFECT, ""),
                    new Field(
                            "_name_or_path",
                            Use.APPLIED,
                            "only the model ids AutoTokenizer sends to its generic tokenizer"
                                    + " backend"),
                    new Field(
                            "dtype",
                            Use.NO_EFFECT,
                            "weights are read in their file dtype, computed in the engine's dtype"),
                    new Field("torch_dtype", Use.NO_EFFECT, "as dtype (4.x name)"),
                    new Field("use_cache", Use.NO_EFFECT, "the engine always keeps a KV cache"),
                    new Field(
                            "pad_token_id",
                            Use.NO_EFFECT,
                            "no padding tokens are fed to the model; an id outside the"
                                    + " vocabulary (the class default included) is refused, as"
                                    + " transformers cannot build the embedding with it"),
                    new Field("initializer_range", Use.NO_EFFECT, "training only"),
                    new Field("attention_dropout", Use.NO_EFFECT, "training only"),
                    new Field("output_hidden_states", Use.NO_EFFECT, ""),
                    new Field("output_attentions", Use.NO_EFFECT, ""),
                    new Field("return_dict", Use.NO_EFFECT, ""),
                    new Field("use_return_dict", Use.NO_EFFECT, ""),
                    new Field("chunk_size_feed_forward", Use.NO_EFFECT, "0 in decoder-only models"),
                    new Field("is_encoder_decoder", Use.NO_EFFECT, "false for these architectures"),
                    new Field("is_decoder", Use.NO_EFFECT, ""),
                    new Field("id2label", Use.NO_EFFECT, "classification heads only"),
                    new Field("label2id", Use.NO_EFFECT, "classification heads only"),
                    new Field("problem_type", Use.NO_EFFECT, "classification heads only"),
                    new Field(
                            "tokenizer_class",
                            Use.APPLIED,
                            "the tokenizer class when tokenizer_config.json names none, as"
                                    + " AutoTokenizer picks it (Tokenizer files below)"),
                    new Field("gradient_checkpointing", Use.NO_EFFECT, "training only"),
                    new Field(
                            "_num_labels",
                            Use.NO_EFFECT,
                            "classification heads only (older files)"),
                    new Field(
                            "prefix",
                            Use.NO_EFFECT,
                            "a text prefix for pipelines (OPT's files carry one); generate does not"
                                    + " read it"));

    private static final Field SILU =
            new Field(
                    "hidden_act",
                    Use.APPLIED,
                    "silu (or swish), gelu, gelu_pytorch_tanh (or gelu_new, gelu_fast), relu, relu2, quick_gelu;"
                            + " others refused");

    private static final Field ATTENTION_BIAS =
            new Field("attention_bias", Use.APPLIED, "biases on q, k, v and o projections");
    private static final Field MLP_BIAS =
            new Field("mlp_bias", Use.APPLIED, "biases on gate, up and down projections");

    private static final List<Field> LLAMA =
            List.of(
                    SILU,
                    ATTENTION_BIAS,
                    MLP_BIAS,
                    new Field("pretraining_tp", Use.NO_EFFECT, "sliced matmuls, same result"));

    private static final List<Field> MISTRAL =
            List.of(
                    SILU,
                    new Field(
                            "sliding_window",
                            Use.APPLIED,
                            "every layer attends through the window (absent: 4096, as"
                                    + " MistralConfig; null: none)"));

    private static final List<Field> MINISTRAL =
            List.of(
                    SILU,
                    new Field(
                            "sliding_window",
                            Use.APPLIED,
                            "the window of the sliding layers (absent: 4096, as MinistralConfig;"
                                    + " null: none)"),
                    new Field(
                            "layer_types",
                            Use.APPLIED,
                            "full_attention / sliding_attention (default: every layer slides when"
                                    + " there is a window); a sliding type with sliding_window null"
                                    + " is refused, as transformers 5 fails on it"));

    private static final List<Field> MINISTRAL3 =
            List.of(
                    SILU,
                    new Field(
                            "sliding_window",
                            Use.APPLIED,
                            "every layer attends through the window (absent or null: none, as"
                                    + " Ministral3Config)"));

    private static final List<Field> HELIUM =
            List.of(
                    SILU,
                    new Field(
                            "attention_bias",
                            Use.APPLIED,
                            "biases on q, k and v projections (o_proj has none)"),
                    MLP_BIAS);

    private static final List<Field> EXAONE4 =
            List.of(
                    SILU,
                    new Field(
                            "sliding_window",
                            Use.APPLIED,
                            "the window of the sliding layers (absent: 4096); with a window only"
                                    + " the sliding layers rotate, the full ones have no position"
                                    + " embedding; null: every layer rotates"),
                    new Field(
                            "sliding_window_pattern",
                            Use.APPLIED,
                            "without layer_types: every n-th layer full attention (default 4); a"
                                    + " string pattern or 0 without layer_types is refused, as"
                                    + " Exaone4Config fails on it"),
                    new Field(
                            "layer_types",
                            Use.APPLIED,
                            "full_attention / sliding_attention; sliding types without a window"
                                    + " are refused, as transformers 5 fails on them"));

    // Cohere's and Cohere 2's LayerNorm epsilon and logit scale
    private static final Field COHERE_NORM_EPS =
            new Field(
                    "layer_norm_eps",
                    Use.APPLIED,
                    "the epsilon of its mean-centred LayerNorms (default 1e-5)");
    private static final Field COHERE_LOGIT_SCALE =
            new Field(
                    "logit_scale",
                    Use.APPLIED,
                    "logits times it, after the adapters' head deltas (default 0.0625)");

    private static final List<Field> COHERE =
            List.of(
                    SILU,
                    ATTENTION_BIAS,
                    COHERE_NORM_EPS,
                    COHERE_LOGIT_SCALE,
                    new Field(
                            "use_qk_norm",
                            Use.APPLIED,
                            "a LayerNorm over each head of q and k, one weight row per head"));

    private static final List<Field> COHERE2 =
            List.of(
                    SILU,
                    ATTENTION_BIAS,
                    COHERE_NORM_EPS,
                    COHERE_LOGIT_SCALE,
                    new Field(
                            "sliding_window",
                            Use.APPLIED,
                            "the window of the sliding layers, which alone rotate (the full ones"
                                    + " have no position embedding; absent: 4096); null is refused,"
                                    + " as transformers 5 fails on it"),
                    new Field(
                            "sliding_window_pattern",
                            Use.APPLIED,
                            "without layer_types: every n-th layer full attention (default 4)"),
                    new Field("layer_types", Use.APPLIED, "full_attention / sliding_attention"));

    // StableLM's, Phi's and GPT-NeoX's LayerNorm epsilon
    private static final Field BIASED_LAYER_NORM_EPS =
            new Field(
                    "layer_norm_eps",
                    Use.APPLIED,
                    "the epsilon of its LayerNorms, which carry a bias (default 1e-5)");

    private static final List<Field> GPT_NEOX =
            List.of(
                    new Field(
                            "hidden_act",
                            Use.APPLIED,
                            "the MLP's activation between dense_h_to_4h and dense_4h_to_h (default"
                                    + " gelu; silu, gelu_pytorch_tanh, gelu_new or gelu_fast"
                                    + " (GPT-NeoX-20B's), relu too; others refused)"),
                    new Field(
                            "attention_bias",
                            Use.APPLIED,
                            "biases on query_key_value and dense (default true; the MLP always"
                                    + " has them)"),
                    BIASED_LAYER_NORM_EPS,
                    new Field(
                            "use_parallel_residual",
                            Use.APPLIED,
                            "attention and the MLP side by side, each behind its own LayerNorm of"
                                    + " the residual stream (default true)"),
                    new Field(
                            "rotary_pct",
                            Use.APPLIED,
                            "4.x name of partial_rotary_factor (default 0.25)"),
                    new Field(
                            "rotary_emb_base",
                            Use.APPLIED,
                            "4.x name of rope_theta (a top-level rope_theta or"
                                    + " partial_rotary_factor is unread, as GPTNeoXConfig leaves"
                                    + " them)"),
                    new Field("hidden_dropout", Use.NO_EFFECT, "training only"),
                    new Field("classifier_dropout", Use.NO_EFFECT, "classification heads only"));

    private static final List<Field> GPT2 =
            List.of(
                    new Field("n_embd", Use.APPLIED, "hidden_size (its alias; default 768)"),
                    new Field("n_layer", Use.APPLIED, "num_hidden_layers (its alias; default 12)"),
                    new Field("n_head", Use.APPLIED, "num_attention_heads (its alias; default 12)"),
                    new Field(
                            "n_positions",
                            Use.APPLIED,
                            "max_position_embeddings (its alias; default 1024): the rows of the"
                                    + " learned position table wpe, the longest sequence served"),
                    new Field(
                            "n_inner",
                            Use.APPLIED,
                            "the MLP's width (null: 4 x n_embd); an intermediate_size is not read,"
                                    + " as GPT2Block reads n_inner"),
                    new Field(
                            "activation_function",
                            Use.APPLIED,
                            "the MLP's activation between c_fc and c_proj (default gelu_new; the"
                                    + " values hidden_act takes elsewhere; others refused); a"
                                    + " hidden_act is refused, as GPT-2 does not read it"),
                    new Field(
                            "layer_norm_epsilon",
                            Use.APPLIED,
                            "the epsilon of its LayerNorms, which carry a bias (default 1e-5)"),
                    new Field(
                            "scale_attn_weights",
                            Use.APPLIED,
                            "scores times head_dim^-1/2 (default true; false: unscaled)"),
                    new Field(
                            "scale_attn_by_inverse_layer_idx",
                            Use.APPLIED,
                            "layer i's scores further divided by i + 1 (default false)"),
                    new Field(
                            "reorder_and_upcast_attn",
                            Use.NO_EFFECT,
                            "transformers' eager attention only: the same scaled product computed"
                                    + " in float32, which the engine's float32 weights compute"
                                    + " anyway"),
                    new Field(
                            "add_cross_attention",
                            Use.APPLIED,
                            "false only (cross-attention needs encoder states)"),
                    new Field("resid_pdrop", Use.NO_EFFECT, "training only"),
                    new Field("embd_pdrop", Use.NO_EFFECT, "training only"),
                    new Field("attn_pdrop", Use.NO_EFFECT, "training only"),
                    new Field("summary_type", Use.NO_EFFECT, "GPT2DoubleHeadsModel only"),
                    new Field("summary_use_proj", Use.NO_EFFECT, "GPT2DoubleHeadsModel only"),
                    new Field("summary_activation", Use.NO_EFFECT, "GPT2DoubleHeadsModel only"),
                    new Field("summary_proj_to_labels", Use.NO_EFFECT, "GPT2DoubleHeadsModel only"),
                    new Field("summary_first_dropout", Use.NO_EFFECT, "GPT2DoubleHeadsModel only"),
                    new Field("summary_last_dropout", Use.NO_EFFECT, "GPT2DoubleHeadsModel only"),
                    new Field(
                            "n_ctx",
                            Use.NO_EFFECT,
                            "legacy (the original checkpoints carry it); transformers 5 reads"
                                    + " n_positions"),
                    new Field(
                            "n_special",
                            Use.NO_EFFECT,
                            "OpenAI GPT's, in gpt2-medium and -large's files; unread"),
                    new Field(
                            "predict_special_tokens",
                            Use.NO_EFFECT,
                            "OpenAI GPT's, in gpt2-medium and -large's files; unread"),
                    new Field(
                            "task_specific_params",
                            Use.NO_EFFECT,
                            "pipeline presets (the original checkpoints carry them); generate"
                                    + " does not read them"),
                    new Field("hidden_dropout", Use.NO_EFFECT, "classification heads only"),
                    new Field("classifier_dropout", Use.NO_EFFECT, "classification heads only"));

    // GPT2DoubleHeadsModel's sequence-summary head, which GPT-2-style configs carry
    private static final List<Field> SUMMARY_HEAD =
            java.util.stream.Stream.of(
                            "summary_type",
                            "summary_use_proj",
                            "summary_activation",
                            "summary_proj_to_labels",
                            "summary_first_dropout",
                            "summary_last_dropout")
                    .map(n -> new Field(n, Use.NO_EFFECT, "GPT2DoubleHeadsModel only"))
                    .toList();

    private static final List<Field> GPT_BIGCODE =
            java.util.stream.Stream.concat(
                            SUMMARY_HEAD.stream(),
                            java.util.stream.Stream.of(
                                    new Field(
                                            "n_embd",
                                            Use.APPLIED,
                                            "hidden_size (its alias; default 768)"),
                                    new Field(
                                            "n_layer",
                                            Use.APPLIED,
                                            "num_hidden_layers (its alias; default 12)"),
                                    new Field(
                                            "n_head",
                                            Use.APPLIED,
                                            "num_attention_heads (its alias; default 12)"),
                                    new Field(
                                            "n_positions",
                                            Use.APPLIED,
                                            "max_position_embeddings (its alias; default 1024): the rows of wpe,"
                                                    + " the longest sequence served"),
                                    new Field(
                                            "n_inner",
                                            Use.APPLIED,
                                            "the MLP's width (null: 4 x n_embd)"),
                                    new Field(
                                            "activation_function",
                                            Use.APPLIED,
                                            "the MLP's activation (default gelu_pytorch_tanh; the values hidden_act"
                                                    + " takes elsewhere; others refused)"),
                                    new Field(
                                            "layer_norm_epsilon",
                                            Use.APPLIED,
                                            "the epsilon of its LayerNorms, which carry a bias (default 1e-5)"),
                                    new Field(
                                            "scale_attn_weights",
                                            Use.APPLIED,
                                            "scores times head_dim^-1/2 (default true; false: unscaled)"),
                                    new Field(
                                            "multi_query",
                                            Use.APPLIED,
                                            "one key and value head for all query heads (default true); false: one"
                                                    + " each, c_attn holding q, k and v one head after another. The"
                                                    + " num_key_value_heads GPTBigCodeConfig saves is rewritten from it"
                                                    + " on load, so not read"),
                                    new Field(
                                            "attention_softmax_in_fp32",
                                            Use.NO_EFFECT,
                                            "unread by transformers 5, whose attention takes its softmax in"
                                                    + " float32 anyway"),
                                    new Field(
                                            "scale_attention_softmax_in_fp32",
                                            Use.NO_EFFECT,
                                            "unread by transformers 5 (a rescaling that cancels in float32)"),
                                    new Field(
                                            "add_cross_attention",
                                            Use.APPLIED,
                                            "false only (cross-attention needs encoder states)"),
                                    new Field("resid_pdrop", Use.NO_EFFECT, "training only"),
                                    new Field("embd_pdrop", Use.NO_EFFECT, "training only"),
                                    new Field("attn_pdrop", Use.NO_EFFECT, "training only"),
                                    new Field(
                                            "hidden_dropout",
                                            Use.NO_EFFECT,
                                            "classification heads only"),
                                    new Field(
                                            "classifier_dropout",
                                            Use.NO_EFFECT,
                                            "classification heads only"),
                                    // the old custom inference runner's switches in StarCoder's
                                    // files; transformers 5 reads none
                                    new Field("inference_runner", Use.NO_EFFECT, "unread"),
                                    new Field("max_batch_size", Use.NO_EFFECT, "unread"),
                                    new Field("max_sequence_length", Use.NO_EFFECT, "unread"),
                                    new Field("pad_key_length", Use.NO_EFFECT, "unread"),
                                    new Field("pre_allocate_kv_cache", Use.NO_EFFECT, "unread"),
                                    new Field("validate_runner_input", Use.NO_EFFECT, "unread")))
                    .toList();

    private static final List<Field> GPTJ =
            java.util.stream.Stream.concat(
                            SUMMARY_HEAD.stream(),
                            java.util.stream.Stream.of(
                                    new Field(
                                            "n_embd",
                                            Use.APPLIED,
                                            "hidden_size (its alias; default 4096)"),
                                    new Field(
                                            "n_layer",
                                            Use.APPLIED,
                                            "num_hidden_layers (its alias; default 28)"),
                                    new Field(
                                            "n_head",
                                            Use.APPLIED,
                                            "num_attention_heads (its alias; default 16)"),
                                    new Field(
                                            "n_positions",
                                            Use.APPLIED,
                                            "max_position_embeddings (its alias; default 2048)"),
                                    new Field(
                                            "n_inner",
                                            Use.APPLIED,
                                            "the MLP's width (null: 4 x n_embd)"),
                                    new Field(
                                            "rotary_dim",
                                            Use.APPLIED,
                                            "the leading dimensions of each head that rotate, in adjacent pairs"
                                                    + " (default 64; even, at most the head width)"),
                                    new Field(
                                            "activation_function",
                                            Use.APPLIED,
                                            "the MLP's activation (default gelu_new; the values hidden_act takes"
                                                    + " elsewhere; others refused)"),
                                    new Field(
                                            "layer_norm_epsilon",
                                            Use.APPLIED,
                                            "the epsilon of its LayerNorms, which carry a bias (default 1e-5)"),
                                    new Field("resid_pdrop", Use.NO_EFFECT, "training only"),
                                    new Field("embd_pdrop", Use.NO_EFFECT, "training only"),
                                    new Field("attn_pdrop", Use.NO_EFFECT, "training only"),
                                    new Field(
                                            "rotary",
                                            Use.NO_EFFECT,
                                            "unread: GPT-J always rotates its rotary_dim"),
                                    new Field(
                                            "scale_attn_weights",
                                            Use.NO_EFFECT,
                                            "unread: GPT-J always divides scores by"
                                                    + " sqrt(head_dim)"),
                                    new Field(
                                            "task_specific_params",
                                            Use.NO_EFFECT,
                                            "pipeline presets; generate does not read them")))
                    .toList();

    // CodeGenConfig: GPTJConfig's fields (its published configs carry GPT-J's unread
    // scale_attn_weights too), with n_ctx
    private static final List<Field> CODEGEN =
            java.util.stream.Stream.concat(
                            GPTJ.stream(),
                            java.util.stream.Stream.of(
                                    new Field(
                                            "n_ctx",
                                            Use.NO_EFFECT,
                                            "unread: n_positions sizes the rotary table")))
                    .toList();

    private static final List<Field> GPT_NEO =
            java.util.stream.Stream.concat(
                            SUMMARY_HEAD.stream(),
                            java.util.stream.Stream.of(
                                    new Field(
                                            "num_layers",
                                            Use.APPLIED,
                                            "num_hidden_layers (its alias; default 24)"),
                                    new Field(
                                            "num_heads",
                                            Use.APPLIED,
                                            "num_attention_heads (its alias; default 16)"),
                                    new Field(
                                            "attention_types",
                                            Use.APPLIED,
                                            "[[types, repeat], ...] expanded into one attention type per layer"
                                                    + " (default [[[\"global\", \"local\"], 12]]): global"
                                                    + " layers attend to every earlier position, local ones"
                                                    + " through window_size; the expansion must cover"
                                                    + " num_layers exactly; types other than global and"
                                                    + " local refused"),
                                    new Field(
                                            "attention_layers",
                                            Use.APPLIED,
                                            "the expanded types as transformers saves them; when present it"
                                                    + " wins over attention_types, as GPTNeoConfig sets it"
                                                    + " after expanding them"),
                                    new Field(
                                            "window_size",
                                            Use.APPLIED,
                                            "the local layers' window: a query sees itself and the"
                                                    + " window_size - 1 positions before it (default 256)"),
                                    new Field(
                                            "activation_function",
                                            Use.APPLIED,
                                            "the MLP's activation (default gelu_new; the values hidden_act takes"
                                                    + " elsewhere; others refused)"),
                                    new Field(
                                            "layer_norm_epsilon",
                                            Use.APPLIED,
                                            "the epsilon of its LayerNorms, which carry a bias (default 1e-5)"),
                                    new Field("resid_dropout", Use.NO_EFFECT, "training only"),
                                    new Field("embed_dropout", Use.NO_EFFECT, "training only"),
                                    new Field(
                                            "classifier_dropout",
                                            Use.NO_EFFECT,
                                            "classification heads only"),
                                    new Field(
                                            "task_specific_params",
                                            Use.NO_EFFECT,
                                            "pipeline presets; generate does not read them")))
                    .toList();

    private static final List<Field> FALCON =
            List.of(
                    new Field(
                            "num_kv_heads",
                            Use.APPLIED,
                            "key and value heads with new_decoder_architecture (default"
                                    + " num_attention_heads); without it one (multi_query) or one per"
                                    + " query head (another count refused, as transformers fails on it)"),
                    new Field(
                            "n_embed",
                            Use.APPLIED,
                            "legacy name of hidden_size, which it overrides"),
                    new Field(
                            "ffn_hidden_size",
                            Use.APPLIED,
                            "the MLP's width (null: 4 x hidden_size); an intermediate_size is not"
                                    + " read"),
                    new Field(
                            "activation",
                            Use.APPLIED,
                            "the MLP's activation (default gelu; the values hidden_act takes"
                                    + " elsewhere; others refused)"),
                    new Field(
                            "layer_norm_epsilon",
                            Use.APPLIED,
                            "the epsilon of its LayerNorms, which carry a bias (default 1e-5)"),
                    new Field(
                            "new_decoder_architecture",
                            Use.APPLIED,
                            "Falcon-40B's layer: num_kv_heads key-value groups in"
                                    + " query_key_value, attention and the MLP side by side (with"
                                    + " parallel_attn false refused: transformers fails)"),
                    new Field(
                            "multi_query",
                            Use.APPLIED,
                            "one key and value head (default true) without"
                                    + " new_decoder_architecture"),
                    new Field(
                            "parallel_attn",
                            Use.APPLIED,
                            "attention and the MLP side by side on one norm (default true); false:"
                                    + " in sequence, with post_attention_layernorm"),
                    new Field(
                            "num_ln_in_parallel_attn",
                            Use.APPLIED,
                            "with new_decoder_architecture: 2 (default) norms, ln_attn and ln_mlp,"
                                    + " or 1 shared; 2 without it refused (transformers fails)"),
                    new Field(
                            "bias",
                            Use.APPLIED,
                            "biases on all four linear modules (default false)"),
                    new Field(
                            "alibi",
                            Use.APPLIED,
                            "false only (true refused: transformers 5's eager and SDPA attention"
                                    + " disagree on Falcon's ALiBi, eager adding it twice)"),
                    new Field("hidden_dropout", Use.NO_EFFECT, "training only"),
                    new Field(
                            "apply_residual_connection_post_layernorm",
                            Use.NO_EFFECT,
                            "a field of the original RefinedWeb configs that transformers 5 never"
                                    + " reads"),
                    new Field(
                            "auto_map",
                            Use.NO_EFFECT,
                            "the original remote code's classes; transformers' own Falcon classes are"
                                    + " what loads without trust_remote_code"));

    private static final List<Field> MPT =
            List.of(
                    new Field("d_model", Use.APPLIED, "hidden_size (its alias; default 2048)"),
                    new Field(
                            "n_heads", Use.APPLIED, "num_attention_heads (its alias; default 16)"),
                    new Field("n_layers", Use.APPLIED, "num_hidden_layers (its alias; default 24)"),
                    new Field(
                            "max_seq_len",
                            Use.APPLIED,
                            "max_position_embeddings (its alias; default 2048): the longest sequence"
                                    + " served"),
                    new Field(
                            "expansion_ratio",
                            Use.APPLIED,
                            "4 only: MptMLP is 4 x d_model wide whatever it says"),
                    new Field(
                            "layer_norm_epsilon",
                            Use.APPLIED,
                            "the epsilon of its LayerNorms, which have no bias (default 1e-5)"),
                    new Field(
                            "attn_config",
                            Use.APPLIED,
                            "clip_qkv (q, k and v clamped), softmax_scale (null: head_dim^-1/2) applied;"
                                    + " attn_type multihead_attention, alibi true, alibi_bias_max 8,"
                                    + " prefix_lm, qk_ln and attn_uses_sequence_id false only (transformers"
                                    + " 5 implements nothing else); attn_pdrop, attn_impl no effect;"
                                    + " other fields refused"),
                    new Field(
                            "no_bias",
                            Use.APPLIED,
                            "true only (transformers 5 builds every module without a bias)"),
                    new Field(
                            "logit_scale",
                            Use.APPLIED,
                            "null only (MptForCausalLM does not read it)"),
                    new Field(
                            "learned_pos_emb",
                            Use.NO_EFFECT,
                            "unread by transformers 5 (ALiBi always); a checkpoint with a position"
                                    + " table is refused by its tensor name"),
                    new Field("resid_pdrop", Use.NO_EFFECT, "training only"),
                    new Field("emb_pdrop", Use.NO_EFFECT, "training only"),
                    new Field("embedding_fraction", Use.NO_EFFECT, "training only"),
                    new Field("init_device", Use.NO_EFFECT, "initialisation only"),
                    new Field("init_config", Use.NO_EFFECT, "initialisation only"),
                    new Field(
                            "norm_type",
                            Use.NO_EFFECT,
                            "every MPT has the same LayerNorm (low_precision_layernorm)"),
                    new Field(
                            "tokenizer_name",
                            Use.NO_EFFECT,
                            "the original tokenizer's hub name; the folder's tokenizer is used"),
                    new Field("verbose", Use.NO_EFFECT, "the original code's logging level"),
                    new Field(
                            "auto_map",
                            Use.NO_EFFECT,
                            "the original remote code's classes; transformers' own MPT classes are"
                                    + " what loads without trust_remote_code"));

    private static final List<Field> BLOOM =
            List.of(
                    new Field("n_layer", Use.APPLIED, "num_hidden_layers (its alias; default 2)"),
                    new Field("n_head", Use.APPLIED, "num_attention_heads (its alias; default 8)"),
                    new Field(
                            "n_embed",
                            Use.APPLIED,
                            "legacy name of hidden_size, which it overrides"),
                    new Field(
                            "layer_norm_epsilon",
                            Use.APPLIED,
                            "the epsilon of its LayerNorms, which carry a bias (default 1e-5)"),
                    new Field(
                            "apply_residual_connection_post_layernorm",
                            Use.APPLIED,
                            "with true each sublayer's output joins its input norm's output instead of"
                                    + " the residual stream (default false)"),
                    new Field(
                            "slow_but_exact",
                            Use.APPLIED,
                            "false only (true: tensor-parallel slices summed in their own order,"
                                    + " refused)"),
                    new Field(
                            "pretraining_tp",
                            Use.NO_EFFECT,
                            "read only with slow_but_exact, which is refused"),
                    new Field("hidden_dropout", Use.NO_EFFECT, "training only"),
                    // fields the original BLOOM checkpoints carry that BloomConfig / BloomModel
                    // never read (Megatron training switches, a fixed 4 x hidden MLP)
                    new Field(
                            "attention_softmax_in_fp32",
                            Use.NO_EFFECT,
                            "unread by transformers 5 (its softmax is float32 anyway)"),
                    new Field("bias_dropout_fusion", Use.NO_EFFECT, "Megatron training switch"),
                    new Field("masked_softmax_fusion", Use.NO_EFFECT, "Megatron training switch"),
                    new Field("skip_bias_add", Use.NO_EFFECT, "Megatron training switch"),
                    new Field("skip_bias_add_qkv", Use.NO_EFFECT, "Megatron training switch"),
                    new Field("offset_alibi", Use.NO_EFFECT, "unread by transformers"),
                    new Field("seq_length", Use.NO_EFFECT, "the training length; unread"),
                    new Field(
                            "unk_token_id", Use.NO_EFFECT, "the tokenizer's, unread by the model"),
                    new Field(
                            "n_inner",
                            Use.NO_EFFECT,
                            "unread: Bloom's MLP is 4 x hidden_size (another width fails on the"
                                    + " weights' shapes)"));

    private static final List<Field> OPT =
            List.of(
                    new Field(
                            "ffn_dim",
                            Use.APPLIED,
                            "the MLP's width between fc1 and fc2 (default 3072); an"
                                    + " intermediate_size is not read, as OPTDecoderLayer reads ffn_dim"),
                    new Field(
                            "activation_function",
                            Use.APPLIED,
                            "the MLP's activation (default relu; the values hidden_act takes"
                                    + " elsewhere; others refused); a hidden_act is refused, as OPT does"
                                    + " not read it"),
                    new Field(
                            "do_layer_norm_before",
                            Use.APPLIED,
                            "true (default): a LayerNorm before attention and before the MLP, and"
                                    + " a final one; false: each sum normed after its residual add, no"
                                    + " final norm"),
                    new Field(
                            "_remove_final_layer_norm",
                            Use.APPLIED,
                            "true: no final LayerNorm before the head (default false)"),
                    new Field(
                            "enable_bias",
                            Use.APPLIED,
                            "biases on q, k, v, out_proj, fc1 and fc2 (default true)"),
                    new Field(
                            "layer_norm_elementwise_affine",
                            Use.APPLIED,
                            "true only (LayerNorms with weight and bias)"),
                    new Field(
                            "word_embed_proj_dim",
                            Use.APPLIED,
                            "the width of the token embeddings and the head's input (null:"
                                    + " hidden_size); otherwise project_in and project_out map it to"
                                    + " and from hidden_size (OPT-350m); adapters on them are refused"
                                    + " by name"),
                    new Field("dropout", Use.NO_EFFECT, "training only"),
                    new Field("layerdrop", Use.NO_EFFECT, "training only"),
                    new Field("init_std", Use.NO_EFFECT, "training only"),
                    new Field("activation_dropout", Use.NO_EFFECT, "training only"));

    private static final List<Field> OLMO =
            List.of(
                    SILU,
                    ATTENTION_BIAS,
                    new Field(
                            "clip_qkv",
                            Use.APPLIED,
                            "q, k and v clamped to [-clip_qkv, clip_qkv] after their projections"
                                    + " (adapters included); null: no clamp"));

    private static final List<Field> STABLELM =
            List.of(
                    SILU,
                    BIASED_LAYER_NORM_EPS,
                    new Field("use_qkv_bias", Use.APPLIED, "biases on q, k and v projections"),
                    new Field(
                            "qk_layernorm",
                            Use.APPLIED,
                            "a LayerNorm over each head of q and k, one module per head"),
                    new Field(
                            "use_parallel_residual",
                            Use.APPLIED,
                            "attention and the MLP side by side on the input LayerNorm"),
                    new Field("hidden_dropout", Use.NO_EFFECT, "training only"));

    // Fields the mixtures of experts share.
    private static final Field EXPERTS_PER_TOKEN =
            new Field(
                    "num_experts_per_tok",
                    Use.APPLIED,
                    "experts the router picks for each token (default 2 for Mixtral, 4 for Qwen2-MoE, 5 for FlexOlmo, 8 for Qwen3-MoE"
                            + " and OLMoE); more than the experts is refused");
    private static final Field NORM_TOPK_PROB =
            new Field(
                    "norm_topk_prob",
                    Use.APPLIED,
                    "the picked experts' weights renormalized to sum to 1 (default false)");
    private static final Field DECODER_SPARSE_STEP =
            new Field(
                    "decoder_sparse_step",
                    Use.APPLIED,
                    "layer l routes through the experts when (l + 1) % step == 0 (default 1)");
    private static final Field MLP_ONLY_LAYERS =
            new Field(
                    "mlp_only_layers",
                    Use.APPLIED,
                    "layers that keep the dense MLP (default none)");
    private static final Field OUTPUT_ROUTER_LOGITS =
            new Field(
                    "output_router_logits",
                    Use.NO_EFFECT,
                    "the auxiliary load-balancing loss only");
    private static final Field ROUTER_AUX_LOSS_COEF =
            new Field("router_aux_loss_coef", Use.NO_EFFECT, "training only");

    private static final List<Field> MIXTRAL =
            List.of(
                    new Field(
                            "hidden_act",
                            Use.APPLIED,
                            "the experts' activation: silu (or swish), gelu, gelu_pytorch_tanh (or"
                                    + " gelu_new, gelu_fast), relu, relu2, quick_gelu; others"
                                    + " refused"),
                    new Field(
                            "sliding_window",
                            Use.APPLIED,
                            "every layer attends through the window (absent or null: none, as"
                                    + " MixtralConfig)"),
                    new Field(
                            "num_local_experts",
                            Use.APPLIED,
                            "experts per layer (default 8), each Mistral's gated MLP (w1, w3, w2)"),
                    new Field(
                            "num_experts",
                            Use.APPLIED,
                            "num_local_experts' alias (MixtralConfig's attribute_map); both given"
                                    + " is refused"),
                    EXPERTS_PER_TOKEN,
                    new Field("router_jitter_noise", Use.NO_EFFECT, "training only"),
                    OUTPUT_ROUTER_LOGITS,
                    ROUTER_AUX_LOSS_COEF);

    private static final List<Field> QWEN3_MOE =
            List.of(
                    SILU,
                    ATTENTION_BIAS,
                    new Field(
                            "use_sliding_window",
                            Use.APPLIED,
                            "every layer attends through sliding_window (default false)"),
                    new Field(
                            "sliding_window",
                            Use.APPLIED,
                            "the window with use_sliding_window (default 4096); unread otherwise"),
                    new Field(
                            "max_window_layers",
                            Use.NO_EFFECT,
                            "Qwen3MoeConfig does not read it (the hub's configs carry it)"),
                    new Field(
                            "num_experts",
                            Use.APPLIED,
                            "experts per sparse layer (default 128), each a gated MLP"
                                    + " (gate_proj, up_proj, down_proj); 0: every layer dense"),
                    new Field(
                            "num_local_experts",
                            Use.APPLIED,
                            "num_experts' alias (Qwen3MoeConfig's attribute_map); both given is"
                                    + " refused"),
                    EXPERTS_PER_TOKEN,
                    NORM_TOPK_PROB,
                    new Field(
                            "moe_intermediate_size",
                            Use.APPLIED,
                            "each expert's width (default 768); intermediate_size is the dense"
                                    + " layers'"),
                    DECODER_SPARSE_STEP,
                    MLP_ONLY_LAYERS,
                    OUTPUT_ROUTER_LOGITS,
                    ROUTER_AUX_LOSS_COEF);

    private static final List<Field> OLMOE =
            List.of(
                    SILU,
                    ATTENTION_BIAS,
                    new Field(
                            "clip_qkv",
                            Use.APPLIED,
                            "q (after q_norm), k (after k_norm) and v clamped to [-clip, clip]; null:"
                                    + " not clamped"),
                    new Field(
                            "num_experts",
                            Use.APPLIED,
                            "experts per layer (default 64), each a gated MLP intermediate_size wide"),
                    new Field(
                            "num_local_experts",
                            Use.APPLIED,
                            "num_experts' alias (OlmoeConfig's attribute_map); both given is refused"),
                    EXPERTS_PER_TOKEN,
                    NORM_TOPK_PROB,
                    OUTPUT_ROUTER_LOGITS,
                    ROUTER_AUX_LOSS_COEF);

    // FlexOlmo: OLMo 2's block (norms after attention and the MLP) with OLMoE's experts, no clamp
    private static final List<Field> FLEX_OLMO =
            List.of(
                    SILU,
                    ATTENTION_BIAS,
                    new Field(
                            "num_experts",
                            Use.APPLIED,
                            "experts per layer (default 7), each a gated MLP intermediate_size wide"),
                    new Field(
                            "num_local_experts",
                            Use.APPLIED,
                            "num_experts' alias (FlexOlmoConfig's attribute_map); both given is"
                                    + " refused"),
                    EXPERTS_PER_TOKEN,
                    NORM_TOPK_PROB,
                    OUTPUT_ROUTER_LOGITS,
                    ROUTER_AUX_LOSS_COEF);

    private static final List<Field> QWEN2_MOE =
            List.of(
                    SILU,
                    new Field(
                            "qkv_bias",
                            Use.APPLIED,
                            "q, k and v carry a bias (default true); o_proj never does"),
                    new Field(
                            "use_sliding_window",
                            Use.APPLIED,
                            "with sliding_window and layer_types"),
                    new Field(
                            "sliding_window",
                            Use.APPLIED,
                            "the window of the sliding layers (absent: 4096, as the config class;"
                                    + " null: none)"),
                    new Field(
                            "max_window_layers",
                            Use.APPLIED,
                            "without layer_types, the even layers below it slide (default 28), as"
                                    + " Qwen2MoeConfig derives them"),
                    new Field(
                            "layer_types",
                            Use.APPLIED,
                            "full_attention / sliding_attention; a sliding type without a window is"
                                    + " refused, as transformers 5 fails on it"),
                    new Field(
                            "num_experts",
                            Use.APPLIED,
                            "experts per sparse layer (default 60), each a gated MLP (gate_proj,"
                                    + " up_proj, down_proj); 0: every layer dense"),
                    EXPERTS_PER_TOKEN,
                    NORM_TOPK_PROB,
                    new Field(
                            "moe_intermediate_size",
                            Use.APPLIED,
                            "each expert's width (default 1408); intermediate_size is the dense"
                                    + " layers'"),
                    new Field(
                            "shared_expert_intermediate_size",
                            Use.APPLIED,
                            "the shared expert's width (default 5632): a gated MLP every token"
                                    + " passes, times sigmoid(shared_expert_gate(x)), added to the"
                                    + " routed experts' sum"),
                    DECODER_SPARSE_STEP,
                    MLP_ONLY_LAYERS,
                    OUTPUT_ROUTER_LOGITS,
                    ROUTER_AUX_LOSS_COEF);

    // GLM-4-MoE (GLM-4.5, 4.6, 4.7): Llama's attention rotating the leading half of each head,
    // DeepSeek-V3's group-limited sigmoid router, routed experts beside a shared one
    private static final List<Field> GLM4_MOE =
            List.of(
                    SILU,
                    new Field(
                            "attention_bias",
                            Use.APPLIED,
                            "q, k and v carry a bias (default false); o_proj never does"),
                    new Field(
                            "use_qk_norm",
                            Use.APPLIED,
                            "a per-head RMSNorm over q and k before the rotary (default false)"),
                    new Field(
                            "n_routed_experts",
                            Use.APPLIED,
                            "experts per sparse layer (default 128), each a gated MLP (gate_proj,"
                                    + " up_proj, down_proj)"),
                    new Field(
                            "num_local_experts",
                            Use.APPLIED,
                            "n_routed_experts' alias (Glm4MoeConfig's attribute_map); both given is"
                                    + " refused"),
                    new Field(
                            "num_experts_per_tok",
                            Use.APPLIED,
                            "experts the router picks for each token (default 8); more than the"
                                    + " experts of the topk_group best groups is refused"),
                    new Field(
                            "norm_topk_prob",
                            Use.APPLIED,
                            "the picked experts' weights divided by their sum + 1e-20 (default"
                                    + " true)"),
                    new Field(
                            "moe_intermediate_size",
                            Use.APPLIED,
                            "each routed expert's width (default 1408); intermediate_size is the"
                                    + " dense layers'"),
                    new Field(
                            "n_shared_experts",
                            Use.APPLIED,
                            "the shared expert is n_shared_experts x moe_intermediate_size wide"
                                    + " (default 1), a gated MLP every token passes, added to the"
                                    + " routed experts' sum; 0 refused"),
                    new Field(
                            "first_k_dense_replace",
                            Use.APPLIED,
                            "the layers before it keep the dense MLP (default 1)"),
                    new Field(
                            "n_group",
                            Use.APPLIED,
                            "the experts split into n_group groups, each scored by the sum of its"
                                    + " two best corrected scores (default 1); groups of fewer than"
                                    + " two experts refused"),
                    new Field(
                            "topk_group",
                            Use.APPLIED,
                            "only the experts of the topk_group best groups are picked (default"
                                    + " 1)"),
                    new Field(
                            "routed_scaling_factor",
                            Use.APPLIED,
                            "the picked experts' weights times it (default 1)"),
                    new Field(
                            "num_nextn_predict_layers",
                            Use.NO_EFFECT,
                            "multi-token prediction layers, read only by generate(use_mtp=True);"
                                    + " their tensors (model.layers.46 or 92, as transformers"
                                    + " skips them) are not loaded"),
                    new Field("num_mtp_layers", Use.NO_EFFECT, "num_nextn_predict_layers' alias"),
                    // fields GLM-4.5 conversions carry that Glm4MoeConfig does not declare
                    new Field(
                            "topk_method",
                            Use.APPLIED,
                            "not a Glm4MoeConfig field: noaux_tc (the routing transformers"
                                    + " computes) or null only"),
                    new Field(
                            "scoring_func",
                            Use.APPLIED,
                            "not a Glm4MoeConfig field: sigmoid or null only"),
                    new Field(
                            "moe_router_dtype",
                            Use.APPLIED,
                            "not a Glm4MoeConfig field: float32 (the router's dtype in"
                                    + " transformers) or null only"),
                    new Field(
                            "decoder_sparse_step",
                            Use.APPLIED,
                            "not a Glm4MoeConfig field: 1 or null only (every layer from"
                                    + " first_k_dense_replace on is sparse)"),
                    OUTPUT_ROUTER_LOGITS,
                    ROUTER_AUX_LOSS_COEF,
                    new Field("ep_size", Use.NO_EFFECT, "expert parallelism of the original code"));

    // dots.llm1: Qwen3's attention and sliding layers (no use_sliding_window) with GLM-4-MoE's
    // experts (no defaults for their counts)
    private static final List<Field> DOTS1 =
            List.of(
                    SILU,
                    ATTENTION_BIAS,
                    new Field(
                            "sliding_window",
                            Use.APPLIED,
                            "the window of the layers from max_window_layers on, or of those"
                                    + " layer_types marks sliding (absent: 4096; null: none)"),
                    new Field(
                            "max_window_layers",
                            Use.APPLIED,
                            "without layer_types, the layers from it on slide (default 62)"),
                    new Field(
                            "layer_types",
                            Use.APPLIED,
                            "full_attention / sliding_attention; a sliding type without a window is"
                                    + " refused, as transformers 5 fails on it"),
                    new Field(
                            "n_routed_experts",
                            Use.APPLIED,
                            "experts per sparse layer; required (Dots1Config's default None fails)"),
                    new Field(
                            "num_local_experts",
                            Use.APPLIED,
                            "n_routed_experts' alias (Dots1Config's attribute_map); both given is"
                                    + " refused"),
                    new Field(
                            "num_experts_per_tok",
                            Use.APPLIED,
                            "experts the router picks for each token; required; more than the"
                                    + " experts of the topk_group best groups is refused"),
                    new Field(
                            "norm_topk_prob",
                            Use.APPLIED,
                            "the picked experts' weights divided by their sum + 1e-20 (default"
                                    + " false)"),
                    new Field(
                            "moe_intermediate_size",
                            Use.APPLIED,
                            "each routed expert's width (default 1408); intermediate_size is the"
                                    + " dense layers'"),
                    new Field(
                            "n_shared_experts",
                            Use.APPLIED,
                            "the shared expert is n_shared_experts x moe_intermediate_size wide;"
                                    + " required; 0 refused"),
                    new Field(
                            "first_k_dense_replace",
                            Use.APPLIED,
                            "the layers before it keep the dense MLP (default 0)"),
                    new Field(
                            "n_group",
                            Use.APPLIED,
                            "as GLM-4-MoE's (default 1); groups of fewer than two experts"
                                    + " refused"),
                    new Field("topk_group", Use.APPLIED, "as GLM-4-MoE's (default 1)"),
                    new Field(
                            "routed_scaling_factor",
                            Use.APPLIED,
                            "the picked experts' weights times it (default 1)"));

    // Apertus: Llama's attention with per-head q/k norms, an MLP without a gate and xIELU
    private static final List<Field> APERTUS =
            List.of(
                    new Field(
                            "hidden_act",
                            Use.APPLIED,
                            "the MLP's activation between up_proj and down_proj (default xielu,"
                                    + " with each layer's learned alpha_p, alpha_n, beta and eps from"
                                    + " mlp.act_fn; silu, gelu, gelu_pytorch_tanh, relu, relu2,"
                                    + " quick_gelu too; others refused)"),
                    ATTENTION_BIAS,
                    // fields the hub's Apertus configs carry that ApertusConfig does not declare
                    new Field(
                            "qk_norm",
                            Use.APPLIED,
                            "not an ApertusConfig field: true or null only (its model always norms"
                                    + " q and k per head)"),
                    new Field(
                            "post_norm",
                            Use.APPLIED,
                            "not an ApertusConfig field: false or null only (norms before"
                                    + " attention and the MLP)"),
                    new Field(
                            "mlp_bias",
                            Use.APPLIED,
                            "not an ApertusConfig field: false or null only (its MLP has no"
                                    + " biases)"),
                    new Field("hidden_dropout", Use.NO_EFFECT, "training only"));

    private static final List<Field> GPT_OSS =
            List.of(
                    new Field(
                            "hidden_act",
                            Use.NO_EFFECT,
                            "GptOssExperts' activation is its own clamped SwiGLU (limit 7, alpha"
                                    + " 1.702), whatever the field says"),
                    new Field(
                            "attention_bias",
                            Use.APPLIED,
                            "q, k, v and o carry a bias (default true)"),
                    new Field(
                            "sliding_window",
                            Use.APPLIED,
                            "the window of the sliding layers (default 128; null refused: transformers"
                                    + " 5 builds the sliding mask on every forward pass)"),
                    new Field(
                            "layer_types",
                            Use.APPLIED,
                            "full_attention / sliding_attention (default: the even layers slide)"),
                    new Field(
                            "num_local_experts",
                            Use.APPLIED,
                            "experts per layer (default 128); each a gate_up_proj [in, 2 x"
                                    + " intermediate] (gate and up interleaved) and a down_proj, both"
                                    + " with biases"),
                    new Field(
                            "num_experts",
                            Use.APPLIED,
                            "num_local_experts' alias (GptOssConfig's attribute_map); both given is"
                                    + " refused"),
                    new Field(
                            "num_experts_per_tok",
                            Use.APPLIED,
                            "experts picked per token by the router's logits (default 4), weighted"
                                    + " by the softmax of the picked logits"),
                    new Field(
                            "swiglu_limit",
                            Use.NO_EFFECT,
                            "the hub's checkpoints carry it; GptOssExperts hard-codes 7.0"),
                    new Field(
                            "experts_per_token",
                            Use.NO_EFFECT,
                            "the hub's checkpoints carry it; transformers reads num_experts_per_tok"),
                    new Field(
                            "initial_context_length",
                            Use.NO_EFFECT,
                            "the hub's checkpoints carry it; YaRN reads its own"
                                    + " original_max_position_embeddings"),
                    OUTPUT_ROUTER_LOGITS,
                    ROUTER_AUX_LOSS_COEF);

    private static final List<Field> STARCODER2 =
            List.of(
                    new Field(
                            "hidden_act",
                            Use.APPLIED,
                            "the MLP's activation between c_fc and c_proj (default"
                                    + " gelu_pytorch_tanh; silu, gelu, relu too; others refused)"),
                    new Field(
                            "use_bias",
                            Use.APPLIED,
                            "biases on q, k, v, o, c_fc and c_proj (default true)"),
                    new Field(
                            "norm_epsilon",
                            Use.APPLIED,
                            "the epsilon of its LayerNorms, which carry a bias (default 1e-5)"),
                    new Field(
                            "sliding_window",
                            Use.APPLIED,
                            "every layer attends through the window (absent or null: none, as"
                                    + " Starcoder2Config)"),
                    new Field("residual_dropout", Use.NO_EFFECT, "training only"),
                    new Field("embedding_dropout", Use.NO_EFFECT, "training only"),
                    new Field(
                            "mlp_type",
                            Use.NO_EFFECT,
                            "not read by transformers' Starcoder2, whose MLP is always c_fc, act,"
                                    + " c_proj"),
                    new Field(
                            "norm_type",
                            Use.NO_EFFECT,
                            "not read by transformers' Starcoder2, whose norms are always"
                                    + " LayerNorms with a bias"),
                    new Field(
                            "layer_norm_epsilon",
                            Use.NO_EFFECT,
                            "not read by transformers' Starcoder2 (norm_epsilon is)"));

    private static final List<Field> PERSIMMON =
            List.of(
                    new Field(
                            "hidden_act",
                            Use.APPLIED,
                            "the MLP's activation between dense_h_to_4h and dense_4h_to_h (default"
                                    + " relu2, relu squared; silu, gelu, gelu_pytorch_tanh, relu too;"
                                    + " others refused)"),
                    BIASED_LAYER_NORM_EPS,
                    new Field(
                            "qk_layernorm",
                            Use.APPLIED,
                            "a LayerNorm with a bias over each head of q and k, one module shared by"
                                    + " the heads, before the rotary (default true)"),
                    new Field("hidden_dropout", Use.NO_EFFECT, "training only"));

    private static final List<Field> PHI =
            List.of(
                    new Field(
                            "hidden_act",
                            Use.APPLIED,
                            "the MLP's activation between fc1 and fc2 (default gelu_new, the tanh"
                                    + " approximation; silu, gelu, gelu_pytorch_tanh, relu too;"
                                    + " others refused)"),
                    BIASED_LAYER_NORM_EPS,
                    new Field(
                            "qk_layernorm",
                            Use.APPLIED,
                            "a LayerNorm with a bias over each head of q and k, one module shared by"
                                    + " the heads, before the rotary"),
                    new Field("resid_pdrop", Use.NO_EFFECT, "training only"),
                    new Field("embd_pdrop", Use.NO_EFFECT, "training only"));

    // Nemotron's gate-less MLP, which Arcee reuses.
    private static final Field UP_DOWN_ACT =
            new Field(
                    "hidden_act",
                    Use.APPLIED,
                    "the MLP's activation between up_proj and down_proj (default relu2, relu"
                            + " squared; silu, gelu, gelu_pytorch_tanh, relu too; others refused)");
    private static final Field UP_DOWN_BIAS =
            new Field("mlp_bias", Use.APPLIED, "biases on up and down projections");

    private static final List<Field> NEMOTRON =
            List.of(
                    UP_DOWN_ACT,
                    new Field(
                            "norm_eps",
                            Use.APPLIED,
                            "the epsilon of its LayerNorm1Ps (a bias, the weight stored less one;"
                                    + " default 1e-5)"),
                    ATTENTION_BIAS,
                    UP_DOWN_BIAS);

    private static final List<Field> ARCEE = List.of(UP_DOWN_ACT, ATTENTION_BIAS, UP_DOWN_BIAS);

    // HunYuan (dense): Llama's attention with q/k RMSNorms after the rotary, an MLP without biases
    private static final List<Field> HUNYUAN_DENSE =
            List.of(
                    SILU,
                    ATTENTION_BIAS,
                    new Field("pretraining_tp", Use.NO_EFFECT, "sliced matmuls, same result"),
                    new Field("eod_token_id", Use.NO_EFFECT, "not read by the model or generate"),
                    new Field(
                            "head_dim",
                            Use.APPLIED,
                            "required (HunYuanDenseV1Attention fails without it); with a dynamic"
                                    + " rotary, rope_parameters' alpha makes the base rope_theta x"
                                    + " alpha ^ (head_dim / (head_dim - 2)) and its beta_fast,"
                                    + " beta_slow, mscale and mscale_all_dim are unread, as in"
                                    + " transformers"));

    // NanoChat: Qwen3's attention modules, CLIP's MLP, weightless RMSNorms, Gemma 2's final cap
    private static final List<Field> NANOCHAT =
            List.of(
                    new Field(
                            "hidden_act",
                            Use.APPLIED,
                            "the MLP's activation between fc1 and fc2 (default relu2, relu squared;"
                                    + " silu, gelu, gelu_pytorch_tanh, relu too; others refused)"),
                    ATTENTION_BIAS,
                    new Field(
                            "final_logit_softcapping",
                            Use.APPLIED,
                            "cap * tanh(logit / cap) (default 15); null: none"));

    // CWM: Llama's block with Qwen2's windowed attention by layer type, no attention biases
    private static final List<Field> CWM =
            List.of(
                    SILU,
                    MLP_BIAS,
                    new Field("pretraining_tp", Use.NO_EFFECT, "sliced matmuls, same result"),
                    new Field(
                            "sliding_window",
                            Use.APPLIED,
                            "the window of the sliding layers (default 8192); null or 0 refused, as"
                                    + " CwmConfig refuses them"),
                    new Field(
                            "layer_types",
                            Use.APPLIED,
                            "full_attention / sliding_attention (default: layers 0, 4, 8, ... full"
                                    + " attention, the others slide); without rope_parameters the"
                                    + " rotary is CwmConfig's llama3 (factor 16 over 8192 positions,"
                                    + " theta 1000000)"));

    // Jais 2: Arcee's modules behind nn.LayerNorms with a bias, every projection biased by default
    private static final List<Field> JAIS2 =
            List.of(
                    UP_DOWN_ACT,
                    BIASED_LAYER_NORM_EPS,
                    new Field(
                            "attention_bias",
                            Use.APPLIED,
                            "biases on q, k, v and o projections (default true)"),
                    new Field(
                            "mlp_bias",
                            Use.APPLIED,
                            "biases on up and down projections (default true)"));

    private static final List<Field> GLM =
            List.of(
                    SILU,
                    new Field(
                            "attention_bias",
                            Use.APPLIED,
                            "biases on q, k and v projections (default true; o_proj has none)"));

    private static final List<Field> SEED_OSS =
            List.of(
                    SILU,
                    new Field(
                            "attention_bias",
                            Use.APPLIED,
                            "biases on q, k and v projections (default true)"),
                    new Field("attention_out_bias", Use.APPLIED, "a bias on the o projection"),
                    MLP_BIAS,
                    new Field("residual_dropout", Use.NO_EFFECT, "training only"),
                    new Field("pretraining_tp", Use.NO_EFFECT, "not read by Seed-OSS's modules"));

    private static final List<Field> ERNIE4_5 =
            List.of(
                    SILU,
                    new Field(
                            "use_bias",
                            Use.APPLIED,
                            "biases on q, k, v, o, gate, up and down projections"));

    // ERNIE 4.5's MoE: the dense model's attention and MLPs, its own experts
    private static final List<Field> ERNIE4_5_MOE =
            List.of(
                    SILU,
                    new Field(
                            "use_bias",
                            Use.APPLIED,
                            "biases on q, k, v, o, the dense layers' and the shared experts'"
                                    + " gate, up and down projections, and the output head (not"
                                    + " the routed experts')"),
                    new Field(
                            "moe_num_experts",
                            Use.APPLIED,
                            "experts per sparse layer (default 64), each a gated MLP"),
                    new Field(
                            "num_experts",
                            Use.APPLIED,
                            "moe_num_experts' alias (Ernie4_5_MoeConfig's attribute_map); both"
                                    + " given is refused"),
                    new Field(
                            "moe_k",
                            Use.APPLIED,
                            "experts the router picks for each token (default 6) by softmax"
                                    + " probability plus moe_statics' correction; more than the"
                                    + " experts is refused"),
                    new Field(
                            "num_experts_per_tok",
                            Use.APPLIED,
                            "moe_k's alias; both given is refused"),
                    new Field(
                            "moe_intermediate_size",
                            Use.APPLIED,
                            "each expert's width (default 1536); intermediate_size is the dense"
                                    + " layers'"),
                    new Field(
                            "moe_num_shared_experts",
                            Use.APPLIED,
                            "shared experts moe_num_shared_experts x moe_intermediate_size wide"
                                    + " (default 2; 0: none), added to the routed experts' sum"),
                    new Field(
                            "moe_layer_start_index",
                            Use.APPLIED,
                            "the first layer that may route (default 1)"),
                    new Field(
                            "moe_layer_end_index",
                            Use.APPLIED,
                            "the last layer that may route (default -1: the last)"),
                    new Field(
                            "moe_layer_interval",
                            Use.APPLIED,
                            "layer l routes when (l + 1) % interval == 0 (default 1)"),
                    new Field(
                            "moe_norm_min",
                            Use.APPLIED,
                            "the picked weights' sum is clamped below at it before the division"
                                    + " (default 1e-12)"),
                    OUTPUT_ROUTER_LOGITS,
                    ROUTER_AUX_LOSS_COEF);

    private static final List<Field> QWEN2 =
            List.of(
                    SILU,
                    new Field(
                            "use_sliding_window",
                            Use.APPLIED,
                            "with sliding_window and layer_types"),
                    new Field(
                            "sliding_window",
                            Use.APPLIED,
                            "the window of the sliding layers (absent: 4096, as the config class;"
                                    + " null: none)"),
                    new Field(
                            "max_window_layers",
                            Use.APPLIED,
                            "which layers slide when layer_types is absent"),
                    new Field(
                            "layer_types",
                            Use.APPLIED,
                            "full_attention / sliding_attention; a sliding type without a window"
                                    + " (use_sliding_window false, sliding_window null) is refused, as"
                                    + " transformers 5 fails on it"));

    private static final List<Field> QWEN3 =
            java.util.stream.Stream.concat(
                            QWEN2.stream(), java.util.stream.Stream.of(ATTENTION_BIAS))
                    .toList();

    private static final List<Field> GEMMA =
            List.of(
                    new Field(
                            "hidden_act",
                            Use.APPLIED,
                            "gelu_pytorch_tanh (legacy gelu means the same, as GemmaConfig rewrites it)"),
                    new Field(
                            "hidden_activation",
                            Use.APPLIED,
                            "equal to hidden_act's activation (transformers 4 read it, 5 does"
                                    + " not); otherwise refused"),
                    ATTENTION_BIAS,
                    new Field(
                            "use_bidirectional_attention",
                            Use.APPLIED,
                            "false or null only; true refused"));

    // Fields Gemma 2 and Gemma 3 read alike.
    private static final Field GEMMA_ACTIVATION =
            new Field("hidden_activation", Use.APPLIED, "gelu_pytorch_tanh or gelu");
    private static final Field QUERY_SCALAR =
            new Field("query_pre_attn_scalar", Use.APPLIED, "queries scaled by its -1/2 power");
    private static final Field SLIDING_WINDOW =
            new Field("sliding_window", Use.APPLIED, "the window of the sliding layers");
    private static final Field CAUSAL_ONLY =
            new Field(
                    "use_bidirectional_attention", Use.APPLIED, "false or null only; true refused");

    private static final List<Field> GEMMA2 =
            List.of(
                    GEMMA_ACTIVATION,
                    ATTENTION_BIAS,
                    QUERY_SCALAR,
                    new Field(
                            "attn_logit_softcapping",
                            Use.APPLIED,
                            "cap * tanh(score / cap) before the mask; null: none"),
                    new Field(
                            "final_logit_softcapping",
                            Use.APPLIED,
                            "cap * tanh(logit / cap); null: none"),
                    SLIDING_WINDOW,
                    new Field(
                            "layer_types",
                            Use.APPLIED,
                            "full_attention / sliding_attention (default: every other layer slides); a"
                                    + " sliding type with sliding_window null is refused, as"
                                    + " transformers 5 fails on it"),
                    CAUSAL_ONLY);

    // VaultGemma: Gemma 2's fields; its config has no use_bidirectional_attention (always causal)
    private static final List<Field> VAULT_GEMMA = GEMMA2.subList(0, GEMMA2.size() - 1);

    private static final List<Field> GEMMA3 =
            List.of(
                    GEMMA_ACTIVATION,
                    ATTENTION_BIAS,
                    QUERY_SCALAR,
                    new Field(
                            "attn_logit_softcapping",
                            Use.APPLIED,
                            "null (the default) only: transformers 5's Gemma 3 attention never applies"
                                    + " it while Google's implementation does, so a value is refused"),
                    new Field(
                            "final_logit_softcapping",
                            Use.APPLIED,
                            "cap * tanh(logit / cap); null (the default): none"),
                    SLIDING_WINDOW,
                    new Field(
                            "layer_types",
                            Use.APPLIED,
                            "full_attention / sliding_attention (default: from"
                                    + " sliding_window_pattern); a sliding type with sliding_window"
                                    + " null is refused, as transformers 5 fails on it"),
                    new Field(
                            "sliding_window_pattern",
                            Use.APPLIED,
                            "without layer_types: every n-th layer full attention, the others"
                                    + " slide (default 6)"),
                    new Field(
                            "_sliding_window_pattern",
                            Use.NO_EFFECT,
                            "written by transformers 5 beside layer_types, never read"),
                    new Field(
                            "rope_local_base_freq",
                            Use.APPLIED,
                            "rope_theta of the sliding layers (4.x layout; default 10000); in the 5.x"
                                    + " layout rope_parameters has one entry per layer type, and"
                                    + " rope_scaling applies to the full-attention layers"),
                    CAUSAL_ONLY);

    private static final List<Field> PHI3 =
            List.of(
                    SILU,
                    new Field(
                            "sliding_window",
                            Use.APPLIED,
                            "every layer attends through the window"),
                    new Field("resid_pdrop", Use.NO_EFFECT, "training only"),
                    new Field("embd_pdrop", Use.NO_EFFECT, "training only"));

    private static final List<Field> GRANITE =
            List.of(
                    SILU,
                    ATTENTION_BIAS,
                    MLP_BIAS,
                    new Field(
                            "embedding_multiplier",
                            Use.APPLIED,
                            "token embeddings times it (default 1.0)"),
                    new Field(
                            "attention_multiplier",
                            Use.APPLIED,
                            "the attention scale, in place of head_dim^-1/2 (default 1.0)"),
                    new Field(
                            "residual_multiplier",
                            Use.APPLIED,
                            "attention and MLP outputs times it before each residual add (default"
                                    + " 1.0)"),
                    new Field(
                            "logits_scaling",
                            Use.APPLIED,
                            "logits divided by it (default 1.0; 0 refused)"));

    private static final List<Field> GRANITE_MOE =
            java.util.stream.Stream.concat(
                            GRANITE.stream().filter(f -> f != MLP_BIAS),
                            java.util.stream.Stream.of(
                                    new Field(
                                            "num_local_experts",
                                            Use.APPLIED,
                                            "experts per layer (default 8), each a gated MLP"
                                                    + " intermediate_size wide"),
                                    new Field(
                                            "num_experts_per_tok",
                                            Use.APPLIED,
                                            "experts picked per token by the router's float32"
                                                    + " logits (default 2), weighted by the softmax"
                                                    + " of the picked ones"),
                                    OUTPUT_ROUTER_LOGITS,
                                    ROUTER_AUX_LOSS_COEF))
                    .toList();

    private static final List<Field> GRANITE_MOE_SHARED =
            java.util.stream.Stream.concat(
                            GRANITE_MOE.stream(),
                            java.util.stream.Stream.of(
                                    new Field(
                                            "shared_intermediate_size",
                                            Use.APPLIED,
                                            "width of the shared MLP every token passes (default 0:"
                                                    + " none): act(gate) * up from one"
                                                    + " input_linear, then output_linear, added to"
                                                    + " the experts' output")))
                    .toList();

    private static final List<Field> SMOLLM3 =
            List.of(
                    SILU,
                    ATTENTION_BIAS,
                    MLP_BIAS,
                    new Field(
                            "no_rope_layers",
                            Use.APPLIED,
                            "per layer 1 (rotary) or 0 (no position embedding)"),
                    new Field(
                            "no_rope_layer_interval",
                            Use.APPLIED,
                            "without no_rope_layers: every n-th layer has no rotary (default 4)"),
                    new Field(
                            "use_sliding_window",
                            Use.APPLIED,
                            "with sliding_window: the layers layer_types marks (by default the"
                                    + " NoPE layers) slide"),
                    new Field("sliding_window", Use.APPLIED, "the window of the sliding layers"),
                    new Field(
                            "layer_types",
                            Use.APPLIED,
                            "full_attention / sliding_attention; a sliding type without"
                                    + " use_sliding_window and sliding_window is refused (SmolLM3's"
                                    + " attention implementations disagree on it)"));

    private static final List<Field> OLMO2 = List.of(SILU, ATTENTION_BIAS);

    private static final List<Field> OLMO3 =
            List.of(
                    SILU,
                    ATTENTION_BIAS,
                    SLIDING_WINDOW,
                    new Field(
                            "layer_types",
                            Use.APPLIED,
                            "full_attention / sliding_attention (default: every fourth layer full"
                                    + " attention, the others slide); a sliding type with"
                                    + " sliding_window null is refused, as transformers 5 fails on"
                                    + " it. Each type has its rotary embedding: rope_parameters"
                                    + " holds one entry per type; rope_scaling and a top-level"
                                    + " rope_theta reach the full-attention layers alone (the"
                                    + " sliding layers keep theta 500000, as Olmo3Config builds"
                                    + " it)"));

    /** The catalogue of one architecture, common fields first. */
    public static List<Field> fields(String architecture) {
        List<Field> out = new ArrayList<>(COMMON);
        out.addAll(
                switch (architecture) {
                    case "LlamaForCausalLM" -> LLAMA;
                    case "MistralForCausalLM" -> MISTRAL;
                    case "Qwen2ForCausalLM" -> QWEN2;
                    case "Qwen3ForCausalLM" -> QWEN3;
                    case "GemmaForCausalLM" -> GEMMA;
                    case "Gemma2ForCausalLM" -> GEMMA2;
                    case "VaultGemmaForCausalLM" -> VAULT_GEMMA;
                    case "Gemma3ForCausalLM" -> GEMMA3;
                    case "Phi3ForCausalLM" -> PHI3;
                    case "GraniteForCausalLM" -> GRANITE;
                    case "GraniteMoeForCausalLM" -> GRANITE_MOE;
                    case "GraniteMoeSharedForCausalLM" -> GRANITE_MOE_SHARED;
                    case "SmolLM3ForCausalLM" -> SMOLLM3;
                    case "Olmo2ForCausalLM" -> OLMO2;
                    case "Olmo3ForCausalLM" -> OLMO3;
                    case "MinistralForCausalLM" -> MINISTRAL;
                    case "Ministral3ForCausalLM" -> MINISTRAL3;
                    case "HeliumForCausalLM" -> HELIUM;
                    case "Ernie4_5ForCausalLM" -> ERNIE4_5;
                    case "Ernie4_5_MoeForCausalLM" -> ERNIE4_5_MOE;
                    case "SeedOssForCausalLM" -> SEED_OSS;
                    case "GlmForCausalLM", "Glm4ForCausalLM" -> GLM;
                    case "Exaone4ForCausalLM" -> EXAONE4;
                    case "CohereForCausalLM" -> COHERE;
                    case "Cohere2ForCausalLM" -> COHERE2;
                    case "GPTNeoXForCausalLM" -> GPT_NEOX;
                    case "GPT2LMHeadModel" -> GPT2;
                    case "OPTForCausalLM" -> OPT;
                    case "GPTBigCodeForCausalLM" -> GPT_BIGCODE;
                    case "BloomForCausalLM" -> BLOOM;
                    case "GPTJForCausalLM" -> GPTJ;
                    case "GPTNeoForCausalLM" -> GPT_NEO;
                    case "FalconForCausalLM" -> FALCON;
                    case "MptForCausalLM" -> MPT;
                    case "CodeGenForCausalLM" -> CODEGEN;
                    case "StableLmForCausalLM" -> STABLELM;
                    case "OlmoForCausalLM" -> OLMO;
                    case "Starcoder2ForCausalLM" -> STARCODER2;
                    case "PhiForCausalLM" -> PHI;
                    case "PersimmonForCausalLM" -> PERSIMMON;
                    case "NemotronForCausalLM" -> NEMOTRON;
                    case "ArceeForCausalLM" -> ARCEE;
                    case "Jais2ForCausalLM" -> JAIS2;
                    case "CwmForCausalLM" -> CWM;
                    case "NanoChatForCausalLM" -> NANOCHAT;
                    case "HunYuanDenseV1ForCausalLM" -> HUNYUAN_DENSE;
                    case "MixtralForCausalLM" -> MIXTRAL;
                    case "Qwen3MoeForCausalLM" -> QWEN3_MOE;
                    case "OlmoeForCausalLM" -> OLMOE;
                    case "FlexOlmoForCausalLM" -> FLEX_OLMO;
                    case "Qwen2MoeForCausalLM" -> QWEN2_MOE;
                    case "Glm4MoeForCausalLM" -> GLM4_MOE;
                    case "Dots1ForCausalLM" -> DOTS1;
                    case "ApertusForCausalLM" -> APERTUS;
                    case "GptOssForCausalLM" -> GPT_OSS;
                    default -> List.of();
                });
        return out;
    }

    /** Architecture-specific fields of every supported architecture, for the README table. */
    public static Map<String, List<Field>> specificFields() {
        Map<String, List<Field>> m = new LinkedHashMap<>();
        m.put("LlamaForCausalLM", LLAMA);
        m.put("MistralForCausalLM", MISTRAL);
        m.put("Qwen2ForCausalLM", QWEN2);
        m.put("Qwen3ForCausalLM", QWEN3);
        m.put("GemmaForCausalLM", GEMMA);
        m.put("Gemma2ForCausalLM", GEMMA2);
        m.put("VaultGemmaForCausalLM", VAULT_GEMMA);
        m.put("Gemma3ForCausalLM", GEMMA3);
        m.put("Phi3ForCausalLM", PHI3);
        m.put("GraniteForCausalLM", GRANITE);
        m.put("GraniteMoeForCausalLM", GRANITE_MOE);
        m.put("GraniteMoeSharedForCausalLM", GRANITE_MOE_SHARED);
        m.put("SmolLM3ForCausalLM", SMOLLM3);
        m.put("Olmo2ForCausalLM", OLMO2);
        m.put("Olmo3ForCausalLM", OLMO3);
        m.put("MinistralForCausalLM", MINISTRAL);
        m.put("Ministral3ForCausalLM", MINISTRAL3);
        m.put("HeliumForCausalLM", HELIUM);
        m.put("Ernie4_5ForCausalLM", ERNIE4_5);
        m.put("SeedOssForCausalLM", SEED_OSS);
        m.put("GlmForCausalLM", GLM);
        m.put("Glm4ForCausalLM", GLM);
        m.put("Exaone4ForCausalLM", EXAONE4);
        m.put("CohereForCausalLM", COHERE);
        m.put("Cohere2ForCausalLM", COHERE2);
        m.put("GPTNeoXForCausalLM", GPT_NEOX);
        m.put("GPT2LMHeadModel", GPT2);
        m.put("OPTForCausalLM", OPT);
        m.put("GPTBigCodeForCausalLM", GPT_BIGCODE);
        m.put("BloomForCausalLM", BLOOM);
        m.put("GPTJForCausalLM", GPTJ);
        m.put("GPTNeoForCausalLM", GPT_NEO);
        m.put("FalconForCausalLM", FALCON);
        m.put("MptForCausalLM", MPT);
        m.put("CodeGenForCausalLM", CODEGEN);
        m.put("StableLmForCausalLM", STABLELM);
        m.put("OlmoForCausalLM", OLMO);
        m.put("Starcoder2ForCausalLM", STARCODER2);
        m.put("PhiForCausalLM", PHI);
        m.put("PersimmonForCausalLM", PERSIMMON);
        m.put("NemotronForCausalLM", NEMOTRON);
        m.put("ArceeForCausalLM", ARCEE);
        m.put("Jais2ForCausalLM", JAIS2);
        m.put("CwmForCausalLM", CWM);
        m.put("NanoChatForCausalLM", NANOCHAT);
        m.put("HunYuanDenseV1ForCausalLM", HUNYUAN_DENSE);
        m.put("MixtralForCausalLM", MIXTRAL);
        m.put("Qwen3MoeForCausalLM", QWEN3_MOE);
        m.put("OlmoeForCausalLM", OLMOE);
        m.put("FlexOlmoForCausalLM", FLEX_OLMO);
        m.put("Qwen2MoeForCausalLM", QWEN2_MOE);
        m.put("Glm4MoeForCausalLM", GLM4_MOE);
        m.put("Dots1ForCausalLM", DOTS1);
        m.put("Ernie4_5_MoeForCausalLM", ERNIE4_5_MOE);
        m.put("ApertusForCausalLM", APERTUS);
        m.put("GptOssForCausalLM", GPT_OSS);
        return m;
    }

    public static List<Field> commonFields() {
        return COMMON;
    }

    /**
     * Refuses, by name, every field of {@code root} outside the catalogue of {@code architecture}.
     */
    static void refuseUnknown(JsonNode root, String architecture, String source) {
        // Generation fields some 4.x configs carry: GenerationDefaults reads them when the folder
        // has no
        // generation_config.json, as transformers 5 does.
        Set<String> known = new java.util.HashSet<>(GenerationDefaults.fieldNames());
        fields(architecture).forEach(f -> known.add(f.name()));
        List<String> unknown = new ArrayList<>();
        root.fieldNames()
                .forEachRemaining(
                        k -> {
                            if (!known.contains(k)) {
                                unknown.add(k);
                            }
                        });
        JsonNode quantization = root.get("quantization_config");
        if (quantization != null && !quantization.isNull()) {
            // the hub's gpt-oss (mxfp4) and the many GPTQ / AWQ / bitsandbytes uploads: say what to
            // do
            throw new ModelFormatException(
                    source
                            + ": quantization_config (quant_method "
                            + quantization.path("quant_method").asText("unknown")
                            + ") is not supported: the engine loads float32, float16 or bfloat16"
                            + " weights; dequantize the checkpoint first (transformers loads it"
                            + " dequantized, e.g. gpt-oss with Mxfp4Config(dequantize=True), and"
                            + " save_pretrained writes plain weights)");
        }
        if (!unknown.isEmpty()) {
            throw new ModelFormatException(
                    source
                            + ": field(s) "
                            + unknown
                            + " are not implemented for "
                            + architecture
                            + " (they may change the computation; refusing rather than ignoring them)");
        }
    }
}
