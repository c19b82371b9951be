package io.flinklora.gpu.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import java.util.List;
import java.util.Map;

/**
 * Reads the configs that name their fields their own way - {@code GPT2Config} ({@code n_embd},
 * {@code n_layer}, {@code activation_function}, ...), {@code GPTBigCodeConfig} (GPT-2's names and
 * {@code multi_query}), {@code GPTJConfig} and {@code CodeGenConfig} (GPT-2's names with their own
 * defaults), {@code GPTNeoConfig} ({@code num_layers}, {@code num_heads}, {@code attention_types},
 * {@code window_size}), {@code BloomConfig} ({@code n_layer}, {@code n_head}, {@code n_embed}),
 * {@code OPTConfig} ({@code ffn_dim}, {@code activation_function}), {@code FalconConfig} ({@code
 * ffn_hidden_size}, {@code activation}, {@code num_kv_heads}) and {@code MptConfig} ({@code
 * d_model}, {@code max_seq_len}, {@code attn_config}) - into the names the rest of {@link
 * ModelConfig#parse} reads, with the class's defaults where a field is absent. Done once, up front,
 * so the architecture-neutral parsing below it reads one vocabulary.
 */
@Internal
final class OwnConfigNames {
    private OwnConfigNames() {}

    /** The architecture's own name, the common name, the class's default (null: computed). */
    private record Alias(String own, String common, Integer dflt) {}

    // GPT2Config.attribute_map: the common name reads and writes the GPT-2 one.
    private static final List<Alias> GPT2_ALIASES =
            List.of(
                    new Alias("n_embd", "hidden_size", 768),
                    new Alias("n_layer", "num_hidden_layers", 12),
                    new Alias("n_head", "num_attention_heads", 12),
                    new Alias("n_positions", "max_position_embeddings", 1024));

    // OPTConfig's common names are plain fields with these defaults.
    // GPTJConfig.attribute_map: GPT-2's, with GPT-J's defaults
    private static final List<Alias> GPTJ_ALIASES =
            List.of(
                    new Alias("n_embd", "hidden_size", 4096),
                    new Alias("n_layer", "num_hidden_layers", 28),
                    new Alias("n_head", "num_attention_heads", 16),
                    new Alias("n_positions", "max_position_embeddings", 2048));

    // BloomConfig.attribute_map (hidden_size is its own field, default 64; see n_embed below)
    private static final List<Alias> BLOOM_ALIASES =
            List.of(
                    new Alias("n_layer", "num_hidden_layers", 2),
                    new Alias("n_head", "num_attention_heads", 8),
                    new Alias("hidden_size", "hidden_size", 64));

    // GPTNeoConfig.attribute_map; hidden_size and max_position_embeddings are its own fields
    private static final List<Alias> GPT_NEO_ALIASES =
            List.of(
                    new Alias("num_layers", "num_hidden_layers", 24),
                    new Alias("num_heads", "num_attention_heads", 16),
                    new Alias("hidden_size", "hidden_size", 2048),
                    new Alias("max_position_embeddings", "max_position_embeddings", 2048));

    private static final List<Alias> OPT_DEFAULTS =
            List.of(
                    new Alias("hidden_size", "hidden_size", 768),
                    new Alias("num_hidden_layers", "num_hidden_layers", 12),
                    new Alias("num_attention_heads", "num_attention_heads", 12),
                    new Alias("max_position_embeddings", "max_position_embeddings", 2048));

    private static final String NO_ROTARY = "it has learned positions, no rotary";

    // Common fields these models never read, each with what they read instead: a config carrying
    // one describes a model their code would not compute, so it is refused by name (the first in
    // this order, as make_config_defaults_cases.py expects).
    private static final List<Map.Entry<String, String>> UNREAD =
            List.of(
                    Map.entry("num_key_value_heads", "every head has its own key and value"),
                    Map.entry("head_dim", "heads are hidden_size / num_attention_heads wide"),
                    Map.entry("hidden_act", "it reads activation_function"),
                    Map.entry("rms_norm_eps", "its LayerNorms' epsilon is its own"),
                    Map.entry("rope_theta", NO_ROTARY),
                    Map.entry("rope_scaling", NO_ROTARY),
                    Map.entry("rope_parameters", NO_ROTARY),
                    Map.entry("partial_rotary_factor", NO_ROTARY),
                    Map.entry("original_max_position_embeddings", NO_ROTARY));

