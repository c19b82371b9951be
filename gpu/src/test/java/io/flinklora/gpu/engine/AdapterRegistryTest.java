package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.lora.AdapterSettings;
import io.flinklora.gpu.lora.AdapterStats;
import io.flinklora.gpu.lora.PeftWriter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.sampling.SamplingParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AdapterRegistryTest {
    @TempDir Path dir;

    private Path writeAdapters(int n) throws Exception {
        ModelConfig c = ModelConfig.read(TestModels.stories260k());
        Path root = dir.resolve("adapters");
        for (int i = 0; i < n; i++) {
            new PeftWriter(c)
                    .rank(2 + i % 3 * 2)
                    .alpha(8)
                    .targets(EnumSet.of(Projection.Q, Projection.V, Projection.O))
                    .write(root.resolve("a" + i), 100 + i, 0.3, 0.3);
        }
        return root;
    }

    private static RequestException refused(Engine e, String name) {
        return assertThrows(
                RequestException.class,
                () ->
                        e.submit(
                                new EngineRequest(
                                        "h-" + name.hashCode(),
                                        new int[] {1, 403},
                                        List.of(new AdapterRef(name, 1.0)),
                                        SamplingParams.greedy(2))));
    }

    @Test
    void aDefaultEngineDecodesAFullBatchOfDistinctAdaptersInOneStep() throws Exception {
        int batch = EngineConfig.DEFAULT_MAX_RUNNING;
        Path root = writeAdapters(batch);
        // Shipped defaults only: max batch, adapters on the device, in memory.
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(TestModels.stories260k()).adapterRoot(root).build())) {
            for (int i = 0; i < batch; i++) {
                e.submit(
                        new EngineRequest(
                                "d" + i,
                                new int[] {1, 403 + i},
                                List.of(new AdapterRef("a" + i, 1.0)),
                                SamplingParams.greedy(16).withIgnoreEos(true)));
            }
            int widest = 0;
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (e.hasWork() && System.nanoTime() < deadline) {
                StepResult step = e.step();
                assertTrue(step.failures().isEmpty(), step.failures().toString());
                if (step.tokens() == step.rows()) {
                    widest = Math.max(widest, step.rows());
                }
            }
            assertEquals(batch, widest, "decode rows of the widest step");
        }
    }

    @Test
    void adaptersFarApartOnTheDeviceGiveInOneBatchTheTokensEachGivesAlone() throws Exception {
        // 40 resident adapters of three ranks, loaded in order (slot k of its rank's pool = the
        // k-th of that rank). A batch naming eight of them, far apart, runs the pooled layout's
        // packed slots (a range at least twice its adapters); each request alone reads one slot.
        int n = 40;
        Path root = writeAdapters(n);
        AdapterSettings settings = AdapterSettings.DEFAULT.withMaxOnDevice(n);
        int[] picked = {39, 0, 26, 13, 5, 33, 20, 12};
        Map<String, List<Integer>> batched;
        try (Engine e = MultiLoraTest.engine(TestModels.stories260k(), root, 32, settings)) {
            for (int i = 0; i < n; i++) {
                run(e, List.of(request("warm" + i, i, 1)));
            }
            List<EngineRequest> batch = new ArrayList<>();
            for (int i : picked) {
                batch.add(request("b" + i, i, 12));
            }
            batched = run(e, batch);
            assertEquals(0, e.adapterStats().evictions(), "every adapter stays resident");
        }
        try (Engine e = MultiLoraTest.engine(TestModels.stories260k(), root, 32, settings)) {
            for (int i : picked) {
                assertEquals(
                        run(e, List.of(request("a" + i, i, 12))).get("a" + i),
                        batched.get("b" + i),
                        "adapter a" + i);
            }
        }
    }

    private static EngineRequest request(String id, int adapter, int tokens) {
        return new EngineRequest(
                id,
                new int[] {1, 403 + adapter},
                List.of(new AdapterRef("a" + adapter, 1.0)),
                SamplingParams.greedy(tokens).withIgnoreEos(true));
    }

    /** Runs requests together to completion: each request's token ids. */
    private static Map<String, List<Integer>> run(Engine e, List<EngineRequest> requests) {
        Map<String, List<Integer>> tokens = new HashMap<>();
        for (EngineRequest r : requests) {
            e.submit(r);
        }
        e.runToCompletion(
                step -> {
                    assertTrue(step.failures().isEmpty(), step.failures().toString());
                    for (TokenEvent t : step.events()) {
                        tokens.computeIfAbsent(t.requestId(), k -> new ArrayList<>())
                                .add(t.tokenId());
                    }
                });
        return tokens;
    }

    @Test
    void hostileAdapterNamesAndSymlinksOutOfTheRootAreRefused() throws Exception {
        Path root = writeAdapters(1);
        Path outside = dir.resolve("outside");
        Files.createDirectories(outside);
        Files.copy(root.resolve("a0/adapter_config.json"), outside.resolve("adapter_config.json"));
        Files.copy(
                root.resolve("a0/adapter_model.safetensors"),
                outside.resolve("adapter_model.safetensors"));
        Files.createSymbolicLink(root.resolve("linkdir"), outside);
        Files.createDirectories(root.resolve("linkfile"));
        Files.copy(
                root.resolve("a0/adapter_config.json"),
                root.resolve("linkfile/adapter_config.json"));
        Files.createSymbolicLink(
                root.resolve("linkfile/adapter_model.safetensors"),
                outside.resolve("adapter_model.safetensors"));
        try (Engine e =
                MultiLoraTest.engine(TestModels.stories260k(), root, 2, AdapterSettings.DEFAULT)) {
            for (String bad :
                    List.of(
                            "..",
                            "../outside",
                            "/etc",
                            "a0/../a0",
                            "a\\b",
                            "",
                            ".hidden",
                            "a0 ",
                            "\u00e9t\u00e9",
                            "x".repeat(200),
                            "linkdir",
                            "linkfile",
                            "missing")) {
                RequestException ex = refused(e, bad);
                assertEquals(ErrorCode.UNKNOWN_ADAPTER, ex.code(), bad);
            }
            // The plain name still works.
            var out =
                    EngineHarness.runAll(
                            e,
                            List.of(
                                    new EngineRequest(
                                            "ok",
                                            new int[] {1, 403},
                                            List.of(new AdapterRef("a0", 1.0)),
                                            SamplingParams.greedy(3).withIgnoreEos(true))));
            assertEquals(3, out.get("ok").ids().size());
        }
    }

    @Test
    void fewerDeviceSlotsThanAdaptersUnderConcurrentRequestsCompletesEveryRequest()
            throws Exception {
        Path root = writeAdapters(6);
        List<EngineRequest> requests = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            List<AdapterRef> mix =
                    i % 5 == 4 ? List.of() : List.of(new AdapterRef("a" + (i % 6), 1.0));
            requests.add(
                    new EngineRequest(
                            "q" + i,
                            new int[] {1, 274 + i % 7, 287},
                            mix,
                            SamplingParams.greedy(6 + i % 9).withIgnoreEos(true)));
        }
        Map<String, EngineHarness.Outcome> ample;
        try (Engine e =
                MultiLoraTest.engine(TestModels.stories260k(), root, 8, AdapterSettings.DEFAULT)) {
            ample = EngineHarness.runAll(e, requests);
        }
        AdapterSettings two = AdapterSettings.DEFAULT.withMaxOnDevice(2).withMaxLoaded(3);
        try (Engine e = MultiLoraTest.engine(TestModels.stories260k(), root, 8, two)) {
            requests.forEach(e::submit);
            Map<String, List<Integer>> ids = new HashMap<>();
            int finished = 0;
            int steps = 0;
            while (e.hasWork()) {
                StepResult s = e.step();
                assertTrue(s.failures().isEmpty(), s.failures().toString());
                AdapterStats st = e.adapterStats();
                assertTrue(st.onDevice() <= 2, "device slots respected: " + st);
                // Every running sequence's adapter is on the device: none in use was evicted.
                for (Sequence seq : e.runningForTest()) {
                    if (seq.mix() != null) {
                        seq.mix()
                                .parts()
                                .forEach(p -> assertTrue(p.adapter().onDevice(), seq.id()));
                    }
                }
                for (TokenEvent t : s.events()) {
                    ids.computeIfAbsent(t.requestId(), k -> new ArrayList<>()).add(t.tokenId());
                    finished += t.finished() ? 1 : 0;
                }
                assertTrue(++steps < 10_000, "no livelock");
            }
            assertEquals(30, finished);
            for (EngineRequest r : requests) {
                assertEquals(
                        ample.get(r.id()).ids(),
                        ids.get(r.id()),
                        r.id() + " same tokens as with ample slots");
            }
            AdapterStats st = e.adapterStats();
            assertTrue(st.evictions() > 0, "adapters were evicted to make room: " + st);
            assertTrue(st.drops() > 0, "host memory bound dropped some: " + st);
            // 24 adapter requests, each counted once; each adapter was read from disk once.
            assertEquals(24, st.misses() + st.hits(), st.toString());
            assertTrue(st.misses() >= 6, st.toString());
            assertEquals(6, st.loads(), st.toString());
        }
    }

    @Test
    void expertAdaptersEvictedAndReloadedIntoTheirPoolGiveTheTokensOfAmpleSlots() throws Exception {
        // PEFT's adapters on a Mixtral's attention, experts and router, saved by save_pretrained;
        // two device slots for five of them: their expert pools' slots are freed and reused
        Path model = HuggingFaceConformanceTest.casesDir().resolve("mixtral_expert_lora");
        String[] names = {
            "moe_all_linear",
            "moe_experts_patterns",
            "moe_router_layer0",
            "v4_experts",
            "v4_experts_rslora"
        };
        List<EngineRequest> requests = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            requests.add(
                    new EngineRequest(
                            "x" + i,
                            new int[] {1, 40 + i * 13 % 400, 7 + i, 300},
                            List.of(new AdapterRef(names[i % names.length], 1.0)),
                            SamplingParams.greedy(5 + i % 4).withIgnoreEos(true)));
        }
        Map<String, EngineHarness.Outcome> ample;
        try (Engine e =
                MultiLoraTest.engine(
                        model, model.resolve("adapters"), 8, AdapterSettings.DEFAULT)) {
            ample = EngineHarness.runAll(e, requests);
        }
        try (Engine e =
                MultiLoraTest.engine(
                        model,
                        model.resolve("adapters"),
                        8,
                        AdapterSettings.DEFAULT.withMaxOnDevice(2))) {
            Map<String, EngineHarness.Outcome> two = EngineHarness.runAll(e, requests);
            for (EngineRequest r : requests) {
                assertEquals(r.params().maxNewTokens(), ample.get(r.id()).ids().size(), r.id());
                assertEquals(ample.get(r.id()).ids(), two.get(r.id()).ids(), r.id());
            }
            AdapterStats st = e.adapterStats();
            assertTrue(st.evictions() > 0, "adapters were evicted to make room: " + st);
        }
    }

    @Test
    void changedFilesArePickedUpByNewRequestsButNeverMidSequence() throws Exception {
        Path root = writeAdapters(1);
        ModelConfig c = ModelConfig.read(TestModels.stories260k());
        try (Engine e =
                MultiLoraTest.engine(TestModels.stories260k(), root, 4, AdapterSettings.DEFAULT)) {
            int[] prompt = e.tokenizer().encode("Tom had a big red ball.");
            SamplingParams p = SamplingParams.greedy(20).withIgnoreEos(true);
            var before =
                    EngineHarness.runAll(
                                    e,
                                    List.of(
                                            new EngineRequest(
                                                    "v1",
                                                    prompt,
                                                    List.of(new AdapterRef("a0", 1.0)),
                                                    p)))
                            .get("v1")
                            .ids();
            // Start a long sequence on version 1, then rewrite the files while it runs.
            e.submit(new EngineRequest("long", prompt, List.of(new AdapterRef("a0", 1.0)), p));
            Map<String, List<Integer>> ids = new HashMap<>();
            for (int i = 0; i < 5; i++) {
                e.step()
                        .events()
                        .forEach(
                                t ->
                                        ids.computeIfAbsent(t.requestId(), k -> new ArrayList<>())
                                                .add(t.tokenId()));
            }
            Thread.sleep(20); // file times must differ
            new PeftWriter(c)
                    .rank(4)
                    .alpha(8)
                    .targets(EnumSet.of(Projection.Q, Projection.V, Projection.O))
                    .write(root.resolve("a0"), 999, 0.3, 0.3);
            e.submit(new EngineRequest("v2", prompt, List.of(new AdapterRef("a0", 1.0)), p));
            while (e.hasWork()) {
                e.step()
                        .events()
                        .forEach(
                                t ->
                                        ids.computeIfAbsent(t.requestId(), k -> new ArrayList<>())
                                                .add(t.tokenId()));
            }
            assertEquals(
                    before,
                    ids.get("long"),
                    "the running sequence kept the version it started with");
            assertNotEquals(before, ids.get("v2"), "a new request got the new files");
            assertEquals(2, e.adapterStats().loads());
            assertTrue(e.adapterStats().hits() >= 1, "the second request of version 1 was a hit");
        }
    }

    @Test
    void aRequestForAColdAdapterIsNotStarvedByAStreamOfRequestsForAResidentOne() throws Exception {
        Path root = writeAdapters(2);
        AdapterSettings oneSlot = AdapterSettings.DEFAULT.withMaxOnDevice(1);
        try (Engine e = MultiLoraTest.engine(TestModels.stories260k(), root, 4, oneSlot)) {
            SamplingParams p = SamplingParams.greedy(8).withIgnoreEos(true);
            int submitted = 0;
            for (; submitted < 4; submitted++) {
                e.submit(
                        new EngineRequest(
                                "hot" + submitted,
                                new int[] {1, 403},
                                List.of(new AdapterRef("a0", 1.0)),
                                p));
            }
            e.submit(
                    new EngineRequest(
                            "cold", new int[] {1, 403}, List.of(new AdapterRef("a1", 1.0)), p));
            int coldDoneAtStep = -1;
            for (int step = 0; step < 3000 && coldDoneAtStep < 0; step++) {
                // A new request for the resident adapter arrives every step.
                e.submit(
                        new EngineRequest(
                                "hot" + submitted++,
                                new int[] {1, 403},
                                List.of(new AdapterRef("a0", 1.0)),
                                p));
                for (TokenEvent t : e.step().events()) {
                    if (t.requestId().equals("cold") && t.finished()) {
                        coldDoneAtStep = step;
                    }
                }
            }
            assertTrue(
                    coldDoneAtStep >= 0,
                    "the cold adapter's request completed while hot requests kept coming");
            // Not a timing bound: the load runs on its own thread, so under CPU load it takes more
            // steps.
            assertTrue(
                    coldDoneAtStep < 1000,
                    "and well before the stream ends: step " + coldDoneAtStep);
        }
    }
}
