package io.flinklora.gpu.cli;

import io.flinklora.annotation.Internal;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import io.flinklora.gpu.frontend.RequestProcessor;
import io.flinklora.gpu.frontend.RequestSampling;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.SamplingParams;
import io.flinklora.schemas.AdapterWeight;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.codec.DecodeException;
import io.flinklora.schemas.codec.RequestCodec;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A request line of {@code scripts/generate.sh}, read by the streaming job's {@link RequestCodec}
 * (one parser of the request fields for both) and turned into the engine's types. Strictly typed: a
 * wrong type or an unknown field is a coded error rather than a silently ignored setting.
 */
@Internal
public record RequestJson(
        String id,
        String prompt,
        int[] promptIds,
        List<AdapterRef> adapters,
        GenerationRequest sampling,
        List<String> choices,
        boolean routeAuto) {

    /**
     * The line's sampling parameters for its prompt of {@code promptLength} tokens, the fields it
     * leaves unset taken from the model ({@link RequestProcessor#sampling}).
     */
    public SamplingParams params(RequestProcessor front, int promptLength) {
        return front.sampling(sampling, promptLength, choices);
    }

    /** Lower values are served first (the engine's {@code EngineRequest#priority}). */
    public int priority() {
        return sampling.getPriority();
    }

    /**
     * A line refused before it reached the engine, with its id when the line had a readable one.
     */
    public static final class Refused extends RequestException {
        private final String requestId;

        Refused(ErrorCode code, String message, String requestId) {
            super(code, message);
            this.requestId = requestId;
        }

        /** The id, or null when the line had none that could be read. */
        public String requestId() {
            return requestId;
        }
    }

    /**
     * Parses line {@code lineNo}; throws {@link Refused} with the codec's code and message on any
     * bad field.
     */
    public static RequestJson parse(String line, long lineNo) {
        GenerationRequest r;
        try {
            // Lines are read whole, so there is no record size to bound here.
            r = RequestCodec.decode(line.getBytes(StandardCharsets.UTF_8), Integer.MAX_VALUE);
        } catch (DecodeException e) {
            String message =
                    e.code().equals(DecodeException.MALFORMED_INPUT)
                            ? "line " + lineNo + ": " + e.getMessage()
                            : e.getMessage();
            throw new Refused(ErrorCode.valueOf(e.code()), message, e.requestId());
        }
        return of(r);
    }

    /**
     * The engine's view of a decoded request; the fields only the streaming job uses are refused.
     */
    static RequestJson of(GenerationRequest r) {
        String id = r.getRequestId();
        if (r.getReplyTopic() != null
                || r.getCancel()
                || !r.getMetadata().isEmpty()
                || r.getCreatedAt() != null) {
            throw new Refused(
                    ErrorCode.INVALID_REQUEST,
                    "reply_topic, cancel, metadata and created_at are"
                            + " fields of the streaming job's requests; generate.sh has no use for them",
                    id);
        }
        List<AdapterRef> adapters = new ArrayList<>();
        for (AdapterWeight a : r.getAdapters()) {
            adapters.add(new AdapterRef(a.getName(), a.getWeight()));
        }
        boolean route = false;
        if (r.getRoute() != null) {
            if (!r.getRoute().equals("auto")) {
                throw new Refused(
                        ErrorCode.INVALID_REQUEST,
                        "'route' must be \"auto\" (the router picks the adapters)",
                        id);
            }
            if (!adapters.isEmpty()) {
                throw new Refused(
                        ErrorCode.INVALID_REQUEST,
                        "give 'adapters' or \"route\": \"auto\", not both",
                        id);
            }
            route = true;
        }
        try {
            RequestSampling.of(r); // what the types cannot say, refused here with the line's id
        } catch (RequestException e) {
            throw new Refused(e.code(), e.getMessage(), id);
        }
        int[] ids =
                r.getPromptIds() == null
                        ? null
                        : r.getPromptIds().stream().mapToInt(Integer::intValue).toArray();
        return new RequestJson(
                id, r.getPrompt(), ids, adapters, r, List.copyOf(r.getChoices()), route);
    }
}
