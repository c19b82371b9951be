package io.flinklora.gpu.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.annotation.PublicEvolving;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The generation defaults a model folder gives requests that leave a sampling field unset, read as
 * transformers 5's {@code generate} reads them: {@code generation_config.json}, or when that file
 * is missing the generation fields of {@code config.json}. A field that would change the tokens and
 * that the engine cannot apply (beam search, forced or suppressed tokens, ...) refuses the model by
 * name instead of being ignored; a null component is one the folder does not set.
 *
 * @param doSample whether a request that sets no temperature samples (transformers' do_sample)
 * @param minNewTokens tokens generated before EOS may be chosen (transformers' min_new_tokens)
 * @param minLength prompt and generated tokens before EOS may be chosen (transformers' min_length)
 * @param source the file the values came from, for messages
 */
@PublicEvolving
public record GenerationDefaults(
        Boolean doSample,
        Double temperature,
        Integer topK,
        Double topP,
        Double minP,
        Double repetitionPenalty,
        Integer noRepeatNgramSize,
        Integer maxNewTokens,
        Integer maxLength,
        Integer minNewTokens,
        Integer minLength,
        String source) {

    /** No defaults from the model: every unset field takes the engine's default. */
    public static final GenerationDefaults NONE =
            new GenerationDefaults(
                    null, null, null, null, null, null, null, null, null, null, null, "none");

    static final String FILE = "generation_config.json";

    // GenerationConfig fields that never change which tokens a decoder-only model generates
    // without an assistant model: ids the tokenizer handles, cache and compile settings, what
    // generate returns, beam-search-only knobs (num_beams > 1 is refused), assisted decoding's
    // knobs (no assistant), and NaN handling / renormalizing the scores after processing.
    private static final Set<String> NO_EFFECT =
            Set.of(
                    "_from_model_config",
                    "transformers_version",
                    "bos_token_id",
                    "pad_token_id",
                    "eos_token_id", // applied through eosTokenIds, even when the rest is not
                    "decoder_start_token_id",
                    "use_cache",
                    "cache_implementation",
                    "cache_config",
                    "max_cache_len",
                    "compile_config",
                    "disable_compile",
                    "continuous_batching_config",
                    "prefill_chunk_size",
                    "output_attentions",
                    "output_hidden_states",
                    "output_logits",
                    "output_scores",
                    "return_dict_in_generate",
                    "low_memory",
                    "early_stopping",
                    "length_penalty",
                    "num_beam_groups",
                    "diversity_penalty",
                    "num_assistant_tokens",
                    "num_assistant_tokens_schedule",
                    "assistant_confidence_threshold",
                    "assistant_lookbehind",
                    "target_lookbehind",
                    "assistant_early_exit",
                    "assistant_ensemble_weight",
                    "is_assistant",
                    "max_matching_ngram_size",
                    "remove_invalid_values",
                    "renormalize_logits");

    // Fields the engine cannot apply, with the values at which they do nothing (transformers'
    // global defaults or null); any other value refuses the model.
    private static final Map<String, List<Object>> NEUTRAL_ONLY =
            Map.ofEntries(
                    Map.entry("num_beams", List.of(1)),
                    Map.entry("num_return_sequences", List.of(1)),
                    Map.entry("penalty_alpha", List.of(0)),
                    Map.entry("dola_layers", List.of()),
                    Map.entry("guidance_scale", List.of(1)),
                    Map.entry("watermarking_config", List.of()),
                    Map.entry("constraints", List.of()),
                    Map.entry("force_words_ids", List.of()),
                    Map.entry("bad_words_ids", List.of()),
                    Map.entry("sequence_bias", List.of()),
                    Map.entry("suppress_tokens", List.of()),
                    Map.entry("begin_suppress_tokens", List.of()),
                    Map.entry("forced_bos_token_id", List.of()),
                    Map.entry("forced_eos_token_id", List.of()),
                    Map.entry("exponential_decay_length_penalty", List.of()),
                    Map.entry("encoder_repetition_penalty", List.of(1)),
                    Map.entry("encoder_no_repeat_ngram_size", List.of(0)),
                    Map.entry("typical_p", List.of(1)),
                    Map.entry("epsilon_cutoff", List.of(0)),
                    Map.entry("eta_cutoff", List.of(0)),
                    Map.entry("top_h", List.of()),
                    Map.entry("max_time", List.of()),
                    Map.entry("stop_strings", List.of()),
                    Map.entry("token_healing", List.of(false)),
                    Map.entry("use_mtp", List.of(false)),
                    Map.entry("prompt_lookup_num_tokens", List.of()),
                    Map.entry("speculation_type", List.of()));

    private static final Set<String> APPLIED =
            Set.of(
                    "do_sample",
                    "temperature",
                    "top_k",
                    "top_p",
                    "min_p",
                    "repetition_penalty",
                    "no_repeat_ngram_size",
                    "max_new_tokens",
                    "max_length",
                    "min_new_tokens",
                    "min_length");

    /**
     * The defaults of the model in {@code modelDir}. Throws {@link ModelFormatException} naming a
     * field the engine would otherwise ignore.
     */
    public static GenerationDefaults load(Path modelDir) {
        Path from = sourceFile(modelDir);
        if (!Files.isRegularFile(from)) {
            return NONE;
        }
        return read(parse(from), from.getFileName().toString().equals(FILE), from.toString());
    }

    /**
     * The EOS ids transformers' {@code generate} stops on: {@code generation_config.json}'s {@code
     * eos_token_id}, or {@code config.json}'s when that file is missing; none when the file read
     * has none. Neither the tokenizer's EOS nor the other file's ids count, and this holds whether
     * or not the file's other defaults are applied.
     */
    public static List<Integer> eosTokenIds(Path modelDir) {
        Path from = sourceFile(modelDir);
        if (!Files.isRegularFile(from)) {
            return List.of();
        }
        return ModelConfig.tokenIds(
                parse(from).get("eos_token_id"), from.toString(), "eos_token_id");
    }

    /** The file generate takes its generation config from, as {@code from_pretrained} picks it. */
    private static Path sourceFile(Path modelDir) {
        Path file = modelDir.resolve(FILE);
        return Files.isRegularFile(file) ? file : modelDir.resolve("config.json");
    }

    private static JsonNode parse(Path from) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(from.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(from + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(from + ": not a JSON object");
        }
        return root;
    }

    /**
     * From a parsed file: {@code own} is {@code generation_config.json}, whose every field must be
     * known; from {@code config.json} only the generation fields count (the rest is the model's).
     */
    static GenerationDefaults read(JsonNode root, boolean own, String source) {
        List<String> refused = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String k = e.getKey();
            JsonNode v = e.getValue();
            if (APPLIED.contains(k) || NO_EFFECT.contains(k)) {
                continue;
            }
            List<Object> neutral = NEUTRAL_ONLY.get(k);
            if (neutral == null) {
                if (own) {
                    refused.add(k + " (not a generation field transformers knows)");
                }
                continue;
            }
            if (!isNeutral(v, neutral)) {
                refused.add(k + " = " + v);
            }
        }
        if (!refused.isEmpty()) {
            throw new ModelFormatException(
                    source
                            + ": "
                            + String.join(", ", refused)
                            + ": transformers' generate would apply "
                            + (refused.size() == 1 ? "it" : "them")
                            + " and the engine cannot, so it refuses the model rather than give other"
                            + " tokens (remove the field, or serve with --generation-config engine to"
                            + " ignore the file's defaults)");
        }
        GenerationDefaults d =
                new GenerationDefaults(
                        bool(root, "do_sample", source),
                        number(root, "temperature", source),
                        integer(root, "top_k", source),
                        number(root, "top_p", source),
                        number(root, "min_p", source),
                        number(root, "repetition_penalty", source),
                        integer(root, "no_repeat_ngram_size", source),
                        integer(root, "max_new_tokens", source),
                        integer(root, "max_length", source),
                        integer(root, "min_new_tokens", source),
                        integer(root, "min_length", source),
                        source);
        if (Boolean.TRUE.equals(d.doSample) && d.temperature != null && d.temperature == 0) {
            // transformers' validate refuses it too: sampling needs a positive temperature.
            throw new ModelFormatException(
                    source
                            + ": do_sample is true with temperature 0; sampling needs a temperature > 0");
        }
        return d;
    }

    /** Every field of transformers' GenerationConfig, each applied, without effect or refused. */
    public static Set<String> fieldNames() {
        Set<String> all = new java.util.TreeSet<>(APPLIED);
        all.addAll(NO_EFFECT);
        all.addAll(NEUTRAL_ONLY.keySet());
        return all;
    }

    /** Whether the files set none of the defaults (only ids and fields without effect). */
    public boolean isEmpty() {
        return doSample == null
                && temperature == null
                && topK == null
                && topP == null
                && minP == null
                && repetitionPenalty == null
                && noRepeatNgramSize == null
                && maxNewTokens == null
                && maxLength == null
                && minNewTokens == null
                && minLength == null;
    }

    /**
     * Tokens a request with a prompt of {@code promptLength} tokens generates before EOS may be
     * chosen, as transformers' generate derives it: min_new_tokens when set (it then overwrites
     * min_length, even at 0), else min_length less the prompt; never below 0.
     */
    public int minNewTokensAfter(int promptLength) {
        if (minNewTokens != null) {
            return Math.max(0, minNewTokens);
        }
        return minLength == null ? 0 : Math.max(0, minLength - promptLength);
    }

    /** Whether requests that leave the temperature unset sample (the file's do_sample). */
    public boolean samples() {
        return Boolean.TRUE.equals(doSample);
    }

    private static boolean isNeutral(JsonNode v, List<Object> neutral) {
        if (v.isNull()) {
            return true;
        }
        for (Object n : neutral) {
            if (n instanceof Boolean b && v.isBoolean() && v.booleanValue() == b) {
                return true;
            }
            if (n instanceof Integer i && v.isNumber() && v.doubleValue() == i) {
                return true;
            }
        }
        return false;
    }

    private static Boolean bool(JsonNode root, String k, String source) {
        JsonNode v = root.get(k);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isBoolean()) {
            throw wrongType(source, k, "a boolean", v);
        }
        return v.booleanValue();
    }

    private static Double number(JsonNode root, String k, String source) {
        JsonNode v = root.get(k);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isNumber()) {
            throw wrongType(source, k, "a number", v);
        }
        return v.doubleValue();
    }

    private static Integer integer(JsonNode root, String k, String source) {
        JsonNode v = root.get(k);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw wrongType(source, k, "an integer", v);
        }
        return v.intValue();
    }

    private static ModelFormatException wrongType(
            String source, String k, String want, JsonNode v) {
        return new ModelFormatException(source + ": " + k + " must be " + want + ", got " + v);
    }
}
