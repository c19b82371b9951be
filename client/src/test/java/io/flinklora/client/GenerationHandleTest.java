package io.flinklora.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.TokenEvent;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/**
 * How a handle turns reply records, as they arrive from Kafka, into an ordered stream and a
 * completion.
 */
class GenerationHandleTest {

    static TokenEvent token(int index, int id, boolean last) {
        return TokenEvent.newBuilder()
                .setRequestId("r")
                .setIndex(index)
                .setTokenId(id)
                .setText("t" + id)
                .setFinished(last)
                .setFinishReason(last ? "length" : null)
                .setEmittedAt(Instant.EPOCH)
                .build();
    }

    static Completion completion(String reason, int n) {
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ids.add(i);
        }
        return Completion.newBuilder()
                .setRequestId("r")
                .setText("")
                .setTokenIds(ids)
                .setPromptTokens(1)
                .setCompletionTokens(n)
                .setFinishReason(reason)
                .setTimeToFirstTokenMs(0)
                .setTotalLatencyMs(0)
                .build();
    }

    @Test
    void tokensReachTheListenerInIndexOrderOnceEachAndTheCompletionWaitsForTheLastOne()
            throws Exception {
        List<Integer> seen = new ArrayList<>();
        List<String> cancels = new ArrayList<>();
        GenerationHandle h = new GenerationHandle("r", t -> seen.add(t.getIndex()), cancels::add);
        h.token(token(1, 11, false));
        h.token(token(0, 10, false));
        h.token(token(0, 10, false)); // an at-least-once replay
        h.completed(completion("length", 3));
        assertFalse(h.completion().isDone(), "the completion came before the last token");
        h.token(token(2, 12, true));
        h.token(token(1, 11, false));
        assertEquals(List.of(0, 1, 2), seen);
        assertEquals(3, h.completion().get().getCompletionTokens());
        assertEquals(List.of(10, 11, 12), h.tokens().stream().map(TokenEvent::getTokenId).toList());
        assertFalse(h.cancel(), "an ended request cannot be cancelled");
        assertEquals(List.of(), cancels);
    }

    @Test
    void anErrorRecordFailsTheHandleWithItsCode() {
        GenerationHandle h = new GenerationHandle("r", t -> {}, id -> {});
        h.failed(
                GenerationError.newBuilder()
                        .setRequestId("r")
                        .setCode("UNKNOWN_ADAPTER")
                        .setMessage("no adapter x")
                        .setOccurredAt(Instant.EPOCH)
                        .build());
        ExecutionException e =
                org.junit.jupiter.api.Assertions.assertThrows(
                        ExecutionException.class, () -> h.completion().get());
        assertEquals(
                "UNKNOWN_ADAPTER",
                assertInstanceOf(GenerationFailedException.class, e.getCause()).code());
    }

    @Test
    void cancellingOrTimingOutAsksTheJobToCancelOnce() {
        List<String> cancels = new ArrayList<>();
        GenerationHandle a = new GenerationHandle("a", t -> {}, cancels::add);
        assertTrue(a.cancel());
        assertFalse(a.cancel());
        assertTrue(a.completion().isCompletedExceptionally());
        org.junit.jupiter.api.Assertions.assertThrows(
                CancellationException.class, () -> a.completion().join());
        assertEquals(List.of("a"), cancels);

        GenerationHandle b = new GenerationHandle("b", t -> {}, cancels::add);
        assertTrue(b.timedOut(Duration.ofSeconds(1)));
        assertFalse(b.timedOut(Duration.ofSeconds(1)));
        ExecutionException e =
                org.junit.jupiter.api.Assertions.assertThrows(
                        ExecutionException.class, () -> b.completion().get());
        assertInstanceOf(TimeoutException.class, e.getCause());
    }

    @Test
    void aCancelledCompletionEndsTheHandleWithoutALastToken() throws Exception {
        GenerationHandle h = new GenerationHandle("r", t -> {}, id -> {});
        h.token(token(0, 10, false));
        h.completed(completion("cancelled", 1));
        assertEquals("cancelled", h.completion().get().getFinishReason());
    }
}