    /**
     * Refuses, naming it, the first of {@code fields} (a common field, and what the architecture
     * reads instead) that {@code root} gives a value: a config carrying one describes a model the
     * architecture's code would not compute.
     */
    private static void refuseUnread(
            JsonNode root, String arch, List<Map.Entry<String, String>> fields, String source) {
        for (var e : fields) {
            if (root.has(e.getKey()) && !root.get(e.getKey()).isNull()) {
                throw new ModelFormatException(
                        source
                                + ": "
                                + e.getKey()
                                + " is not read by "
                                + arch
                                + " ("
                                + e.getValue()
                                + "); refusing rather than ignoring it");
            }
        }
    }

    /** The same reason for each of {@code fields}. */
    private static List<Map.Entry<String, String>> because(String why, String... fields) {
        return java.util.Arrays.stream(fields).map(f -> Map.entry(f, why)).toList();
    }

    /**
     * Writes each alias's value into {@code out} under its common name: the architecture's own name
     * or the common one (refused when both are given and differ), else the class's default.
     */
    private static void applyAliases(
            JsonNode root, ObjectNode out, List<Alias> aliases, String source) {
        for (Alias a : aliases) {
            JsonNode own = root.get(a.own());
            JsonNode alias = root.get(a.common());
            if (own != null && alias != null && !own.equals(alias)) {
                throw new ModelFormatException(
                        source
                                + ": "
                                + a.own()
                                + " ("
                                + own
                                + ") and its alias "
                                + a.common()
                                + " ("
                                + alias
                                + ") disagree");
            }
            JsonNode value = own != null ? own : alias;
            out.remove(a.own());
            if (value == null) {
                out.put(a.common(), a.dflt());
            } else {
                out.set(a.common(), value);
            }
        }
    }

