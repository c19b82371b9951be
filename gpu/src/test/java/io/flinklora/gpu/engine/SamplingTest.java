package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.sampling.SamplingParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SamplingTest {
    private static Engine engine;

    @BeforeAll
    static void open() {
        engine = Engine.open(EngineConfig.builder(TestModels.stories260k()).maxRunning(8).build());
    }

    @AfterAll
    static void close() {
        engine.close();
    }

    private static SamplingParams sampled(long seed) {
        return new SamplingParams(1.0, 0, 0.9, seed, 48, List.of(), List.of(), true);
    }

    @Test
    void sameSeedGivesSameTokensWhateverSharesTheBatch() {
        int[] prompt = engine.tokenizer().encode("Once upon a time");
        Map<String, EngineHarness.Outcome> alone =
                EngineHarness.runAll(
                        engine, List.of(EngineHarness.request("a", prompt, sampled(7))));
        Map<String, EngineHarness.Outcome> crowded =
                EngineHarness.runAll(
                        engine,
                        List.of(
                                EngineHarness.request(
                                        "x", engine.tokenizer().encode("The dog"), sampled(1)),
                                EngineHarness.request("a", prompt, sampled(7)),
                                EngineHarness.request(
                                        "y", engine.tokenizer().encode("Lily and Ben"), sampled(2)),
                                EngineHarness.request("b", prompt, sampled(8))));
        assertArrayEquals(alone.get("a").idArray(), crowded.get("a").idArray());
        assertNotEquals(
                alone.get("a").ids(), crowded.get("b").ids(), "another seed gives other tokens");
    }

    @Test
    void topKOfOneIsGreedyEvenAtHighTemperature() {
        int[] prompt = engine.tokenizer().encode("Tom had a big red ball.");
        var greedy =
                EngineHarness.runAll(
                        engine,
                        List.of(
                                EngineHarness.request(
                                        "g",
                                        prompt,
                                        SamplingParams.greedy(32).withIgnoreEos(true))));
        var topOne =
                EngineHarness.runAll(
                        engine,
                        List.of(
                                EngineHarness.request(
                                        "k",
                                        prompt,
                                        new SamplingParams(
                                                5.0, 1, 1.0, 3L, 32, List.of(), List.of(), true))));
        assertEquals(greedy.get("g").ids(), topOne.get("k").ids());
    }

    @Test
    void stopStringEndsWithStopAndIsNotInTheText() {
        int[] prompt = engine.tokenizer().encode("Once upon a time");
        var out =
                EngineHarness.runAll(
                        engine,
                        List.of(
                                EngineHarness.request(
                                        "s",
                                        prompt,
                                        new SamplingParams(
                                                0,
                                                0,
                                                1,
                                                null,
                                                64,
                                                List.of("Lily"),
                                                List.of(),
                                                true))));
        EngineHarness.Outcome o = out.get("s");
        assertEquals(FinishReason.STOP, o.reason());
        assertEquals(", there was a little girl named ", o.text());
        assertFalse(o.text().contains("Lily"));
    }

    @Test
    void stopTokenIdEndsWithStopAtItsFirstOccurrence() {
        int[] prompt = engine.tokenizer().encode("Once upon a time");
        int[] free =
                EngineHarness.runAll(
                                engine,
                                List.of(
                                        EngineHarness.request(
                                                "f",
                                                prompt,
                                                SamplingParams.greedy(30).withIgnoreEos(true))))
                        .get("f")
                        .idArray();
        int stopId = free[6];
        int first = 0;
        while (free[first] != stopId) {
            first++;
        }
        var o =
                EngineHarness.runAll(
                                engine,
                                List.of(
                                        EngineHarness.request(
                                                "t",
                                                prompt,
                                                new SamplingParams(
                                                        0,
                                                        0,
                                                        1,
                                                        null,
                                                        30,
                                                        List.of(),
                                                        List.of(stopId),
                                                        true))))
                        .get("t");
        assertEquals(FinishReason.STOP, o.reason());
        assertEquals(first + 1, o.ids().size());
        assertEquals(stopId, (int) o.ids().get(first));
    }

    @Test
    void endOfSequenceFromTheModelsGenerationConfigEndsWithStopUnlessIgnored(@TempDir Path dir)
            throws Exception {
        // stories260k ends each story with token 1 (llama2.c's separator); a model folder whose
        // generation_config.json lists it as an EOS id must stop there.
        for (Path f : Files.list(TestModels.stories260k()).toList()) {
            Files.copy(f, dir.resolve(f.getFileName()));
        }
        Files.writeString(
                dir.resolve("generation_config.json"),
                "{\"bos_token_id\": 1, \"eos_token_id\": [2, 1]}");
        try (Engine e = Engine.open(EngineConfig.builder(dir).maxRunning(2).build())) {
            int[] prompt = e.tokenizer().encode("Once upon a time");
            var o =
                    EngineHarness.runAll(
                                    e,
                                    List.of(
                                            EngineHarness.request(
                                                    "e", prompt, SamplingParams.greedy(480))))
                            .get("e");
            assertEquals(
                    FinishReason.STOP, o.reason(), "the story ends with EOS within 480 tokens");
            assertEquals(1, (int) o.ids().get(o.ids().size() - 1), "EOS is the last token");
            assertTrue(o.ids().size() > 50 && !o.text().contains("<s>"));
            var ignored =
                    EngineHarness.runAll(
                                    e,
                                    List.of(
                                            EngineHarness.request(
                                                    "i",
                                                    prompt,
                                                    SamplingParams.greedy(o.ids().size() + 5)
                                                            .withIgnoreEos(true))))
                            .get("i");
            assertEquals(FinishReason.LENGTH, ignored.reason());
            assertEquals(o.ids().size() + 5, ignored.ids().size());
            assertEquals(o.ids(), ignored.ids().subList(0, o.ids().size()));
        }
    }
}
