package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.sampling.LogitAdjustments;
import io.flinklora.gpu.sampling.SamplingParams;
import io.flinklora.gpu.sampling.TokenLogprobs;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Per-token log-probabilities as the engine reports them, against the log-softmax of its own
 * logits.
 */
class LogprobsTest {

    @Test
    void aTokensLogprobsAreTheLogSoftmaxOfTheEnginesLogitsAndTheyDoNotChangeTheTokens() {
        try (Engine engine =
                Engine.open(EngineConfig.builder(TestModels.stories260k()).maxRunning(4).build())) {
            int[] prompt = engine.tokenizer().encode("Once upon a time");
            SamplingParams plain = SamplingParams.greedy(6).withIgnoreEos(true);
            engine.submit(new EngineRequest("lp", prompt, List.of(), plain.withLogprobs(5)));
            float[] logits = engine.logitsForTest(engine.scheduleForTest())[0];
            List<TokenEvent> events = new ArrayList<>();
            while (engine.hasWork()) {
                events.addAll(engine.step().events());
            }
            double max = Double.NEGATIVE_INFINITY;
            for (float l : logits) {
                max = Math.max(max, l);
            }
            double sum = 0;
            for (float l : logits) {
                sum += Math.exp(l - max);
            }
            double logZ = max + Math.log(sum);
            TokenLogprobs first = events.get(0).logprobs();
            assertEquals(logits[events.get(0).tokenId()] - logZ, first.logprob(), 1e-5);
            assertEquals(5, first.top().size());
            assertEquals(
                    events.get(0).tokenId(),
                    first.top().get(0).tokenId(),
                    "greedy picks the most likely token");
            for (TokenLogprobs.Alternative a : first.top()) {
                assertEquals(logits[a.tokenId()] - logZ, a.logprob(), 1e-5);
            }
            for (int i = 1; i < first.top().size(); i++) {
                assertEquals(
                        true, first.top().get(i - 1).logprob() >= first.top().get(i).logprob());
            }
            events.forEach(e -> assertEquals(e.tokenId(), e.logprobs().tokenId()));

            engine.submit(new EngineRequest("plain", prompt, List.of(), plain));
            List<Integer> plainIds = new ArrayList<>();
            while (engine.hasWork()) {
                engine.step()
                        .events()
                        .forEach(
                                e -> {
                                    assertNull(e.logprobs(), "none unless asked for");
                                    plainIds.add(e.tokenId());
                                });
            }
            assertEquals(plainIds, events.stream().map(TokenEvent::tokenId).toList());
        }
    }

    @Test
    void aRepetitionPenaltyChangesWhatGreedyDecodingRepeats() {
        try (Engine engine =
                Engine.open(EngineConfig.builder(TestModels.stories260k()).maxRunning(4).build())) {
            int[] prompt = engine.tokenizer().encode("Lily and Ben went to the park to");
            SamplingParams greedy = SamplingParams.greedy(48).withIgnoreEos(true);
            List<Integer> plain = run(engine, greedy);
            List<Integer> penalized =
                    run(
                            engine,
                            greedy.withAdjustments(new LogitAdjustments(0, 1.8, 0, 0, Map.of())));
            long plainDistinct = plain.stream().distinct().count();
            long penalizedDistinct = penalized.stream().distinct().count();
            assertEquals(
                    true,
                    penalizedDistinct > plainDistinct,
                    "more distinct tokens with the penalty: "
                            + penalizedDistinct
                            + " vs "
                            + plainDistinct);
        }
    }

    private static List<Integer> run(Engine engine, SamplingParams p) {
        int[] prompt = engine.tokenizer().encode("Lily and Ben went to the park to");
        engine.submit(new EngineRequest("r", prompt, List.of(), p));
        List<Integer> ids = new ArrayList<>();
        while (engine.hasWork()) {
            engine.step().events().forEach(e -> ids.add(e.tokenId()));
        }
        return ids;
    }
}