    /** A copy of {@code root} in the common names; {@code root} is not changed. */
    static ObjectNode toCommonNames(String arch, JsonNode root, String source) {
        if (arch.equals("FalconForCausalLM")) {
            return falconNames(root, source);
        }
        if (arch.equals("MptForCausalLM")) {
            return mptNames(root, source);
        }
        // GPT-BigCode's config is GPT-2's, with multi_query and another default activation
        boolean bigcode = arch.equals("GPTBigCodeForCausalLM");
        // GPT-J's too, with rotary_dim (read by ModelConfig) and an untied head by default
        boolean gptj = arch.equals("GPTJForCausalLM") || arch.equals("CodeGenForCausalLM");
        // GPT-Neo's too, with its own names for the layer count, heads and MLP width
        boolean neo = arch.equals("GPTNeoForCausalLM");
        boolean gpt2 = arch.equals("GPT2LMHeadModel") || bigcode || gptj || neo;
        boolean bloom = arch.equals("BloomForCausalLM");
        // GPTBigCodeConfig rewrites num_key_value_heads from multi_query (and saves it): unread
        refuseUnread(
                root,
                arch,
                bigcode
                        ? UNREAD.stream()
                                .filter(e -> !e.getKey().equals("num_key_value_heads"))
                                .toList()
                        : UNREAD,
                source);
        ObjectNode out = root.deepCopy();
        applyAliases(
                root,
                out,
                neo
                        ? GPT_NEO_ALIASES
                        : gptj
                                ? GPTJ_ALIASES
                                : gpt2 ? GPT2_ALIASES : bloom ? BLOOM_ALIASES : OPT_DEFAULTS,
                source);
        // BloomConfig.__post_init__: a legacy n_embed, when given, overrides hidden_size
        JsonNode embed = bloom ? root.get("n_embed") : null;
        if (embed != null && !embed.isNull()) {
            out.set("hidden_size", embed);
        }
        out.remove("n_embed");
        int hidden = ConfigReader.intField(out, "hidden_size", source, null, Integer.MAX_VALUE);
        // The MLP's width: GPT2Block reads n_inner (None: 4 x n_embd), OPTDecoderLayer ffn_dim,
        // BloomMLP none (4 x hidden_size; its files' n_inner is unread), GPTNeoBlock
        // intermediate_size (None: 4 x hidden_size). Elsewhere an intermediate_size (which
        // transformers 5 saves when given one as an argument) is not read.
        String innerName = neo ? "intermediate_size" : gpt2 ? "n_inner" : "ffn_dim";
        JsonNode inner = bloom ? null : root.get(innerName);
        out.remove("intermediate_size");
        if (bloom) {
            out.put("intermediate_size", 4L * hidden);
        } else if (inner == null || inner.isNull()) {
            out.put("intermediate_size", gpt2 ? 4L * hidden : 3072);
        } else {
            out.set("intermediate_size", inner);
        }
        if (!neo) {
            out.remove(innerName);
        }
        if (!root.has("vocab_size")) {
            out.put("vocab_size", bloom ? 250880 : gptj ? 50400 : gpt2 ? 50257 : 50272);
        }
        out.remove("rotary_dim");
        // Bloom's activation is fixed: bloom_gelu_forward, x / 2 (1 + tanh(0.79788456 x (1 +
        // 0.044715
        // x^2))), the tanh GELU within a float rounding (as gelu_fast)
        out.put(
                "hidden_act",
                bloom
                        ? "gelu_pytorch_tanh"
                        : ConfigReader.text(
                                root,
                                "activation_function",
                                source,
                                bigcode ? "gelu_pytorch_tanh" : gpt2 ? "gelu_new" : "relu"));
        if (bigcode) {
            // GPTBigCodeAttention: one key and value head with multi_query (default), else one per
            // query head
            int heads =
                    ConfigReader.intField(
                            out, "num_attention_heads", source, null, Integer.MAX_VALUE);
            out.put(
                    "num_key_value_heads",
                    ConfigReader.bool(root, "multi_query", source, true) ? 1 : heads);
        }
        out.remove("activation_function");
        // GPT-2's and Bloom's LayerNorms read layer_norm_epsilon; OPT's keep nn.LayerNorm's 1e-5
        out.put(
                "layer_norm_eps",
                gpt2 || bloom
                        ? ConfigReader.number(root, "layer_norm_epsilon", source, 1e-5)
                        : 1e-5);
        out.remove("layer_norm_epsilon");
        if (!root.has("tie_word_embeddings")) {
            out.put("tie_word_embeddings", !gptj);
        }
        if (neo) {
            int layers =
                    ConfigReader.intField(
                            out, "num_hidden_layers", source, null, Integer.MAX_VALUE);
            out.set("layer_types", gptNeoLayerTypes(root, layers, source));
            out.put(
                    "sliding_window",
                    ConfigReader.intField(root, "window_size", source, 256, 1 << 21));
            out.remove(List.of("attention_types", "attention_layers", "window_size"));
        }
        return out;
    }

