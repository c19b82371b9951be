package io.flinklora.gpu.engine;

import io.flinklora.annotation.Internal;
import java.util.List;

/**
 * What one engine step runs: every running sequence, in KV slot order, with the chunk of its tokens
 * to compute this step (one token when decoding, part or all of the prompt when prefilling, or none
 * while it waits for token budget), plus the waiting sequences that failed admission (their adapter
 * could not be loaded).
 */
@Internal
public record Batch(List<Chunk> chunks, List<Sequence> failed) {

    /**
     * Tokens {@code [start, start + length)} of a sequence; {@code samples} when it ends at the
     * sequence's end (its last token's logits are wanted), {@code scoresTree} when it computes a
     * constrained request's candidate tokens (every token's logits are wanted).
     */
    public record Chunk(Sequence sequence, int start, int length) {
        public boolean samples() {
            return length > 0 && start + length == sequence.length() && !sequence.inTree();
        }

        public boolean scoresTree() {
            return length > 0 && sequence.inTree();
        }

        /** Rows of next-token logits the forward pass returns for this chunk. */
        public int logitRows() {
            return scoresTree() ? length : samples() ? 1 : 0;
        }
    }

    public Batch(List<Chunk> chunks) {
        this(chunks, List.of());
    }

    public boolean isEmpty() {
        return chunks.isEmpty();
    }

    public int tokens() {
        int n = 0;
        for (Chunk c : chunks) {
            n += c.length();
        }
        return n;
    }
}
