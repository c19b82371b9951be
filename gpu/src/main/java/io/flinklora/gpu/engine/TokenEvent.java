package io.flinklora.gpu.engine;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.gpu.sampling.TokenLogprobs;

/**
 * One generated token of a request, as the engine emits it after a step.
 *
 * @param index 0-based position of the token among the request's generated tokens
 * @param text the new text this token completes (valid UTF-8; may be empty while a character or a
 *     possible stop string is incomplete; on the last event, whatever was held back)
 * @param finishReason null while the request goes on; set on its last event
 * @param choice for a constrained request, its single event carries the chosen label (also in
 *     {@code text}, with {@code tokenId} the label's first token) and all scores; null otherwise
 * @param logprobs the token's log-probability and its position's most likely alternatives, when the
 *     request asked for them ({@code logprobs}); null otherwise
 */
@PublicEvolving
public record TokenEvent(
        String requestId,
        int index,
        int tokenId,
        String text,
        FinishReason finishReason,
        int promptTokens,
        ChoiceResult choice,
        TokenLogprobs logprobs) {
    public TokenEvent(
            String requestId,
            int index,
            int tokenId,
            String text,
            FinishReason finishReason,
            int promptTokens) {
        this(requestId, index, tokenId, text, finishReason, promptTokens, null, null);
    }

    public TokenEvent(
            String requestId,
            int index,
            int tokenId,
            String text,
            FinishReason finishReason,
            int promptTokens,
            ChoiceResult choice) {
        this(requestId, index, tokenId, text, finishReason, promptTokens, choice, null);
    }

    public boolean finished() {
        return finishReason != null;
    }
}