    /**
     * GPT-Neo's layer types in the common names: {@code full_attention} for a {@code global} layer,
     * {@code sliding_attention} for a {@code local} one. GPTNeoConfig expands {@code
     * attention_types} ({@code [[types, repeat], ...]}, default {@code [[["global", "local"],
     * 12]]}) into {@code attention_layers}, but a saved {@code attention_layers} (transformers
     * saves it) is set after that and wins; its length must be the layer count and its entries
     * global or local, as GPTNeoConfig and GPTNeoAttention check.
     */
    private static ArrayNode gptNeoLayerTypes(JsonNode root, int layers, String source) {
        List<String> types = new java.util.ArrayList<>();
        JsonNode saved = root.get("attention_layers");
        if (saved != null) {
            if (!saved.isArray()) {
                throw new ModelFormatException(
                        source
                                + ": attention_layers must be a list of global / local, got "
                                + saved);
            }
            saved.forEach(t -> types.add(t.isTextual() ? t.asText() : t.toString()));
        } else {
            JsonNode spec = root.get("attention_types");
            if (spec == null || spec.isNull()) {
                for (int i = 0; i < 12; i++) {
                    types.addAll(List.of("global", "local"));
                }
            } else {
                String shape = "attention_types must be a list of [[types...], repeat] pairs, got ";
                if (!spec.isArray()) {
                    throw new ModelFormatException(source + ": " + shape + spec);
                }
                for (JsonNode item : spec) {
                    if (!item.isArray()
                            || item.size() != 2
                            || !item.get(0).isArray()
                            || !item.get(1).canConvertToInt()
                            || !item.get(1).isIntegralNumber()) {
                        throw new ModelFormatException(source + ": " + shape + spec);
                    }
                    int repeat = item.get(1).asInt();
                    // bounded by the layer count: a longer list is refused below anyway
                    for (int r = 0; r < repeat && types.size() <= layers; r++) {
                        item.get(0)
                                .forEach(t -> types.add(t.isTextual() ? t.asText() : t.toString()));
                    }
                }
            }
        }
        if (types.size() != layers) {
            throw new ModelFormatException(
                    source
                            + ": GPT-Neo's attention layers ("
                            + (saved != null ? "attention_layers" : "attention_types")
                            + ") list "
                            + (types.size() > layers ? "more" : types.size())
                            + " types for "
                            + layers
                            + " layers; GPTNeoConfig refuses that");
        }
        ArrayNode out = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.arrayNode();
        for (String t : types) {
            if (!t.equals("global") && !t.equals("local")) {
                throw new ModelFormatException(
                        source
                                + ": GPT-Neo attention type '"
                                + t
                                + "' is not global or local (GPTNeoAttention refuses it)");
            }
            out.add(t.equals("local") ? "sliding_attention" : "full_attention");
        }
        return out;
    }

    // MptAttentionConfig's fields (attn_config); model_type is the sub-config's own, saved empty
    private static final java.util.Set<String> MPT_ATTENTION_FIELDS =
            java.util.Set.of(
                    "attn_type",
                    "attn_pdrop",
                    "attn_impl",
                    "clip_qkv",
                    "softmax_scale",
                    "prefix_lm",
                    "qk_ln",
                    "attn_uses_sequence_id",
                    "alibi",
                    "alibi_bias_max",
                    "model_type",
                    "transformers_version");

