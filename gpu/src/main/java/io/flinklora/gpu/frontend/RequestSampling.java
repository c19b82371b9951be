package io.flinklora.gpu.frontend;

import io.flinklora.annotation.Internal;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import io.flinklora.gpu.model.GenerationDefaults;
import io.flinklora.gpu.sampling.LogitAdjustments;
import io.flinklora.gpu.sampling.SamplingParams;
import io.flinklora.schemas.GenerationRequest;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The one mapping from a wire request's sampling fields to the engine's {@link SamplingParams},
 * used by generate.sh's lines, the streaming operator's new requests and its restored state alike
 * (state keeps the sampling fields as a request). A field the request leaves unset takes the
 * model's generation default ({@link GenerationDefaults}, as transformers' {@code generate} does),
 * else the engine's. A sampling option is a request field, a value here, and its effect in the
 * sampler: three places.
 */
@Internal
public final class RequestSampling {
    /** max_new_tokens of a request that sets none, on a model whose files set no length. */
    public static final int DEFAULT_MAX_NEW_TOKENS = 64;

    /** transformers' top_k when sampling and neither the request nor the model sets one. */
    static final int TRANSFORMERS_SAMPLING_TOP_K = 50;

    private static final Pattern TOKEN_ID = Pattern.compile("0|[1-9][0-9]{0,8}");

    private RequestSampling() {}

    /** The request's sampling parameters with the engine's defaults only (no model defaults). */
    public static SamplingParams of(GenerationRequest r) {
        return of(r, GenerationDefaults.NONE, 0, Integer.MAX_VALUE, true);
    }

    /**
     * The request's sampling parameters, its seed as given (null: the caller resolves one). Value
     * ranges are checked later, by {@link SamplingParams#validate}; here only what the types cannot
     * say: logit_bias keys must be token ids. A length default from the model (its max_new_tokens,
     * or max_length less the prompt's {@code promptLength} tokens) is capped at {@code lengthCap},
     * what the engine can generate after the prompt; a request that {@code generates} nothing (it
     * scores choices) takes no length from the model.
     */
    public static SamplingParams of(
            GenerationRequest r,
            GenerationDefaults d,
            int promptLength,
            int lengthCap,
            boolean generates) {
        Map<Integer, Double> bias = new LinkedHashMap<>();
        for (Map.Entry<String, Double> b : r.getLogitBias().entrySet()) {
            if (!TOKEN_ID.matcher(b.getKey()).matches()) {
                throw new RequestException(
                        ErrorCode.INVALID_REQUEST,
                        "logit_bias keys must be token ids, got \"" + b.getKey() + "\"");
            }
            bias.put(Integer.parseInt(b.getKey()), b.getValue());
        }
        boolean sample = d.samples();
        GenerationDefaults lengths = generates ? d : GenerationDefaults.NONE;
        int maxNew = maxNewTokens(r, lengths, promptLength, lengthCap);
        return new SamplingParams(
                or(r.getTemperature(), sample ? or(d.temperature(), 1.0) : 0.0),
                or(r.getTopK(), or(d.topK(), sample ? TRANSFORMERS_SAMPLING_TOP_K : 0)),
                or(r.getTopP(), or(d.topP(), 1.0)),
                r.getSeed(),
                maxNew,
                r.getStop(),
                r.getStopTokenIds(),
                r.getIgnoreEos(),
                new LogitAdjustments(
                        or(r.getMinP(), or(d.minP(), 0.0)),
                        or(r.getRepetitionPenalty(), or(d.repetitionPenalty(), 1.0)),
                        r.getPresencePenalty(),
                        r.getFrequencyPenalty(),
                        bias,
                        or(r.getNoRepeatNgramSize(), or(d.noRepeatNgramSize(), 0))),
                r.getLogprobs(),
                minTokens(r, lengths, promptLength, maxNew));
    }

    /**
     * The request's min_tokens; unset, the model's (min_new_tokens, or min_length less the prompt),
     * which transformers' generate lets the length limit cut short, so it is capped at {@code
     * maxNew}.
     */
    private static int minTokens(
            GenerationRequest r, GenerationDefaults d, int promptLength, int maxNew) {
        if (r.getMinTokens() != null) {
            return r.getMinTokens();
        }
        return Math.min(d.minNewTokensAfter(promptLength), maxNew);
    }

    /**
     * The request's max_new_tokens; unset, the model's (transformers' rule: max_new_tokens wins
     * over max_length, which counts the prompt too), else {@link #DEFAULT_MAX_NEW_TOKENS}.
     */
    private static int maxNewTokens(
            GenerationRequest r, GenerationDefaults d, int promptLength, int lengthCap) {
        if (r.getMaxNewTokens() != null) {
            return r.getMaxNewTokens();
        }
        if (d.maxNewTokens() != null) {
            return Math.max(1, Math.min(d.maxNewTokens(), lengthCap));
        }
        if (d.maxLength() != null) {
            int left = d.maxLength() - promptLength;
            if (left < 1) {
                // transformers' generate raises here too.
                throw new RequestException(
                        ErrorCode.CONTEXT_LENGTH_EXCEEDED,
                        "prompt of "
                                + promptLength
                                + " tokens reaches the model's max_length "
                                + d.maxLength()
                                + " ("
                                + d.source()
                                + "); set max_new_tokens");
            }
            return Math.max(1, Math.min(left, lengthCap));
        }
        return DEFAULT_MAX_NEW_TOKENS;
    }

    private static <T> T or(T given, T fallback) {
        return given != null ? given : fallback;
    }
}
