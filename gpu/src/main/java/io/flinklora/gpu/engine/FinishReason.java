package io.flinklora.gpu.engine;

/** Why a sequence ended. */
public enum FinishReason {
    /** EOS, a stop token id or a stop string. */
    STOP,
    /** max_new_tokens reached. */
    LENGTH;

    /** The lower-case name used in output records ("stop", "length"). */
    public String wireName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
