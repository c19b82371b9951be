package io.flinklora.gpu.frontend;

import io.flinklora.annotation.Internal;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import io.flinklora.gpu.sampling.LogitAdjustments;
import io.flinklora.gpu.sampling.SamplingParams;
import io.flinklora.schemas.GenerationRequest;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The one mapping from a wire request's sampling fields to the engine's {@link SamplingParams},
 * used by generate.sh's lines, the streaming operator's new requests and its restored state alike
 * (state keeps the sampling fields as a request). A sampling option is a request field, a value
 * here, and its effect in the sampler: three places.
 */
@Internal
public final class RequestSampling {
    private static final Pattern TOKEN_ID = Pattern.compile("0|[1-9][0-9]{0,8}");

    private RequestSampling() {}

    /**
     * The request's sampling parameters, its seed as given (null: the caller resolves one). Value
     * ranges are checked later, by {@link SamplingParams#validate}; here only what the types cannot
     * say: logit_bias keys must be token ids.
     */
    public static SamplingParams of(GenerationRequest r) {
        Map<Integer, Double> bias = new LinkedHashMap<>();
        for (Map.Entry<String, Double> b : r.getLogitBias().entrySet()) {
            if (!TOKEN_ID.matcher(b.getKey()).matches()) {
                throw new RequestException(
                        ErrorCode.INVALID_REQUEST,
                        "logit_bias keys must be token ids, got \"" + b.getKey() + "\"");
            }
            bias.put(Integer.parseInt(b.getKey()), b.getValue());
        }
        return new SamplingParams(
                r.getTemperature(),
                r.getTopK(),
                r.getTopP(),
                r.getSeed(),
                r.getMaxNewTokens(),
                r.getStop(),
                r.getStopTokenIds(),
                r.getIgnoreEos(),
                new LogitAdjustments(
                        r.getMinP(),
                        r.getRepetitionPenalty(),
                        r.getPresencePenalty(),
                        r.getFrequencyPenalty(),
                        bias,
                        r.getNoRepeatNgramSize()),
                r.getLogprobs());
    }
}
