package io.flinklora.gpu.lora;

import com.fasterxml.jackson.databind.JsonNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.ExpertParameter;
import io.flinklora.gpu.model.ModelConfig;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * PEFT's {@code target_parameters} (LoRA on an {@code nn.Parameter}, its {@code ParamWrapper}) as
 * this server serves it: on the sparse layers of Mixtral, Qwen3-MoE and OLMoE, the stacked experts'
 * {@code gate_up_proj} and {@code down_proj} and the router's {@code gate.weight}, the parameters
 * PEFT 0.21's {@code all-linear} targets there. Also refuses, by name, the {@code target_modules}
 * PEFT rewrites into parameters when it loads an adapter on these models (its transformers-4
 * conversion), which this server does not repeat.
 */
@Internal
public final class ParameterTargets {
    private ParameterTargets() {}

    /**
     * The parameters of one sparse layer an adapter targets: for each, the module path of its
     * tensors ({@code <path>.lora_A.weight}), or null when it is not targeted. PEFT wraps a
     * module's targeted parameters one inside the other in the order the module registers them
     * (gate_up_proj, then down_proj), so the first sits one {@code base_layer} deeper when both are
     * targeted.
     */
    public record Layer(String gateUp, String down, String router) {
        public boolean any() {
            return gateUp != null || down != null || router != null;
        }
    }

    /** The {@code target_parameters} list (empty when absent, null or empty). */
    static List<String> parse(JsonNode n, String source) {
        JsonNode tp = n.get("target_parameters");
        if (tp == null || tp.isNull() || (tp.isArray() && tp.isEmpty())) {
            return List.of();
        }
        if (!tp.isArray()) {
            // LoraConfig raises a TypeError on a string
            throw new AdapterFormatException(
                    source + ": target_parameters must be a list of parameter names");
        }
        List<String> out = new ArrayList<>();
        for (JsonNode e : tp) {
            if (!e.isTextual() || e.asText().isEmpty()) {
                throw new AdapterFormatException(
                        source + ": target_parameters must hold parameter names");
            }
            out.add(e.asText());
        }
        // What ParamWrapper refuses alongside (conflict) is refused once the model shows a
        // parameter it would wrap (check): PEFT raises only when it wraps one.
        // layers_to_transform, layers_pattern and exclude_modules restrict target_modules only:
        // PEFT 0.21 matches parameters by name alone (checked on its get_peft_model)
        return List.copyOf(out);
    }

    /**
     * What in a config keeps PEFT's ParamWrapper from serving it (its {@code __init__} and {@code
     * update_layer} raise on dropout, fan_in_fan_out, lora_bias and DoRA), or this server (aLoRA,
     * initialisations that read a module's weight); null when nothing does.
     */
    static String conflict(JsonNode n) {
        JsonNode dropout = n.get("lora_dropout");
        if (dropout != null && dropout.isNumber() && dropout.asDouble() != 0) {
            return "lora_dropout " + dropout + " (PEFT's ParamWrapper refuses it)";
        }
        for (String flag : List.of("lora_bias", "use_dora")) {
            if (n.path(flag).asBoolean(false)) {
                return flag + " (PEFT's ParamWrapper refuses it)";
            }
        }
        JsonNode modules = n.get("target_modules");
        if (n.path("fan_in_fan_out").asBoolean(false)
                && (modules == null
                        || modules.isNull()
                        || (modules.isArray() && modules.isEmpty()))) {
            // PEFT resets it to false on the config at the first nn.Linear it adapts (modules are
            // adapted before parameters); with no module, ParamWrapper sees it and refuses
            return "fan_in_fan_out and no target_modules (PEFT's ParamWrapper refuses it)";
        }
        JsonNode invocation = n.get("alora_invocation_tokens");
        if (invocation != null && !invocation.isNull()) {
            return "alora_invocation_tokens (not implemented)";
        }
        JsonNode init = n.get("init_lora_weights");
        if (init != null
                && !init.isNull()
                && !init.isBoolean()
                && !"gaussian".equals(init.asText())
                && !"eva".equals(init.asText())) {
            // the other initialisations read or rewrite a module's weight, which the stacked
            // experts do not have (PEFT's ParamWrapper fails on them; eva only zeroes B, which the
            // saved tensors then replace)
            return "init_lora_weights " + init + " (not implemented)";
        }
        return null;
    }

