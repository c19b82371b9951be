package io.flinklora.gpu.sampling;

import io.flinklora.annotation.PublicEvolving;

/**
 * Per-request bounds a producer cannot get around; each violation is a coded error, never a crash.
 *
 * @param maxPromptTokens prompt tokens at most (besides the model's context)
 * @param maxNewTokens max_new_tokens at most
 * @param maxStopStrings stop strings (and stop token ids) at most
 * @param maxStopStringLength characters per stop string at most
 * @param maxAdapters adapters mixed in one request at most
 * @param maxChoices candidate labels of a constrained ("choices") request at most
 * @param maxChoiceTokens tokens per candidate label at most
 */
@PublicEvolving
public record RequestLimits(
        int maxPromptTokens,
        int maxNewTokens,
        int maxStopStrings,
        int maxStopStringLength,
        int maxAdapters,
        int maxChoices,
        int maxChoiceTokens)
        implements java.io.Serializable {
    public static final int DEFAULT_MAX_CHOICES = 64;
    public static final int DEFAULT_MAX_CHOICE_TOKENS = 32;

    /**
     * The defaults of the engine, the streaming job, the labelling job and generate.sh alike.
     * 65,536 prompt and new tokens exceed the context of every model served here, so the model's
     * context is what binds.
     */
    public static final RequestLimits DEFAULT = new RequestLimits(1 << 16, 1 << 16, 16, 256, 8);

    /** Limits with the default bounds on choices. */
    public RequestLimits(
            int maxPromptTokens,
            int maxNewTokens,
            int maxStopStrings,
            int maxStopStringLength,
            int maxAdapters) {
        this(
                maxPromptTokens,
                maxNewTokens,
                maxStopStrings,
                maxStopStringLength,
                maxAdapters,
                DEFAULT_MAX_CHOICES,
                DEFAULT_MAX_CHOICE_TOKENS);
    }
}
