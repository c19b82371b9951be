package io.flinklora.gpu.model;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.FuzzCalls;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.Tuple;

/**
 * Property-based fuzzing of ModelConfig.parse: any config.json object gives a consistent
 * ModelConfig or a ModelFormatException.
 */
class ModelConfigFuzzTest {

    private static final ObjectMapper JSON =
            new ObjectMapper(); // as ModelConfig.read parses config.json

    private static final List<String> INT_FIELDS =
            List.of(
                    "hidden_size",
                    "intermediate_size",
                    "num_hidden_layers",
                    "num_attention_heads",
                    "num_key_value_heads",
                    "head_dim",
                    "vocab_size",
                    "max_position_embeddings",
                    "sliding_window",
                    "bos_token_id",
                    "eos_token_id");
    private static final List<String> OTHER_FIELDS =
            List.of(
                    "architectures",
                    "hidden_act",
                    "rms_norm_eps",
                    "rope_theta",
                    "rope_scaling",
                    "rope_parameters",
                    "tie_word_embeddings",
                    "attention_bias",
                    "mlp_bias",
                    "use_sliding_window",
                    "unknown_field");

    @Property(tries = 5000, shrinking = ShrinkingMode.BOUNDED)
    void configObjectsParseToAConsistentConfigOrAModelFormatException(
            @ForAll("configs") String json) throws Exception {
        JsonNode root = JSON.readTree(json);
        ModelConfig c =
                FuzzCalls.valueOrCodedError(
                        json,
                        1000,
                        ModelFormatException.class,
                        () -> ModelConfig.parse(root, "config.json"));
        if (c == null) {
            return;
        }
        String what = c + " from " + json;
        assertTrue(
                c.hiddenSize() > 0
                        && c.intermediateSize() > 0
                        && c.numLayers() > 0
                        && c.vocabSize() > 0
                        && c.maxPositions() > 0,
                what);
        assertTrue(
                c.numHeads() > 0 && c.numKvHeads() > 0 && c.numHeads() % c.numKvHeads() == 0, what);
        assertTrue(c.headDim() > 0 && c.headDim() % 2 == 0, what);
        // The model divides by these and takes powers of them: each must be a finite positive
        // number.
        assertTrue(Double.isFinite(c.rmsNormEps()) && c.rmsNormEps() > 0, what);
        RopeParameters s = c.rope();
        assertTrue(Double.isFinite(s.theta()) && s.theta() > 0, what);
        assertTrue(Double.isFinite(s.factor()) && s.factor() > 0, what);
        if (s.type().equals("llama3")) {
            assertTrue(
                    Double.isFinite(s.lowFreqFactor())
                            && Double.isFinite(s.highFreqFactor())
                            && s.highFreqFactor() > s.lowFreqFactor()
                            && s.lowFreqFactor() > 0
                            && s.originalMaxPositions() > 0,
                    what);
        }
        // Every table entry the model will use is a finite number.
        for (float f : s.inverseFrequencies(c.headDim())) {
            assertTrue(Float.isFinite(f) && f >= 0, what);
        }
        assertTrue(Double.isFinite(s.attentionScaling()) && s.attentionScaling() > 0, what);
    }

    /**
     * Found by the property: 1e309 parses to Infinity and was accepted, as were rope factors of 0
     * or below.
     */
    @org.junit.jupiter.api.Test
    void nonFiniteOrNonPositiveNormAndRopeNumbersAreRefused() throws Exception {
        String base =
                "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":172,"
                        + "\"num_hidden_layers\":5,\"num_attention_heads\":8,\"num_key_value_heads\":4,\"vocab_size\":512,";
        for (String tail :
                List.of(
                        "\"rms_norm_eps\":1e309}",
                        "\"rope_theta\":1e309}",
                        "\"rope_scaling\":{\"type\":\"linear\",\"factor\":0}}",
                        "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8,\"low_freq_factor\":4,\"high_freq_factor\":4}}")) {
            JsonNode root = JSON.readTree(base + tail);
            assertThrows(
                    ModelFormatException.class, () -> ModelConfig.parse(root, "config.json"), tail);
        }
    }

