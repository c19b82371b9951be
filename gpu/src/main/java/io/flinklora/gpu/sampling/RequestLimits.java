package io.flinklora.gpu.sampling;

/**
 * Per-request bounds a producer cannot get around; each violation is a coded error, never a crash.
 *
 * @param maxPromptTokens prompt tokens at most (besides the model's context)
 * @param maxNewTokens max_new_tokens at most
 * @param maxStopStrings stop strings (and stop token ids) at most
 * @param maxStopStringLength characters per stop string at most
 * @param maxAdapters adapters mixed in one request at most
 */
public record RequestLimits(int maxPromptTokens, int maxNewTokens, int maxStopStrings, int maxStopStringLength,
                            int maxAdapters) {
    public static final RequestLimits DEFAULT = new RequestLimits(1 << 20, 1 << 20, 16, 256, 8);
}
