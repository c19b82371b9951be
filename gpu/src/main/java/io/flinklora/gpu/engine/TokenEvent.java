package io.flinklora.gpu.engine;

/**
 * One generated token of a request, as the engine emits it after a step.
 *
 * @param index 0-based position of the token among the request's generated tokens
 * @param text the new text this token completes (valid UTF-8; may be empty while a character or a
 *     possible stop string is incomplete; on the last event, whatever was held back)
 * @param finishReason null while the request goes on; set on its last event
 * @param choice for a constrained request, its single event carries the chosen label (also in
 *     {@code text}, with {@code tokenId} the label's first token) and all scores; null otherwise
 */
public record TokenEvent(String requestId, int index, int tokenId, String text, FinishReason finishReason,
                         int promptTokens, ChoiceResult choice) {
    public TokenEvent(String requestId, int index, int tokenId, String text, FinishReason finishReason,
                      int promptTokens) {
        this(requestId, index, tokenId, text, finishReason, promptTokens, null);
    }

    public boolean finished() {
        return finishReason != null;
    }
}