    @Provide
    Arbitrary<String> configs() {
        Arbitrary<String> intValue =
                Arbitraries.frequencyOf(
                        Tuple.of(
                                6,
                                Arbitraries.of(
                                        "1", "2", "4", "8", "16", "32", "64", "128", "256", "512",
                                        "6", "12")),
                        Tuple.of(2, Arbitraries.integers().map(String::valueOf)),
                        Tuple.of(
                                1,
                                Arbitraries.of(
                                        "0",
                                        "-1",
                                        "-64",
                                        "2147483647",
                                        "2147483648",
                                        "9223372036854775808",
                                        "1e3",
                                        "64.0",
                                        "1.5",
                                        "\"64\"",
                                        "null",
                                        "true",
                                        "[8]",
                                        "[1,2]",
                                        "{}")));
        Arbitrary<String> intEntry =
                Combinators.combine(Arbitraries.of(INT_FIELDS), intValue)
                        .as((k, v) -> quote(k) + ":" + v);
        Arbitrary<String> number =
                Arbitraries.of(
                        "1e-5",
                        "1e-6",
                        "10000",
                        "500000.0",
                        "0",
                        "-1",
                        "1e309",
                        "-1e309",
                        "1e-400",
                        "\"1e-5\"",
                        "null",
                        "1",
                        "2",
                        "4",
                        "8.0",
                        "0.5");
        Arbitrary<String> rope =
                Combinators.combine(
                                Arbitraries.of(
                                        "\"linear\"",
                                        "\"llama3\"",
                                        "\"default\"",
                                        "\"dynamic\"",
                                        "\"yarn\"",
                                        "\"longrope\"",
                                        "1",
                                        "null",
                                        "{}"),
                                Arbitraries.of("rope_type", "type"),
                                number,
                                number,
                                number,
                                intValue)
                        .as(
                                (t, tk, f, lo, hi, orig) ->
                                        "{"
                                                + quote(tk)
                                                + ":"
                                                + t
                                                + ",\"factor\":"
                                                + f
                                                + ",\"low_freq_factor\":"
                                                + lo
                                                + ",\"high_freq_factor\":"
                                                + hi
                                                + ",\"original_max_position_embeddings\":"
                                                + orig
                                                + "}");
        Arbitrary<String> other =
                Arbitraries.of(OTHER_FIELDS)
                        .flatMap(
                                k -> {
                                    Arbitrary<String> v =
                                            switch (k) {
                                                case "architectures" ->
                                                        Arbitraries.of(
                                                                "[\"LlamaForCausalLM\"]",
                                                                "[\"MistralForCausalLM\"]",
                                                                "[\"Qwen2ForCausalLM\"]",
                                                                "[]",
                                                                "[1]",
                                                                "\"LlamaForCausalLM\"",
                                                                "[\"GPT2\"]",
                                                                "null");
                                                case "hidden_act" ->
                                                        Arbitraries.of(
                                                                "\"silu\"",
                                                                "\"gelu\"",
                                                                "1",
                                                                "null");
                                                case "rms_norm_eps", "rope_theta" -> number;
                                                case "rope_scaling", "rope_parameters" ->
                                                        Arbitraries.oneOf(
                                                                rope,
                                                                Arbitraries.of(
                                                                        "null",
                                                                        "[]",
                                                                        "\"linear\""));
                                                default ->
                                                        Arbitraries.of(
                                                                "true",
                                                                "false",
                                                                "null",
                                                                "1",
                                                                "\"true\"");
                                            };
                                    return v.map(x -> quote(k) + ":" + x);
                                });
        Arbitrary<String> base =
                Arbitraries.of(
                        "\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":172,"
                                + "\"num_hidden_layers\":5,\"num_attention_heads\":8,\"num_key_value_heads\":4,\"vocab_size\":512",
                        "\"architectures\":[\"Qwen2ForCausalLM\"]",
                        "");
        // Later duplicates win in Jackson's tree, so the generated fields override the base.
        return Combinators.combine(base, Arbitraries.oneOf(intEntry, other).list().ofMaxSize(8))
                .as(
                        (b, rest) -> {
                            List<String> all = new ArrayList<>();
                            if (!b.isEmpty()) {
                                all.add(b);
                            }
                            all.addAll(rest);
                            return "{" + String.join(",", all) + "}";
                        });
    }

    static String quote(String s) {
        return "\"" + new String(JsonStringEncoder.getInstance().quoteAsString(s)) + "\"";
    }
}
