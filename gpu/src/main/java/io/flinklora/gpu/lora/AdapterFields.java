package io.flinklora.gpu.lora;

import com.fasterxml.jackson.databind.JsonNode;
import io.flinklora.annotation.Internal;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The {@code adapter_config.json} fields of PEFT 0.21's LoraConfig, and what this server does with
 * each: applied, accepted only at values that leave the forward pass unchanged, or of no effect at
 * inference. Any other field is refused by name. The README's table is checked against this class.
 */
@Internal
public final class AdapterFields {
    private AdapterFields() {}

    /**
     * APPLIED: read and computed; ONLY_AT: accepted only at the stated values; NO_EFFECT: does not
     * change serving.
     */
    public enum Use {
        APPLIED,
        ONLY_AT,
        NO_EFFECT
    }

    /** One field; {@code accepted} tests a value allowed under {@link Use#ONLY_AT}. */
    public record Field(String name, Use use, String note, Predicate<JsonNode> accepted) {}

    private static boolean absent(JsonNode v) {
        return v == null || v.isNull() || (v.isContainerNode() && v.isEmpty());
    }

    private static boolean falseOrAbsent(JsonNode v) {
        return absent(v) || (v.isBoolean() && !v.asBoolean());
    }

    private static Field applied(String name, String note) {
        return new Field(name, Use.APPLIED, note, v -> true);
    }

    private static Field onlyAt(String name, String note, Predicate<JsonNode> ok) {
        return new Field(name, Use.ONLY_AT, note, ok);
    }

    private static Field none(String name, String note) {
        return new Field(name, Use.NO_EFFECT, note, v -> true);
    }

