package io.flinklora.operators;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/**
 * min_p, the penalties, logit_bias, no_repeat_ngram_size and min_tokens (added after state v5: no
 * state change) and logprobs survive a snapshot and restore: the restored run's tokens, per-token
 * logprobs and completions equal an uninterrupted run's.
 */
class SamplingOptionsRestoreTest {
    private static final int NEW_TOKENS = 24;
    private static final int MIN_TOKENS = 10;

    static List<GenerationRequest> requests() {
        return List.of(
                GenerationRequest.newBuilder()
                        .setRequestId("pen")
                        .setPrompt("Lily and Ben went to the park to")
                        .setMaxNewTokens(NEW_TOKENS)
                        .setIgnoreEos(true)
                        .setRepetitionPenalty(1.4)
                        .setLogprobs(3)
                        .build(),
                GenerationRequest.newBuilder()
                        .setRequestId("pres")
                        .setPrompt("Once upon a time")
                        .setMaxNewTokens(NEW_TOKENS)
                        .setIgnoreEos(true)
                        .setPresencePenalty(0.8)
                        .setFrequencyPenalty(0.4)
                        .setLogitBias(Map.of("13", -100.0))
                        .setLogprobs(0)
                        .build(),
                GenerationRequest.newBuilder()
                        .setRequestId("minp")
                        .setPrompt("One day, a little bird")
                        .setMaxNewTokens(NEW_TOKENS)
                        .setIgnoreEos(true)
                        .setTemperature(1.2)
                        .setSeed(5L)
                        .setMinP(0.1)
                        .setLogprobs(2)
                        .build(),
                GenerationRequest.newBuilder()
                        .setRequestId("ngram")
                        .setPrompt("Lily and Ben went to the park to")
                        .setMaxNewTokens(NEW_TOKENS)
                        .setIgnoreEos(true)
                        .setNoRepeatNgramSize(2)
                        .build(),
                // EOS made near certain: min_tokens alone keeps it out of the first MIN_TOKENS.
                GenerationRequest.newBuilder()
                        .setRequestId("min")
                        .setPrompt("Once upon a time")
                        .setMaxNewTokens(NEW_TOKENS)
                        .setLogitBias(Map.of("2", 100.0))
                        .setMinTokens(MIN_TOKENS)
                        .build());
    }

    static void feed(
            KeyedOneInputStreamOperatorTestHarness<String, GenerationRequest, TokenEvent> h)
            throws Exception {
        for (GenerationRequest r : requests()) {
            h.processElement(new StreamRecord<>(r));
        }
    }

    static Map<String, List<TokenEvent>> byRequest(List<TokenEvent> events) {
        Map<String, List<TokenEvent>> out = new TreeMap<>();
        events.forEach(e -> out.computeIfAbsent(e.getRequestId(), k -> new ArrayList<>()).add(e));
        return out;
    }

    @Test
    void optionsAndLogprobsResumeAfterARestoreAsAnUninterruptedRunGivesThem() throws Exception {
        Map<String, List<TokenEvent>> uninterrupted;
        Map<String, Completion> uninterruptedDone = new TreeMap<>();
        try (var h = GenerationOperatorRestoreTest.harness(1, 0)) {
            h.open();
            feed(h);
            GenerationOperatorRestoreTest.runToCompletion(h, requests().size());
            uninterrupted = byRequest(h.extractOutputValues());
            h.getSideOutput(Outputs.COMPLETIONS)
                    .forEach(r -> uninterruptedDone.put(r.getValue().getRequestId(), r.getValue()));
        }
        // The bias of -100 keeps token 13 (a newline) out, and logprobs came with every token.
        assertTrue(uninterrupted.get("pres").stream().noneMatch(e -> e.getTokenId() == 13));
        assertEquals(3, uninterrupted.get("pen").get(0).getTopLogprobs().size());
        assertEquals(NEW_TOKENS, uninterruptedDone.get("minp").getLogprobs().size());
        List<Integer> ngram =
                uninterrupted.get("ngram").stream().map(TokenEvent::getTokenId).toList();
        java.util.Set<List<Integer>> pairs = new java.util.HashSet<>();
        for (int i = 0; i + 1 < ngram.size(); i++) {
            assertTrue(pairs.add(ngram.subList(i, i + 2)), "no 2-gram twice: " + ngram);
        }
        List<Integer> min = uninterrupted.get("min").stream().map(TokenEvent::getTokenId).toList();
        assertEquals(MIN_TOKENS + 1, min.size(), "EOS right after min_tokens: " + min);
        assertEquals(2, min.get(MIN_TOKENS));
        assertTrue(min.subList(0, MIN_TOKENS).stream().noneMatch(t -> t == 2), min.toString());
        assertEquals("stop", uninterruptedDone.get("min").getFinishReason());

        List<TokenEvent> before = new ArrayList<>();
        OperatorSubtaskState snapshot;
        try (var h = GenerationOperatorRestoreTest.harness(1, 0)) {
            h.open();
            feed(h);
            snapshot = GenerationOperatorRestoreTest.snapshotAfterFirstStep(h, before);
        }
        Map<String, List<TokenEvent>> resumed = byRequest(before);
        Map<String, Completion> done = new TreeMap<>();
        try (var h = GenerationOperatorRestoreTest.harness(1, 0)) {
            h.setup();
            h.initializeState(snapshot);
            h.open();
            GenerationOperatorRestoreTest.runToCompletion(h, requests().size());
            h.extractOutputValues().forEach(e -> resumed.get(e.getRequestId()).add(e));
            h.getSideOutput(Outputs.COMPLETIONS)
                    .forEach(r -> done.put(r.getValue().getRequestId(), r.getValue()));
        }
        for (String id : uninterrupted.keySet()) {
            List<TokenEvent> want = uninterrupted.get(id);
            List<TokenEvent> got = resumed.get(id);
            assertTrue(
                    before.stream().filter(e -> e.getRequestId().equals(id)).count() < want.size(),
                    id + " mid-generation");
            assertEquals(
                    want.stream().map(TokenEvent::getTokenId).toList(),
                    got.stream().map(TokenEvent::getTokenId).toList(),
                    id);
            for (int i = 0; i < want.size(); i++) {
                if (want.get(i).getLogprob() == null) {
                    assertEquals(null, got.get(i).getLogprob(), id + " asked for no logprobs");
                } else {
                    assertEquals(
                            want.get(i).getLogprob(),
                            got.get(i).getLogprob(),
                            1e-4,
                            id + " logprob " + i);
                }
                assertEquals(
                        want.get(i).getTopLogprobs().stream().map(l -> l.getTokenId()).toList(),
                        got.get(i).getTopLogprobs().stream().map(l -> l.getTokenId()).toList(),
                        id + " top " + i);
            }
            // The completion after the restore carries every token's logprobs, those before the
            // snapshot too.
            assertEquals(uninterruptedDone.get(id).getTokenIds(), done.get(id).getTokenIds());
            int withLogprobs = id.equals("ngram") || id.equals("min") ? 0 : NEW_TOKENS;
            assertEquals(withLogprobs, done.get(id).getLogprobs().size());
            for (int i = 0; i < withLogprobs; i++) {
                assertEquals(
                        uninterruptedDone.get(id).getLogprobs().get(i).getLogprob(),
                        done.get(id).getLogprobs().get(i).getLogprob(),
                        1e-4,
                        id + " completion logprob " + i);
            }
        }
    }
}
