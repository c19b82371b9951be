package io.flinklora.gpu.engine;

import static io.flinklora.gpu.frontend.RequestProcessor.submit;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import io.flinklora.gpu.frontend.PromptRequest;
import io.flinklora.gpu.frontend.RequestProcessor;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.RequestLimits;
import io.flinklora.gpu.sampling.SamplingParams;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RequestLimitsTest {

    @Test
    void everyConfiguredLimitIsACodedErrorAndRequestsWithinThemRun() {
        RequestLimits limits = new RequestLimits(8, 10, 2, 5, 1);
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(TestModels.stories260k()).limits(limits).build())) {
            int[] shortPrompt = {1, 403, 407};
            int[] longPrompt = {1, 403, 407, 261, 378, 432, 383, 286, 261};
            Map<String, PromptRequest> over =
                    Map.of(
                            "prompt tokens",
                                    req(
                                            "p",
                                            longPrompt,
                                            new SamplingParams(
                                                    0, 0, 1, null, 4, List.of(), List.of(), true),
                                            List.of()),
                            "max_new_tokens",
                                    req(
                                            "n",
                                            shortPrompt,
                                            new SamplingParams(
                                                    0, 0, 1, null, 11, List.of(), List.of(), true),
                                            List.of()),
                            "stop strings",
                                    req(
                                            "s",
                                            shortPrompt,
                                            new SamplingParams(
                                                    0,
                                                    0,
                                                    1,
                                                    null,
                                                    4,
                                                    List.of("a", "b", "c"),
                                                    List.of(),
                                                    true),
                                            List.of()),
                            "stop string length",
                                    req(
                                            "l",
                                            shortPrompt,
                                            new SamplingParams(
                                                    0,
                                                    0,
                                                    1,
                                                    null,
                                                    4,
                                                    List.of("abcdef"),
                                                    List.of(),
                                                    true),
                                            List.of()),
                            "stop token ids",
                                    req(
                                            "t",
                                            shortPrompt,
                                            new SamplingParams(
                                                    0,
                                                    0,
                                                    1,
                                                    null,
                                                    4,
                                                    List.of(),
                                                    List.of(5, 6, 7),
                                                    true),
                                            List.of()),
                            "adapters",
                                    req(
                                            "a",
                                            shortPrompt,
                                            SamplingParams.greedy(4),
                                            List.of(
                                                    new AdapterRef("x", 0.5),
                                                    new AdapterRef("y", 0.5))));
            over.forEach(
                    (what, r) -> {
                        RequestException ex =
                                assertThrows(RequestException.class, () -> submit(e, r), what);
                        assertEquals(
                                ErrorCode.LIMIT_EXCEEDED, ex.code(), what + ": " + ex.getMessage());
                        assertTrue(ex.getMessage().contains("limit"), ex.getMessage());
                    });
            var ok =
                    EngineHarness.runAll(
                            e,
                            List.of(
                                    RequestProcessor.of(e)
                                            .process(
                                                    req(
                                                            "ok",
                                                            new int[] {
                                                                1, 403, 407, 261, 378, 432, 383, 286
                                                            },
                                                            new SamplingParams(
                                                                    0,
                                                                    0,
                                                                    1,
                                                                    null,
                                                                    10,
                                                                    List.of("@@@@@", "#"),
                                                                    List.of(0, 2),
                                                                    true),
                                                            List.of()))));
            assertEquals(
                    FinishReason.LENGTH,
                    ok.get("ok").reason(),
                    "a request exactly at every limit runs");
        }
    }

    private static PromptRequest req(
            String id, int[] prompt, SamplingParams p, List<AdapterRef> adapters) {
        return new PromptRequest(id, prompt, adapters, p);
    }
}
