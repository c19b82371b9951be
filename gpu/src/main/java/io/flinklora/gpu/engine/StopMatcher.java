package io.flinklora.gpu.engine;

import java.util.List;

/**
 * Finds stop strings in a growing text and holds back a tail that could still become one, so that
 * streamed text never shows part of a stop string that later ends the sequence.
 */
final class StopMatcher {
    private final List<String> stops;
    private final int longest;
    private final StringBuilder text = new StringBuilder();
    private int emitted;
    private int stopAt = -1;

    StopMatcher(List<String> stops) {
        this.stops = stops;
        this.longest = stops.stream().mapToInt(String::length).max().orElse(0);
    }

    /**
     * Appends new text; returns the part now safe to emit. After a match, {@link #stopped()} is
     * true.
     */
    String append(String delta) {
        return append(delta, true);
    }

    /**
     * As {@link #append(String)}; when not {@code armed} (min_tokens not reached) no stop string is
     * looked for, and a later armed append finds only a stop string that ends in its own text.
     */
    String append(String delta, boolean armed) {
        if (stopAt >= 0) {
            return "";
        }
        int searchFrom = Math.max(0, text.length() - longest + 1);
        text.append(delta);
        if (longest == 0 || !armed) {
            return take(text.length() - (longest == 0 ? 0 : heldTail()));
        }
        int first = -1;
        for (String s : stops) {
            int i = text.indexOf(s, searchFrom);
            if (i >= 0 && (first < 0 || i < first)) {
                first = i;
            }
        }
        if (first >= 0) {
            stopAt = first;
            return take(first);
        }
        return take(text.length() - heldTail());
    }

    /**
     * Everything not yet emitted, up to the stop string if one matched: call when the sequence
     * ends.
     */
    String finish() {
        return take(stopAt >= 0 ? stopAt : text.length());
    }

    boolean stopped() {
        return stopAt >= 0;
    }

    /** Length of the longest suffix of the text that is a proper prefix of a stop string. */
    private int heldTail() {
        int max = Math.min(longest - 1, text.length() - emitted);
        for (int n = max; n > 0; n--) {
            for (String s : stops) {
                if (n < s.length() && endsWithPrefix(s, n)) {
                    return n;
                }
            }
        }
        return 0;
    }

    private boolean endsWithPrefix(String s, int n) {
        int base = text.length() - n;
        for (int i = 0; i < n; i++) {
            if (text.charAt(base + i) != s.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private String take(int upTo) {
        if (upTo <= emitted) {
            return "";
        }
        String out = text.substring(emitted, upTo);
        emitted = upTo;
        return out;
    }
}