    /**
     * MptConfig's names ({@code d_model}, {@code n_heads}, {@code n_layers}, {@code max_seq_len})
     * and its {@code attn_config}, as MptForCausalLM reads them: an MLP 4 x d_model wide with exact
     * GELU, LayerNorms without bias, no biases, ALiBi on every layer with {@code alibi_bias_max} 8.
     * The fields transformers 5 keeps but never reads, and that would describe another model (alibi
     * false, alibi_bias_max other than 8, logit_scale, no_bias false, expansion_ratio other than
     * 4), are refused by name, as are attention the port does not implement (multi-query, q/k
     * LayerNorms, prefix LM, sequence ids). The attention's clip_qkv and softmax_scale come back as
     * {@code clip_qkv} and {@code attention_scale}.
     */
    private static ObjectNode mptNames(JsonNode root, String source) {
        refuseUnread(
                root,
                "MptForCausalLM",
                because(
                        "its MLP is 4 x d_model with exact GELU, its heads d_model / n_heads, its"
                                + " positions ALiBi up to max_seq_len",
                        "num_key_value_heads",
                        "head_dim",
                        "hidden_act",
                        "rms_norm_eps",
                        "intermediate_size",
                        "max_position_embeddings",
                        "rope_theta",
                        "rope_scaling",
                        "rope_parameters",
                        "partial_rotary_factor",
                        "original_max_position_embeddings"),
                source);
        ObjectNode out = root.deepCopy();
        applyAliases(
                root,
                out,
                List.of(
                        new Alias("d_model", "hidden_size", 2048),
                        new Alias("n_heads", "num_attention_heads", 16),
                        new Alias("n_layers", "num_hidden_layers", 24)),
                source);
        if (!root.has("vocab_size")) {
            out.put("vocab_size", 50368);
        }
        // MptModel builds its ALiBi tensor for max_seq_len positions: the longest sequence
        out.put(
                "max_position_embeddings",
                ConfigReader.intField(root, "max_seq_len", source, 2048, 1 << 21));
        out.remove("max_seq_len");
        int hidden = ConfigReader.intField(out, "hidden_size", source, null, Integer.MAX_VALUE);
        int ratio = ConfigReader.intField(root, "expansion_ratio", source, 4, 1 << 10);
        unread(root, source, "expansion_ratio", ratio != 4, "its MLP is 4 x d_model whatever");
        unread(
                root,
                source,
                "no_bias",
                !ConfigReader.bool(root, "no_bias", source, true),
                "its modules never have biases");
        unread(
                root,
                source,
                "logit_scale",
                ConfigReader.has(root, "logit_scale"),
                "MptForCausalLM does not scale its logits");
        out.put("intermediate_size", 4L * hidden);
        out.put("hidden_act", "gelu");
        out.put("layer_norm_eps", ConfigReader.number(root, "layer_norm_epsilon", source, 1e-5));
        out.remove(List.of("layer_norm_epsilon", "expansion_ratio", "no_bias", "logit_scale"));
        JsonNode attn = root.get("attn_config");
        if (attn != null && !attn.isNull()) {
            if (!attn.isObject()) {
                throw new ModelFormatException(
                        source + ": attn_config must be an object, got " + attn);
            }
            String where = source + " attn_config";
            attn.fieldNames()
                    .forEachRemaining(
                            f -> {
                                if (!MPT_ATTENTION_FIELDS.contains(f)) {
                                    throw new ModelFormatException(
                                            where
                                                    + ": field '"
                                                    + f
                                                    + "' is not implemented for MptForCausalLM"
                                                    + " (it may change the computation; refusing"
                                                    + " rather than ignoring it)");
                                }
                            });
            String type = ConfigReader.text(attn, "attn_type", where, "multihead_attention");
            if (!type.equals("multihead_attention")) {
                throw new ModelFormatException(
                        where
                                + ": attn_type '"
                                + type
                                + "' is not supported (transformers' MptAttention is multi-head"
                                + " only)");
            }
            for (String f : List.of("prefix_lm", "qk_ln", "attn_uses_sequence_id")) {
                if (ConfigReader.bool(attn, f, where, false)) {
                    throw new ModelFormatException(
                            where
                                    + ": "
                                    + f
                                    + " true is not supported (transformers 5's MPT does not"
                                    + " implement it and would compute another model)");
                }
            }
            unread(
                    attn,
                    where,
                    "alibi",
                    !ConfigReader.bool(attn, "alibi", where, true),
                    "MptModel applies ALiBi whatever it says");
            unread(
                    attn,
                    where,
                    "alibi_bias_max",
                    ConfigReader.intField(attn, "alibi_bias_max", where, 8, 1 << 10) != 8,
                    "MptModel builds its slopes with 8");
            if (ConfigReader.has(attn, "clip_qkv")) {
                double clip = ConfigReader.number(attn, "clip_qkv", where, 0);
                if (!(clip > 0 && Double.isFinite(clip))) {
                    throw new ModelFormatException(
                            where + ": clip_qkv must be a positive number or null, got " + clip);
                }
                out.put("clip_qkv", clip);
            }
            if (ConfigReader.has(attn, "softmax_scale")) {
                double scale = ConfigReader.number(attn, "softmax_scale", where, 0);
                if (!(scale > 0 && Double.isFinite(scale))) {
                    throw new ModelFormatException(
                            where
                                    + ": softmax_scale must be a positive number or null, got "
                                    + scale);
                }
                out.put("attention_scale", scale);
            }
        }
        out.remove("attn_config");
        return out;
    }

