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
 * <p>Fields are read as transformers 5 reads them, in either layout (4.x top-level rotary keys or
 * 5.x {@code rope_parameters}); a field outside {@link ModelFields} is refused by name.
 *
 * @param rope rotary embedding parameters
 * @param qkvBias whether q/k/v projections carry biases (always for Qwen2, {@code attention_bias} for Llama)
 * @param oBias whether the attention output projection carries a bias ({@code attention_bias} for Llama)
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
        RopeParameters rope,
        boolean tieWordEmbeddings,
        boolean qkvBias,
        boolean oBias,
        int bosTokenId,
        List<Integer> eosTokenIds) {

    public static final Set<String> SUPPORTED_ARCHITECTURES =
            Set.of("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM");

    // Bounds far above any real model; they stop a hostile config from sizing huge allocations.
    private static final int MAX_DIM = 1 << 17;
    private static final int MAX_LAYERS = 1024;
    private static final int MAX_VOCAB = 1 << 22;
    private static final int MAX_POSITIONS = 1 << 21;

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
        if (archs == null || !archs.isArray() || archs.size() != 1 || !archs.get(0).isTextual()) {
            throw new ModelFormatException(source + ": field 'architectures' must be a list of one architecture name");
        }
        String arch = archs.get(0).asText();
        if (!SUPPORTED_ARCHITECTURES.contains(arch)) {
            throw new ModelFormatException(source + ": unsupported architecture '" + arch
                    + "' (supported: " + String.join(", ", SUPPORTED_ARCHITECTURES.stream().sorted().toList()) + ")");
        }
        ModelFields.refuseUnknown(root, arch, source);
        String act = ConfigReader.text(root, "hidden_act", source, "silu");
        if (!act.equals("silu")) {
            throw new ModelFormatException(source + ": unsupported hidden_act '" + act + "' (only silu)");
        }
        int hidden = ConfigReader.intField(root, "hidden_size", source, null, MAX_DIM);
        int inter = ConfigReader.intField(root, "intermediate_size", source, null, MAX_DIM * 8);
        int layers = ConfigReader.intField(root, "num_hidden_layers", source, null, MAX_LAYERS);
        int heads = ConfigReader.intField(root, "num_attention_heads", source, null, MAX_DIM);
        int kvHeads = ConfigReader.intField(root, "num_key_value_heads", source, heads, MAX_DIM);
        if (hidden % heads != 0 && !ConfigReader.has(root, "head_dim")) {
            throw new ModelFormatException(source + ": hidden_size " + hidden
                    + " is not a multiple of num_attention_heads " + heads + " and no head_dim is given");
        }
        int headDim = ConfigReader.intField(root, "head_dim", source, hidden / heads, MAX_DIM);
        if (headDim % 2 != 0) {
            throw new ModelFormatException(source + ": head_dim " + headDim + " must be even for rotary embeddings");
        }
        if (heads % kvHeads != 0) {
            throw new ModelFormatException(source + ": num_attention_heads " + heads
                    + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        int vocab = ConfigReader.intField(root, "vocab_size", source, null, MAX_VOCAB);
        int maxPos = ConfigReader.intField(root, "max_position_embeddings", source, 2048, MAX_POSITIONS);
        int window = slidingWindow(root, arch, layers, source);
        // Without sliding-window attention, positions past the window would differ from the
        // reference model, so the usable context stops at the window (inside it the two agree).
        int served = window > 0 ? Math.min(maxPos, window) : maxPos;
        double eps = ConfigReader.number(root, "rms_norm_eps", source, 1e-6);
        if (!(eps > 0)) {
            throw new ModelFormatException(source + ": rms_norm_eps must be positive");
        }
        RopeParameters rope = RopeParameters.read(root, source, maxPos, 10000.0);
        boolean tied = ConfigReader.bool(root, "tie_word_embeddings", source, false);
        boolean llama = arch.equals("LlamaForCausalLM");
        boolean attentionBias = llama && ConfigReader.bool(root, "attention_bias", source, false);
        boolean qkvBias = arch.equals("Qwen2ForCausalLM") || attentionBias;
        if (llama && ConfigReader.bool(root, "mlp_bias", source, false)) {
            throw new ModelFormatException(source + ": mlp_bias true is not supported");
        }
        int bos = ConfigReader.has(root, "bos_token_id")
                ? ConfigReader.intField(root, "bos_token_id", source, null, MAX_VOCAB) : -1;
        List<Integer> eos = tokenIds(root.get("eos_token_id"), source, "eos_token_id");
        return new ModelConfig(arch, hidden, inter, layers, heads, kvHeads, headDim, vocab, served, eps, rope,
                tied, qkvBias, attentionBias, bos, eos);
    }

    /**
     * The attention window as transformers applies it, or 0 for full attention everywhere: Mistral
     * windows every layer when {@code sliding_window} is set; Qwen2 windows the layers whose
     * {@code layer_types} entry is {@code sliding_attention} (derived from {@code max_window_layers}
     * when absent), and only with {@code use_sliding_window}.
     */
    private static int slidingWindow(JsonNode root, String arch, int layers, String source) {
        if (arch.equals("MistralForCausalLM")) {
            return ConfigReader.has(root, "sliding_window")
                    ? ConfigReader.intField(root, "sliding_window", source, null, MAX_POSITIONS) : 0;
        }
        if (!arch.equals("Qwen2ForCausalLM")) {
            return 0;
        }
        boolean use = ConfigReader.bool(root, "use_sliding_window", source, false);
        int window = use && ConfigReader.has(root, "sliding_window")
                ? ConfigReader.intField(root, "sliding_window", source, null, MAX_POSITIONS) : 0;
        int maxWindowLayers = ConfigReader.intField(root, "max_window_layers", source, 28, MAX_LAYERS);
        JsonNode types = root.get("layer_types");
        boolean anySliding = false;
        if (types != null && !types.isNull()) {
            if (!types.isArray() || types.size() != layers) {
                throw new ModelFormatException(source + ": layer_types must list one type per layer (" + layers + ")");
            }
            for (JsonNode t : types) {
                String s = t.asText("");
                if (!s.equals("full_attention") && !s.equals("sliding_attention")) {
                    throw new ModelFormatException(source + ": layer type '" + t + "' is not supported"
                            + " (full_attention, sliding_attention)");
                }
                anySliding |= s.equals("sliding_attention");
            }
        } else {
            anySliding = window > 0 && maxWindowLayers < layers;
        }
        return anySliding ? window : 0;
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

    /** Number of query heads sharing one key/value head. */
    public int groupSize() {
        return numHeads / numKvHeads;
    }
}
