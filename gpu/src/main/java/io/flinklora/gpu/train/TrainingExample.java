package io.flinklora.gpu.train;

import io.flinklora.annotation.Internal;

/**
 * One training sequence: token ids (BOS first) and where the loss starts. Token {@code ids[i]}
 * counts towards the loss, predicted from {@code ids[0..i-1]}, when {@code i >= lossFrom}: a prompt
 * before {@code lossFrom} is context only (a story opener, a story to label).
 */
@Internal
public record TrainingExample(int[] ids, int lossFrom) {
    public TrainingExample {
        if (ids.length < 2 || lossFrom < 1 || lossFrom >= ids.length) {
            throw new IllegalArgumentException(
                    "an example needs at least one predicted token: "
                            + ids.length
                            + " tokens, loss from "
                            + lossFrom);
        }
    }

    /** Tokens that count towards the loss. */
    public int predicted() {
        return ids.length - lossFrom;
    }
}
