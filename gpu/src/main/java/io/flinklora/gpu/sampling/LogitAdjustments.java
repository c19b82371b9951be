package io.flinklora.gpu.sampling;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import java.util.Map;

/**
 * What changes a request's logits before a token is chosen, as vLLM and the OpenAI API define them:
 * {@code logitBias} added to the named tokens; {@code repetitionPenalty} (1 is off) divides
 * positive and multiplies negative logits of every token already in the prompt or the output;
 * {@code presencePenalty} is subtracted once from every token already generated and {@code
 * frequencyPenalty} once per time it was generated; {@code noRepeatNgramSize} n (0 is off) bans, as
 * transformers' {@code no_repeat_ngram_size} does, every token that would complete an n-gram
 * already in the prompt or the output; then, after the temperature, {@code minP} (0 is off) drops
 * tokens less likely than minP times the most likely one.
 */
@PublicEvolving
public record LogitAdjustments(
        double minP,
        double repetitionPenalty,
        double presencePenalty,
        double frequencyPenalty,
        Map<Integer, Double> logitBias,
        int noRepeatNgramSize) {
    public static final LogitAdjustments NONE = new LogitAdjustments(0, 1, 0, 0, Map.of());

    /** The longest n-gram no_repeat_ngram_size may name. */
    public static final int MAX_NGRAM = 64;

    public LogitAdjustments {
        logitBias = logitBias == null ? Map.of() : Map.copyOf(logitBias);
    }

    /** Without an n-gram ban. */
    public LogitAdjustments(
            double minP,
            double repetitionPenalty,
            double presencePenalty,
            double frequencyPenalty,
            Map<Integer, Double> logitBias) {
        this(minP, repetitionPenalty, presencePenalty, frequencyPenalty, logitBias, 0);
    }

    /** True when something changes the logits themselves (min_p alone only filters). */
    public boolean changesLogits() {
        return repetitionPenalty != 1
                || presencePenalty != 0
                || frequencyPenalty != 0
                || !logitBias.isEmpty()
                || noRepeatNgramSize > 0;
    }

    /** Checks every value against its range; throws a coded {@link RequestException}. */
    public void validate(int vocabSize) {
        if (!(minP >= 0 && minP <= 1)) {
            throw invalid("min_p must be in [0, 1], got " + minP);
        }
        if (noRepeatNgramSize < 0 || noRepeatNgramSize > MAX_NGRAM) {
            throw invalid(
                    "no_repeat_ngram_size must be in [0, "
                            + MAX_NGRAM
                            + "] (0 is off), got "
                            + noRepeatNgramSize);
        }
        if (!(repetitionPenalty > 0 && repetitionPenalty <= 100)) {
            throw invalid(
                    "repetition_penalty must be in (0, 100] (1 is off), got " + repetitionPenalty);
        }
        if (!(presencePenalty >= -2 && presencePenalty <= 2)) {
            throw invalid("presence_penalty must be in [-2, 2], got " + presencePenalty);
        }
        if (!(frequencyPenalty >= -2 && frequencyPenalty <= 2)) {
            throw invalid("frequency_penalty must be in [-2, 2], got " + frequencyPenalty);
        }
        if (logitBias.size() > vocabSize) {
            throw new RequestException(
                    ErrorCode.LIMIT_EXCEEDED,
                    "logit_bias names more tokens than the vocabulary has");
        }
        for (var b : logitBias.entrySet()) {
            if (b.getKey() == null || b.getKey() < 0 || b.getKey() >= vocabSize) {
                throw invalid(
                        "logit_bias token id "
                                + b.getKey()
                                + " is outside the vocabulary (0.."
                                + (vocabSize - 1)
                                + ")");
            }
            if (b.getValue() == null || !(b.getValue() >= -100 && b.getValue() <= 100)) {
                throw invalid(
                        "logit_bias values must be in [-100, 100], got "
                                + b.getValue()
                                + " for token "
                                + b.getKey());
            }
        }
    }

    private static RequestException invalid(String message) {
        return new RequestException(ErrorCode.INVALID_PARAMETER, message);
    }

    public boolean isNone() {
        return !changesLogits() && minP == 0;
    }

    /**
     * Applies bias and penalties in place to {@code logits[offset .. offset+vocab)}, given the
     * sequence's tokens ({@code tokens[0 .. length)}, the first {@code promptLength} of them the
     * prompt).
     */
    public void apply(
            float[] logits, int offset, int vocab, int[] tokens, int promptLength, int length) {
        for (Map.Entry<Integer, Double> b : logitBias.entrySet()) {
            logits[offset + b.getKey()] += b.getValue().floatValue();
        }
        if (repetitionPenalty != 1) {
            boolean[] seen = new boolean[vocab];
            for (int i = 0; i < length; i++) {
                seen[tokens[i]] = true;
            }
            for (int t = 0; t < vocab; t++) {
                if (seen[t]) {
                    float l = logits[offset + t];
                    logits[offset + t] =
                            (float) (l > 0 ? l / repetitionPenalty : l * repetitionPenalty);
                }
            }
        }
        if (presencePenalty != 0 || frequencyPenalty != 0) {
            int[] count = new int[vocab];
            for (int i = promptLength; i < length; i++) {
                count[tokens[i]]++;
            }
            for (int t = 0; t < vocab; t++) {
                if (count[t] > 0) {
                    logits[offset + t] -= (float) (presencePenalty + frequencyPenalty * count[t]);
                }
            }
        }
        if (noRepeatNgramSize > 0) {
            banRepeatedNgrams(logits, offset, tokens, length);
        }
    }

    /**
     * transformers' NoRepeatNGramLogitsProcessor: with n = noRepeatNgramSize and the sequence's
     * last n-1 tokens as a prefix, every token that followed that prefix in an earlier n-gram gets
     * -inf (nothing is banned while the sequence is shorter than n-1 tokens).
     */
    private void banRepeatedNgrams(float[] logits, int offset, int[] tokens, int length) {
        int n = noRepeatNgramSize;
        if (length + 1 < n) {
            return;
        }
        int prefix = length - (n - 1);
        for (int start = 0; start + n <= length; start++) {
            boolean same = true;
            for (int j = 0; j < n - 1 && same; j++) {
                same = tokens[start + j] == tokens[prefix + j];
            }
            if (same) {
                logits[offset + tokens[start + n - 1]] = Float.NEGATIVE_INFINITY;
            }
        }
    }
}
