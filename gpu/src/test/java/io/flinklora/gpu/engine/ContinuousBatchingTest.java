package io.flinklora.gpu.engine;

import static io.flinklora.gpu.frontend.RequestProcessor.submit;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.frontend.PromptRequest;
import io.flinklora.gpu.kv.BlockManager;
import io.flinklora.gpu.kv.KvBlockPool;
import io.flinklora.gpu.model.ProjectionDelta;
import io.flinklora.gpu.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ContinuousBatchingTest {

    @Test
    void cachedDecodeLogitsEqualFullRecompute() {
        try (Engine engine =
                        Engine.open(
                                EngineConfig.builder(TestModels.stories260k())
                                        .maxRunning(1)
                                        .build());
                NDManager manager = NDManager.newBaseManager();
                KvBlockPool incremental = pool(engine, manager);
                KvBlockPool fresh = pool(engine, manager)) {
            BlockManager incrementalBlocks =
                    new BlockManager(incremental.blocks(), incremental.blockSize(), false);
            BlockManager freshBlocks = new BlockManager(fresh.blocks(), fresh.blockSize(), false);
            int[] prompt = engine.tokenizer().encode("Tom had a big red ball.");
            Sequence seq = newSequence(engine, "inc", prompt, 64);
            ModelRunner cached = new ModelRunner(engine.model(), incremental);
            ModelRunner full = new ModelRunner(engine.model(), fresh);
            float worst = 0;
            for (int step = 0; step < 40; step++) {
                float[] a;
                float[] b;
                assertTrue(incrementalBlocks.grow(seq.blocks(), seq.length()));
                incremental.zero(incrementalBlocks.drainFresh());
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    NDArray la =
                            cached.run(
                                    new Batch(
                                            List.of(
                                                    new Batch.Chunk(
                                                            seq, seq.computed(), seq.pending()))),
                                    manager,
                                    ProjectionDelta.NONE);
                    a = la.toFloatArray();
                    // Recompute the whole sequence from an empty cache slot.
                    int[] all = new int[seq.length()];
                    for (int i = 0; i < all.length; i++) {
                        all[i] = seq.token(i);
                    }
                    Sequence again = newSequence(engine, "full", all, 64);
                    assertTrue(freshBlocks.grow(again.blocks(), all.length));
                    fresh.zero(freshBlocks.drainFresh());
                    NDArray lb =
                            full.run(
                                    new Batch(List.of(new Batch.Chunk(again, 0, all.length))),
                                    manager,
                                    ProjectionDelta.NONE);
                    b = lb.toFloatArray();
                    freshBlocks.free(again.blocks());
                }
                assertEquals(a.length, b.length);
                for (int i = 0; i < a.length; i++) {
                    worst = Math.max(worst, Math.abs(a[i] - b[i]));
                }
                seq.advance(seq.pending());
                seq.append(io.flinklora.gpu.sampling.Sampler.argmax(a, 0, a.length));
            }
            assertTrue(worst <= 1e-4f, "cached decode differs from full recompute by " + worst);
        }
    }

    /**
     * A pool of 16 blocks of 16 positions (a block size smaller than the engine's, to cross block
     * edges often).
     */
    private static KvBlockPool pool(Engine engine, NDManager manager) {
        return new KvBlockPool(
                manager,
                engine.modelConfig().numLayers(),
                engine.modelConfig().numKvHeads(),
                engine.modelConfig().headDim(),
                16,
                8,
                engine.model().dtype(),
                engine.model().device());
    }

    @Test
    void sixteenMixedLengthPromptsInOneContinuousBatchMatchEachRunAlone() {
        Random random = new Random(16);
        String[] words = {
            "the", "dog", "ran", "to", "a", "big", "park", "and", "Lily", "saw", "red", "ball",
            "happy", "sun", "was", "hot"
        };
        List<EngineRequest> requests = new ArrayList<>();
        try (Engine alone =
                Engine.open(EngineConfig.builder(TestModels.stories260k()).maxRunning(1).build())) {
            for (int i = 0; i < 16; i++) {
                StringBuilder p = new StringBuilder("Once");
                int n = 1 + random.nextInt(40);
                for (int w = 0; w < n; w++) {
                    p.append(' ').append(words[random.nextInt(words.length)]);
                }
                int[] ids = alone.tokenizer().encode(p.toString());
                requests.add(
                        EngineHarness.request(
                                "p" + i,
                                ids,
                                SamplingParams.greedy(24 + random.nextInt(40))
                                        .withIgnoreEos(true)));
            }
            Map<String, EngineHarness.Outcome> single = EngineHarness.runAll(alone, requests);
            // A small token budget forces chunked prefills that share steps with running decodes.
            try (Engine batched =
                    Engine.open(
                            EngineConfig.builder(TestModels.stories260k())
                                    .maxRunning(16)
                                    .maxTokensPerStep(48)
                                    .build())) {
                List<Integer> rows = new ArrayList<>();
                Map<String, EngineHarness.Outcome> together =
                        runRecordingRows(batched, requests, rows);
                for (EngineRequest r : requests) {
                    assertArrayEquals(
                            single.get(r.id()).idArray(), together.get(r.id()).idArray(), r.id());
                    assertEquals(single.get(r.id()).text(), together.get(r.id()).text(), r.id());
                }
                assertEquals(
                        16,
                        rows.stream().mapToInt(Integer::intValue).max().orElse(0),
                        "all 16 sequences ran in one batch at some step");
                assertTrue(
                        rows.get(rows.size() - 1) < 16,
                        "sequences left the batch as they finished");
            }
        }
    }

    @Test
    void stepMixingLongPrefillDecodeRowsAndChoiceTreeGivesEachRowsLogitsAlone() {
        try (Engine batched =
                        Engine.open(
                                EngineConfig.builder(TestModels.stories260k())
                                        .maxRunning(8)
                                        .build());
                Engine alone =
                        Engine.open(
                                EngineConfig.builder(TestModels.stories260k())
                                        .maxRunning(1)
                                        .build())) {
            for (int i = 0; i < 3; i++) {
                batched.submit(
                        EngineHarness.request(
                                "d" + i,
                                batched.tokenizer()
                                        .encode(
                                                i == 0
                                                        ? "Tom had a big red ball."
                                                        : i == 1
                                                                ? "Once upon a time"
                                                                : "Lily saw a dog and"),
                                SamplingParams.greedy(40).withIgnoreEos(true)));
            }
            batched.step();
            batched.step();
            submit(
                    batched,
                    new PromptRequest(
                            "choice",
                            batched.tokenizer().encode("The sun was hot. Lily felt"),
                            List.of(),
                            SamplingParams.greedy(1),
                            null,
                            List.of("happy", "a big red ball", "Tom went to the park")));
            batched.step();
            StringBuilder longPrompt = new StringBuilder("Once upon a time");
            while (batched.tokenizer().encode(longPrompt.toString()).length < 70) {
                longPrompt.append(
                        " there was a little girl who liked to play in the park with her dog.");
            }
            batched.submit(
                    EngineHarness.request(
                            "long",
                            batched.tokenizer().encode(longPrompt.toString()),
                            SamplingParams.greedy(4)));
            Batch mixed = batched.scheduleForTest();

            int decodeRows = 0;
            boolean tree = false;
            boolean longChunk = false;
            for (Batch.Chunk c : mixed.chunks()) {
                decodeRows += c.length() == 1 && !c.scoresTree() ? 1 : 0;
                tree |= c.scoresTree() && c.length() > 1;
                longChunk |= c.length() >= 70;
            }
            assertEquals(3, decodeRows, "decode rows in the step");
            assertTrue(
                    tree && longChunk,
                    "the step holds a multi-token choice tree and a long prefill chunk");
            assertTrue(
                    ModelRunner.groupRows(mixed.chunks()).size() >= 3,
                    "decode, tree and prefill rows attend apart");

            float[][] got = batched.logitsForTest(mixed);
            int row = 0;
            float worst = 0;
            for (Batch.Chunk c : mixed.chunks()) {
                Sequence s = c.sequence();
                List<Integer> wanted = new ArrayList<>();
                if (c.scoresTree()) {
                    for (int i = 0; i < c.length(); i++) {
                        wanted.add(c.start() + i);
                    }
                } else if (c.samples()) {
                    wanted.add(c.start() + c.length() - 1);
                }
                for (int p : wanted) {
                    // The tokens the query at p may see: the prompt, then (in a tree) its own
                    // candidate up to p.
                    List<Integer> visible = new ArrayList<>();
                    int branch = s.ownBranchStart(p);
                    int end = branch <= p ? s.promptLength() : p + 1;
                    for (int i = 0; i < end; i++) {
                        visible.add(s.token(i));
                    }
                    for (int i = branch; i <= p; i++) {
                        visible.add(s.token(i));
                    }
                    float[] expected =
                            logitsAlone(
                                    alone, visible.stream().mapToInt(Integer::intValue).toArray());
                    float[] actual = got[row++];
                    for (int v = 0; v < expected.length; v++) {
                        worst = Math.max(worst, Math.abs(expected[v] - actual[v]));
                    }
                }
            }
            assertEquals(got.length, row, "every logit row checked");
            assertTrue(worst <= 1e-4f, "mixed step differs from each row run alone by " + worst);
        }
    }

    /** Last-token logits of {@code ids} prefilled alone, in one chunk, from an empty cache. */
    private static float[] logitsAlone(Engine e, int[] ids) {
        e.submit(EngineHarness.request("ref", ids, SamplingParams.greedy(1)));
        Batch b = e.scheduleForTest();
        assertEquals(ids.length, b.chunks().get(0).length(), "the prefix runs in one chunk");
        float[] logits = e.logitsForTest(b)[0];
        e.abort("ref");
        return logits;
    }

    @Test
    void rowsSplitIntoAFewAttentionGroupsWithOneTokenRowsAlone() {
        int[] lengths = {1, 0, 70, 1, 2, 5, 20, 300, 1, 3};
        List<Batch.Chunk> chunks = new ArrayList<>();
        for (int len : lengths) {
            chunks.add(new Batch.Chunk(null, 10, len));
        }
        List<int[]> groups = ModelRunner.groupRows(chunks);
        assertTrue(groups.size() <= ModelRunner.MAX_GROUPS, groups.size() + " groups");
        assertArrayEquals(new int[] {0, 3, 8}, groups.get(0), "one-token rows attend together");
        List<Integer> seen = new ArrayList<>();
        for (int[] g : groups) {
            for (int i = 0; i < g.length; i++) {
                assertTrue(i == 0 || g[i - 1] < g[i], "rows in batch order");
                seen.add(g[i]);
                assertTrue(
                        g == groups.get(0) || lengths[g[i]] > 1,
                        "longer chunks apart from one-token rows");
            }
        }
        seen.sort(null);
        assertEquals(
                List.of(0, 2, 3, 4, 5, 6, 7, 8, 9),
                seen,
                "every row with tokens once, idle rows none");
        // The 300-token chunk is not padded together with the short ones: it keeps a group of its
        // own.
        assertTrue(groups.stream().anyMatch(g -> g.length == 1 && g[0] == 7));
        // The 2-, 3- and 5-token chunks cost less together than apart.
        assertTrue(
                groups.stream()
                        .anyMatch(
                                g ->
                                        java.util.Arrays.stream(g)
                                                .boxed()
                                                .toList()
                                                .containsAll(List.of(4, 5, 9))));
    }

    @Test
    void decodeRowsOfContextsFrom32To512TokensArePaddedLittle() {
        // The mixed serving workload: 32 decoding rows whose contexts spread over four octaves.
        List<Batch.Chunk> chunks = new ArrayList<>();
        java.util.Random rnd = new java.util.Random(5);
        long real = 0;
        for (int i = 0; i < 32; i++) {
            int start = 32 + rnd.nextInt(481);
            chunks.add(new Batch.Chunk(null, start, 1));
            real += start + 1;
        }
        List<int[]> groups = ModelRunner.groupRows(chunks);
        long padded = 0;
        for (int[] g : groups) {
            int keyLen = 0;
            for (int row : g) {
                keyLen = Math.max(keyLen, chunks.get(row).start() + 1);
            }
            padded += (long) g.length * keyLen;
        }
        assertTrue(groups.size() <= ModelRunner.MAX_GROUPS, groups.size() + " groups");
        // Powers-of-two key buckets padded this workload by 1.3-1.5x.
        assertTrue(padded < real * 1.15, "padded " + padded + " against " + real + " real keys");
    }

    @Test
    void recordsOfTwentyToSixtyTokensBehindACachedInstructionArePaddedLittle() {
        // A labelling step: twenty records' chunks of 20-60 tokens, each after a cached 336-token
        // instruction.
        List<Batch.Chunk> chunks = new ArrayList<>();
        java.util.Random rnd = new java.util.Random(3);
        long real = 0;
        for (int i = 0; i < 20; i++) {
            int len = 20 + rnd.nextInt(41);
            chunks.add(new Batch.Chunk(null, 336, len));
            real += (long) len * (336 + len);
        }
        long padded = 0;
        for (int[] g : ModelRunner.groupRows(chunks)) {
            int queryLen = 0;
            int keyLen = 0;
            for (int row : g) {
                queryLen = Math.max(queryLen, chunks.get(row).length());
                keyLen = Math.max(keyLen, 336 + chunks.get(row).length());
            }
            padded += (long) g.length * queryLen * keyLen;
        }
        assertTrue(
                padded < real * 1.15,
                "padded " + padded + " query-key pairs for " + real + " real ones");
    }

    @Test
    void newSequencesWaitForFreeKvBlocksAndThenRun() {
        // A budget of two sequences of 64 positions: 8 blocks of 16.
        try (Engine engine =
                Engine.open(
                        EngineConfig.builder(TestModels.stories260k())
                                .maxRunning(8)
                                .kvSlots(2)
                                .maxSequenceLength(64)
                                .prefixCaching(false)
                                .build())) {
            List<EngineRequest> requests = new ArrayList<>();
            for (int i = 0; i < 7; i++) {
                requests.add(
                        EngineHarness.request(
                                "s" + i,
                                engine.tokenizer().encode("The cat " + i),
                                SamplingParams.greedy(40 + i).withIgnoreEos(true)));
            }
            for (EngineRequest r : requests) {
                engine.submit(r);
            }
            int finished = 0;
            while (engine.hasWork()) {
                StepResult s = engine.step();
                EngineStats stats = engine.stats();
                assertEquals(8, stats.kvBlocksTotal());
                assertTrue(stats.kvBlocksUsed() <= 8);
                finished += (int) s.events().stream().filter(TokenEvent::finished).count();
            }
            assertEquals(7, finished, "every waiting sequence eventually ran");
            assertEquals(
                    0, engine.stats().kvBlocksUsed(), "finished sequences gave their blocks back");
        }
    }

    @Test
    void kvSlotsHoldThatManySequencesOfTheLongestLengthInWholeBlocks() {
        // 50 positions take 4 blocks of 16, the last one partly: 3 slots are 12 blocks, not
        // ceil(3 * 50 / 16) = 10, in which the third sequence at full length would be preempted.
        try (Engine engine =
                Engine.open(
                        EngineConfig.builder(TestModels.stories260k())
                                .maxRunning(3)
                                .kvSlots(3)
                                .maxSequenceLength(50)
                                .prefixCaching(false)
                                .build())) {
            long asked = 0;
            for (int i = 0; i < 3; i++) {
                int[] prompt = engine.tokenizer().encode("The cat " + i);
                asked += 50 - prompt.length;
                engine.submit(
                        EngineHarness.request(
                                "s" + i,
                                prompt,
                                SamplingParams.greedy(50 - prompt.length).withIgnoreEos(true)));
            }
            long tokens = engine.runToCompletion(s -> {});
            EngineStats stats = engine.stats();
            assertEquals(0, stats.preemptions(), "every sequence ran to its end without eviction");
            assertEquals(12, stats.kvBlocksTotal());
            assertEquals(asked, tokens, "each sequence reached the longest length");
        }
    }

    static Map<String, EngineHarness.Outcome> runRecordingRows(
            Engine engine, List<EngineRequest> requests, List<Integer> rows) {
        for (EngineRequest r : requests) {
            engine.submit(r);
        }
        Map<String, List<Integer>> ids = new java.util.HashMap<>();
        Map<String, StringBuilder> text = new java.util.HashMap<>();
        Map<String, EngineHarness.Outcome> done = new java.util.HashMap<>();
        while (engine.hasWork()) {
            StepResult s = engine.step();
            rows.add(s.rows());
            for (TokenEvent e : s.events()) {
                ids.computeIfAbsent(e.requestId(), k -> new ArrayList<>()).add(e.tokenId());
                text.computeIfAbsent(e.requestId(), k -> new StringBuilder()).append(e.text());
                if (e.finished()) {
                    done.put(
                            e.requestId(),
                            new EngineHarness.Outcome(
                                    ids.get(e.requestId()),
                                    text.get(e.requestId()).toString(),
                                    e.finishReason()));
                }
            }
        }
        return done;
    }

    static Sequence newSequence(Engine engine, String id, int[] prompt, int maxNew) {
        return new Sequence(
                EngineHarness.request(
                        id, prompt, SamplingParams.greedy(maxNew).withIgnoreEos(true)),
                1L,
                Set.of(),
                null);
    }
}
