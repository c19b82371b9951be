package io.flinklora.gpu.lora;

import com.fasterxml.jackson.databind.JsonNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.ModelConfig;
import java.util.ArrayList;
import java.util.List;

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

    /**
     * The {@code target_parameters} list (empty when absent, null or empty), with the fields PEFT's
     * ParamWrapper refuses alongside it refused by name.
     */
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
        // ParamWrapper.__init__ / update_layer raise on these, so PEFT cannot load such an adapter.
        JsonNode dropout = n.get("lora_dropout");
        if (dropout != null && dropout.isNumber() && dropout.asDouble() != 0) {
            throw refusedWith(source, "lora_dropout " + dropout, "PEFT's ParamWrapper refuses it");
        }
        for (String flag : List.of("fan_in_fan_out", "lora_bias", "use_dora")) {
            if (n.path(flag).asBoolean(false)) {
                throw refusedWith(source, flag, "PEFT's ParamWrapper refuses it");
            }
        }
        JsonNode invocation = n.get("alora_invocation_tokens");
        if (invocation != null && !invocation.isNull()) {
            throw refusedWith(source, "alora_invocation_tokens", "not implemented");
        }
        JsonNode init = n.get("init_lora_weights");
        if (init != null
                && !init.isNull()
                && !init.isBoolean()
                && !"gaussian".equals(init.asText())) {
            // the other initialisations read or rewrite a module's weight, which the stacked
            // experts do not have
            throw refusedWith(source, "init_lora_weights " + init, "not implemented");
        }
        // layers_to_transform, layers_pattern and exclude_modules restrict target_modules only:
        // PEFT 0.21 matches parameters by name alone (checked on its get_peft_model)
        return List.copyOf(out);
    }

    private static AdapterFormatException refusedWith(String source, String what, String why) {
        return new AdapterFormatException(
                source + ": target_parameters together with " + what + " (" + why + ")");
    }

    /**
     * Checks the adapter's targets against the model: every {@code target_parameters} entry must
     * name a served parameter of a sparse layer, and {@code target_modules} must not hold what PEFT
     * rewrites on mixtures of experts.
     */
    static void check(AdapterConfig c, ModelConfig model, String source) {
        if (model.experts() != null) {
            checkNoRewrite(c, model, source);
        }
        if (c.targetParameters().isEmpty()) {
            return;
        }
        if (model.experts() == null) {
            throw new AdapterFormatException(
                    source
                            + ": target_parameters "
                            + c.targetParameters()
                            + " (LoRA on parameters) is served only on the experts and routers of"
                            + " mixtures of experts (Mixtral, Qwen3-MoE, OLMoE); "
                            + model.architecture()
                            + " has none");
        }
        for (String t : c.targetParameters()) {
            boolean served = false;
            // "weight" alone ends the router's path but also every other weight of the model
            boolean onlyServed = !t.equals("weight");
            for (int l = 0; l < model.numLayers() && !served; l++) {
                if (model.experts().sparse(l)) {
                    for (String key : servedKeys(l)) {
                        served |= key.equals(t) || key.endsWith("." + t);
                    }
                }
            }
            if (!served || !onlyServed) {
                throw new AdapterFormatException(
                        source
                                + ": target_parameters entry '"
                                + t
                                + "' is not a sparse layer's mlp.experts.gate_up_proj,"
                                + " mlp.experts.down_proj or mlp.gate.weight (LoRA on other"
                                + " parameters is not implemented)");
            }
        }
    }

    /**
     * PEFT 0.21 rewrites, when it loads an adapter on these models (transformers 5 fused their
     * experts and router into parameters), a regex or {@code all-linear} into module names, and the
     * transformers-4 names of the experts and router into {@code target_parameters} (doubling rank
     * and alpha for the fused gate and up), converting per-expert tensors to match. Adapters saved
     * by PEFT on transformers 5 are already in that form; the others are refused by name.
     */
    private static void checkNoRewrite(AdapterConfig c, ModelConfig model, String source) {
        String rewritten =
                "PEFT 0.21 rewrites it when it loads an adapter on "
                        + model.architecture()
                        + " (transformers 5 holds the experts and the router as parameters); adapters"
                        + " PEFT saves on transformers 5 list the modules and target_parameters"
                        + " instead, and this server reads those";
        if (c.targetRegex() != null || c.allLinear()) {
            throw new AdapterFormatException(
                    source
                            + ": target_modules "
                            + (c.targetRegex() != null
                                    ? "as a regex string '" + c.targetRegex().pattern() + "'"
                                    : "'all-linear'")
                            + " on a mixture of experts is not supported: "
                            + rewritten);
        }
        List<String> old =
                model.architecture().equals("MixtralForCausalLM")
                        ? List.of("gate", "w1", "w2", "w3")
                        : List.of("gate", "gate_proj", "up_proj", "down_proj");
        for (String t : c.targetNames()) {
            for (String o : old) {
                if (t.equals(o) || t.endsWith("." + o)) {
                    throw new AdapterFormatException(
                            source
                                    + ": target_modules entry '"
                                    + t
                                    + "' names transformers 4's "
                                    + (o.equals("gate") ? "router" : "experts' " + o)
                                    + ", which is not supported: "
                                    + rewritten);
                }
            }
        }
    }

    private static List<String> servedKeys(int l) {
        String mlp = "model.layers." + l + ".mlp.";
        return List.of(
                mlp + "experts.gate_up_proj", mlp + "experts.down_proj", mlp + "gate.weight");
    }

    /** The parameters of sparse layer {@code l} the adapter targets, with their tensor paths. */
    public static Layer of(AdapterConfig c, int l) {
        List<String> keys = servedKeys(l);
        boolean[] hit = new boolean[3];
        for (int i = 0; i < 3; i++) {
            for (String t : c.targetParameters()) {
                hit[i] |= keys.get(i).equals(t) || keys.get(i).endsWith("." + t);
            }
        }
        String experts = "model.layers." + l + ".mlp.experts";
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
        return new Layer(gateUp, down, hit[2] ? "model.layers." + l + ".mlp.gate" : null);
    }

    /** The parameter path PEFT matches rank_pattern and alpha_pattern against. */
    public static String gateUpKey(int l) {
        return servedKeys(l).get(0);
    }

    public static String downKey(int l) {
        return servedKeys(l).get(1);
    }

    public static String routerKey(int l) {
        return servedKeys(l).get(2);
    }
}
