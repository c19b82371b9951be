package io.flinklora.operators;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.junit.jupiter.api.Test;

/**
 * A request's {@code priority} through the streaming operator: with room for one request at a time,
 * the urgent one is served before bulk requests that arrived first, and still is after a snapshot
 * and restore (the priority is kept in state with the sampling fields).
 */
class PriorityRestoreTest {
    private static final int NEW_TOKENS = 12;

    private static GenerationSettings oneAtATime() {
        return GenerationSettings.builder(
                        io.flinklora.gpu.engine.EngineConfig.builder(
                                        GenerationOperatorRestoreTest.model())
                                .maxRunning(1))
                .device("cpu")
                .build();
    }

    private static GenerationRequest request(String id, String prompt, int priority) {
        return GenerationRequest.newBuilder()
                .setRequestId(id)
                .setPrompt(prompt)
                .setMaxNewTokens(NEW_TOKENS)
                .setIgnoreEos(true)
                .setPriority(priority)
                .build();
    }

    /** Bulk requests first, the urgent one last: arrival order alone would serve it last. */
    private static List<GenerationRequest> requests() {
        return List.of(
                request("bulk-a", "Once upon a time", 7),
                request("bulk-b", "Tom had a big red ball.", 7),
                request("urgent", "Lily and Ben went to the park to", -1));
    }

    /** Request ids in the order their first token was emitted. */
    private static List<String> startOrder(List<TokenEvent> events) {
        List<String> order = new ArrayList<>();
        for (TokenEvent e : events) {
            if (!order.contains(e.getRequestId().toString())) {
                order.add(e.getRequestId().toString());
            }
        }
        return order;
    }

    @Test
    void theUrgentRequestIsServedFirstBeforeAndAfterARestore() throws Exception {
        List<TokenEvent> uninterrupted;
        try (var h = GenerationOperatorRestoreTest.harness(oneAtATime(), 1, 0)) {
            h.open();
            for (GenerationRequest r : requests()) {
                h.processElement(new StreamRecord<>(r));
            }
            GenerationOperatorRestoreTest.runToCompletion(h, 3);
            uninterrupted = h.extractOutputValues();
        }
        assertEquals(List.of("urgent", "bulk-a", "bulk-b"), startOrder(uninterrupted));

        // Snapshot after the first step (urgent one token in), restore, run to the end.
        List<TokenEvent> before = new ArrayList<>();
        OperatorSubtaskState snapshot;
        try (var h = GenerationOperatorRestoreTest.harness(oneAtATime(), 1, 0)) {
            h.open();
            for (GenerationRequest r : requests()) {
                h.processElement(new StreamRecord<>(r));
            }
            snapshot = GenerationOperatorRestoreTest.snapshotAfterFirstStep(h, before);
        }
        assertTrue(
                before.stream().allMatch(e -> e.getRequestId().toString().equals("urgent")),
                "only urgent ran before the snapshot");
        List<TokenEvent> after;
        try (var h = GenerationOperatorRestoreTest.harness(oneAtATime(), 1, 0)) {
            h.setup();
            h.initializeState(snapshot);
            h.open();
            GenerationOperatorRestoreTest.runToCompletion(h, 3);
            after = h.extractOutputValues();
        }
        assertEquals(List.of("urgent", "bulk-a", "bulk-b"), startOrder(after));
        List<TokenEvent> all = new ArrayList<>(before);
        all.addAll(after);
        assertEquals(
                GenerationOperatorRestoreTest.tokens(uninterrupted),
                GenerationOperatorRestoreTest.tokens(all),
                "the same tokens as the uninterrupted run");
    }
}