    private static final List<Field> FIELDS =
            List.of(
                    applied("r", "default rank"),
                    applied("lora_alpha", "scale alpha / r (default alpha 8, as PEFT)"),
                    applied("use_rslora", "scale alpha / sqrt(r)"),
                    applied(
                            "target_modules",
                            "list (exact path or `.name` suffix), regex string (full match), `all-linear`;"
                                    + " linear layers, the input embedding (embed_tokens; GPT-NeoX: embed_in; GPT-2, GPT-BigCode, GPT-J, GPT-Neo: wte; Bloom: word_embeddings; lora_embedding_A/B)"
                                    + " and lm_head (with lora_bias or DoRA)"),
                    applied("exclude_modules", "list or regex string, as PEFT"),
                    applied(
                            "layers_to_transform",
                            "int or list, with a list of target_modules, as PEFT"),
                    applied("layers_pattern", "string or list, PEFT's layer-index rule"),
                    applied(
                            "rank_pattern",
                            "keys are regexes matched as `re.match(rf\"(.*\\.)?({key})$\", path)`, first match wins"),
                    applied("alpha_pattern", "as rank_pattern"),
                    applied(
                            "lora_bias",
                            "bias of lora_B, scaled like B, per row in the mixed batch"),
                    onlyAt("peft_type", "LORA", v -> absent(v) || "LORA".equals(v.asText())),
                    onlyAt(
                            "bias",
                            "none, all, lora_only: the base biases PEFT saves with all (every module's)"
                                    + " or lora_only (the target modules') replace the model's on the"
                                    + " adapter's rows, as PEFT's loader writes them over the model's,"
                                    + " GPT-OSS's router bias among them (`mlp.router.bias`, or"
                                    + " `mlp.router.base_layer.bias` with the router's weight in"
                                    + " target_parameters; its experts' biases PEFT does not train);"
                                    + " such an adapter is not mixed",
                            v ->
                                    absent(v)
                                            || "none".equals(v.asText())
                                            || "all".equals(v.asText())
                                            || "lora_only".equals(v.asText())),
                    none(
                            "fan_in_fan_out",
                            "PEFT sets it per layer whatever the saved value (true on GPT-2's"
                                    + " Conv1D, false on nn.Linear); it orients merges, not the"
                                    + " forward pass"),
                    applied(
                            "use_dora",
                            "DoRA on linear modules: rows scaled by magnitude / row norm of W + s B A;"
                                    + " not with lora_bias or on embed_tokens; a DoRA adapter is not mixed with others"),
                    applied(
                            "modules_to_save",
                            "lm_head and the input embedding (embed_tokens; GPT-NeoX: embed_in; GPT-2, GPT-BigCode, GPT-J, GPT-Neo: wte; Bloom: word_embeddings), replaced per"
                                    + " row; any other module the model has is refused by name;"
                                    + " such an adapter is not mixed"),
                    applied(
                            "trainable_token_indices",
                            "list, or {embed_tokens: list} ({embed_in: list} on GPT-NeoX, {wte: list} on GPT-2, {word_embeddings: list} on Bloom): the adapter's own"
                                    + " embedding rows for those"
                                    + " ids (and logits, on a tied head); such an adapter is not mixed"),
                    onlyAt(
                            "layer_replication",
                            "null (it rebuilds the base model's layers)",
                            AdapterFields::absent),
                    applied(
                            "target_parameters",
                            "list; on the sparse layers of mixtures of experts, the stacked"
                                    + " experts' gate_up_proj and down_proj (per expert W + s B_e A_e, PEFT's"
                                    + " ParamWrapper layout: A [r * experts, in], B [out, r * experts], the"
                                    + " expert fastest in B's columns) and the router's gate.weight"
                                    + " (GPT-OSS: router.weight); an entry naming another parameter"
                                    + " refused by name, one naming none skipped (as PEFT); matched by"
                                    + " name alone"
                                    + " (layers_to_transform, layers_pattern and exclude_modules restrict"
                                    + " target_modules only, as in PEFT); not with lora_dropout,"
                                    + " lora_bias, DoRA, aLoRA or an init_lora_weights other than true /"
                                    + " false / gaussian / eva when an entry names a parameter of the model"
                                    + " (PEFT's ParamWrapper raises only when it wraps one: with none"
                                    + " wrapped, such an adapter's modules are served as PEFT serves"
                                    + " them); target_modules"
                                    + " naming transformers 4's experts and router (w1 / w3 / w2 / gate,"
                                    + " gate_proj / up_proj / down_proj) rewritten into parameters and"
                                    + " their per-expert tensors converted, as PEFT 0.21 loads them; a"
                                    + " regex or all-linear string on these models refused by name"),
                    applied(
                            "alora_invocation_tokens",
                            "activated LoRA, as PEFT's generate: the adapter acts on the prompt's tokens"
                                    + " from the last occurrence of these ids on and on every generated"
                                    + " token, and nowhere when the prompt lacks them; such an adapter is"
                                    + " not mixed; not with DoRA, modules_to_save, trainable_token_indices,"
                                    + " trained base biases, or OLoRA / PiSSA's rewritten base; not on"
                                    + " OPT's fc1 / fc2 (PEFT fails there) nor on MPT (PEFT's forward"
                                    + " skips its offsets for MPT while generate applies them)"),
                    onlyAt("use_qalora", "false", AdapterFields::falseOrAbsent),
                    onlyAt("use_bdlora", "null or false", AdapterFields::falseOrAbsent),
                    onlyAt(
                            "init_lora_weights",
                            "true, false, gaussian, orthogonal, mica, eva (initialisations the saved A"
                                    + " and B replace when PEFT loads the adapter; mica not with DoRA or"
                                    + " aLoRA, as PEFT), olora, pissa (PEFT's"
                                    + " loader rewrites the base weight of every adapted module to W - s B0 A0"
                                    + " from a QR or SVD of W; the engine computes the same B0 A0 and serves"
                                    + " it with the adapter's rows; not on lm_head, not with aLoRA; such an"
                                    + " adapter is not mixed); refused: pissa_niter_N (a randomized SVD),"
                                    + " corda and loftq (data or quantization PEFT does not save), lora_ga (its"
                                    + " base rewrite comes from gradients PEFT's loader does not have)",
                            v ->
                                    absent(v)
                                            || v.isBoolean()
                                            || List.of(
                                                            "gaussian",
                                                            "orthogonal",
                                                            "mica",
                                                            "eva",
                                                            "olora",
                                                            "pissa")
                                                    .contains(v.asText())),
                    onlyAt("megatron_config", "null", AdapterFields::absent),
                    onlyAt("loftq_config", "null or {}", AdapterFields::absent),
                    onlyAt("corda_config", "null", AdapterFields::absent),
                    onlyAt("lora_ga_config", "null", AdapterFields::absent),
                    onlyAt("velora_config", "null", AdapterFields::absent),
                    onlyAt("monteclora_config", "null", AdapterFields::absent),
                    onlyAt("kasa_config", "null", AdapterFields::absent),
                    onlyAt("arrow_config", "null", AdapterFields::absent),
                    none("task_type", ""),
                    none("auto_mapping", ""),
                    none("peft_version", ""),
                    none(
                            "base_model_name_or_path",
                            "not checked: the served base model is the job's"),
                    none("revision", ""),
                    none("inference_mode", ""),
                    none("lora_dropout", "dropout is off at inference"),
                    none("megatron_core", "read only with megatron_config"),
                    none("qalora_group_size", "read only with use_qalora"),
                    none("ensure_weight_tying", "read only with modules_to_save"),
                    none(
                            "eva_config",
                            "read only by EVA's data-driven initialisation; the ranks it chose are saved"
                                    + " in rank_pattern and alpha_pattern"));

    public static List<Field> fields() {
        return FIELDS;
    }

    /**
     * Refuses, by name, unknown fields and known ones at values this server cannot apply exactly.
     */
    static void check(JsonNode n, String source) {
        Map<String, Field> byName = new HashMap<>();
        FIELDS.forEach(f -> byName.put(f.name(), f));
        List<String> unknown = new ArrayList<>();
        n.fieldNames()
                .forEachRemaining(
                        k -> {
                            if (!byName.containsKey(k)) {
                                unknown.add(k);
                            }
                        });
        if (!unknown.isEmpty()) {
            throw new AdapterFormatException(
                    source
                            + ": field(s) "
                            + unknown
                            + " are not implemented (they may change"
                            + " the computation; refusing rather than ignoring them)");
        }
        for (Field f : FIELDS) {
            if (f.use() == Use.ONLY_AT && n.has(f.name()) && !f.accepted().test(n.get(f.name()))) {
                throw new AdapterFormatException(
                        source
                                + ": "
                                + f.name()
                                + " = "
                                + n.get(f.name())
                                + " is not supported (supported: "
                                + f.note()
                                + ")");
            }
        }
    }
}
