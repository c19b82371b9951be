package io.flinklora.gpu.lora;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.LinearModule;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * A PEFT {@code adapter_config.json} for LoRA, validated: which modules of which layers it adapts,
 * with what rank, scale and bias. Module matching reproduces PEFT 0.21 exactly ({@code
 * check_target_module_exists}, {@code get_pattern_key}); a field outside {@link AdapterFields} or a
 * value this server cannot apply exactly is refused, naming the field.
 *
 * @param r default rank
 * @param alpha default lora_alpha
 * @param targetRegex {@code target_modules} given as a string: a regex full-matched against module
 *     paths
 * @param targetNames {@code target_modules} given as a list: module names or path suffixes
 * @param excludeRegex {@code exclude_modules} as a string, or null
 * @param excludeNames {@code exclude_modules} as a list (empty when absent)
 * @param rankPattern {@code rank_pattern}: key (a regex) to rank, in file order (the first match
 *     wins)
 * @param alphaPattern {@code alpha_pattern}: key to alpha, likewise
 * @param layers {@code layers_to_transform}, or null for all layers
 * @param layersPattern {@code layers_pattern} (empty: PEFT's default layer-index rule)
 * @param loraBias {@code lora_bias}: {@code lora_B} carries a bias, scaled like B
 * @param useDora {@code use_dora}: adapted linear modules rescale their output rows by magnitude /
 *     row norm
 * @param modulesToSave {@code modules_to_save}: whole modules the adapter replaces ({@code
 *     lm_head}, {@code embed_tokens})
 * @param trainableTokens {@code trainable_token_indices}: the embedding rows the adapter replaces
 *     (PEFT's TrainableTokens), empty when absent
 * @param invocationTokens {@code alora_invocation_tokens} (activated LoRA): the adapter acts from
 *     the last occurrence of these tokens in the prompt on; empty for a plain LoRA
 * @param baseRewrite what PEFT's loader does to the base weights of the adapted linear modules
 *     before the saved A and B apply ({@code init_lora_weights} "olora" or "pissa")
 * @param targetParameters {@code target_parameters}: parameters adapted directly (PEFT's
 *     ParamWrapper), each a path or a {@code .name} suffix; empty when absent ({@link
 *     ParameterTargets} says which the server serves)
 * @param parameterConflict what keeps PEFT's ParamWrapper (or this server) from adapting parameters
 *     with this config, or null ({@link ParameterTargets#conflict})
 */
@Internal
public record AdapterConfig(
        int r,
        double alpha,
        boolean rsLora,
        Pattern targetRegex,
        List<String> targetNames,
        Pattern excludeRegex,
        List<String> excludeNames,
        Map<String, Integer> rankPattern,
        Map<String, Double> alphaPattern,
        Set<Integer> layers,
        List<String> layersPattern,
        boolean loraBias,
        boolean useDora,
        List<String> modulesToSave,
        List<Integer> trainableTokens,
        List<Integer> invocationTokens,
        BaseRewrite baseRewrite,
        List<String> targetParameters,
        String parameterConflict) {

    /**
     * PEFT's loader re-runs these initialisations on every adapted linear module, so the saved A
     * and B act beside a rewritten base weight {@code W - s B0 A0} (PEFT's {@code olora_init} and
     * {@code pissa_init}): OLoRA takes B0 A0 from a QR of W, PiSSA ({@code "pissa"}, the exact SVD)
     * from its top singular triplets. Other initialisations leave the base alone when loading.
     */
    public enum BaseRewrite {
        NONE,
        OLORA,
        PISSA
    }

    /**
     * The modules {@code modules_to_save} may name among the Llama module names checked on reading:
     * the output head and the input embedding. {@link #checkModules} checks the model's own names
     * (GPT-NeoX's embedding is {@code gpt_neox.embed_in}).
     */
    public static final List<String> SAVABLE_MODULES = List.of("lm_head", "model.embed_tokens");

    /**
     * The input embedding's own names, per architecture family ({@code trainable_token_indices}).
     */
    private static final List<String> EMBEDDING_NAMES = List.of("embed_tokens", "embed_in");

    private static final int MAX_RANK = 1 << 14;

    /** The output head's module path. */
    public static final String HEAD = "lm_head";

    // PEFT's all-linear: every nn.Linear and Conv1D but the output layer, by the names the
    // supported architectures give them (a name another architecture lacks matches nothing there).
    private static final List<String> ALL_LINEAR =
            List.of(
                    "q_proj",
                    "k_proj",
                    "v_proj",
                    "o_proj",
                    "gate_proj",
                    "up_proj",
                    "down_proj",
                    "qkv_proj",
                    "gate_up_proj",
                    "dense", // Phi's and GPT-NeoX's attention output
                    "fc1", // Phi
                    "fc2",
                    "c_fc", // Starcoder2, GPT-2
                    "c_proj",
                    "c_attn", // GPT-2
                    "out_proj", // OPT, GPT-J, GPT-Neo
                    "fc_in", // GPT-J
                    "fc_out",
                    "query_key_value", // GPT-NeoX
                    "Wqkv", // MPT
                    "dense_h_to_4h",
                    "dense_4h_to_h",
                    "shared_expert_gate", // Qwen2-MoE
                    "input_linear", // GraniteMoeShared's shared MLP
                    "output_linear");
    private static final Pattern DEFAULT_LAYER_INDEX =
            Pattern.compile(".*?\\.[^.]*\\.(?<idx>\\d+)\\.");

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
        AdapterFields.check(n, source);
        int r = rank(n.get("r"), source, "r");
        JsonNode alphaNode = n.get("lora_alpha");
        double alpha =
                alphaNode == null || alphaNode.isNull()
                        ? 8
                        : number(alphaNode, source, "lora_alpha");
        boolean rs = bool(n, "use_rslora", source);
        JsonNode tm = n.get("target_modules");
        List<String> targetParameters = ParameterTargets.parse(n, source);
        if ((tm == null || tm.isNull()) && targetParameters.isEmpty()) {
            throw new AdapterFormatException(source + ": target_modules is missing");
        }
        Pattern targetRegex = null;
        List<String> targetNames = new ArrayList<>();
        if (tm == null || tm.isNull()) {
            // PEFT: target_parameters alone adapt no module
        } else if (tm.isTextual()) {
            if (tm.asText().equals("all-linear")) {
                // PEFT expands it to the names of every linear layer (Conv1D included) but the
                // output layer.
                targetNames.addAll(ALL_LINEAR);
            } else {
                targetRegex = compile(tm.asText(), source, "target_modules");
            }
        } else {
            targetNames = names(tm, source, "target_modules");
        }
        Pattern excludeRegex = null;
        List<String> excludeNames = List.of();
        JsonNode ex = n.get("exclude_modules");
        if (ex != null && !ex.isNull()) {
            if (ex.isTextual()) {
                excludeRegex = compile(ex.asText(), source, "exclude_modules");
            } else {
                excludeNames = names(ex, source, "exclude_modules");
            }
        }
        Map<String, Integer> ranks = new LinkedHashMap<>();
        for (var e : fields(n.get("rank_pattern"), source, "rank_pattern").entrySet()) {
            compile(patternRegex(e.getKey()), source, "rank_pattern key '" + e.getKey() + "'");
            ranks.put(e.getKey(), rank(e.getValue(), source, "rank_pattern." + e.getKey()));
        }
        Map<String, Double> alphas = new LinkedHashMap<>();
        for (var e : fields(n.get("alpha_pattern"), source, "alpha_pattern").entrySet()) {
            compile(patternRegex(e.getKey()), source, "alpha_pattern key '" + e.getKey() + "'");
            alphas.put(e.getKey(), number(e.getValue(), source, "alpha_pattern." + e.getKey()));
        }
        Set<Integer> layers = null;
        JsonNode lt = n.get("layers_to_transform");
        if (lt != null && !lt.isNull()) {
            layers = new TreeSet<>();
            if (lt.isInt()) {
                layers.add(lt.asInt());
            } else if (lt.isArray()) {
                for (JsonNode e : lt) {
                    if (!e.isInt()) {
                        throw new AdapterFormatException(
                                source + ": layers_to_transform must hold integers");
                    }
                    layers.add(e.asInt());
                }
                if (layers.isEmpty()) {
                    layers = null; // PEFT: an empty list means every layer
                }
            } else {
                throw new AdapterFormatException(
                        source + ": layers_to_transform must be an integer or a list");
            }
        }
        List<String> layersPattern = List.of();
        JsonNode lp = n.get("layers_pattern");
        if (lp != null && !lp.isNull()) {
            layersPattern =
                    lp.isTextual()
                            ? (lp.asText().isEmpty() ? List.of() : List.of(lp.asText()))
                            : names(lp, source, "layers_pattern");
            for (String p : layersPattern) {
                compile(layerPatternRegex(p), source, "layers_pattern '" + p + "'");
            }
        }
        if (targetRegex != null && (layers != null || !layersPattern.isEmpty())) {
            throw new AdapterFormatException(
                    source
                            + ": layers_to_transform / layers_pattern cannot be used when"
                            + " target_modules is a regex string (PEFT refuses it too)");
        }
        boolean dora = bool(n, "use_dora", source);
        boolean loraBias = bool(n, "lora_bias", source);
        if (dora && loraBias) {
            throw new AdapterFormatException(
                    source + ": use_dora together with lora_bias is not supported");
        }
        List<String> save = List.of();
        JsonNode ms = n.get("modules_to_save");
        if (ms != null && !ms.isNull()) {
            save = names(ms, source, "modules_to_save");
            for (String m : save) {
                // PEFT: re.match(rf"(^|.*\.){m}($|\..*)", module) picks the modules it saves.
                Pattern p =
                        compile(
                                "(^|.*\\.)" + m + "($|\\..*)",
                                source,
                                "modules_to_save entry '" + m + "'");
                for (String candidate :
                        List.of(
                                "lm_head",
                                "model.embed_tokens",
                                "model.norm",
                                "model.layers.0",
                                "model.layers.0.self_attn.q_proj",
                                "model.layers.0.mlp",
                                "model.layers.0.input_layernorm")) {
                    if (p.matcher(bounded(candidate, "modules_to_save")).lookingAt()
                            && !SAVABLE_MODULES.contains(candidate)) {
                        throw new AdapterFormatException(
                                source
                                        + ": modules_to_save entry '"
                                        + m
                                        + "' saves '"
                                        + candidate
                                        + "'; only lm_head and the input embedding"
                                        + " (embed_tokens, embed_in) are supported");
                    }
                }
            }
        }
        List<Integer> tokens = trainableTokens(n.get("trainable_token_indices"), source);
        if (!tokens.isEmpty()
                && save.stream().anyMatch(m -> EMBEDDING_NAMES.stream().anyMatch(m::endsWith))) {
            throw new AdapterFormatException(
                    source
                            + ": trainable_token_indices with the input embedding in modules_to_save");
        }
        List<Integer> invocation = invocationTokens(n.get("alora_invocation_tokens"), source);
        if (!invocation.isEmpty() && (dora || !save.isEmpty() || !tokens.isEmpty())) {
            // PEFT has no aLoRA variant of DoRA; its saved modules and trainable tokens act on
            // every
            // token, before the invocation too, where the engine gives those rows none of the
            // adapter: refused by name rather than served differently.
            throw new AdapterFormatException(
                    source
                            + ": alora_invocation_tokens together with "
                            + (dora
                                    ? "use_dora"
                                    : !save.isEmpty()
                                            ? "modules_to_save"
                                            : "trainable_token_indices")
                            + " is not supported");
        }
        BaseRewrite rewrite = baseRewrite(n.get("init_lora_weights"));
        String init = n.path("init_lora_weights").asText("");
        JsonNode initNode = n.get("init_lora_weights");
        if (loraBias && initNode != null && !initNode.isNull() && !initNode.isBoolean()) {
            // LoraConfig.__post_init__ raises on it, so PEFT cannot load such a config.
            throw new AdapterFormatException(
                    source
                            + ": lora_bias with init_lora_weights "
                            + initNode
                            + " (PEFT allows lora_bias only with init_lora_weights true or false and"
                            + " refuses the config)");
        }
        if (init.equals("mica") && (dora || !invocation.isEmpty())) {
            // PEFT resolves one LoRA variant per layer and has none for MiCA with DoRA or aLoRA.
            throw new AdapterFormatException(
                    source
                            + ": init_lora_weights \"mica\" together with "
                            + (dora ? "use_dora" : "alora_invocation_tokens")
                            + " (PEFT refuses the combination too)");
        }
        if (rewrite != BaseRewrite.NONE && !invocation.isEmpty()) {
            // PEFT's rewritten base acts on every token, its activated LoRA only after the
            // invocation; the engine keeps the rewrite with the adapter's rows.
            throw new AdapterFormatException(
                    source
                            + ": init_lora_weights "
                            + n.get("init_lora_weights")
                            + " together with alora_invocation_tokens is not supported");
        }
        return new AdapterConfig(
                r,
                alpha,
                rs,
                targetRegex,
                List.copyOf(targetNames),
                excludeRegex,
                List.copyOf(excludeNames),
                ranks,
                alphas,
                layers,
                List.copyOf(layersPattern),
                loraBias,
                dora,
                List.copyOf(save),
                tokens,
                invocation,
                rewrite,
                targetParameters,
                ParameterTargets.conflict(n));
    }

    private static BaseRewrite baseRewrite(JsonNode init) {
        if (init == null || !init.isTextual()) {
            return BaseRewrite.NONE;
        }
        return switch (init.asText()) {
            case "olora" -> BaseRewrite.OLORA;
            case "pissa" -> BaseRewrite.PISSA;
            default -> BaseRewrite.NONE;
        };
    }

    /** Whether this is an activated LoRA (aLoRA): it acts only from its invocation tokens on. */
    public boolean activated() {
        return !invocationTokens.isEmpty();
    }

    /**
     * PEFT's {@code alora_invocation_tokens}: a non-empty list of token ids, or absent / null for a
     * plain LoRA.
     */
    private static List<Integer> invocationTokens(JsonNode v, String source) {
        if (v == null || v.isNull()) {
            return List.of();
        }
        if (!v.isArray() || v.isEmpty()) {
            throw new AdapterFormatException(
                    source + ": alora_invocation_tokens must be a non-empty list of token ids");
        }
        List<Integer> out = new java.util.ArrayList<>();
        for (JsonNode t : v) {
            if (!t.isIntegralNumber() || !t.canConvertToInt() || t.intValue() < 0) {
                throw new AdapterFormatException(
                        source + ": alora_invocation_tokens holds " + t + ", not a token id");
            }
            out.add(t.intValue());
        }
        return List.copyOf(out);
    }

    /**
     * PEFT's {@code trainable_token_indices}: a list of token ids for the input embedding, or a map
     * from a module name to one; only the input embedding ({@code embed_tokens}, GPT-NeoX's {@code
     * embed_in}) is supported (a name the model lacks: the adapter's tensor is then missing).
     */
    private static List<Integer> trainableTokens(JsonNode v, String source) {
        if (v == null || v.isNull() || (v.isContainerNode() && v.isEmpty())) {
            return List.of(); // PEFT tests the field's truth: an empty list or map is none
        }
        JsonNode list = v;
        if (v.isObject()) {
            String key = v.size() == 1 ? v.fieldNames().next() : null;
            if (key == null || !EMBEDDING_NAMES.contains(key)) {
                throw new AdapterFormatException(
                        source
                                + ": trainable_token_indices names "
                                + v.fieldNames().next()
                                + "; only the input embedding (embed_tokens, embed_in) is"
                                + " supported");
            }
            list = v.get(key);
        }
        if (!list.isArray()) {
            throw new AdapterFormatException(
                    source + ": trainable_token_indices must be a list of token ids");
        }
        List<Integer> out = new ArrayList<>();
        for (JsonNode t : list) {
            if (!t.isIntegralNumber() || !t.canConvertToInt() || t.asInt() < 0) {
                throw new AdapterFormatException(
                        source + ": trainable_token_indices holds " + t + ", not a token id");
            }
            if (out.contains(t.asInt())) {
                throw new AdapterFormatException(
                        source + ": trainable_token_indices lists token " + t + " twice");
            }
            out.add(t.asInt());
        }
        return List.copyOf(out);
    }

    /** Whether {@code modules_to_save} saves the module at {@code path} (PEFT's rule). */
    public boolean saves(String path) {
        for (String m : modulesToSave) {
            if (Pattern.compile("(^|.*\\.)" + m + "($|\\..*)")
                    .matcher(bounded(path, "modules_to_save"))
                    .lookingAt()) {
                return true;
            }
        }
        return false;
    }

    private static List<String> names(JsonNode node, String source, String field) {
        if (!node.isArray()) {
            throw new AdapterFormatException(source + ": " + field + " must be a list or a string");
        }
        List<String> out = new ArrayList<>();
        for (JsonNode e : node) {
            if (!e.isTextual()) {
                throw new AdapterFormatException(source + ": " + field + " must hold module names");
            }
            out.add(e.asText());
        }
        return out;
    }

    private static Pattern compile(String regex, String source, String what) {
        try {
            return Pattern.compile(regex);
        } catch (PatternSyntaxException e) {
            throw new AdapterFormatException(
                    source + ": " + what + " is not a valid regex: " + e.getDescription());
        }
    }

    /** As PEFT's get_pattern_key: {@code re.match(rf"(.*\.)?({key})$", module_name)}. */
    private static String patternRegex(String key) {
        return "(.*\\.)?(" + key + ")$";
    }

    /**
     * As PEFT's check_target_module_exists: {@code
     * re.match(rf"(?:^|.*?\.){pattern}\.(?P<idx>\d+)\.", key)}.
     */
    private static String layerPatternRegex(String pattern) {
        return "(?:^|.*?\\.)" + pattern + "\\.(?<idx>\\d+)\\.";
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
        if (n == null
                || !n.isIntegralNumber()
                || !n.canConvertToInt()
                || n.asInt() < 1
                || n.asInt() > MAX_RANK) {
            throw new AdapterFormatException(
                    source + ": " + field + " must be an integer rank in 1.." + MAX_RANK);
        }
        return n.asInt();
    }

    private static double number(JsonNode n, String source, String field) {
        if (!n.isNumber() || !Double.isFinite(n.asDouble())) {
            throw new AdapterFormatException(source + ": " + field + " must be a finite number");
        }
        return n.asDouble();
    }

    private static boolean bool(JsonNode n, String field, String source) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            return false;
        }
        if (!v.isBoolean()) {
            throw new AdapterFormatException(source + ": " + field + " must be true or false");
        }
        return v.asBoolean();
    }

    /**
     * This config with other module and parameter targets and patterns (PEFT's rewrite of the
     * targets on mixtures of experts, {@link ParameterTargets#convert}).
     */
    AdapterConfig withTargets(
            List<String> names,
            List<String> parameters,
            Map<String, Integer> ranks,
            Map<String, Double> alphas) {
        return new AdapterConfig(
                r,
                alpha,
                rsLora,
                targetRegex,
                List.copyOf(names),
                excludeRegex,
                excludeNames,
                java.util.Collections.unmodifiableMap(new LinkedHashMap<>(ranks)),
                java.util.Collections.unmodifiableMap(new LinkedHashMap<>(alphas)),
                layers,
                layersPattern,
                loraBias,
                useDora,
                modulesToSave,
                trainableTokens,
                invocationTokens,
                baseRewrite,
                List.copyOf(parameters),
                parameterConflict);
    }

    /** Whether {@code target_modules} was PEFT's {@code all-linear}. */
    public boolean allLinear() {
        return targetRegex == null && targetNames.equals(ALL_LINEAR);
    }

    /** Whether this adapter adapts projection {@code p} of layer {@code layer}. */
    public boolean adapts(int layer, Projection p) {
        return matches(p.path(layer));
    }

    /** PEFT's {@code check_target_module_exists} for one module path of the base model. */
    public boolean matches(String path) {
        if (saves(path)) {
            return false; // PEFT never adapts a module it saves whole
        }
        if (excludeRegex != null
                && excludeRegex.matcher(bounded(path, "exclude_modules")).matches()) {
            return false;
        }
        for (String e : excludeNames) {
            if (path.equals(e) || path.endsWith("." + e)) {
                return false;
            }
        }
        if (targetRegex != null) {
            return targetRegex.matcher(bounded(path, "target_modules")).matches();
        }
        if (targetNames.contains(path)) {
            return true; // named directly: layers_to_transform does not apply (as in PEFT)
        }
        boolean found = false;
        for (String t : targetNames) {
            found |= path.endsWith("." + t);
        }
        if (!found || layers == null) {
            return found;
        }
        Integer index = null;
        if (layersPattern.isEmpty()) {
            index = layerIndex(DEFAULT_LAYER_INDEX, path);
        } else {
            for (String p : layersPattern) {
                index = layerIndex(Pattern.compile(layerPatternRegex(p)), path);
                if (index != null) {
                    break;
                }
            }
        }
        return index != null && layers.contains(index);
    }

    private static Integer layerIndex(Pattern p, String path) {
        Matcher m = p.matcher(bounded(path, "layers_pattern"));
        if (!m.lookingAt()) {
            return null;
        }
        try {
            return Integer.parseInt(m.group("idx"));
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /**
     * Checks the adapter against every module of the base model, as PEFT would inject it: a matched
     * module this server cannot adapt (embeddings, lm_head, norms, whole blocks) is refused by
     * name.
     */
    public void checkModules(ModelConfig model, String source) {
        ParameterTargets.check(this, model, source);
        String embedding = model.embeddingModule();
        List<String> refused = new ArrayList<>();
        List<String> savedRefused = new ArrayList<>();
        for (String module : nonLinearModules(model)) {
            if (matches(module)
                    && !module.equals(embedding)
                    && !module.equals(HEAD)
                    && !ParameterTargets.sharedModule(model, module)) { // served: LoraAdapter
                refused.add(module);
            }
            if (saves(module) && !module.equals(embedding) && !module.equals(HEAD)) {
                savedRefused.add(module);
            }
        }
        for (int l = 0; l < model.numLayers(); l++) {
            for (LinearModule m : model.linearModules(l)) {
                if (saves(m.path())) {
                    savedRefused.add(m.path());
                }
            }
        }
        if (!savedRefused.isEmpty()) {
            // The names checked on reading are Llama's; these are the model's own.
            throw new AdapterFormatException(
                    source
                            + ": modules_to_save saves "
                            + savedRefused
                            + "; only lm_head and the input embedding ("
                            + embedding
                            + ") are supported");
        }
        if (baseRewrite != BaseRewrite.NONE && matches(HEAD)) {
            // PEFT rewrites lm_head's weight too, and on a tied model the embedding with it.
            throw new AdapterFormatException(
                    source
                            + ": init_lora_weights "
                            + baseRewrite.name().toLowerCase(java.util.Locale.ROOT)
                            + " with lm_head in target_modules is not supported");
        }
        if (useDora && matches(embedding)) {
            throw new AdapterFormatException(
                    source + ": DoRA on " + model.embeddingName() + " is not supported");
        }
        if (!trainableTokens.isEmpty() && saves(HEAD) && model.tieWordEmbeddings()) {
            // PEFT's tied token wrapper cannot wrap a saved head: its forward raises.
            throw new AdapterFormatException(
                    source
                            + ": trainable_token_indices with modules_to_save lm_head on a tied"
                            + " head (PEFT fails on it too)");
        }
        if (!trainableTokens.isEmpty() && matches(embedding)) {
            throw new AdapterFormatException(
                    source
                            + ": trainable_token_indices together with LoRA on "
                            + model.embeddingName());
        }
        if (model.headBias()) {
            // DoRA's rescaled head rows and a tied head's own token rows would leave the base
            // head's bias out; Phi's head has one (a saved whole head brings its own).
            String what =
                    useDora && matches(HEAD)
                            ? "DoRA on lm_head"
                            : !trainableTokens.isEmpty() && model.tieWordEmbeddings()
                                    ? "trainable_token_indices on a tied head"
                                    : null;
            if (what != null) {
                throw new AdapterFormatException(
                        source
                                + ": "
                                + what
                                + " is not supported on "
                                + model.architecture()
                                + ", whose output head has a bias");
            }
        }
        if (model.mpt() && !invocationTokens.isEmpty()) {
            // PeftModelForCausalLM.forward sends MPT past the hooks that hand activated LoRA its
            // offsets (the adapter then changes nothing), while generate applies them on MPT's
            // uncached default (the window slides with every new token): no single reference.
            throw new AdapterFormatException(
                    source
                            + ": alora_invocation_tokens is not supported on MptForCausalLM (PEFT's"
                            + " forward skips activated LoRA's offsets for MPT, and its generate"
                            + " applies them differently; there is no one PEFT result to match)");
        }
        if (model.opt() && !invocationTokens.isEmpty()) {
            // OPT's decoder layer flattens its tokens before fc1 and fc2, and PEFT's activated LoRA
            // then fails on them (its mask is per sequence): refused, as PEFT serves nothing there.
            for (int l = 0; l < model.numLayers(); l++) {
                for (LinearModule m : model.linearModules(l)) {
                    if ((m.path().endsWith(".fc1") || m.path().endsWith(".fc2"))
                            && matches(m.path())) {
                        throw new AdapterFormatException(
                                source
                                        + ": alora_invocation_tokens with LoRA on "
                                        + m.path()
                                        + " is not supported (PEFT's activated LoRA fails on OPT's"
                                        + " fc1 / fc2, whose input its decoder layer flattens)");
                    }
                }
            }
        }
        if (!refused.isEmpty()) {
            throw new AdapterFormatException(
                    source
                            + ": target_modules matches "
                            + refused
                            + ", which this server cannot adapt (it adapts the decoder layers' linear modules, the"
                            + " input embedding and lm_head)");
        }
        boolean any =
                matches(embedding)
                        || matches(HEAD)
                        || !modulesToSave.isEmpty()
                        || !trainableTokens.isEmpty()
                        || ParameterTargets.anyServed(this, model);
        for (int l = 0; l < model.numLayers() && !any; l++) {
            for (LinearModule m : model.linearModules(l)) {
                any |= matches(m.path());
            }
            if (model.experts() != null
                    && model.experts().sharedIntermediate() > 0
                    && model.experts().sparse(l)) {
                for (String shared : ParameterTargets.sharedModules(model, l).values()) {
                    any |= matches(shared);
                }
            }
        }
        if (!any) {
            throw new AdapterFormatException(
                    source + ": target_modules matches no linear layer of this model");
        }
    }

    /**
     * Every module path of the model other than its decoder layers' linear modules, as {@code
     * named_modules} lists them.
     */
    static List<String> nonLinearModules(ModelConfig model) {
        int layers = model.numLayers();
        if (model.gptNeoX()) {
            return gptNeoXModules(layers);
        }
        if (model.persimmon()) {
            return persimmonModules(layers, model.qkNorm());
        }
        if (model.gpt2() || model.gptBigCode()) {
            return gpt2Modules(layers, model.gptBigCode());
        }
        if (model.opt()) {
            return optModules(model, layers);
        }
        if (model.bloom()) {
            return bloomModules(layers);
        }
        if (model.gptj() || model.codegen()) {
            return gptjModules(layers); // CodeGen's tree is GPT-J's
        }
        if (model.gptNeo()) {
            return gptNeoModules(layers);
        }
        if (model.falcon()) {
            return falconModules(model, layers);
        }
        if (model.mpt()) {
            return tree(
                    List.of(
                            "transformer",
                            "transformer.wte",
                            "transformer.blocks",
                            "transformer.norm_f",
                            "lm_head"),
                    "transformer.blocks.",
                    List.of("norm_1", "attn", "norm_2", "ffn", "ffn.act", "resid_attn_dropout"),
                    layers);
        }
        List<String> out =
                new ArrayList<>(
                        model.phi()
                                // Phi names its final norm final_layernorm and holds its
                                // embedding dropout as a module
                                ? List.of(
                                        "model",
                                        "model.embed_tokens",
                                        "model.embed_dropout",
                                        "model.layers",
                                        "model.final_layernorm",
                                        "model.rotary_emb",
                                        "lm_head")
                                : List.of(
                                        "model",
                                        "model.embed_tokens",
                                        "model.layers",
                                        "model.norm",
                                        "model.rotary_emb",
                                        "lm_head"));
        for (int l = 0; l < layers; l++) {
            String b = "model.layers." + l;
            // GraniteMoE's decoder layer holds block_sparse_moe where the others hold mlp
            String mlp = b + "." + (model.experts() != null ? model.expertsBlock() : "mlp");
            out.addAll(List.of(b, b + ".self_attn", mlp));
            if (model.experts() != null && model.experts().sparse(l)) {
                // a sparse layer: the router (a TopKRouter, no nn.Linear) and the stacked experts
                out.addAll(
                        model.experts().gptOss()
                                // GPT-OSS: mlp.router; its experts' activation is no module
                                ? List.of(b + ".mlp.router", b + ".mlp.experts")
                                : List.of(
                                        mlp + (model.graniteMoe() ? ".router" : ".gate"),
                                        mlp + ".experts",
                                        mlp + ".experts.act_fn"));
                if (model.experts().routing()
                        == io.flinklora.gpu.model.ModelConfig.Experts.Routing
                                .SOFTMAX_CORRECTED_TOP_K) {
                    out.add(mlp + ".gate.moe_statics"); // ERNIE 4.5's router holds its correction
                }
                if (model.experts().sharedFused()) {
                    // GraniteMoeShared's shared MLP, beside block_sparse_moe: its two nn.Linear
                    // modules are served by LoraAdapter (ParameterTargets.sharedModules)
                    String shared = b + ".shared_mlp";
                    out.addAll(
                            List.of(
                                    shared,
                                    shared + ".input_linear",
                                    shared + ".output_linear",
                                    shared + ".activation"));
                } else if (model.experts().corrected()
                        && model.experts().sharedIntermediate() > 0) {
                    // GLM-4-MoE's, dots.llm1's and ERNIE 4.5's shared experts: nn.Linear
                    // projections, served by LoraAdapter
                    // (ParameterTargets.sharedModules)
                    String shared = b + ".mlp.shared_experts";
                    out.addAll(
                            List.of(
                                    shared,
                                    shared + ".gate_proj",
                                    shared + ".up_proj",
                                    shared + ".down_proj",
                                    shared + ".act_fn"));
                } else if (model.experts().sharedIntermediate() > 0) {
                    // Qwen2-MoE's shared expert: its projections and its gate are nn.Linear
                    // modules, served by LoraAdapter (ParameterTargets.sharedModules)
                    String shared = b + ".mlp.shared_expert";
                    out.addAll(
                            List.of(
                                    b + ".mlp.shared_expert_gate",
                                    shared,
                                    shared + ".gate_proj",
                                    shared + ".up_proj",
                                    shared + ".down_proj",
                                    shared + ".act_fn"));
                }
            } else {
                // Phi-3's, GLM's and Phi's MLP names it activation_fn, Starcoder2's act
                out.add(
                        b
                                + (model.fusedGateUp() || model.phi() || model.nanoChat()
                                        ? ".mlp.activation_fn"
                                        : model.architecture().equals("Starcoder2ForCausalLM")
                                                ? ".mlp.act"
                                                : ".mlp.act_fn"));
            }
            if (!model.block().parallel()) {
                // Cohere's block, and StableLM's with use_parallel_residual, have one norm
                out.add(b + "." + model.mlpNormName());
            }
            if (model.phi()) {
                out.add(b + ".resid_dropout"); // Phi's decoder layer holds its dropout as a module
            }
            if (model.fusedQkv()) {
                // Phi-3's decoder layer holds its residual dropouts as modules
                out.addAll(List.of(b + ".resid_attn_dropout", b + ".resid_mlp_dropout"));
            }
            if (!model.block().postNormsOnly()) {
                out.add(b + "." + model.attentionNormName());
            } else {
                out.add(b + ".post_feedforward_layernorm");
            }
            boolean stablelm = model.architecture().equals("StableLmForCausalLM");
            if (stablelm) {
                out.add(b + ".dropout"); // StableLM's decoder layer holds its hidden dropout
            }
            if (model.qkNorm() && stablelm) {
                // StableLM: one LayerNorm module per head, under q_layernorm.norms / k_layernorm
                for (String side : List.of("q", "k")) {
                    String norms = b + ".self_attn." + side + "_layernorm";
                    out.addAll(List.of(norms, norms + ".norms"));
                    int heads = side.equals("q") ? model.numHeads() : model.numKvHeads();
                    for (int h = 0; h < heads; h++) {
                        out.add(norms + ".norms." + h);
                    }
                }
            } else if (model.qkNorm() && model.phi()) {
                // Phi: one LayerNorm over a head for q and one for k
                out.addAll(List.of(b + ".self_attn.q_layernorm", b + ".self_attn.k_layernorm"));
            } else if (model.qkNorm() && model.hunYuanDense()) {
                // HunYuan: query_layernorm and key_layernorm
                out.addAll(
                        List.of(b + ".self_attn.query_layernorm", b + ".self_attn.key_layernorm"));
            } else if (model.qkNorm()) {
                out.addAll(List.of(b + ".self_attn.q_norm", b + ".self_attn.k_norm"));
            }
            if (model.block().sandwichNorms()) {
                boolean glm4 = model.architecture().equals("Glm4ForCausalLM");
                out.addAll(
                        glm4
                                ? List.of(
                                        b + ".post_self_attn_layernorm", b + ".post_mlp_layernorm")
                                : List.of(
                                        b + ".pre_feedforward_layernorm",
                                        b + ".post_feedforward_layernorm"));
            }
        }
        return out;
    }

    /**
     * A module tree: the modules outside the decoder layers, then each layer's {@code layers.l}
     * under {@code layerPrefix} followed by its non-linear modules.
     */
    private static List<String> tree(
            List<String> outside, String layerPrefix, List<String> perLayer, int layers) {
        List<String> out = new ArrayList<>(outside);
        for (int l = 0; l < layers; l++) {
            String b = layerPrefix + l;
            out.add(b);
            perLayer.forEach(m -> out.add(b + "." + m));
        }
        return out;
    }

    /**
     * GPT-2's module tree under transformer. (wpe, its learned positions, is not adaptable);
     * GPT-BigCode's attention holds no attn_dropout module.
     */
    private static List<String> gpt2Modules(int layers, boolean bigcode) {
        List<String> perLayer =
                new ArrayList<>(
                        List.of(
                                "ln_1",
                                "attn",
                                "attn.resid_dropout",
                                "ln_2",
                                "mlp",
                                "mlp.act",
                                "mlp.dropout"));
        if (!bigcode) {
            perLayer.add("attn.attn_dropout");
        }
        return tree(
                List.of(
                        "transformer",
                        "transformer.wte",
                        "transformer.wpe",
                        "transformer.drop",
                        "transformer.h",
                        "transformer.ln_f",
                        "lm_head"),
                "transformer.h.",
                perLayer,
                layers);
    }

    /** GPT-J's module tree under transformer. (one LayerNorm per layer). */
    private static List<String> gptjModules(int layers) {
        return tree(
                List.of(
                        "transformer",
                        "transformer.wte",
                        "transformer.drop",
                        "transformer.h",
                        "transformer.ln_f",
                        "lm_head"),
                "transformer.h.",
                List.of(
                        "ln_1",
                        "attn",
                        "attn.attn_dropout",
                        "attn.resid_dropout",
                        "mlp",
                        "mlp.act",
                        "mlp.dropout"),
                layers);
    }

    /**
     * GPT-Neo's module tree under transformer. (wpe is not adaptable); its attention modules sit
     * one level down, in attn.attention.
     */
    private static List<String> gptNeoModules(int layers) {
        return tree(
                List.of(
                        "transformer",
                        "transformer.wte",
                        "transformer.wpe",
                        "transformer.drop",
                        "transformer.h",
                        "transformer.ln_f",
                        "lm_head"),
                "transformer.h.",
                List.of(
                        "ln_1",
                        "attn",
                        "attn.attention",
                        "attn.attention.attn_dropout",
                        "attn.attention.resid_dropout",
                        "ln_2",
                        "mlp",
                        "mlp.act",
                        "mlp.dropout"),
                layers);
    }

    /** Falcon's module tree under transformer. (its norms follow the block's form). */
    private static List<String> falconModules(ModelConfig model, int layers) {
        List<String> perLayer =
                new ArrayList<>(
                        List.of(
                                "self_attention",
                                "self_attention.attention_dropout",
                                "mlp",
                                "mlp.act"));
        if (model.block().twoNormParallel()) {
            perLayer.addAll(List.of("ln_attn", "ln_mlp"));
        } else {
            perLayer.add("input_layernorm");
            if (!model.block().parallel()) {
                perLayer.add("post_attention_layernorm");
            }
        }
        return tree(
                List.of(
                        "transformer",
                        "transformer.word_embeddings",
                        "transformer.h",
                        "transformer.ln_f",
                        "transformer.rotary_emb",
                        "lm_head"),
                "transformer.h.",
                perLayer,
                layers);
    }

    /** Bloom's module tree under transformer. (its embedding LayerNorm is not adaptable). */
    private static List<String> bloomModules(int layers) {
        return tree(
                List.of(
                        "transformer",
                        "transformer.word_embeddings",
                        "transformer.word_embeddings_layernorm",
                        "transformer.h",
                        "transformer.ln_f",
                        "lm_head"),
                "transformer.h.",
                List.of(
                        "input_layernorm",
                        "self_attention",
                        "self_attention.attention_dropout",
                        "post_attention_layernorm",
                        "mlp",
                        "mlp.gelu_impl"),
                layers);
    }

    /** OPT's module tree under model.decoder. (embed_positions is not adaptable). */
    private static List<String> optModules(ModelConfig model, int layers) {
        List<String> outside =
                new ArrayList<>(
                        List.of(
                                "model",
                                "model.decoder",
                                "model.decoder.embed_tokens",
                                "model.decoder.embed_positions",
                                "model.decoder.layers",
                                "lm_head"));
        if (model.block().finalNorm()) {
            outside.add("model.decoder.final_layer_norm");
        }
        if (model.projectsEmbeddings()) {
            // linear, but outside the decoder layers: not adaptable here (PEFT's all-linear takes
            // them, so such an adapter is refused naming them)
            outside.addAll(List.of("model.decoder.project_in", "model.decoder.project_out"));
        }
        return tree(
                outside,
                "model.decoder.layers.",
                List.of("self_attn", "activation_fn", "self_attn_layer_norm", "final_layer_norm"),
                layers);
    }

    /** GPT-NeoX's module tree under gpt_neox. */
    private static List<String> gptNeoXModules(int layers) {
        return tree(
                List.of(
                        "gpt_neox",
                        "gpt_neox.embed_in",
                        "gpt_neox.emb_dropout",
                        "gpt_neox.layers",
                        "gpt_neox.final_layer_norm",
                        "gpt_neox.rotary_emb",
                        "lm_head"),
                "gpt_neox.layers.",
                List.of(
                        "input_layernorm",
                        "post_attention_layernorm",
                        "post_attention_dropout",
                        "post_mlp_dropout",
                        "attention",
                        "mlp",
                        "mlp.act"),
                layers);
    }

    /** Persimmon's module tree under model. (q_layernorm and k_layernorm with qk_layernorm). */
    private static List<String> persimmonModules(int layers, boolean qkNorm) {
        List<String> perLayer =
                new ArrayList<>(
                        List.of(
                                "self_attn",
                                "self_attn.attention_dropout",
                                "mlp",
                                "mlp.act",
                                "input_layernorm",
                                "post_attention_layernorm",
                                "dropout"));
        if (qkNorm) {
            perLayer.addAll(List.of("self_attn.q_layernorm", "self_attn.k_layernorm"));
        }
        return tree(
                List.of(
                        "model",
                        "model.embed_tokens",
                        "model.layers",
                        "model.final_layernorm",
                        "model.rotary_emb",
                        "lm_head"),
                "model.layers.",
                perLayer,
                layers);
    }

    /** Rank of one module: the first {@code rank_pattern} key matching its path, else r. */
    public int rankOf(int layer, Projection p) {
        return rankOf(p.path(layer));
    }

    public int rankOf(String path) {
        Integer v = patternValue(rankPattern, path);
        return v != null ? v : r;
    }

    public double alphaOf(int layer, Projection p) {
        return alphaOf(p.path(layer));
    }

    public double alphaOf(String path) {
        Double v = patternValue(alphaPattern, path);
        return v != null ? v : alpha;
    }

    /** The factor B A is multiplied by: alpha / r, or alpha / sqrt(r) with rsLoRA. */
    public double scaleOf(int layer, Projection p) {
        return scaleOf(p.path(layer));
    }

    public double scaleOf(String path) {
        int rank = rankOf(path);
        double a = alphaOf(path);
        return rsLora ? a / Math.sqrt(rank) : a / rank;
    }

    private static <T> T patternValue(Map<String, T> patterns, String path) {
        for (var e : patterns.entrySet()) {
            Matcher m =
                    Pattern.compile(patternRegex(e.getKey()))
                            .matcher(bounded(path, "pattern key " + e.getKey()));
            if (m.lookingAt()) {
                return e.getValue();
            }
        }
        return null;
    }

    // Java regexes backtrack: a hostile pattern such as ((.*)*)*# would never finish on a module
    // path.
    // Matching reads the path through a sequence that stops after a fixed number of character
    // reads.
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
                    throw new AdapterFormatException(
                            "the regex of "
                                    + what
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
}
