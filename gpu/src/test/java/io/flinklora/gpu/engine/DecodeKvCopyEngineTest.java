package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.SamplingParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Decode steps reading the decoding sequences' contiguous KV copy give the tokens that reading the
 * block pool gives, while sequences join and leave the batch (rows reused, holes), grow past the
 * copy's length, are preempted and recomputed, and on sliding-window and soft-capped models.
 */
class DecodeKvCopyEngineTest {
    @ParameterizedTest
    @ValueSource(strings = {"stories260k", "conformance/mistral_window", "conformance/gemma2"})
    void theCopyGivesTheTokensOfTheBlockPool(String name) {
        Path model =
                name.startsWith("conformance/")
                        ? TestModels.projectRoot().resolve("gpu/src/test/resources").resolve(name)
                        : TestModels.stories260k();
        Path adapters = model.resolve("adapters");
        boolean withAdapters = Files.isDirectory(adapters.resolve("plain"));
        List<EngineRequest> requests = new ArrayList<>();
        Random r = new Random(5);
        for (int i = 0; i < 14; i++) {
            int[] prompt = new int[1 + r.nextInt(30)];
            prompt[0] = 1;
            for (int j = 1; j < prompt.length; j++) {
                prompt[j] = 3 + r.nextInt(500);
            }
            int maxNew = 4 + r.nextInt(60);
            SamplingParams p =
                    i % 3 == 2
                            ? new SamplingParams(
                                    0.8, 20, 0.9, 11L + i, maxNew, List.of(), List.of(), true)
                            : SamplingParams.greedy(maxNew).withIgnoreEos(true);
            List<AdapterRef> mix =
                    withAdapters && i % 2 == 1 ? List.of(new AdapterRef("plain", 1.0)) : List.of();
            requests.add(new EngineRequest("q" + i, prompt, mix, p));
        }
        Map<String, EngineHarness.Outcome> pool = run(model, withAdapters, false, requests);
        // A pool of two sequences' worth for five running: preemption and recompute happen, and
        // the copy (at most the pool's size) steps aside when the batch outgrows it.
        Map<String, EngineHarness.Outcome> copy = run(model, withAdapters, true, requests);
        for (EngineRequest q : requests) {
            assertArrayEquals(pool.get(q.id()).idArray(), copy.get(q.id()).idArray(), q.id());
            assertEquals(pool.get(q.id()).reason(), copy.get(q.id()).reason(), q.id());
        }
    }

    /**
     * Long and short sequences decoding together, spans as cheap as a few rows and re-sorts paying
     * back over a thousand steps: the decode rows split by key length, the copy re-sorts its rows
     * longest first as sequences come and go, and the tokens stay those of the block pool.
     */
    @ParameterizedTest
    @ValueSource(strings = {"stories260k", "conformance/mistral_window"})
    void rowsSplitByKeyLengthAndResortedGiveTheTokensOfTheBlockPool(String name) {
        Path model =
                name.startsWith("conformance/")
                        ? TestModels.projectRoot().resolve("gpu/src/test/resources").resolve(name)
                        : TestModels.stories260k();
        List<EngineRequest> requests = new ArrayList<>();
        Random r = new Random(9);
        for (int i = 0; i < 24; i++) {
            int[] prompt = new int[1 + (i % 2 == 0 ? 60 + r.nextInt(40) : r.nextInt(8))];
            prompt[0] = 1;
            for (int j = 1; j < prompt.length; j++) {
                prompt[j] = 3 + r.nextInt(500);
            }
            requests.add(
                    new EngineRequest(
                            "s" + i,
                            prompt,
                            List.of(),
                            SamplingParams.greedy(4 + r.nextInt(40)).withIgnoreEos(true)));
        }
        Map<String, EngineHarness.Outcome> pool = run(model, false, false, requests, 0, 8);
        Map<String, EngineHarness.Outcome> spans = run(model, false, true, requests, 8, 8);
        for (EngineRequest q : requests) {
            assertArrayEquals(pool.get(q.id()).idArray(), spans.get(q.id()).idArray(), q.id());
            assertEquals(pool.get(q.id()).reason(), spans.get(q.id()).reason(), q.id());
        }
    }

    private static Map<String, EngineHarness.Outcome> run(
            Path model, boolean withAdapters, boolean copy, List<EngineRequest> requests) {
        return run(model, withAdapters, copy, requests, 0, 2);
    }

    private static Map<String, EngineHarness.Outcome> run(
            Path model,
            boolean withAdapters,
            boolean copy,
            List<EngineRequest> requests,
            long spanCost,
            int kvSlots) {
        EngineConfig.Builder b =
                EngineConfig.builder(model)
                        .maxRunning(kvSlots == 2 ? 5 : kvSlots)
                        .maxSequenceLength(kvSlots == 2 ? 96 : 160)
                        .kvSlots(kvSlots)
                        .kvBlockSize(4)
                        .decodeKvCopy(copy);
        if (withAdapters) {
            b.adapterRoot(model.resolve("adapters"));
        }
        try (Engine e = Engine.open(b.build())) {
            if (spanCost > 0) {
                e.decodeCopyCosts(spanCost, 1000);
            }
            Map<String, EngineHarness.Outcome> out = EngineHarness.runAll(e, requests);
            if (spanCost > 0) {
                assertTrue(
                        e.decodeCopySpans() > e.decodeCopyReads(),
                        "some steps split their decode rows: "
                                + e.decodeCopySpans()
                                + " spans in "
                                + e.decodeCopyReads()
                                + " steps");
                assertTrue(e.decodeCopyResorts() > 0, "the copy re-sorted");
            }
            assertEquals(copy, e.decodeCopyBytes() > 0, "the copy is kept: " + copy);
            assertEquals(copy, e.decodeCopyReads() > 0, "decode steps read the copy: " + copy);
            if (copy && kvSlots == 2) {
                assertTrue(e.stats().preemptions() > 0, "the tight pool preempted");
            }
            return out;
        }
    }
}
