package io.flinklora.gpu.sampling;

import io.flinklora.annotation.PublicEvolving;
import java.util.Map;

/**
 * What changes a request's logits before a token is chosen, as vLLM and the OpenAI API define them:
 * {@code logitBias} added to the named tokens; {@code repetitionPenalty} (1 is off) divides
 * positive and multiplies negative logits of every token already in the prompt or the output;
 * {@code presencePenalty} is subtracted once from every token already generated and {@code
 * frequencyPenalty} once per time it was generated; then, after the temperature, {@code minP} (0 is
 * off) drops tokens less likely than minP times the most likely one.
 */
@PublicEvolving
public record LogitAdjustments(
        double minP,
        double repetitionPenalty,
        double presencePenalty,
        double frequencyPenalty,
        Map<Integer, Double> logitBias) {
    public static final LogitAdjustments NONE = new LogitAdjustments(0, 1, 0, 0, Map.of());

    public LogitAdjustments {
        logitBias = logitBias == null ? Map.of() : Map.copyOf(logitBias);
    }

    /** True when something changes the logits themselves (min_p alone only filters). */
    public boolean changesLogits() {
        return repetitionPenalty != 1
                || presencePenalty != 0
                || frequencyPenalty != 0
                || !logitBias.isEmpty();
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
    }
}
