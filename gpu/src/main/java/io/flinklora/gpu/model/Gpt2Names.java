package io.flinklora.gpu.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import java.util.List;
import java.util.Map;

/**
 * Reads a {@code GPT2Config} in its own names ({@code n_embd}, {@code n_layer}, {@code
 * activation_function}, ...) into the names the rest of {@link ModelConfig#parse} reads, with
 * GPT2Config's defaults where a field is absent. Done once, up front, so the architecture-neutral
 * parsing below it reads one vocabulary.
 */
@Internal
final class Gpt2Names {
    private Gpt2Names() {}

    /** GPT-2 name, common name, GPT2Config's default (null: computed). */
    private record Alias(String gpt2, String common, Integer dflt) {}

    // GPT2Config.attribute_map: the common name reads and writes the GPT-2 one.
    private static final List<Alias> ALIASES =
            List.of(
                    new Alias("n_embd", "hidden_size", 768),
                    new Alias("n_layer", "num_hidden_layers", 12),
                    new Alias("n_head", "num_attention_heads", 12),
                    new Alias("n_positions", "max_position_embeddings", 1024));

    // Common fields GPT2LMHeadModel never reads, each with what GPT-2 reads instead: a config
    // carrying one describes a model GPT-2's code would not compute, so it is refused by name (the
    // first in this order, as make_config_defaults_cases.py expects).
    private static final List<Map.Entry<String, String>> UNREAD =
            List.of(
                    Map.entry("num_key_value_heads", "every head has its own key and value"),
                    Map.entry("head_dim", "heads are n_embd / n_head wide"),
                    Map.entry("hidden_act", "GPT-2 reads activation_function"),
                    Map.entry("rms_norm_eps", "GPT-2 reads layer_norm_epsilon"),
                    Map.entry("rope_theta", "GPT-2 has learned positions, no rotary"),
                    Map.entry("rope_scaling", "GPT-2 has learned positions, no rotary"),
                    Map.entry("rope_parameters", "GPT-2 has learned positions, no rotary"),
                    Map.entry("partial_rotary_factor", "GPT-2 has learned positions, no rotary"),
                    Map.entry(
                            "original_max_position_embeddings",
                            "GPT-2 has learned positions, no rotary"));

    /** A copy of {@code root} in the common names; {@code root} is not changed. */
    static ObjectNode toCommonNames(JsonNode root, String source) {
        for (var e : UNREAD) {
            if (root.has(e.getKey()) && !root.get(e.getKey()).isNull()) {
                throw new ModelFormatException(
                        source
                                + ": "
                                + e.getKey()
                                + " is not read by GPT2LMHeadModel ("
                                + e.getValue()
                                + "); refusing rather than ignoring it");
            }
        }
        if (ConfigReader.bool(root, "add_cross_attention", source, false)) {
            throw new ModelFormatException(
                    source
                            + ": add_cross_attention true is not supported (its crossattention"
                            + " modules need encoder states; a decoder-only model has none)");
        }
        ObjectNode out = root.deepCopy();
        for (Alias a : ALIASES) {
            JsonNode own = root.get(a.gpt2());
            JsonNode alias = root.get(a.common());
            if (own != null && alias != null && !own.equals(alias)) {
                throw new ModelFormatException(
                        source
                                + ": "
                                + a.gpt2()
                                + " ("
                                + own
                                + ") and its alias "
                                + a.common()
                                + " ("
                                + alias
                                + ") disagree");
            }
            JsonNode value = own != null ? own : alias;
            if (value == null) {
                out.put(a.common(), a.dflt());
            } else {
                out.set(a.common(), value);
            }
            out.remove(a.gpt2());
        }
        int hidden = ConfigReader.intField(out, "hidden_size", source, null, Integer.MAX_VALUE);
        // GPT2Block: n_inner, or 4 * n_embd when it is None. An intermediate_size (which
        // transformers 5 saves when given one as an argument) is not read: n_inner is.
        out.remove("intermediate_size");
        JsonNode inner = root.get("n_inner");
        if (inner == null || inner.isNull()) {
            out.put("intermediate_size", 4L * hidden);
        } else {
            out.set("intermediate_size", inner);
        }
        out.remove("n_inner");
        if (!root.has("vocab_size")) {
            out.put("vocab_size", 50257);
        }
        out.put("hidden_act", ConfigReader.text(root, "activation_function", source, "gelu_new"));
        out.remove("activation_function");
        out.put("layer_norm_eps", ConfigReader.number(root, "layer_norm_epsilon", source, 1e-5));
        out.remove("layer_norm_epsilon");
        if (!root.has("tie_word_embeddings")) {
            out.put("tie_word_embeddings", true);
        }
        return out;
    }
}
