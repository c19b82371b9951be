package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.sampling.LogitAdjustments;
import io.flinklora.gpu.sampling.SamplingParams;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The logit adjustments transformers also has (its {@code no_repeat_ngram_size}, {@code
 * repetition_penalty} and one-token {@code sequence_bias} processors, the last being logit_bias)
 * choose the same greedy tokens as transformers' {@code generate} on stories260k, all cases in one
 * batch. The cases were computed by transformers (gpu/src/test/conformance/make_sampling_cases.py;
 * versions in the file).
 */
class SamplingConformanceTest {

    @Test
    void greedyTokensWithNgramBansRepetitionPenaltyAndLogitBiasEqualTransformers()
            throws Exception {
        JsonNode cases;
        try (InputStream in =
                SamplingConformanceTest.class.getResourceAsStream("/sampling/cases.json")) {
            cases = new ObjectMapper().readTree(in).get("cases");
        }
        try (Engine engine =
                Engine.open(
                        EngineConfig.builder(TestModels.stories260k()).maxRunning(32).build())) {
            List<EngineRequest> requests = new ArrayList<>();
            for (int i = 0; i < cases.size(); i++) {
                JsonNode c = cases.get(i);
                JsonNode s = c.get("settings");
                JsonNode expected = c.get("expected_ids");
                Map<Integer, Double> bias = new java.util.HashMap<>();
                s.path("sequence_bias")
                        .properties()
                        .forEach(
                                b ->
                                        bias.put(
                                                Integer.parseInt(b.getKey()),
                                                b.getValue().asDouble()));
                LogitAdjustments a =
                        new LogitAdjustments(
                                0,
                                s.path("repetition_penalty").asDouble(1.0),
                                0,
                                0,
                                bias,
                                s.path("no_repeat_ngram_size").asInt(0));
                requests.add(
                        EngineHarness.request(
                                "c" + i,
                                ints(c.get("prompt_ids")),
                                SamplingParams.greedy(expected.size())
                                        .withIgnoreEos(true)
                                        .withAdjustments(a)));
            }
            Map<String, EngineHarness.Outcome> out = EngineHarness.runAll(engine, requests);
            for (int i = 0; i < cases.size(); i++) {
                JsonNode c = cases.get(i);
                assertArrayEquals(
                        ints(c.get("expected_ids")),
                        out.get("c" + i).idArray(),
                        "case " + i + " " + c.get("settings") + " from " + c.get("prompt_ids"));
            }
        }
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }
}
