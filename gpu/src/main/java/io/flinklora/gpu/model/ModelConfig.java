package io.flinklora.gpu.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A Hugging Face {@code config.json} of a supported decoder-only architecture, validated.
 *
 * @param architecture one of {@link #SUPPORTED_ARCHITECTURES}
 * @param qkvBias whether q/k/v projections carry biases (always for Qwen2, {@code attention_bias} otherwise)
 * @param ropeScaling frequency scaling of rotary embeddings, {@link RopeScaling#NONE} when absent
 */
public record ModelConfig(
        String architecture,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int vocabSize,
        int maxPositions,
        double rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        boolean tieWordEmbeddings,
        boolean qkvBias,
        int bosTokenId,
        List<Integer> eosTokenIds) {

    public static final Set<String> SUPPORTED_ARCHITECTURES =
            Set.of("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM");

    // Bounds far above any real model; they stop a hostile config from sizing huge allocations.
    private static final int MAX_DIM = 1 << 17;
    private static final int MAX_LAYERS = 1024;
    private static final int MAX_VOCAB = 1 << 22;
    private static final int MAX_POSITIONS = 1 << 21;

    /** Rotary frequency scaling as in Hugging Face's {@code rope_scaling} ("linear" or "llama3"). */
    public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor,
                              int originalMaxPositions) {
        public static final RopeScaling NONE = new RopeScaling("none", 1, 1, 1, 0);
    }

    public ModelConfig {
        eosTokenIds = List.copyOf(eosTokenIds);
    }

    /** Reads and validates {@code config.json} in a model folder. */
    public static ModelConfig read(Path modelDir) {
        Path file = modelDir.resolve("config.json");
        if (!Files.isRegularFile(file)) {
            throw new ModelFormatException("no config.json in model folder " + modelDir);
        }
        JsonNode root;
        try {
            if (Files.size(file) > 1 << 20) {
                throw new ModelFormatException(file + " is larger than 1 MiB; not a model config");
            }
            root = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new ModelFormatException("cannot parse " + file + ": " + e.getMessage(), e);
        }
        return parse(root, file.toString());
    }

    /** Validates an already parsed {@code config.json}; {@code source} names it in errors. */
    public static ModelConfig parse(JsonNode root, String source) {
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(source + ": config must be a JSON object");
        }
        JsonNode archs = root.get("architectures");
        if (archs == null || !archs.isArray() || archs.isEmpty() || !archs.get(0).isTextual()) {
            throw new ModelFormatException(source + ": field 'architectures' must be a non-empty list of names");
        }
        String arch = archs.get(0).asText();
        if (!SUPPORTED_ARCHITECTURES.contains(arch)) {
            throw new ModelFormatException(source + ": unsupported architecture '" + arch
                    + "' (supported: " + String.join(", ", SUPPORTED_ARCHITECTURES.stream().sorted().toList()) + ")");
        }
        String act = optText(root, "hidden_act", source, "silu");
        if (!act.equals("silu")) {
            throw new ModelFormatException(source + ": unsupported hidden_act '" + act + "' (only silu)");
        }
        int hidden = intField(root, "hidden_size", source, null, MAX_DIM);
        int inter = intField(root, "intermediate_size", source, null, MAX_DIM * 8);
        int layers = intField(root, "num_hidden_layers", source, null, MAX_LAYERS);
        int heads = intField(root, "num_attention_heads", source, null, MAX_DIM);
        int kvHeads = intField(root, "num_key_value_heads", source, heads, MAX_DIM);
        if (hidden % heads != 0 && !has(root, "head_dim")) {
            throw new ModelFormatException(source + ": hidden_size " + hidden
                    + " is not a multiple of num_attention_heads " + heads + " and no head_dim is given");
        }
        int headDim = intField(root, "head_dim", source, hidden / heads, MAX_DIM);
        if (headDim % 2 != 0) {
            throw new ModelFormatException(source + ": head_dim " + headDim + " must be even for rotary embeddings");
        }
        if (heads % kvHeads != 0) {
            throw new ModelFormatException(source + ": num_attention_heads " + heads
                    + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        int vocab = intField(root, "vocab_size", source, null, MAX_VOCAB);
        int maxPos = intField(root, "max_position_embeddings", source, 2048, MAX_POSITIONS);
        if (has(root, "sliding_window") && root.get("sliding_window").isInt()
                && root.get("sliding_window").asInt() > 0 && root.get("sliding_window").asInt() < maxPos
                && !(arch.equals("Qwen2ForCausalLM") && !root.path("use_sliding_window").asBoolean(false))) {
            // Without sliding-window attention, positions past the window would differ from the
            // reference model, so the usable context stops at the window.
            maxPos = root.get("sliding_window").asInt();
        }
        double eps = numberField(root, "rms_norm_eps", source, 1e-6);
        double theta = numberField(root, "rope_theta", source, 10000.0);
        if (!(eps > 0) || !(theta > 0)) {
            throw new ModelFormatException(source + ": rms_norm_eps and rope_theta must be positive");
        }
        RopeScaling scaling = ropeScaling(root.get("rope_scaling"), source);
        boolean tied = optBool(root, "tie_word_embeddings", source, false);
        boolean bias = arch.equals("Qwen2ForCausalLM") || optBool(root, "attention_bias", source, false);
        if (optBool(root, "mlp_bias", source, false)) {
            throw new ModelFormatException(source + ": mlp_bias true is not supported");
        }
        int bos = has(root, "bos_token_id") ? intField(root, "bos_token_id", source, null, MAX_VOCAB) : -1;
        List<Integer> eos = tokenIds(root.get("eos_token_id"), source, "eos_token_id");
        return new ModelConfig(arch, hidden, inter, layers, heads, kvHeads, headDim, vocab, maxPos, eps, theta,
                scaling, tied, bias, bos, eos);
    }

    /** Parses an {@code eos_token_id} style field: absent, an int, or a list of ints. */
    public static List<Integer> tokenIds(JsonNode node, String source, String field) {
        List<Integer> ids = new ArrayList<>();
        if (node == null || node.isNull()) {
            return ids;
        }
        if (node.isInt()) {
            ids.add(node.asInt());
        } else if (node.isArray()) {
            for (JsonNode n : node) {
                if (!n.isInt()) {
                    throw new ModelFormatException(source + ": '" + field + "' must hold integers");
                }
                ids.add(n.asInt());
            }
        } else {
            throw new ModelFormatException(source + ": '" + field + "' must be an integer or a list of integers");
        }
        return ids;
    }

    private static RopeScaling ropeScaling(JsonNode node, String source) {
        if (node == null || node.isNull()) {
            return RopeScaling.NONE;
        }
        if (!node.isObject()) {
            throw new ModelFormatException(source + ": rope_scaling must be an object or null");
        }
        String type = node.has("rope_type") ? node.get("rope_type").asText() : node.path("type").asText("");
        double factor = numberField(node, "factor", source, 1.0);
        // Rotary frequencies are divided by the factor and, for llama3, by high - low.
        if (!(factor > 0)) {
            throw new ModelFormatException(source + ": rope_scaling factor must be positive, got " + factor);
        }
        switch (type) {
            case "default":
                return RopeScaling.NONE;
            case "linear":
                return new RopeScaling("linear", factor, 1, 1, 0);
            case "llama3": {
                double low = numberField(node, "low_freq_factor", source, 1.0);
                double high = numberField(node, "high_freq_factor", source, 4.0);
                if (!(low > 0) || !(high > low)) {
                    throw new ModelFormatException(source + ": rope_scaling needs 0 < low_freq_factor < high_freq_factor,"
                            + " got " + low + " and " + high);
                }
                return new RopeScaling("llama3", factor, low, high,
                        intField(node, "original_max_position_embeddings", source, 8192, MAX_POSITIONS));
            }
            default:
                throw new ModelFormatException(source + ": unsupported rope_scaling type '" + type
                        + "' (supported: linear, llama3)");
        }
    }

    private static boolean has(JsonNode root, String field) {
        return root.has(field) && !root.get(field).isNull();
    }

    private static int intField(JsonNode root, String field, String source, Integer dflt, int max) {
        if (!has(root, field)) {
            if (dflt == null) {
                throw new ModelFormatException(source + ": missing required field '" + field + "'");
            }
            return dflt;
        }
        JsonNode n = root.get(field);
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new ModelFormatException(source + ": field '" + field + "' must be an integer, got " + n);
        }
        int v = n.asInt();
        if (v < 0 || v > max || (v == 0 && !field.endsWith("token_id"))) {
            throw new ModelFormatException(source + ": field '" + field + "' = " + v + " is out of range");
        }
        return v;
    }

    private static double numberField(JsonNode root, String field, String source, double dflt) {
        if (!has(root, field)) {
            return dflt;
        }
        JsonNode n = root.get(field);
        if (!n.isNumber() || !Double.isFinite(n.asDouble())) {
            throw new ModelFormatException(source + ": field '" + field + "' must be a finite number, got " + n);
        }
        return n.asDouble();
    }

    private static boolean optBool(JsonNode root, String field, String source, boolean dflt) {
        if (!has(root, field)) {
            return dflt;
        }
        JsonNode n = root.get(field);
        if (!n.isBoolean()) {
            throw new ModelFormatException(source + ": field '" + field + "' must be true or false, got " + n);
        }
        return n.asBoolean();
    }

    private static String optText(JsonNode root, String field, String source, String dflt) {
        if (!has(root, field)) {
            return dflt;
        }
        JsonNode n = root.get(field);
        if (!n.isTextual()) {
            throw new ModelFormatException(source + ": field '" + field + "' must be a string, got " + n);
        }
        return n.asText();
    }

    /** Number of query heads sharing one key/value head. */
    public int groupSize() {
        return numHeads / numKvHeads;
    }
}
