package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.lora.AdapterSettings;
import io.flinklora.gpu.sampling.SamplingParams;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Decode attention computed on the KV pool's blocks where they lie gives the logits of the
 * attention that gathers each row's blocks first, on every architecture of the conformance cases
 * (grouped and single KV heads, sliding windows, soft-capping, adapters), and is left alone when
 * rows share cached prefix blocks.
 */
class InPlaceAttentionTest {
    // As the conformance suite's tolerance against transformers: the two attentions sum the same
    // products in a different order (per block, then across blocks), and these tiny random models
    // amplify float32 rounding to up to 7e-5 of the largest logit.
    private static final double RELATIVE = 1e-4;

    @TestFactory
    Stream<DynamicTest> decodeStepsGiveTheGatheringAttentionsLogits() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : HuggingFaceConformanceTest.cases()) {
            String name = c.get("model").asText();
            Path model = HuggingFaceConformanceTest.casesDir().resolve(name);
            List<HuggingFaceConformanceTest.Row> rows = HuggingFaceConformanceTest.rows(c);
            tests.add(DynamicTest.dynamicTest(name, () -> compareDecodeSteps(name, model, rows)));
        }
        return tests.stream();
    }

    private static void compareDecodeSteps(
            String name, Path model, List<HuggingFaceConformanceTest.Row> rows) {
        try (Engine e =
                HuggingFaceConformanceTest.engine(
                        model, rows.size(), AdapterSettings.DEFAULT.strategy())) {
            for (HuggingFaceConformanceTest.Row r : rows) {
                e.submit(
                        new EngineRequest(
                                r.id(),
                                r.prompt(),
                                r.adapters(),
                                SamplingParams.greedy(12).withIgnoreEos(true)));
            }
            int compared = 0;
            long deadline = System.nanoTime() + 120_000_000_000L;
            while (compared < 3 && e.hasWork() && System.nanoTime() < deadline) {
                Batch batch = e.scheduleForTest();
                // Every row of the step decodes (DoRA and saved-module adapters run apart from
                // other adapters, so a step may hold only some of the case's rows).
                boolean decode =
                        batch.chunks().size() >= 2
                                && batch.chunks().stream().allMatch(ch -> ch.length() == 1);
                if (decode) {
                    e.inPlaceAttentionForTest(true);
                    float[][] inPlace = e.logitsForTest(batch);
                    assertTrue(e.inPlaceGroupsForTest() > 0, name + ": attended in place");
                    e.inPlaceAttentionForTest(false);
                    float[][] gathered = e.logitsForTest(batch);
                    assertEquals(0, e.inPlaceGroupsForTest(), name + ": gathered");
                    e.inPlaceAttentionForTest(true);
                    float[][] again = e.logitsForTest(batch);
                    e.inPlaceAttentionForTest(false);
                    float[][] gatheredAgain = e.logitsForTest(batch);
                    e.inPlaceAttentionForTest(true);
                    System.err.println(
                            name
                                    + " ip-ip "
                                    + java.util.Arrays.deepEquals(inPlace, again)
                                    + " g-g "
                                    + java.util.Arrays.deepEquals(gathered, gatheredAgain));
                    assertClose(name + " step " + compared, gathered, inPlace);
                    compared++;
                }
                e.step();
            }
            assertTrue(compared > 0, name + ": decode steps compared");
        }
    }

    @Test
    void rowsSharingCachedPrefixBlocksGather() {
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(TestModels.stories260k())
                                .maxRunning(6)
                                .kvSlots(6)
                                .build())) {
            int[] prompt = new int[70];
            prompt[0] = 1;
            for (int i = 1; i < prompt.length; i++) {
                prompt[i] = 10 + i;
            }
            // The first request fills the cache; the rest reuse its full prompt blocks.
            EngineHarness.runAll(
                    e, List.of(EngineHarness.request("warm", prompt, SamplingParams.greedy(2))));
            for (int i = 0; i < 6; i++) {
                e.submit(EngineHarness.request("r" + i, prompt, SamplingParams.greedy(8)));
            }
            int decodeSteps = 0;
            while (e.hasWork()) {
                Batch batch = e.scheduleForTest();
                boolean decode =
                        batch.chunks().size() == 6
                                && batch.chunks().stream().allMatch(ch -> ch.length() == 1);
                if (decode) {
                    float[][] shared = e.logitsForTest(batch);
                    assertEquals(0, e.inPlaceGroupsForTest(), "shared blocks: gathered");
                    assertEquals(6, shared.length);
                    decodeSteps++;
                }
                e.step();
            }
            assertTrue(decodeSteps > 0, "decode steps seen");
        }
    }

    private static void assertClose(String what, float[][] expected, float[][] got) {
        assertEquals(expected.length, got.length, what + ": rows");
        for (int i = 0; i < expected.length; i++) {
            float maxAbs = 0;
            float maxDiff = 0;
            for (int v = 0; v < expected[i].length; v++) {
                maxAbs = Math.max(maxAbs, Math.abs(expected[i][v]));
                maxDiff = Math.max(maxDiff, Math.abs(expected[i][v] - got[i][v]));
            }
            assertTrue(
                    maxDiff <= RELATIVE * maxAbs,
                    what
                            + " row "
                            + i
                            + ": differs by "
                            + maxDiff
                            + " (max |logit| "
                            + maxAbs
                            + ")");
        }
    }
}
