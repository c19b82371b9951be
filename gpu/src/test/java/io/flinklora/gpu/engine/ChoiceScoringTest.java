package io.flinklora.gpu.engine;

import static io.flinklora.gpu.frontend.RequestProcessor.submit;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import io.flinklora.gpu.frontend.PromptRequest;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.lora.AdapterSettings;
import io.flinklora.gpu.lora.PeftWriter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.sampling.RequestLimits;
import io.flinklora.gpu.sampling.SamplingParams;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChoiceScoringTest {
    @TempDir static Path root;
    static Path adapters;

    static final List<String> LABELS =
            List.of("happy", "sad", "a big red ball", "Tom went to the park", "dog");
    static final String[] PROMPTS = {
        "Once upon a time, there was a little girl. She felt",
        "Tom had a big red ball. He liked to play with",
        "The sun was shining and the birds were singing. Lily was",
    };
    static final List<List<AdapterRef>> MIXES =
            List.of(
                    List.of(),
                    List.of(new AdapterRef("a1", 1.0)),
                    List.of(new AdapterRef("a2", 1.0)),
                    List.of(new AdapterRef("a1", 0.5), new AdapterRef("a2", 0.5)));

    @BeforeAll
    static void writeAdapters() throws Exception {
        ModelConfig c = ModelConfig.read(TestModels.stories260k());
        adapters = root.resolve("adapters");
        new PeftWriter(c)
                .rank(4)
                .alpha(8)
                .targets(EnumSet.allOf(Projection.class))
                .write(adapters.resolve("a1"), 11, 0.3, 0.3);
        new PeftWriter(c)
                .rank(2)
                .alpha(4)
                .targets(EnumSet.of(Projection.Q, Projection.V, Projection.DOWN))
                .write(adapters.resolve("a2"), 12, 0.4, 0.4);
    }

    static Engine engine(int batch) {
        return Engine.open(
                EngineConfig.builder(TestModels.stories260k())
                        .maxRunning(batch)
                        .adapterRoot(adapters)
                        .adapters(AdapterSettings.DEFAULT.withPreload(List.of("a1", "a2")))
                        .build());
    }

    @Test
    void sharedPromptScoringEqualsScoringEachCandidateAloneWithBaseAndAdapterRowsMixed() {
        Map<String, PromptRequest> requests = new java.util.LinkedHashMap<>();
        Map<String, TokenEvent> results = new HashMap<>();
        Map<String, List<Integer>> generated = new HashMap<>();
        try (Engine e = engine(16)) {
            int n = 0;
            for (String prompt : PROMPTS) {
                for (List<AdapterRef> mix : MIXES) {
                    String id = "c" + n++;
                    // Rotate the candidates so different rows hold different tree layouts.
                    List<String> labels = new ArrayList<>(LABELS);
                    java.util.Collections.rotate(labels, n);
                    requests.put(
                            id,
                            new PromptRequest(
                                    id,
                                    e.tokenizer().encode(prompt),
                                    mix,
                                    SamplingParams.greedy(1),
                                    null,
                                    labels.subList(0, 2 + n % 4)));
                }
            }
            // Ordinary generation shares the batch with the choice rows.
            PromptRequest gen =
                    new PromptRequest(
                            "gen",
                            e.tokenizer().encode(PROMPTS[0]),
                            MIXES.get(1),
                            SamplingParams.greedy(12).withIgnoreEos(true));
            requests.values().forEach(r -> submit(e, r));
            submit(e, gen);
            generated.put("gen", new ArrayList<>());
            boolean mixedStep = false;
            while (e.hasWork()) {
                StepResult step = e.step();
                assertTrue(step.failures().isEmpty(), step.failures().toString());
                boolean sawChoice = false;
                boolean sawToken = false;
                for (TokenEvent ev : step.events()) {
                    if (ev.choice() != null) {
                        results.put(ev.requestId(), ev);
                        sawChoice = true;
                    } else {
                        generated.get(ev.requestId()).add(ev.tokenId());
                        sawToken = true;
                    }
                }
                mixedStep |= sawChoice && sawToken;
            }
            assertTrue(
                    mixedStep, "choice requests finished in the same steps as ordinary decoding");
        }
        assertEquals(requests.keySet(), results.keySet());

        double worst = 0;
        try (Engine ref = engine(1)) {
            for (PromptRequest r : requests.values()) {
                TokenEvent ev = results.get(r.id());
                assertEquals(FinishReason.CHOICE, ev.finishReason());
                ChoiceResult got = ev.choice();
                assertTrue(r.choices().contains(got.label()), "the label is one of the choices");
                assertEquals(got.label(), ev.text());
                assertEquals(r.choices().size(), got.scores().size());
                double probSum = 0;
                double[] expected = new double[r.choices().size()];
                for (int c = 0; c < expected.length; c++) {
                    String label = r.choices().get(c);
                    int[] labelIds = ref.tokenizer().encodeContinuation(label);
                    expected[c] = scoreAlone(ref, r.promptIds(), labelIds, r.adapters());
                    ChoiceScore s = got.scores().get(c);
                    assertEquals(label, s.label());
                    assertEquals(labelIds.length, s.tokens());
                    worst = Math.max(worst, Math.abs(expected[c] - s.logprob()));
                    // 1e-4, plus float32 rounding of long labels' large totals (-100 for a 5-token
                    // label here): a batch of 16 and a batch of one take different GEMM kernels,
                    // whose blocking differs by CPU (2.2e-4 off at -102 on an AVX2-only host;
                    // a wrong position or adapter is off by more than 1).
                    assertEquals(
                            expected[c],
                            s.logprob(),
                            1e-4 + 5e-6 * Math.abs(expected[c]),
                            r.id() + " '" + label + "'");
                    probSum += s.probability();
                }
                assertEquals(1.0, probSum, 1e-9);
                int best = 0;
                for (int c = 1; c < expected.length; c++) {
                    best = expected[c] > expected[best] ? c : best;
                }
                assertEquals(r.choices().get(best), got.label(), r.id());
                assertEquals(best, got.index());
            }
            // The ordinary request got the same tokens it gets alone.
            Map<String, EngineHarness.Outcome> alone =
                    EngineHarness.runAll(
                            ref,
                            List.of(
                                    new EngineRequest(
                                            "gen",
                                            ref.tokenizer().encode(PROMPTS[0]),
                                            MIXES.get(1),
                                            SamplingParams.greedy(12).withIgnoreEos(true))));
            assertEquals(alone.get("gen").ids(), generated.get("gen"));
        }
        System.out.println(
                "choice scoring: worst |logprob difference| against candidates run alone " + worst);
    }

    /**
     * Sum of log p(label token k | prompt + label[0..k)), each prefix run from scratch through the
     * model.
     */
    static double scoreAlone(Engine e, int[] prompt, int[] label, List<AdapterRef> mix) {
        double sum = 0;
        for (int k = 0; k < label.length; k++) {
            int[] prefix = java.util.Arrays.copyOf(prompt, prompt.length + k);
            System.arraycopy(label, 0, prefix, prompt.length, k);
            submit(e, new PromptRequest("ref", prefix, mix, SamplingParams.greedy(1)));
            Batch b;
            long deadline = System.nanoTime() + 30_000_000_000L;
            do {
                b = e.scheduleForTest();
            } while (b.isEmpty() && System.nanoTime() < deadline);
            assertEquals(prefix.length, b.chunks().get(0).length(), "the prefix runs in one chunk");
            float[] logits = e.logitsForTest(b)[0];
            e.abort("ref");
            double max = Double.NEGATIVE_INFINITY;
            for (float v : logits) {
                max = Math.max(max, v);
            }
            double z = 0;
            for (float v : logits) {
                z += Math.exp(v - max);
            }
            sum += logits[label[k]] - max - Math.log(z);
        }
        return sum;
    }

    @Test
    void badChoicesAreCodedErrors() {
        RequestLimits limits = new RequestLimits(1 << 16, 1 << 16, 16, 256, 8, 3, 4);
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(TestModels.stories260k())
                                .limits(limits)
                                .maxSequenceLength(64)
                                .build())) {
            int[] prompt = e.tokenizer().encode("Tom was");
            Map<String, ErrorCode> cases = new java.util.LinkedHashMap<>();
            Map<String, List<String>> choices = new java.util.LinkedHashMap<>();
            choices.put("empty string", List.of("happy", ""));
            cases.put("empty string", ErrorCode.INVALID_PARAMETER);
            choices.put("blank", List.of("happy", "  "));
            cases.put("blank", ErrorCode.INVALID_PARAMETER);
            choices.put("duplicate", List.of("happy", "sad", "happy"));
            cases.put("duplicate", ErrorCode.INVALID_PARAMETER);
            choices.put("too many", List.of("a", "b", "c", "d"));
            cases.put("too many", ErrorCode.LIMIT_EXCEEDED);
            choices.put("too long", List.of("happy", "Tom went to the park with his dog"));
            cases.put("too long", ErrorCode.LIMIT_EXCEEDED);
            List<String> nulls = new ArrayList<>();
            nulls.add("happy");
            nulls.add(null);
            choices.put("null", nulls);
            cases.put("null", ErrorCode.INVALID_PARAMETER);
            for (var c : cases.entrySet()) {
                PromptRequest r =
                        new PromptRequest(
                                "x",
                                prompt,
                                List.of(),
                                SamplingParams.greedy(1),
                                null,
                                choices.get(c.getKey()));
                RequestException ex =
                        assertThrows(RequestException.class, () -> submit(e, r), c.getKey());
                assertEquals(c.getValue(), ex.code(), c.getKey() + ": " + ex.getMessage());
            }
            int[] longPrompt = new int[62];
            java.util.Arrays.fill(longPrompt, 300);
            RequestException ctx =
                    assertThrows(
                            RequestException.class,
                            () ->
                                    submit(
                                            e,
                                            new PromptRequest(
                                                    "y",
                                                    longPrompt,
                                                    List.of(),
                                                    SamplingParams.greedy(1),
                                                    null,
                                                    List.of("a big red", "the park"))));
            assertEquals(ErrorCode.CONTEXT_LENGTH_EXCEEDED, ctx.code(), ctx.getMessage());
            // A long prompt whose max_new_tokens would not fit is fine for a choice request:
            // nothing is generated.
            int[] fits = java.util.Arrays.copyOf(longPrompt, 60);
            var out =
                    runChoice(
                            e,
                            new PromptRequest(
                                    "z",
                                    fits,
                                    List.of(),
                                    SamplingParams.greedy(64),
                                    null,
                                    List.of("happy", "sad")));
            assertNotNull(out.choice());
        }
    }

    @Test
    void singleTokenLabelsFinishInThePromptsStep() {
        try (Engine e = engine(4)) {
            int[] prompt = e.tokenizer().encode(PROMPTS[1]);
            List<String> single = new ArrayList<>();
            for (String l : List.of("dog", "cat", "ball", "the", "a")) {
                if (e.tokenizer().encodeContinuation(l).length == 1) {
                    single.add(l);
                }
            }
            assertTrue(single.size() >= 2, "stories260k has single-token words: " + single);
            submit(
                    e,
                    new PromptRequest(
                            "s", prompt, List.of(), SamplingParams.greedy(1), null, single));
            StepResult step = e.step();
            assertEquals(
                    1, step.events().size(), "scored from the prompt's last logits, no tree step");
            assertTrue(single.contains(step.events().get(0).choice().label()));
            assertTrue(!e.hasWork());
        }
    }

    static TokenEvent runChoice(Engine e, PromptRequest r) {
        submit(e, r);
        while (e.hasWork()) {
            for (TokenEvent ev : e.step().events()) {
                if (ev.requestId().equals(r.id())) {
                    return ev;
                }
            }
        }
        throw new AssertionError("no result for " + r.id());
    }
}
