package io.flinklora.gpu.sampling;

import io.flinklora.annotation.PublicEvolving;
import java.util.List;

/**
 * A generated token's log-probability under the model (log-softmax of the raw logits, before any
 * penalty, bias or temperature) and the {@code top} most likely tokens' at that position, most
 * likely first (ties: lower token id first).
 */
@PublicEvolving
public record TokenLogprobs(int tokenId, double logprob, List<Alternative> top) {
    public TokenLogprobs {
        top = List.copyOf(top);
    }

    /** One of the most likely tokens at a position. */
    public record Alternative(int tokenId, double logprob) {}
}
