package io.flinklora.gpu.sampling;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import java.util.List;

/**
 * How one request chooses and stops its tokens.
 *
 * @param temperature 0 for greedy (argmax), otherwise logits are divided by it before sampling
 * @param topK keep only the k most likely tokens (0: all)
 * @param topP keep the smallest set of tokens whose probability reaches p (1: all)
 * @param seed makes sampling reproducible; a request without one gets a seed drawn at submission
 * @param maxNewTokens generated tokens at most (finish reason "length")
 * @param stop strings that end generation when they appear in the text (finish reason "stop"); not
 *     part of the text
 * @param stopTokenIds token ids that end generation (finish reason "stop")
 * @param ignoreEos keep generating past the model's end-of-sequence token
 * @param adjustments min_p, penalties and logit bias ({@link LogitAdjustments#NONE}: none)
 * @param logprobs null: no log-probabilities; k: each token's and its position's k most likely ones
 * @param minTokens tokens generated before EOS or a stop token id may be chosen and before stop
 *     strings are looked for (vLLM's min_tokens; 0: none)
 */
@PublicEvolving
public record SamplingParams(
        double temperature,
        int topK,
        double topP,
        Long seed,
        int maxNewTokens,
        List<String> stop,
        List<Integer> stopTokenIds,
        boolean ignoreEos,
        LogitAdjustments adjustments,
        Integer logprobs,
        int minTokens) {

    /** The most alternatives a request may ask per token (as vLLM's and OpenAI's default caps). */
    public static final int MAX_LOGPROBS = 20;

    public SamplingParams {
        stop = stop == null ? List.of() : List.copyOf(stop);
        stopTokenIds = stopTokenIds == null ? List.of() : List.copyOf(stopTokenIds);
        adjustments = adjustments == null ? LogitAdjustments.NONE : adjustments;
    }

    /** Without min_tokens. */
    public SamplingParams(
            double temperature,
            int topK,
            double topP,
            Long seed,
            int maxNewTokens,
            List<String> stop,
            List<Integer> stopTokenIds,
            boolean ignoreEos,
            LogitAdjustments adjustments,
            Integer logprobs) {
        this(
                temperature,
                topK,
                topP,
                seed,
                maxNewTokens,
                stop,
                stopTokenIds,
                ignoreEos,
                adjustments,
                logprobs,
                0);
    }

    public SamplingParams(
            double temperature,
            int topK,
            double topP,
            Long seed,
            int maxNewTokens,
            List<String> stop,
            List<Integer> stopTokenIds,
            boolean ignoreEos) {
        this(
                temperature,
                topK,
                topP,
                seed,
                maxNewTokens,
                stop,
                stopTokenIds,
                ignoreEos,
                LogitAdjustments.NONE,
                null);
    }

    /** Greedy decoding of up to {@code maxNewTokens} tokens, stopping at EOS. */
    public static SamplingParams greedy(int maxNewTokens) {
        return new SamplingParams(0, 0, 1.0, null, maxNewTokens, List.of(), List.of(), false);
    }

    public boolean isGreedy() {
        return temperature == 0 || topK == 1;
    }

    public SamplingParams withSeed(long newSeed) {
        return new SamplingParams(
                temperature,
                topK,
                topP,
                newSeed,
                maxNewTokens,
                stop,
                stopTokenIds,
                ignoreEos,
                adjustments,
                logprobs,
                minTokens);
    }

    public SamplingParams withIgnoreEos(boolean ignore) {
        return new SamplingParams(
                temperature,
                topK,
                topP,
                seed,
                maxNewTokens,
                stop,
                stopTokenIds,
                ignore,
                adjustments,
                logprobs,
                minTokens);
    }

    public SamplingParams withAdjustments(LogitAdjustments a) {
        return new SamplingParams(
                temperature,
                topK,
                topP,
                seed,
                maxNewTokens,
                stop,
                stopTokenIds,
                ignoreEos,
                a,
                logprobs,
                minTokens);
    }

    public SamplingParams withLogprobs(Integer top) {
        return new SamplingParams(
                temperature,
                topK,
                topP,
                seed,
                maxNewTokens,
                stop,
                stopTokenIds,
                ignoreEos,
                adjustments,
                top,
                minTokens);
    }

    public SamplingParams withMinTokens(int min) {
        return new SamplingParams(
                temperature,
                topK,
                topP,
                seed,
                maxNewTokens,
                stop,
                stopTokenIds,
                ignoreEos,
                adjustments,
                logprobs,
                min);
    }

    /** Whether choosing a token needs the logits on the host (not just the device's argmax). */
    public boolean needsHostLogits() {
        return !isGreedy() || adjustments.changesLogits() || logprobs != null;
    }

    /**
     * Whether choosing token number {@code index} needs the logits on the host: as {@link
     * #needsHostLogits()}, or while min_tokens still bans the stop ids.
     */
    public boolean needsHostLogits(int index) {
        return needsHostLogits() || index < minTokens;
    }

    /**
     * Checks every field against its range and the given limits; throws a coded {@link
     * RequestException}.
     */
    public void validate(int vocabSize, RequestLimits limits) {
        if (!(temperature >= 0) || temperature > 100 || Double.isNaN(temperature)) {
            throw invalid("temperature must be between 0 and 100, got " + temperature);
        }
        if (topK < 0) {
            throw invalid("top_k must be 0 (off) or positive, got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw invalid("top_p must be in (0, 1], got " + topP);
        }
        if (maxNewTokens < 1) {
            throw invalid("max_new_tokens must be at least 1, got " + maxNewTokens);
        }
        if (maxNewTokens > limits.maxNewTokens()) {
            throw new RequestException(
                    ErrorCode.LIMIT_EXCEEDED,
                    "max_new_tokens "
                            + maxNewTokens
                            + " exceeds the limit of "
                            + limits.maxNewTokens());
        }
        if (stop.size() > limits.maxStopStrings()) {
            throw new RequestException(
                    ErrorCode.LIMIT_EXCEEDED,
                    stop.size() + " stop strings exceed the limit of " + limits.maxStopStrings());
        }
        for (String s : stop) {
            if (s == null || s.isEmpty()) {
                throw invalid("stop strings must be non-empty");
            }
            if (s.length() > limits.maxStopStringLength()) {
                throw new RequestException(
                        ErrorCode.LIMIT_EXCEEDED,
                        "a stop string of "
                                + s.length()
                                + " characters exceeds the limit of "
                                + limits.maxStopStringLength());
            }
        }
        if (stopTokenIds.size() > limits.maxStopStrings()) {
            throw new RequestException(
                    ErrorCode.LIMIT_EXCEEDED,
                    stopTokenIds.size()
                            + " stop token ids exceed the limit of "
                            + limits.maxStopStrings());
        }
        for (Integer id : stopTokenIds) {
            if (id == null || id < 0 || id >= vocabSize) {
                throw invalid(
                        "stop token id "
                                + id
                                + " is outside the vocabulary (0.."
                                + (vocabSize - 1)
                                + ")");
            }
        }
        if (minTokens < 0 || minTokens > maxNewTokens) {
            throw invalid(
                    "min_tokens must be between 0 and max_new_tokens ("
                            + maxNewTokens
                            + "), got "
                            + minTokens);
        }
        adjustments.validate(vocabSize);
        if (logprobs != null && (logprobs < 0 || logprobs > MAX_LOGPROBS)) {
            throw invalid(
                    "logprobs must be between 0 and "
                            + MAX_LOGPROBS
                            + " alternatives, got "
                            + logprobs);
        }
    }

    private static RequestException invalid(String message) {
        return new RequestException(ErrorCode.INVALID_PARAMETER, message);
    }
}