    /** Refuses a field MptForCausalLM keeps but never reads when its value would matter. */
    private static void unread(
            JsonNode root, String source, String field, boolean matters, String why) {
        if (matters) {
            throw new ModelFormatException(
                    source
                            + ": "
                            + field
                            + " "
                            + root.get(field)
                            + " is not supported: transformers 5 never reads it ("
                            + why
                            + "), so the model it describes is not the one transformers computes");
        }
    }

    /**
     * FalconConfig's names: {@code n_embed} (legacy, over hidden_size), {@code ffn_hidden_size}
     * (null: 4 x hidden), {@code activation}, {@code layer_norm_epsilon}; the key and value heads
     * FalconAttention reads: {@code num_kv_heads} with {@code new_decoder_architecture}, else one
     * with {@code multi_query} (default), else one per query head. Falcon rotates (rope_theta,
     * rope_parameters); ALiBi ({@code alibi}) is refused by ModelConfig.
     */
    private static ObjectNode falconNames(JsonNode root, String source) {
        refuseUnread(
                root,
                "FalconForCausalLM",
                because(
                        "it reads num_kv_heads, hidden_size / num_attention_heads, activation and"
                                + " layer_norm_epsilon",
                        "num_key_value_heads",
                        "head_dim",
                        "hidden_act",
                        "rms_norm_eps"),
                source);
        if (ConfigReader.has(root, "partial_rotary_factor")) {
            // FalconRotaryEmbedding would build a narrower table than the heads it rotates
            throw new ModelFormatException(
                    source
                            + ": partial_rotary_factor is not supported for FalconForCausalLM"
                            + " (its attention rotates whole heads; transformers fails on it)");
        }
        ObjectNode out = root.deepCopy();
        applyAliases(
                root,
                out,
                List.of(
                        new Alias("hidden_size", "hidden_size", 4544),
                        new Alias("num_hidden_layers", "num_hidden_layers", 32),
                        new Alias("num_attention_heads", "num_attention_heads", 71),
                        new Alias("vocab_size", "vocab_size", 65024)),
                source);
        // FalconConfig.__post_init__: a legacy n_embed, when given, overrides hidden_size
        JsonNode embed = root.get("n_embed");
        if (embed != null && !embed.isNull()) {
            out.set("hidden_size", embed);
        }
        out.remove("n_embed");
        int hidden = ConfigReader.intField(out, "hidden_size", source, null, Integer.MAX_VALUE);
        int heads =
                ConfigReader.intField(out, "num_attention_heads", source, null, Integer.MAX_VALUE);
        JsonNode ffn = root.get("ffn_hidden_size");
        if (ffn == null || ffn.isNull()) {
            out.put("intermediate_size", 4L * hidden);
        } else {
            out.set("intermediate_size", ffn);
        }
        out.remove("ffn_hidden_size");
        out.put("hidden_act", ConfigReader.text(root, "activation", source, "gelu"));
        out.remove("activation");
        out.put("layer_norm_eps", ConfigReader.number(root, "layer_norm_epsilon", source, 1e-5));
        out.remove("layer_norm_epsilon");
        boolean newArch = ConfigReader.bool(root, "new_decoder_architecture", source, false);
        boolean multiQuery = ConfigReader.bool(root, "multi_query", source, true);
        int kvHeads =
                ConfigReader.has(root, "num_kv_heads")
                        ? ConfigReader.intField(
                                root, "num_kv_heads", source, null, Integer.MAX_VALUE)
                        : heads;
        if (!newArch && !multiQuery && kvHeads != heads) {
            // FalconAttention splits q, k and v per head there and reshapes k and v to
            // num_kv_heads heads, which fails for any other count
            throw new ModelFormatException(
                    source
                            + ": num_kv_heads "
                            + kvHeads
                            + " with multi_query false needs new_decoder_architecture (without it"
                            + " every head has its own key and value, and transformers fails)");
        }
        out.put("num_key_value_heads", newArch ? kvHeads : multiQuery ? 1 : heads);
        out.remove("num_kv_heads");
        return out;
    }
}
