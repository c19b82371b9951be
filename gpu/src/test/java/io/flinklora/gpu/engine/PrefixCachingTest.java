package io.flinklora.gpu.engine;

import static io.flinklora.gpu.frontend.RequestProcessor.submit;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.frontend.PromptRequest;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.SamplingParams;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Automatic prefix caching and paged KV: the same tokens as without, less work, more sequences. */
class PrefixCachingTest {
    private static final Path ADAPTERS = TestModels.projectRoot().resolve("models/adapters");
    private static final String INSTRUCTION =
            "Once upon a time, there was a little girl named Lily. She liked to play"
                    + " in the park with her big red ball. One day, she saw a dog. The dog was sad because it was lost. Lily"
                    + " wanted to help the dog find its home.";

    private static EngineConfig.Builder config() {
        return EngineConfig.builder(TestModels.stories260k())
                .maxRunning(8)
                .adapterRoot(ADAPTERS)
                .maxSequenceLength(256);
    }

    private static List<EngineRequest> sharingAnInstruction(
            Engine e, List<List<AdapterRef>> mixes) {
        String[] endings = {" Then", " The dog", " Lily said", " They", " The sun", " Her mom"};
        List<EngineRequest> out = new ArrayList<>();
        int n = 0;
        for (List<AdapterRef> mix : mixes) {
            for (String end : endings) {
                out.add(
                        new EngineRequest(
                                "r" + n++,
                                e.tokenizer().encode(INSTRUCTION + end),
                                mix,
                                SamplingParams.greedy(20).withIgnoreEos(true)));
            }
        }
        return out;
    }

    /** Runs the first request alone (it fills the cache), then the rest together. */
    private static Map<String, EngineHarness.Outcome> firstThenRest(
            Engine e, List<EngineRequest> requests) {
        Map<String, EngineHarness.Outcome> out =
                new java.util.HashMap<>(EngineHarness.runAll(e, requests.subList(0, 1)));
        out.putAll(EngineHarness.runAll(e, requests.subList(1, requests.size())));
        return out;
    }

    @Test
    void requestsSharingAnInstructionReuseItsBlocksAndGiveTheSameTokensAsWithoutCaching() {
        List<List<AdapterRef>> mixes =
                List.of(
                        List.of(),
                        List.of(new AdapterRef("happy", 1.0)),
                        List.of(new AdapterRef("happy", 0.5)),
                        List.of(new AdapterRef("happy", 0.5), new AdapterRef("max", 0.5)));
        try (Engine cached = Engine.open(config().build());
                Engine plain = Engine.open(config().prefixCaching(false).build())) {
            List<EngineRequest> requests = sharingAnInstruction(cached, mixes);
            Map<String, EngineHarness.Outcome> a = firstThenRest(cached, requests);
            Map<String, EngineHarness.Outcome> b = firstThenRest(plain, requests);
            for (EngineRequest r : requests) {
                assertArrayEquals(b.get(r.id()).idArray(), a.get(r.id()).idArray(), r.id());
                assertEquals(b.get(r.id()).text(), a.get(r.id()).text(), r.id());
            }
            EngineStats withCache = cached.stats();
            EngineStats without = plain.stats();
            assertEquals(0, without.cachedPromptTokens());
            int instructionBlocks = cached.tokenizer().encode(INSTRUCTION).length / 16;
            // Each mix's first request computes the instruction; its other five reuse it (at least
            // its whole blocks).
            assertTrue(
                    withCache.cachedPromptTokens() >= 4L * 5 * instructionBlocks * 16,
                    "cached " + withCache.cachedPromptTokens() + " of " + withCache.promptTokens());
            assertTrue(
                    withCache.prefillTokens() < without.prefillTokens() / 2,
                    withCache.prefillTokens()
                            + " prefill tokens with caching, "
                            + without.prefillTokens()
                            + " without");
        }
    }

    @Test
    void aSharedPrefixEndingInsideABlockIsCopiedToTheTokenAndGivesTheSameTokens() {
        try (Engine cached = Engine.open(config().build());
                Engine plain = Engine.open(config().prefixCaching(false).build())) {
            int[] first = cached.tokenizer().encode(INSTRUCTION + " Then");
            int[] second = cached.tokenizer().encode(INSTRUCTION + " The dog");
            List<AdapterRef> mix = List.of(new AdapterRef("happy", 1.0));
            EngineRequest a =
                    new EngineRequest(
                            "a", first, mix, SamplingParams.greedy(24).withIgnoreEos(true));
            EngineRequest b =
                    new EngineRequest(
                            "b", second, mix, SamplingParams.greedy(24).withIgnoreEos(true));
            int[] aSequence =
                    java.util.stream.IntStream.concat(
                                    java.util.Arrays.stream(first),
                                    java.util.Arrays.stream(
                                            EngineHarness.runAll(cached, List.of(a))
                                                    .get("a")
                                                    .idArray()))
                            .toArray();
            int common = 0;
            while (common < second.length - 1 && aSequence[common] == second[common]) {
                common++;
            }
            assertTrue(
                    common % 16 != 0 && aSequence.length >= (common / 16 + 1) * 16,
                    "the shared prefix ends inside a block that a computed in full: " + common);
            long before = cached.stats().cachedPromptTokens();
            Map<String, EngineHarness.Outcome> got = EngineHarness.runAll(cached, List.of(b));
            assertEquals(
                    before + common,
                    cached.stats().cachedPromptTokens(),
                    "every shared position is reused, not only the "
                            + common / 16
                            + " whole blocks");
            Map<String, EngineHarness.Outcome> want = EngineHarness.runAll(plain, List.of(b));
            assertArrayEquals(want.get("b").idArray(), got.get("b").idArray());
            assertEquals(want.get("b").text(), got.get("b").text());
        }
    }

