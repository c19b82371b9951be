package io.flinklora.operators;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.junit.jupiter.api.Test;

/** Cancel records and reply topics in the keyed operator harness. */
class GenerationOperatorCancelTest {

    @Test
    void aCancelStopsItsRequestAtOnceWithACancelledCompletionAndTheOthersFinish() throws Exception {
        try (var h = GenerationOperatorRestoreTest.harness(1, 0)) {
            h.open();
            for (int i = 0; i < 3; i++) {
                h.processElement(
                        new StreamRecord<>(
                                GenerationRequest.newBuilder()
                                        .setRequestId("c" + i)
                                        .setPrompt("Once upon a time")
                                        .setMaxNewTokens(40)
                                        .setIgnoreEos(true)
                                        .setReplyTopic(i == 0 ? "replies.a" : null)
                                        .build()));
            }
            // The first step is due at now - 1 and each step schedules the next at (time of the
            // advance) - 1:
            // a timer at now fires after the first step, before the rest (as
            // GenerationOperatorRestoreTest does).
            long t0 = h.getProcessingTime();
            int[] before = new int[1];
            h.getProcessingTimeService()
                    .registerTimer(
                            t0,
                            ts -> {
                                before[0] =
                                        (int)
                                                h.extractOutputValues().stream()
                                                        .filter(e -> e.getRequestId().equals("c0"))
                                                        .count();
                                h.processElement(
                                        new StreamRecord<>(
                                                GenerationRequest.newBuilder()
                                                        .setRequestId("c0")
                                                        .setCancel(true)
                                                        .build()));
                                h.processElement(
                                        new StreamRecord<>(
                                                GenerationRequest.newBuilder()
                                                        .setRequestId("unknown")
                                                        .setCancel(true)
                                                        .build()));
                            });
            long t = t0 + 2;
            h.setProcessingTime(t);
            assertTrue(
                    before[0] > 0 && before[0] < 40,
                    "c0 was mid-generation at the cancel: " + before[0]);
            for (int i = 0; i < 200 && GenerationOperatorRestoreTest.completions(h) < 3; i++) {
                h.setProcessingTime(++t);
            }
            List<TokenEvent> events = h.extractOutputValues();
            assertEquals(
                    before[0],
                    events.stream().filter(e -> e.getRequestId().equals("c0")).count(),
                    "no token of c0 after its cancel");
            assertTrue(
                    events.stream()
                            .filter(e -> e.getRequestId().equals("c0"))
                            .allMatch(e -> "replies.a".equals(e.getReplyTopic())),
                    "c0's events carry its reply topic");
            Map<String, Completion> done =
                    h.getSideOutput(Outputs.COMPLETIONS).stream()
                            .map(r -> r.getValue())
                            .collect(Collectors.toMap(Completion::getRequestId, c -> c));
            assertEquals(3, done.size(), "one completion each, none for the unknown id");
            assertEquals("cancelled", done.get("c0").getFinishReason());
            assertEquals(before[0], done.get("c0").getCompletionTokens());
            assertEquals("replies.a", done.get("c0").getReplyTopic());
            assertEquals("length", done.get("c1").getFinishReason());
            assertEquals(40, done.get("c2").getCompletionTokens());
            assertEquals(null, done.get("c1").getReplyTopic());
        }
    }
}
