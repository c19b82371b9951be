package io.flinklora.gpu.engine;

import static io.flinklora.gpu.frontend.RequestProcessor.submit;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import io.flinklora.gpu.frontend.PromptRequest;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.SamplingParams;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Teacher-forced requests score a given continuation exactly as each of its prefixes run alone
 * would.
 */
class TeacherForcedScoringTest {
    static final String[] PROMPTS = {
        "Once upon a time, in a park, there was a", "Tom had a shiny kite."
    };
    static final String[] CONTINUATIONS = {
        " little dog named Max. Max liked to run. In the end, everyone was happy.",
        " He went to the park with his mom and they played all day.",
    };
    static final List<List<AdapterRef>> MIXES =
            List.of(
                    List.of(),
                    List.of(new AdapterRef("max", 1.0)),
                    List.of(
                            new AdapterRef("max", 0.7),
                            new AdapterRef("happy", -0.4),
                            new AdapterRef("mood", 0.2)),
                    List.of(new AdapterRef("happy", 1.3), new AdapterRef("max", 0.9)));

    static Engine engine(int batch, int tokensPerStep) {
        return Engine.open(
                EngineConfig.builder(TestModels.stories260k())
                        .maxRunning(batch)
                        .maxTokensPerStep(tokensPerStep)
                        .maxSequenceLength(128)
                        .adapterRoot(TestModels.model("adapters"))
                        .build());
    }

    @Test
    void mixedBatchOfScoringRequestsEqualsEachPrefixRunAlone() {
        Map<String, PromptRequest> requests = new LinkedHashMap<>();
        Map<String, ChoiceResult> results = new HashMap<>();
        try (Engine e = engine(16, 96)) {
            int n = 0;
            for (int p = 0; p < PROMPTS.length; p++) {
                for (List<AdapterRef> mix : MIXES) {
                    String id = "s" + n++;
                    int[] cont = e.tokenizer().encodeContinuation(CONTINUATIONS[p]);
                    requests.put(
                            id,
                            PromptRequest.score(id, e.tokenizer().encode(PROMPTS[p]), mix, cont));
                }
            }
            requests.values().forEach(r -> submit(e, r));
            int steps = 0;
            while (e.hasWork()) {
                StepResult step = e.step();
                steps++;
                assertTrue(step.failures().isEmpty(), step.failures().toString());
                for (TokenEvent ev : step.events()) {
                    assertEquals(FinishReason.CHOICE, ev.finishReason());
                    results.put(ev.requestId(), ev.choice());
                }
            }
            // 96 tokens a step over 8 rows of ~30 tokens: the continuations span several chunked
            // steps.
            assertTrue(steps > 2, "chunked over " + steps + " steps");
        }
        assertEquals(requests.keySet(), results.keySet());
        double worst = 0;
        try (Engine ref = engine(1, 512)) {
            for (PromptRequest r : requests.values()) {
                ChoiceResult got = results.get(r.id());
                assertEquals(1, got.scores().size());
                assertEquals(r.scoreIds().length, got.scores().get(0).tokens());
                double expected =
                        ChoiceScoringTest.scoreAlone(
                                ref, r.promptIds(), r.scoreIds(), r.adapters());
                double logprob = got.scores().get(0).logprob();
                worst = Math.max(worst, Math.abs(expected - logprob));
                assertEquals(expected, logprob, 1e-4 + 1e-6 * Math.abs(expected), r.id());
            }
            // The mixes change the score (the test would not notice adapters being ignored
            // otherwise).
            assertTrue(
                    Math.abs(
                                    results.get("s0").scores().get(0).logprob()
                                            - results.get("s1").scores().get(0).logprob())
                            > 0.5);
        }
        System.out.println(
                "teacher forcing: worst |logprob difference| against prefixes run alone " + worst);
    }

    @Test
    void badScoringRequestsAreCodedErrors() {
        try (Engine e = engine(4, 128)) {
            int[] prompt = e.tokenizer().encode("Tom was");
            RequestException both =
                    assertThrows(
                            RequestException.class,
                            () ->
                                    submit(
                                            e,
                                            new PromptRequest(
                                                    "a",
                                                    prompt,
                                                    List.of(),
                                                    SamplingParams.greedy(1),
                                                    null,
                                                    List.of("happy"),
                                                    new int[] {5})));
            assertEquals(ErrorCode.INVALID_REQUEST, both.code());
            RequestException vocab =
                    assertThrows(
                            RequestException.class,
                            () ->
                                    submit(
                                            e,
                                            PromptRequest.score(
                                                    "b",
                                                    prompt,
                                                    List.of(),
                                                    new int[] {5, 100_000})));
            assertEquals(ErrorCode.INVALID_TOKEN, vocab.code());
            RequestException ctx =
                    assertThrows(
                            RequestException.class,
                            () ->
                                    submit(
                                            e,
                                            PromptRequest.score(
                                                    "c", prompt, List.of(), new int[130])));
            assertEquals(ErrorCode.CONTEXT_LENGTH_EXCEEDED, ctx.code());
            RequestException resumed =
                    assertThrows(
                            RequestException.class,
                            () ->
                                    submit(
                                            e,
                                            new PromptRequest(
                                                    "d",
                                                    prompt,
                                                    List.of(),
                                                    SamplingParams.greedy(4),
                                                    new int[] {5},
                                                    List.of(),
                                                    new int[] {6})));
            assertEquals(ErrorCode.INVALID_REQUEST, resumed.code());
        }
    }
}
