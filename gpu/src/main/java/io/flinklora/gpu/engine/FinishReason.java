package io.flinklora.gpu.engine;

import io.flinklora.annotation.PublicEvolving;

/** Why a sequence ended. */
@PublicEvolving
public enum FinishReason {
    /** EOS, a stop token id or a stop string. */
    STOP,
    /** max_new_tokens reached. */
    LENGTH,
    /** A constrained request scored its candidate labels and chose one. */
    CHOICE;

    /** The lower-case name used in output records ("stop", "length", "choice"). */
    public String wireName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
