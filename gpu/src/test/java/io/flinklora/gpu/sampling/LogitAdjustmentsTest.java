package io.flinklora.gpu.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Each logit adjustment against a small case worked out by hand (vLLM / OpenAI semantics). */
class LogitAdjustmentsTest {
    // Prompt [0], generated [1, 2, 2]: token 3 never appeared.
    private static final int[] TOKENS = {0, 1, 2, 2};
    private static final int PROMPT = 1;

    private static float[] adjusted(LogitAdjustments a, float... logits) {
        float[] row = logits.clone();
        a.apply(row, 0, row.length, TOKENS, PROMPT, TOKENS.length);
        return row;
    }

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfPromptAndOutputTokens() {
        float[] out =
                adjusted(new LogitAdjustments(0, 2.0, 0, 0, Map.of()), 2.0f, -1.0f, 0.5f, 3.0f);
        // 0 (prompt): 2/2; 1 (output): -1*2; 2 (output): 0.5/2; 3: untouched.
        assertArrayEquals(new float[] {1.0f, -2.0f, 0.25f, 3.0f}, out);
    }

    @Test
    void presenceAndFrequencyPenaltiesCountOutputTokensOnly() {
        float[] out =
                adjusted(new LogitAdjustments(0, 1, 0.5, 0.25, Map.of()), 2.0f, -1.0f, 0.5f, 3.0f);
        // 0 is in the prompt only: untouched. 1 once: -1 - (0.5 + 0.25). 2 twice: 0.5 - (0.5 +
        // 0.5).
        assertArrayEquals(new float[] {2.0f, -1.75f, -0.5f, 3.0f}, out);
    }

    @Test
    void logitBiasIsAddedBeforeThePenalties() {
        float[] out =
                adjusted(
                        new LogitAdjustments(0, 2.0, 0, 0, Map.of(1, 5.0, 3, -100.0)),
                        2.0f,
                        -1.0f,
                        0.5f,
                        3.0f);
        // 1: (-1 + 5) = 4 > 0, then / 2. 3: 3 - 100, not seen.
        assertArrayEquals(new float[] {1.0f, 2.0f, 0.25f, -97.0f}, out);
    }

    private static LogitAdjustments ngram(int n) {
        return new LogitAdjustments(0, 1, 0, 0, Map.of(), n);
    }

    private static float[] banned(LogitAdjustments a, int[] tokens) {
        float[] row = new float[8];
        a.apply(row, 0, row.length, tokens, 1, tokens.length);
        return row;
    }

    @Test
    void noRepeatNgramSizeBansTheTokensThatWouldCompleteAnEarlierNgram() {
        float x = Float.NEGATIVE_INFINITY;
        int[] tokens = {5, 6, 7, 5, 6};
        // n = 3: the last two tokens (5, 6) were followed by 7 before.
        assertArrayEquals(new float[] {0, 0, 0, 0, 0, 0, 0, x}, banned(ngram(3), tokens));
        // n = 2: the last token 6 was followed by 7.
        assertArrayEquals(new float[] {0, 0, 0, 0, 0, 0, 0, x}, banned(ngram(2), tokens));
        // n = 1: every token already in the sequence.
        assertArrayEquals(new float[] {0, 0, 0, 0, 0, x, x, x}, banned(ngram(1), tokens));
        // n = 4: (7, 5, 6) never came before: nothing banned.
        assertArrayEquals(new float[8], banned(ngram(4), tokens));
        // Two earlier 2-grams after the same token: both followers banned.
        assertArrayEquals(
                new float[] {0, x, x, 0, 0, 0, 0, 0}, banned(ngram(2), new int[] {3, 1, 3, 2, 3}));
        // Shorter than n - 1 tokens: nothing to compare.
        assertArrayEquals(new float[8], banned(ngram(3), new int[] {5}));
        // 0 is off.
        assertArrayEquals(new float[8], banned(ngram(0), tokens));
    }

    @Test
    void noRepeatNgramSizeOutsideItsRangeIsRefused() {
        for (int n : new int[] {-1, LogitAdjustments.MAX_NGRAM + 1}) {
            io.flinklora.gpu.errors.RequestException e =
                    org.junit.jupiter.api.Assertions.assertThrows(
                            io.flinklora.gpu.errors.RequestException.class,
                            () -> ngram(n).validate(32));
            assertEquals(io.flinklora.gpu.errors.ErrorCode.INVALID_PARAMETER, e.code());
        }
        ngram(LogitAdjustments.MAX_NGRAM).validate(32);
    }

    @Test
    void biasAndPenaltiesChangeTheGreedyChoice() {
        float[] logits = {2.0f, -1.0f, 0.5f, 3.0f};
        SamplingParams greedy = SamplingParams.greedy(8);
        assertEquals(3, Sampler.choose(logits, 0, 4, greedy, 1, 0, TOKENS, PROMPT, TOKENS.length));
        SamplingParams biased =
                greedy.withAdjustments(new LogitAdjustments(0, 1, 0, 0, Map.of(2, 3.0)));
        assertEquals(2, Sampler.choose(logits, 0, 4, biased, 1, 0, TOKENS, PROMPT, TOKENS.length));
        assertArrayEquals(
                new float[] {2.0f, -1.0f, 0.5f, 3.0f},
                logits,
                "the caller's logits are not changed");
    }

    @Test
    void minPDropsTokensLessLikelyThanMinPTimesTheMostLikely() {
        // At temperature 1: relative probabilities 1, 0.5 and 0.05.
        float[] logits = {0f, (float) Math.log(0.5), (float) Math.log(0.05)};
        SamplingParams plain = new SamplingParams(1.0, 0, 1.0, 0L, 8, List.of(), List.of(), false);
        SamplingParams minP = plain.withAdjustments(new LogitAdjustments(0.1, 1, 0, 0, Map.of()));
        int[] plainCounts = new int[3];
        int[] minPCounts = new int[3];
        for (int seed = 0; seed < 4000; seed++) {
            plainCounts[Sampler.sample(logits, 0, 3, plain, seed, 0)]++;
            minPCounts[Sampler.sample(logits, 0, 3, minP, seed, 0)]++;
        }
        assertTrue(
                plainCounts[2] > 60,
                "without min_p the unlikely token is drawn about 3% of the time: "
                        + plainCounts[2]);
        assertEquals(0, minPCounts[2], "min_p 0.1 never draws a token at 0.05 of the most likely");
        // The remaining two keep their ratio 2:1.
        double ratio = (double) minPCounts[0] / minPCounts[1];
        assertTrue(ratio > 1.8 && ratio < 2.2, "ratio " + ratio);
    }

    @Test
    void logprobsAreTheLogSoftmaxOfTheRawLogitsWithTheTopAlternativesInOrder() {
        float[] logits = {1.0f, 3.0f, 3.0f, -2.0f, 0.5f};
        double logZ = Math.log(Math.exp(1) + 2 * Math.exp(3) + Math.exp(-2) + Math.exp(0.5));
        TokenLogprobs lp = Sampler.logprobs(logits, 0, 5, 4, 3);
        assertEquals(0.5 - logZ, lp.logprob(), 1e-6);
        assertEquals(
                List.of(1, 2, 0),
                lp.top().stream().map(TokenLogprobs.Alternative::tokenId).toList(),
                "most likely first, the tie to the lower id");
        assertEquals(3 - logZ, lp.top().get(0).logprob(), 1e-6);
        assertEquals(0, Sampler.logprobs(logits, 0, 5, 4, 0).top().size());
    }
}
