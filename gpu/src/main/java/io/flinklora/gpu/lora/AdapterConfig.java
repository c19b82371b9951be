package io.flinklora.gpu.lora;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * A PEFT {@code adapter_config.json} for LoRA, validated: which projections of which layers it adapts,
 * with what rank and scale. Settings this server cannot apply exactly are refused, naming the field.
 *
 * @param r default rank
 * @param alpha default lora_alpha
 * @param targets the projections adapted (from {@code target_modules})
 * @param targetRegex when {@code target_modules} is a regex string, the pattern full module paths must match
 * @param rankPattern {@code rank_pattern}: module-name pattern to rank
 * @param alphaPattern {@code alpha_pattern}: module-name pattern to alpha
 * @param layers {@code layers_to_transform}, or null for all layers
 */
public record AdapterConfig(int r, double alpha, boolean rsLora, Set<Projection> targets, Pattern targetRegex,
                            Map<String, Integer> rankPattern, Map<String, Double> alphaPattern, Set<Integer> layers) {

    private static final int MAX_RANK = 1 << 14;

    /** Reads {@code adapter_config.json} from an adapter folder. */
    public static AdapterConfig read(Path dir) {
        Path file = dir.resolve("adapter_config.json");
        if (!Files.isRegularFile(file)) {
            throw new AdapterFormatException("no adapter_config.json in " + dir);
        }
        try {
            if (Files.size(file) > 1 << 20) {
                throw new AdapterFormatException(file + " is larger than 1 MiB");
            }
            return parse(new ObjectMapper().readTree(file.toFile()), file.toString());
        } catch (IOException e) {
            throw new AdapterFormatException("cannot parse " + file + ": " + e.getMessage(), e);
        }
    }

    /** Validates a parsed config; {@code source} names it in errors. */
    public static AdapterConfig parse(JsonNode n, String source) {
        if (n == null || !n.isObject()) {
            throw new AdapterFormatException(source + ": adapter config must be a JSON object");
        }
        String type = n.path("peft_type").asText("LORA");
        if (!type.equals("LORA")) {
            throw new AdapterFormatException(source + ": peft_type '" + type + "' is not supported (only LORA)");
        }
        if (n.path("use_dora").asBoolean(false)) {
            throw new AdapterFormatException(source + ": use_dora is not supported");
        }
        JsonNode save = n.get("modules_to_save");
        if (save != null && !save.isNull() && !(save.isArray() && save.isEmpty())) {
            throw new AdapterFormatException(source + ": modules_to_save is not supported (it replaces whole base modules)");
        }
        String bias = n.path("bias").asText("none");
        if (!bias.equals("none")) {
            throw new AdapterFormatException(source + ": bias '" + bias + "' is not supported (only \"none\")");
        }
        if (n.path("fan_in_fan_out").asBoolean(false)) {
            throw new AdapterFormatException(source + ": fan_in_fan_out is not supported (Llama layers are not Conv1D)");
        }
        int r = rank(n.get("r"), source, "r");
        JsonNode alphaNode = n.get("lora_alpha");
        double alpha = alphaNode == null || alphaNode.isNull() ? r : number(alphaNode, source, "lora_alpha");
        boolean rs = n.path("use_rslora").asBoolean(false);
        Set<Projection> targets = EnumSet.noneOf(Projection.class);
        Pattern regex = null;
        JsonNode tm = n.get("target_modules");
        if (tm == null || tm.isNull()) {
            throw new AdapterFormatException(source + ": target_modules is missing");
        }
        if (tm.isTextual()) {
            String t = tm.asText();
            if (t.equals("all-linear")) {
                targets.addAll(EnumSet.allOf(Projection.class));
            } else if (Projection.byModuleName(t) != null) {
                targets.add(Projection.byModuleName(t));
            } else {
                refuseTarget(t, source);
                try {
                    regex = Pattern.compile(t);
                } catch (PatternSyntaxException e) {
                    throw new AdapterFormatException(source + ": target_modules regex is invalid: " + e.getMessage());
                }
                targets.addAll(EnumSet.allOf(Projection.class));
            }
        } else if (tm.isArray()) {
            for (JsonNode e : tm) {
                if (!e.isTextual()) {
                    throw new AdapterFormatException(source + ": target_modules must hold module names");
                }
                Projection p = Projection.byModuleName(e.asText());
                if (p == null) {
                    refuseTarget(e.asText(), source);
                    throw new AdapterFormatException(source + ": target_modules entry '" + e.asText()
                            + "' is not a Llama projection (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
                }
                targets.add(p);
            }
        } else {
            throw new AdapterFormatException(source + ": target_modules must be a list or a string");
        }
        Map<String, Integer> ranks = new LinkedHashMap<>();
        for (var e : fields(n.get("rank_pattern"), source, "rank_pattern").entrySet()) {
            checkPatternKey(e.getKey(), source, "rank_pattern");
            ranks.put(e.getKey(), rank(e.getValue(), source, "rank_pattern." + e.getKey()));
        }
        Map<String, Double> alphas = new LinkedHashMap<>();
        for (var e : fields(n.get("alpha_pattern"), source, "alpha_pattern").entrySet()) {
            checkPatternKey(e.getKey(), source, "alpha_pattern");
            alphas.put(e.getKey(), number(e.getValue(), source, "alpha_pattern." + e.getKey()));
        }
        Set<Integer> layers = null;
        JsonNode lt = n.get("layers_to_transform");
        if (lt != null && !lt.isNull()) {
            layers = new java.util.TreeSet<>();
            if (lt.isInt()) {
                layers.add(lt.asInt());
            } else if (lt.isArray()) {
                for (JsonNode e : lt) {
                    if (!e.isInt()) {
                        throw new AdapterFormatException(source + ": layers_to_transform must hold integers");
                    }
                    layers.add(e.asInt());
                }
            } else {
                throw new AdapterFormatException(source + ": layers_to_transform must be an integer or a list");
            }
        }
        return new AdapterConfig(r, alpha, rs, targets, regex, ranks, alphas, layers);
    }

    private static void refuseTarget(String t, String source) {
        if (t.contains("embed_tokens") || t.contains("lm_head")) {
            throw new AdapterFormatException(source + ": target_modules '" + t
                    + "' targets embeddings or lm_head, which is not supported");
        }
    }

    /** A pattern key is used as a regex later (see patternValue): refuse one that does not compile now. */
    private static void checkPatternKey(String key, String source, String field) {
        try {
            Pattern.compile(patternRegex(key));
        } catch (PatternSyntaxException e) {
            throw new AdapterFormatException(source + ": " + field + " key '" + key + "' is not a valid regex: "
                    + e.getDescription());
        }
    }

    private static String patternRegex(String key) {
        return ".*\\." + key + "$";
    }

    private static Map<String, JsonNode> fields(JsonNode n, String source, String field) {
        Map<String, JsonNode> out = new LinkedHashMap<>();
        if (n == null || n.isNull()) {
            return out;
        }
        if (!n.isObject()) {
            throw new AdapterFormatException(source + ": " + field + " must be an object");
        }
        n.fields().forEachRemaining(e -> out.put(e.getKey(), e.getValue()));
        return out;
    }

    private static int rank(JsonNode n, String source, String field) {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 1 || n.asInt() > MAX_RANK) {
            throw new AdapterFormatException(source + ": " + field + " must be an integer rank in 1.." + MAX_RANK);
        }
        return n.asInt();
    }

    private static double number(JsonNode n, String source, String field) {
        if (!n.isNumber() || !Double.isFinite(n.asDouble())) {
            throw new AdapterFormatException(source + ": " + field + " must be a finite number");
        }
        return n.asDouble();
    }

    /** Whether this adapter adapts projection {@code p} of layer {@code layer}. */
    public boolean adapts(int layer, Projection p) {
        if (layers != null && !layers.contains(layer)) {
            return false;
        }
        if (!targets.contains(p)) {
            return false;
        }
        // PEFT full-matches a regex target against the module's path inside the model.
        return targetRegex == null || targetRegex.matcher(bounded(p.path(layer), "target_modules")).matches();
    }

    /** Rank of one module: the first {@code rank_pattern} key whose pattern ends the module path, else r. */
    public int rankOf(int layer, Projection p) {
        Integer v = patternValue(rankPattern, p.path(layer));
        return v != null ? v : r;
    }

    public double alphaOf(int layer, Projection p) {
        Double v = patternValue(alphaPattern, p.path(layer));
        return v != null ? v : alpha;
    }

    /** The factor B A is multiplied by: alpha / r, or alpha / sqrt(r) with rsLoRA. */
    public double scaleOf(int layer, Projection p) {
        int rank = rankOf(layer, p);
        double a = alphaOf(layer, p);
        return rsLora ? a / Math.sqrt(rank) : a / rank;
    }

    private static <T> T patternValue(Map<String, T> patterns, String path) {
        for (var e : patterns.entrySet()) {
            // As PEFT: re.match(rf".*\.{key}$", name), or the key equals the name.
            if (path.equals(e.getKey())
                    || Pattern.compile(patternRegex(e.getKey())).matcher(bounded(path, "pattern key " + e.getKey())).matches()) {
                return e.getValue();
            }
        }
        return null;
    }

    // Java regexes backtrack: a hostile pattern such as ((.*)*)*# would never finish on a module path.
    // Matching reads the path through a sequence that stops after a fixed number of character reads.
    private static final int MATCH_BUDGET = 200_000;

    private static CharSequence bounded(String s, String what) {
        return new CharSequence() {
            private int reads;

            @Override
            public int length() {
                return s.length();
            }

            @Override
            public char charAt(int index) {
                if (++reads > MATCH_BUDGET) {
                    throw new AdapterFormatException("the regex of " + what
                            + " is too expensive to match (catastrophic backtracking); simplify it");
                }
                return s.charAt(index);
            }

            @Override
            public CharSequence subSequence(int start, int end) {
                return s.subSequence(start, end);
            }

            @Override
            public String toString() {
                return s;
            }
        };
    }

    /** Every (layer, projection) this adapter adapts in a model of the given shape. */
    public List<int[]> modules(ModelConfig model) {
        List<int[]> out = new ArrayList<>();
        for (int l = 0; l < model.numLayers(); l++) {
            for (Projection p : Projection.values()) {
                if (adapts(l, p)) {
                    out.add(new int[] {l, p.ordinal()});
                }
            }
        }
        return out;
    }
}