    /**
     * Checks the adapter's targets against the model: every {@code target_parameters} entry must
     * name a served parameter of a sparse layer, and {@code target_modules} must not hold what PEFT
     * rewrites on mixtures of experts.
     */
    static void check(AdapterConfig c, ModelConfig model, String source) {
        if (c.parameterConflict() != null && wrapsAny(c, model)) {
            throw new AdapterFormatException(
                    source + ": target_parameters together with " + c.parameterConflict());
        }
        if (convertible(model)) {
            checkNoRewrite(c, model, source);
        }
        if (model.experts() != null) {
            checkSharedModules(c, model, source);
        }
        for (String t : c.targetParameters()) {
            // "weight" alone ends the router's path but also every other weight of the model
            if (!t.equals("weight") && served(model, t)) {
                continue;
            }
            if (!matchesAnyParameter(model, t)) {
                continue; // PEFT skips an entry that names no parameter of the model
            }
            throw new AdapterFormatException(
                    source
                            + ": target_parameters entry '"
                            + t
                            + "' names a parameter other than a sparse layer's"
                            + " mlp.experts.gate_up_proj, mlp.experts.down_proj or mlp."
                            + router(model)
                            + ".weight (LoRA on other parameters is not implemented)");
        }
    }

    /** Whether {@code t} names a served parameter of a sparse layer, by PEFT's rule. */
    private static boolean served(ModelConfig model, String t) {
        for (int l = 0; l < model.numLayers(); l++) {
            if (model.experts() != null && model.experts().sparse(l)) {
                for (String key : servedKeys(model, l)) {
                    if (key.equals(t) || key.endsWith("." + t)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /**
     * Whether PEFT would wrap some parameter for this adapter: an entry names a parameter of the
     * model (then ParamWrapper's refusals apply; with none, PEFT wraps nothing and only warns).
     */
    private static boolean wrapsAny(AdapterConfig c, ModelConfig model) {
        return c.targetParameters().stream()
                .anyMatch(
                        t ->
                                (!t.equals("weight") && served(model, t))
                                        || matchesAnyParameter(model, t));
    }

    /** Whether the model has a sparse layer (a model whose every layer is dense has no experts). */
    private static boolean anySparse(ModelConfig model) {
        for (int l = 0; l < model.numLayers(); l++) {
            if (model.experts() != null && model.experts().sparse(l)) {
                return true;
            }
        }
        return false;
    }

    /** Whether any of the adapter's target_parameters names a served parameter. */
    static boolean anyServed(AdapterConfig c, ModelConfig model) {
        return c.targetParameters().stream().anyMatch(t -> !t.equals("weight") && served(model, t));
    }

    /**
     * Whether {@code t} may name some parameter of the model by PEFT's rule (a path or a {@code
     * .name} suffix): every module's weight and bias, the stacked experts' parameters and GPT-OSS's
     * sinks. A superset of the real parameters: an entry matching only a bias a module lacks is
     * refused where PEFT would skip it.
     */
    private static boolean matchesAnyParameter(ModelConfig model, String t) {
        List<String> modules = new ArrayList<>(AdapterConfig.nonLinearModules(model));
        for (int l = 0; l < model.numLayers(); l++) {
            for (io.flinklora.gpu.model.LinearModule m : model.linearModules(l)) {
                modules.add(m.path());
            }
            String layer = "model.layers." + l;
            List<String> params = new ArrayList<>();
            if (model.experts() != null && model.experts().sparse(l)) {
                params.addAll(
                        List.of(
                                "." + model.expertsBlock() + ".experts.gate_up_proj",
                                "." + model.expertsBlock() + ".experts.down_proj"));
                if (model.experts().gptOss()) {
                    params.addAll(
                            List.of(
                                    ".mlp.experts.gate_up_proj_bias",
                                    ".mlp.experts.down_proj_bias"));
                }
            }
            if (model.attentionSinks()) {
                params.add(".self_attn.sinks");
            }
            for (String p : params) {
                String key = layer + p;
                if (key.equals(t) || key.endsWith("." + t)) {
                    return true;
                }
            }
        }
        for (String m : modules) {
            for (String key : List.of(m + ".weight", m + ".bias")) {
                if (key.equals(t) || key.endsWith("." + t)) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * PEFT 0.21 resolves a regex or {@code all-linear} against the model and rewrites the result
     * when it loads an adapter on these models (transformers 5 holds their experts and router as
     * parameters); that resolution is not repeated here, so such strings are refused by name.
     * Adapters PEFT saves on transformers 5 hold the rewritten list.
     */
    private static void checkNoRewrite(AdapterConfig c, ModelConfig model, String source) {
        if (c.targetRegex() != null || c.allLinear()) {
            throw new AdapterFormatException(
                    source
                            + ": target_modules "
                            + (c.targetRegex() != null
                                    ? "as a regex string '" + c.targetRegex().pattern() + "'"
                                    : "'all-linear'")
                            + " on a mixture of experts is not supported: PEFT 0.21 rewrites it when"
                            + " it loads an adapter on "
                            + model.architecture()
                            + " into the names it matches in every layer plus target_parameters;"
                            + " adapters PEFT saves on transformers 5 list the modules and"
                            + " target_parameters instead, and this server reads those");
        }
    }

    /**
     * LoRA on the shared expert modules is served plain, with lora_bias or with DoRA; activated
     * LoRA and the initialisations that rewrite the base (OLoRA, PiSSA) there are refused by name.
     */
    private static void checkSharedModules(AdapterConfig c, ModelConfig model, String source) {
        if (model.experts().sharedIntermediate() == 0) {
            return;
        }
        String what =
                c.activated()
                        ? "alora_invocation_tokens"
                        : c.baseRewrite() != AdapterConfig.BaseRewrite.NONE
                                ? "init_lora_weights "
                                        + c.baseRewrite().name().toLowerCase(java.util.Locale.ROOT)
                                : null;
        for (int l = 0; l < model.numLayers() && what != null; l++) {
            if (!model.experts().sparse(l)) {
                continue;
            }
            for (String path : sharedModules(model, l).values()) {
                if (c.matches(path)) {
                    throw new AdapterFormatException(
                            source
                                    + ": LoRA on "
                                    + path
                                    + " together with "
                                    + what
                                    + " is not supported (LoRA, with lora_bias or DoRA, on the shared"
                                    + " expert is)");
                }
            }
        }
    }

    /**
     * Whether PEFT 0.21 rewrites adapter targets on this model when it loads one ({@code
     * _MODEL_TO_CONVERSION_PATTERN}: Mixtral, and Qwen3-MoE, OLMoE, FlexOlmo, GLM-4-MoE and
     * dots.llm1 and ERNIE 4.5 MoE by Qwen2-MoE's pattern; not Qwen2-MoE itself, whose targets it
     * applies as written).
     */
    static boolean convertible(ModelConfig model) {
        return switch (model.architecture()) {
            case "MixtralForCausalLM",
                    "Qwen3MoeForCausalLM",
                    "OlmoeForCausalLM",
                    "FlexOlmoForCausalLM",
                    "Glm4MoeForCausalLM",
                    "Dots1ForCausalLM",
                    "Ernie4_5_MoeForCausalLM" ->
                    true;
            default -> false;
        };
    }

    /**
     * The transformers-4 module names of the experts and the router and the parameter PEFT maps
     * each to, in the order PEFT 0.21 tries them ({@code _MOE_TARGET_MODULE_MAPPING}).
     */
    private static Map<String, String> moduleToParameter(ModelConfig model) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("gate", "gate.weight");
        if (mixtral(model)) {
            m.put("w1", "gate_up_proj");
            m.put("w3", "gate_up_proj");
            m.put("w2", "down_proj");
        } else {
            m.put("gate_proj", "gate_up_proj");
            m.put("up_proj", "gate_up_proj");
            m.put("down_proj", "down_proj");
        }
        return m;
    }

    static boolean mixtral(ModelConfig model) {
        return model.architecture().equals("MixtralForCausalLM");
    }

    /**
     * The transformers-4 names of the gate and up projections PEFT fuses into {@code gate_up_proj},
     * in its order (w1 before w3).
     */
    static List<String> fusedGateUp(ModelConfig model) {
        return mixtral(model) ? List.of("w1", "w3") : List.of("gate_proj", "up_proj");
    }

    /** The transformers-4 name of the experts' down projection. */
    static String oldDown(ModelConfig model) {
        return mixtral(model) ? "w2" : "down_proj";
    }

    /** Where transformers 4 kept a sparse layer's experts and router. */
    static String oldBlock(ModelConfig model, int l) {
        return "model.layers." + l + (mixtral(model) ? ".block_sparse_moe" : ".mlp");
    }

    /**
     * PEFT 0.21's {@code convert_peft_config_for_transformers} on these models: {@code
     * target_modules} entries naming transformers 4's experts or router (Mixtral's w1 / w3 / w2 /
     * gate; Qwen3-MoE's and OLMoE's gate_proj / up_proj / down_proj / gate, an exact name or a
     * {@code .name} suffix) move to {@code target_parameters}; the gate and up projections only
     * together (PEFT refuses one alone), and then {@code .*\.gate_up_proj} gets rank {@code 2r} and
     * alpha {@code 2 * lora_alpha} appended to the patterns (so rsLoRA's scale there becomes {@code
     * 2 alpha / sqrt(2r)}, as PEFT computes it). Other configs are returned as they are.
     */
    static AdapterConfig convert(AdapterConfig c, ModelConfig model, String source) {
        if (!convertible(model) || c.targetRegex() != null || c.allLinear()) {
            return c;
        }
        Map<String, String> mapping = moduleToParameter(model);
        Set<String> parameters = new LinkedHashSet<>(c.targetParameters());
        List<String> remaining = new ArrayList<>();
        Set<String> fused = new TreeSet<>();
        boolean mapped = false;
        for (String t : c.targetNames()) {
            String hit = null;
            for (String old : mapping.keySet()) {
                if (t.equals(old) || t.endsWith("." + old)) {
                    hit = old;
                    break;
                }
            }
            if (hit == null) {
                remaining.add(t);
                continue;
            }
            mapped = true;
            parameters.add(mapping.get(hit));
            if (fusedGateUp(model).contains(hit)) {
                fused.add(hit);
            }
        }
        if (!mapped) {
            return c;
        }
        if (c.parameterConflict() != null && anySparse(model)) {
            throw new AdapterFormatException(
                    source
                            + ": target_modules names transformers 4's experts or router, which PEFT"
                            + " 0.21 turns into target_parameters on "
                            + model.architecture()
                            + ", together with "
                            + c.parameterConflict());
        }
        if (fused.size() == 1) {
            String present = fused.iterator().next();
            String missing =
                    fusedGateUp(model).stream().filter(n -> !n.equals(present)).findFirst().get();
            throw new AdapterFormatException(
                    source
                            + ": target_modules names "
                            + present
                            + " without "
                            + missing
                            + ": PEFT 0.21 cannot convert one of the two projections transformers 5"
                            + " fuses into gate_up_proj, and refuses the adapter");
        }
        Map<String, Integer> ranks = new LinkedHashMap<>(c.rankPattern());
        Map<String, Double> alphas = new LinkedHashMap<>(c.alphaPattern());
        if (fused.size() == 2) {
            ranks.put(".*\\.gate_up_proj", c.r() * 2);
            alphas.put(".*\\.gate_up_proj", c.alpha() * 2);
        }
        return c.withTargets(remaining, new ArrayList<>(parameters), ranks, alphas);
    }

    /** The router's module: {@code mlp.gate}, GPT-OSS's {@code mlp.router}. */
    private static String router(ModelConfig model) {
        return model.experts() != null && (model.experts().gptOss() || model.graniteMoe())
                ? "router"
                : "gate";
    }

    private static List<String> servedKeys(ModelConfig model, int l) {
        String mlp = "model.layers." + l + "." + model.expertsBlock() + ".";
        return List.of(
                mlp + "experts.gate_up_proj",
                mlp + "experts.down_proj",
                mlp + router(model) + ".weight");
    }

    /** The parameters of sparse layer {@code l} the adapter targets, with their tensor paths. */
    public static Layer of(AdapterConfig c, ModelConfig model, int l) {
        List<String> keys = servedKeys(model, l);
        boolean[] hit = new boolean[3];
        for (int i = 0; i < 3; i++) {
            for (String t : c.targetParameters()) {
                hit[i] |= keys.get(i).equals(t) || keys.get(i).endsWith("." + t);
            }
        }
        String experts = "model.layers." + l + "." + model.expertsBlock() + ".experts";
        String gateUp = null;
        String down = null;
        if (hit[0] && hit[1]) {
            gateUp = experts + ".base_layer";
            down = experts;
        } else if (hit[0]) {
            gateUp = experts;
        } else if (hit[1]) {
            down = experts;
        }
        return new Layer(
                gateUp,
                down,
                hit[2]
                        ? "model.layers." + l + "." + model.expertsBlock() + "." + router(model)
                        : null);
    }

    /**
     * The shared expert modules of layer {@code l} LoRA reaches as nn.Linear modules, by their
     * {@link ExpertParameter}: Qwen2-MoE's gate, up and down projections and its gate; GLM-4-MoE's
     * gate, up and down projections; GraniteMoeShared's input_linear (gate and up fused) and
     * output_linear.
     */
    public static Map<ExpertParameter, String> sharedModules(ModelConfig model, int l) {
        Map<ExpertParameter, String> m = new java.util.EnumMap<>(ExpertParameter.class);
        if (model.experts().sharedFused()) {
            String shared = "model.layers." + l + ".shared_mlp.";
            m.put(ExpertParameter.SHARED_GATE_UP, shared + "input_linear");
            m.put(ExpertParameter.SHARED_DOWN_PROJ, shared + "output_linear");
            return m;
        }
        String mlp = "model.layers." + l + ".mlp.";
        if (model.experts().corrected()) {
            // GLM-4-MoE's, dots.llm1's and ERNIE 4.5's shared_experts: a gated MLP without a gate
            // of its own
            m.put(ExpertParameter.SHARED_GATE_PROJ, mlp + "shared_experts.gate_proj");
            m.put(ExpertParameter.SHARED_UP_PROJ, mlp + "shared_experts.up_proj");
            m.put(ExpertParameter.SHARED_DOWN_PROJ, mlp + "shared_experts.down_proj");
            return m;
        }
        m.put(ExpertParameter.SHARED_GATE_PROJ, mlp + "shared_expert.gate_proj");
        m.put(ExpertParameter.SHARED_UP_PROJ, mlp + "shared_expert.up_proj");
        m.put(ExpertParameter.SHARED_DOWN_PROJ, mlp + "shared_expert.down_proj");
        m.put(ExpertParameter.SHARED_EXPERT_GATE, mlp + "shared_expert_gate");
        return m;
    }

    /** Whether {@code path} is one of the shared expert modules (served here). */
    static boolean sharedModule(ModelConfig model, String path) {
        if (model.experts() == null || model.experts().sharedIntermediate() == 0) {
            return false;
        }
        for (int l = 0; l < model.numLayers(); l++) {
            if (model.experts().sparse(l) && sharedModules(model, l).containsValue(path)) {
                return true;
            }
        }
        return false;
    }

    /** The parameter path PEFT matches rank_pattern and alpha_pattern against. */
    public static String gateUpKey(ModelConfig model, int l) {
        return servedKeys(model, l).get(0);
    }

    public static String downKey(ModelConfig model, int l) {
        return servedKeys(model, l).get(1);
    }

    public static String routerKey(ModelConfig model, int l) {
        return servedKeys(model, l).get(2);
    }
}
