package io.flinklora.gpu.tokenizer;

/**
 * Streaming UTF-8 decoder with replacement, shared by {@link Tokenizer#decode} and {@link
 * IncrementalDetokenizer} so that both paths turn the same bytes into the same text.
 *
 * <p>Follows the WHATWG / Unicode "maximal subpart" rule (the same as Rust's {@code
 * String::from_utf8_lossy}): each maximal invalid subsequence becomes one U+FFFD. A byte that can
 * never be valid at its position is replaced as soon as it is seen, so at most three bytes of one
 * incomplete character are ever held back.
 */
final class Utf8StreamDecoder {

    private static final char REPLACEMENT = '\uFFFD';

    private int needed; // continuation bytes still expected for the pending character
    private int codePoint;
    private int lower = 0x80; // valid range of the next continuation byte
    private int upper = 0xBF;

    /** Decodes {@code bytes}, appending every completed character to {@code out}. */
    void feed(byte[] bytes, StringBuilder out) {
        for (byte b : bytes) {
            feed(b & 0xFF, out);
        }
    }

    private void feed(int b, StringBuilder out) {
        if (needed == 0) {
            start(b, out);
            return;
        }
        if (b < lower || b > upper) {
            // The pending sequence is cut short: replace it, then read b afresh as a lead byte.
            reset();
            out.append(REPLACEMENT);
            start(b, out);
            return;
        }
        lower = 0x80;
        upper = 0xBF;
        codePoint = (codePoint << 6) | (b & 0x3F);
        if (--needed == 0) {
            out.appendCodePoint(codePoint);
            codePoint = 0;
        }
    }

    private void start(int b, StringBuilder out) {
        if (b <= 0x7F) {
            out.append((char) b);
        } else if (b >= 0xC2 && b <= 0xDF) {
            needed = 1;
            codePoint = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            // E0 needs A0.. (no overlongs); ED needs ..9F (no surrogates).
            if (b == 0xE0) {
                lower = 0xA0;
            } else if (b == 0xED) {
                upper = 0x9F;
            }
            needed = 2;
            codePoint = b & 0x0F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            // F0 needs 90.. (no overlongs); F4 needs ..8F (nothing above U+10FFFF).
            if (b == 0xF0) {
                lower = 0x90;
            } else if (b == 0xF4) {
                upper = 0x8F;
            }
            needed = 3;
            codePoint = b & 0x07;
        } else {
            // 80..C1, F5..FF can never start a character.
            out.append(REPLACEMENT);
        }
    }

    /** True while the bytes of an incomplete character are held back. */
    boolean hasPending() {
        return needed != 0;
    }

    /** Ends the stream: an incomplete trailing character becomes one U+FFFD. */
    void finish(StringBuilder out) {
        if (needed != 0) {
            reset();
            out.append(REPLACEMENT);
        }
    }

    private void reset() {
        needed = 0;
        codePoint = 0;
        lower = 0x80;
        upper = 0xBF;
    }
}
