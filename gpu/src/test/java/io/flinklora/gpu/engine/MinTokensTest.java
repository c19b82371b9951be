package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import io.flinklora.gpu.frontend.PromptRequest;
import io.flinklora.gpu.frontend.RequestProcessor;
import io.flinklora.gpu.sampling.LogitAdjustments;
import io.flinklora.gpu.sampling.SamplingParams;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * min_tokens as vLLM defines it, on stories260k: until that many tokens exist, EOS and the
 * request's stop_token_ids are never chosen (EOS even when the request ignores it) and stop strings
 * are not looked for; afterwards a stop string is found only where it ends in a later token's text.
 * (The model's min_new_tokens / min_length against transformers: GenerationConfigConformanceTest.)
 */
class MinTokensTest {
    private static final int EOS = 2;
    private static Engine engine;
    private static int[] prompt;

    @BeforeAll
    static void open() {
        engine = Engine.open(EngineConfig.builder(TestModels.stories260k()).maxRunning(8).build());
        prompt = engine.tokenizer().encode("Once upon a time");
    }

    @AfterAll
    static void close() {
        engine.close();
    }

    private static SamplingParams greedy(
            int max,
            int min,
            Map<Integer, Double> bias,
            List<String> stop,
            List<Integer> stopIds,
            boolean ignoreEos) {
        return new SamplingParams(
                0,
                0,
                1.0,
                null,
                max,
                stop,
                stopIds,
                ignoreEos,
                new LogitAdjustments(0, 1, 0, 0, bias),
                null,
                min);
    }

    private static EngineHarness.Outcome run(SamplingParams p) {
        return EngineHarness.runAll(engine, List.of(EngineHarness.request("r", prompt, p)))
                .get("r");
    }

    @Test
    void eosIsNeverChosenBeforeMinTokensAndEndsTheSequenceRightAfter() {
        Map<Integer, Double> eosLikely = Map.of(EOS, 100.0);
        assertEquals(
                List.of(EOS), run(greedy(30, 0, eosLikely, List.of(), List.of(), false)).ids());
        EngineHarness.Outcome o = run(greedy(30, 7, eosLikely, List.of(), List.of(), false));
        assertEquals(8, o.ids().size(), o.ids().toString());
        assertFalse(o.ids().subList(0, 7).contains(EOS), o.ids().toString());
        assertEquals(EOS, o.ids().get(7));
        assertEquals(FinishReason.STOP, o.reason());
    }

    @Test
    void stopTokenIdsWaitForMinTokensToo() {
        int stopId = 7;
        EngineHarness.Outcome o =
                run(greedy(30, 4, Map.of(stopId, 100.0), List.of(), List.of(stopId), false));
        assertEquals(5, o.ids().size(), o.ids().toString());
        assertFalse(o.ids().subList(0, 4).contains(stopId), o.ids().toString());
        assertEquals(FinishReason.STOP, o.reason());
    }

    @Test
    void eosIsBannedBeforeMinTokensEvenWhenTheRequestIgnoresEos() {
        EngineHarness.Outcome o = run(greedy(9, 5, Map.of(EOS, 100.0), List.of(), List.of(), true));
        assertFalse(o.ids().subList(0, 5).contains(EOS), o.ids().toString());
        assertEquals(List.of(EOS, EOS, EOS, EOS), o.ids().subList(5, 9), "then EOS, ignored");
        assertEquals(FinishReason.LENGTH, o.reason());
    }

    @Test
    void stopStringsAreLookedForOnlyInTextEndingAfterMinTokens() {
        List<Integer> free =
                run(greedy(40, 0, Map.of(), List.of(), List.of(), false)).ids(); // no stop at all
        String stop = "a";
        for (int min : new int[] {0, 3, 6, 12}) {
            EngineHarness.Outcome o =
                    run(greedy(40, min, Map.of(), List.of(stop), List.of(), false));
            // vLLM's rule: token k (1-based) is checked when k > min_tokens, over its own new text
            // and the stop string's length less one before it.
            int k = 0;
            String cut = null;
            for (int i = min + 1; i <= free.size() && cut == null; i++) {
                String before = decode(free, i - 1);
                String now = decode(free, i);
                int at = now.indexOf(stop, Math.max(0, before.length() - stop.length() + 1));
                if (at >= 0) {
                    k = i;
                    cut = now.substring(0, at);
                }
            }
            assertTrue(cut != null, "the stop string appears after " + min + " tokens");
            assertEquals(free.subList(0, k), o.ids(), "min_tokens " + min);
            assertEquals(cut, o.text(), "min_tokens " + min);
            assertEquals(FinishReason.STOP, o.reason());
        }
    }

    private static String decode(List<Integer> ids, int n) {
        return engine.tokenizer()
                .decode(ids.subList(0, n).stream().mapToInt(Integer::intValue).toArray());
    }

    @Test
    void minTokensAboveMaxNewTokensOrNegativeIsAnInvalidParameter() {
        RequestProcessor front = RequestProcessor.of(engine);
        for (int min : new int[] {11, -1}) {
            RequestException e =
                    assertThrows(
                            RequestException.class,
                            () ->
                                    front.process(
                                            new PromptRequest(
                                                    "bad",
                                                    prompt,
                                                    List.of(),
                                                    greedy(
                                                            10, min, Map.of(), List.of(), List.of(),
                                                            false))));
            assertEquals(ErrorCode.INVALID_PARAMETER, e.code());
            assertTrue(e.getMessage().contains("min_tokens"), e.getMessage());
        }
    }
}
