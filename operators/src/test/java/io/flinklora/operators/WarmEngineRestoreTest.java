package io.flinklora.operators;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineStats;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/**
 * A restarted attempt in the same process takes its predecessor's engine: no model reload, and the
 * restored requests' re-prefill reuses the KV blocks still in its prefix cache - with the same
 * tokens.
 */
class WarmEngineRestoreTest {
    private static final String STORY =
            "Once upon a time, there was a little girl named Lily. She liked to play in"
                    + " the park with her big red ball. One day, she saw a dog.";

    // Its own settings (max batch 6), so no other test's engine is taken from the pool.
    private static GenerationSettings settings() {
        return GenerationSettings.builder(
                        io.flinklora.gpu.engine.EngineConfig.builder(
                                        GenerationOperatorRestoreTest.model())
                                .maxRunning(6))
                .device("cpu")
                .build();
    }

    private static List<GenerationRequest> requests() {
        List<GenerationRequest> out = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            out.add(
                    GenerationRequest.newBuilder()
                            .setRequestId("w" + i)
                            .setPrompt(STORY + " Then " + i)
                            .setMaxNewTokens(24)
                            .setIgnoreEos(true)
                            .setTemperature(0.0)
                            .build());
        }
        return out;
    }

    private static KeyedOneInputStreamOperatorTestHarness<String, GenerationRequest, TokenEvent>
            harness() throws Exception {
        return GenerationOperatorRestoreTest.harness(settings(), 1, 0);
    }

    private static Engine engineOf(
            KeyedOneInputStreamOperatorTestHarness<String, GenerationRequest, TokenEvent> h) {
        return ((GenerationOperator) h.getOperator()).engineForTest();
    }

    @Test
    void aRestoredAttemptReusesTheWarmEngineAndItsCachedPrefixes() throws Exception {
        Map<String, List<Integer>> uninterrupted;
        Engine first;
        try (var h = harness()) {
            h.open();
            for (GenerationRequest r : requests()) {
                h.processElement(new StreamRecord<>(r));
            }
            first = engineOf(h);
            for (long time = 1;
                    time < 2_000 && GenerationOperatorRestoreTest.completions(h) < 4;
                    time++) {
                h.setProcessingTime(time);
            }
            assertEquals(4, GenerationOperatorRestoreTest.completions(h));
            uninterrupted = GenerationOperatorRestoreTest.tokens(h.extractOutputValues());
        }
        OperatorSubtaskState[] snapshot = new OperatorSubtaskState[1];
        List<TokenEvent> before = new ArrayList<>();
        try (var h = harness()) {
            h.open();
            assertSame(first, engineOf(h), "the next attempt took the released engine");
            h.setProcessingTime(5);
            for (GenerationRequest r : requests()) {
                h.processElement(
                        new StreamRecord<>(
                                GenerationRequest.newBuilder(r)
                                        .setRequestId("again-" + r.getRequestId())
                                        .build()));
            }
            // The first step is due at 4, the snapshot at 5, the steps after it at 6 and later: a
            // snapshot
            // mid-generation; what follows it is not committed and is dropped, as a failover would.
            h.getProcessingTimeService()
                    .registerTimer(
                            5,
                            ts -> {
                                snapshot[0] = h.snapshot(1L, ts);
                                before.addAll(h.extractOutputValues());
                            });
            h.setProcessingTime(7);
        }
        assertTrue(
                before.size() >= 4 && before.size() < 4 * 24,
                "the snapshot is mid-generation: " + before.size());
        long cachedBefore;
        try (var h = harness()) {
            h.setup();
            h.initializeState(snapshot[0]);
            h.open();
            Engine warm = engineOf(h);
            assertSame(first, warm, "the restored attempt took the released engine");
            cachedBefore = warm.stats().cachedPromptTokens();
            for (long time = 10;
                    time < 2_000 && GenerationOperatorRestoreTest.completions(h) < 4;
                    time++) {
                h.setProcessingTime(time);
            }
            assertEquals(
                    4,
                    GenerationOperatorRestoreTest.completions(h),
                    "the restored requests completed");
            before.addAll(h.extractOutputValues());
            EngineStats after = warm.stats();
            int storyBlocks = warm.tokenizer().encode(STORY).length / 16;
            assertTrue(
                    after.cachedPromptTokens() - cachedBefore >= 4L * storyBlocks * 16,
                    "re-prefill of the restored requests came from the cache: "
                            + (after.cachedPromptTokens() - cachedBefore)
                            + " tokens");
        }
        Map<String, List<Integer>> resumed = GenerationOperatorRestoreTest.tokens(before);
        for (String id : uninterrupted.keySet()) {
            assertEquals(uninterrupted.get(id), resumed.get("again-" + id), id);
        }
    }

    @Test
    void anEngineWhoseStepFailedIsNotReused() throws Exception {
        Engine failed;
        try (var h = harness()) {
            h.open();
            failed = engineOf(h);
            ((GenerationOperator) h.getOperator()).markEngineFailedForTest();
        }
        try (var h = harness()) {
            h.open();
            assertNotSame(failed, engineOf(h));
        }
    }
}
