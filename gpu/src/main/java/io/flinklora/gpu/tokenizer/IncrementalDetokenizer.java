package io.flinklora.gpu.tokenizer;

import io.flinklora.annotation.Internal;

/**
 * Turns a stream of generated token ids into text deltas that are always whole UTF-8 characters.
 */
@Internal
public final class IncrementalDetokenizer {

    // Not thread-safe: one instance per generated sequence.
    private final Tokenizer tokenizer;
    private final Utf8StreamDecoder utf8 = new Utf8StreamDecoder();
    private final StringBuilder text = new StringBuilder();
    private final StringBuilder delta = new StringBuilder();

    IncrementalDetokenizer(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /**
     * Feeds one generated id and returns the text it completes (possibly ""): trailing bytes of an
     * incomplete character are held back, bytes that can never be valid come out as U+FFFD at once.
     * All deltas plus {@link #flush()} equal {@link Tokenizer#decode} of all ids, since both run
     * the same UTF-8 decoder; work is proportional to this token's bytes only.
     */
    public String add(int tokenId) {
        delta.setLength(0);
        utf8.feed(tokenizer.bytesOf(tokenId), delta);
        return emit();
    }

    /** Ends the stream: returns held-back bytes of an incomplete character as U+FFFD, or "". */
    public String flush() {
        delta.setLength(0);
        utf8.finish(delta);
        return emit();
    }

    /** All text emitted so far. */
    public String text() {
        return text.toString();
    }

    /** True while bytes of an incomplete character are held back. */
    public boolean hasPendingBytes() {
        return utf8.hasPending();
    }

    private String emit() {
        if (delta.length() == 0) {
            return "";
        }
        text.append(delta);
        return delta.toString();
    }
}