    @Test
    void aPrefixIsSharedOnlyBetweenRequestsWithTheSameAdaptersAndWeights() {
        try (Engine e = Engine.open(config().build())) {
            int[] prompt = e.tokenizer().encode(INSTRUCTION);
            List<List<AdapterRef>> mixes =
                    List.of(
                            List.of(),
                            List.of(new AdapterRef("happy", 1.0)),
                            List.of(new AdapterRef("happy", 0.5)),
                            List.of(new AdapterRef("max", 1.0)));
            int n = 0;
            for (List<AdapterRef> mix : mixes) {
                long before = e.stats().cachedPromptTokens();
                EngineHarness.runAll(
                        e,
                        List.of(
                                new EngineRequest(
                                        "m" + n++, prompt, mix, SamplingParams.greedy(2))));
                assertEquals(before, e.stats().cachedPromptTokens(), "no hit for a new mix " + mix);
            }
            long before = e.stats().cachedPromptTokens();
            EngineHarness.runAll(
                    e,
                    List.of(
                            new EngineRequest(
                                    "again",
                                    prompt,
                                    List.of(new AdapterRef("happy", 0.5)),
                                    SamplingParams.greedy(2))));
            assertEquals(
                    before + (prompt.length - 1) / 16 * 16,
                    e.stats().cachedPromptTokens(),
                    "the same mix again hits every whole block before the last prompt token");
        }
    }

    @Test
    void preemptedSequencesRecomputeAndGiveTheSameTokens() {
        List<EngineRequest> requests = new ArrayList<>();
        try (Engine roomy =
                Engine.open(
                        EngineConfig.builder(TestModels.stories260k())
                                .maxRunning(12)
                                .maxSequenceLength(128)
                                .build())) {
            for (int i = 0; i < 12; i++) {
                SamplingParams p =
                        i % 2 == 0
                                ? SamplingParams.greedy(90).withIgnoreEos(true)
                                : new SamplingParams(
                                        0.9, 40, 0.95, 7L + i, 90, List.of(), List.of(), true);
                requests.add(
                        new EngineRequest(
                                "p" + i,
                                roomy.tokenizer().encode("Lily and Tom " + i + " went to"),
                                List.of(),
                                p));
            }
            Map<String, EngineHarness.Outcome> expected = EngineHarness.runAll(roomy, requests);
            // Four sequences' worth of blocks for twelve that grow to ~100 tokens each: preemption
            // is certain.
            for (boolean caching : new boolean[] {true, false}) {
                try (Engine tight =
                        Engine.open(
                                EngineConfig.builder(TestModels.stories260k())
                                        .maxRunning(12)
                                        .maxSequenceLength(128)
                                        .kvSlots(4)
                                        .prefixCaching(caching)
                                        .build())) {
                    Map<String, EngineHarness.Outcome> got = EngineHarness.runAll(tight, requests);
                    for (EngineRequest r : requests) {
                        assertArrayEquals(
                                expected.get(r.id()).idArray(), got.get(r.id()).idArray(), r.id());
                        assertEquals(expected.get(r.id()).text(), got.get(r.id()).text(), r.id());
                    }
                    assertTrue(tight.stats().preemptions() > 0, "the tight pool preempted");
                    assertEquals(0, tight.stats().kvBlocksUsed());
                }
            }
        }
    }

    @Test
    void withTheKvMemoryOfThirtyTwoSlotsOneHundredTwentyEightShortRequestsRunInOneBatch() {
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(TestModels.stories260k())
                                .maxRunning(128)
                                .maxTokensPerStep(2048)
                                .maxSequenceLength(256)
                                .kvSlots(32)
                                .build())) {
            for (int i = 0; i < 128; i++) {
                e.submit(
                        EngineHarness.request(
                                "s" + i,
                                e.tokenizer().encode("The cat " + i + " sat"),
                                SamplingParams.greedy(24).withIgnoreEos(true)));
            }
            int widest = 0;
            while (e.hasWork()) {
                widest = Math.max(widest, e.step().rows());
            }
            assertEquals(
                    32 * 256 / 16,
                    e.stats().kvBlocksTotal(),
                    "the budget of 32 sequences of 256 positions");
            assertEquals(128, widest, "every short request ran in the same batch");
        }
    }

    @Test
    void choiceScoringOverAnInstructionReusesItsBlocksAndChoosesTheSameLabels() {
        List<String> labels = List.of("happy", "sad", "a big red ball", "Tom");
        String[] records = {
            " The dog was", " Lily felt", " The ball was", " Tom saw the", " Then the sun"
        };
        try (Engine cached = Engine.open(config().build());
                Engine plain = Engine.open(config().prefixCaching(false).build())) {
            for (Engine e : List.of(cached, plain)) {
                for (int i = 0; i < records.length; i++) {
                    submit(
                            e,
                            new PromptRequest(
                                    "c" + i,
                                    e.tokenizer().encode(INSTRUCTION + records[i]),
                                    List.of(new AdapterRef("mood", 1.0)),
                                    SamplingParams.greedy(1),
                                    null,
                                    labels));
                    while (e.hasWork()) {
                        e.step();
                    }
                }
            }
            for (int i = 0; i < records.length; i++) {
                ChoiceResult want = choice(plain, labels, records[i], i);
                ChoiceResult got = choice(cached, labels, records[i], i);
                assertEquals(want.label(), got.label(), records[i]);
                for (int c = 0; c < labels.size(); c++) {
                    assertEquals(
                            want.scores().get(c).logprob(),
                            got.scores().get(c).logprob(),
                            1e-4,
                            labels.get(c));
                }
            }
            assertTrue(
                    cached.stats().cachedPromptTokens() >= 2L * (records.length - 1) * 64,
                    "later records reuse the instruction: " + cached.stats().cachedPromptTokens());
        }
    }

    @Test
    void longRopeBlocksAreSharedOnlyWhenTheirTokensUsedTheSameRotaryTable() {
        // Phi-3 with LongRoPE, original context 32: a 20-token prompt generating 10 stays on the
        // short table; the same 30 tokens inside a 50-token prompt use the long table, so their
        // keys
        // differ. A generation that crosses 32 is recomputed on the long table (as Phi-3's generate
        // drops its cache there), so a long prompt of its tokens may reuse its blocks.
        Path phi3 = HuggingFaceConformanceTest.casesDir().resolve("phi3");
        java.util.Random random = new java.util.Random(3);
        try (Engine cached = Engine.open(EngineConfig.builder(phi3).maxRunning(4).build());
                Engine plain =
                        Engine.open(
                                EngineConfig.builder(phi3)
                                        .maxRunning(4)
                                        .prefixCaching(false)
                                        .build())) {
            int[] shortPrompt = random.ints(20, 3, 512).toArray();
            int[] shortGenerated = generate(cached, "a", shortPrompt, 10);
            int[] longer = concat(shortPrompt, shortGenerated, random.ints(20, 3, 512).toArray());
            long before = cached.stats().cachedPromptTokens();
            int[] got = generate(cached, "b", longer, 10);
            assertEquals(
                    before,
                    cached.stats().cachedPromptTokens(),
                    "no block of the short-table sequence is reused by the long-table prompt");
            assertArrayEquals(generate(plain, "b", longer, 10), got);
            assertArrayEquals(got, generate(cached, "c", longer, 10));
            assertEquals(
                    before + 48,
                    cached.stats().cachedPromptTokens(),
                    "the same long prompt again hits 3 blocks");

            int[] crossing = random.ints(30, 3, 512).toArray();
            int[] crossed = generate(cached, "d", crossing, 30);
            assertArrayEquals(generate(plain, "d", crossing, 30), crossed);
            int[] after = concat(crossing, java.util.Arrays.copyOf(crossed, 20));
            long beforeCrossed = cached.stats().cachedPromptTokens();
            int[] reused = generate(cached, "e", after, 10);
            assertEquals(
                    beforeCrossed + 48,
                    cached.stats().cachedPromptTokens(),
                    "the crossed generation's recomputed long-table blocks serve the long prompt");
            assertArrayEquals(generate(plain, "e", after, 10), reused);
        }
    }

    private static int[] generate(Engine e, String id, int[] prompt, int tokens) {
        return EngineHarness.runAll(
                        e,
                        List.of(
                                EngineHarness.request(
                                        id,
                                        prompt,
                                        SamplingParams.greedy(tokens).withIgnoreEos(true))))
                .get(id)
                .idArray();
    }

    private static int[] concat(int[]... parts) {
        return java.util.Arrays.stream(parts).flatMapToInt(java.util.Arrays::stream).toArray();
    }

    /**
     * The label and scores of one constrained request run again (after its twins filled the cache).
     */
    private static ChoiceResult choice(Engine e, List<String> labels, String record, int i) {
        submit(
                e,
                new PromptRequest(
                        "again" + i,
                        e.tokenizer().encode(INSTRUCTION + record),
                        List.of(new AdapterRef("mood", 1.0)),
                        SamplingParams.greedy(1),
                        null,
                        labels));
        ChoiceResult out = null;
        while (e.hasWork()) {
            for (TokenEvent ev : e.step().events()) {
                out = ev.choice();
            }
        }
        return out;
    }
}
