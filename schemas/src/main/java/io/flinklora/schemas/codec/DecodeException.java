package io.flinklora.schemas.codec;

import io.flinklora.annotation.PublicEvolving;
import java.util.Set;

/**
 * A record value that could not be turned into a request, with the stable error code to report it
 * under.
 */
@PublicEvolving
public final class DecodeException extends Exception {

    private static final long serialVersionUID = 1L;

    /** Not a decodable record at all: empty, not JSON, not valid Avro, unknown writer schema. */
    public static final String MALFORMED_INPUT = "MALFORMED_INPUT";

    /**
     * Decodable, but not a valid request: wrong types, unknown or missing fields, both or neither
     * prompt.
     */
    public static final String INVALID_REQUEST = "INVALID_REQUEST";

    /** A value that does not fit its field's type range (e.g. an int field given 2^40). */
    public static final String INVALID_PARAMETER = "INVALID_PARAMETER";

    /** The record value is larger than the configured maximum. */
    public static final String LIMIT_EXCEEDED = "LIMIT_EXCEEDED";

    private static final Set<String> CODES =
            Set.of(MALFORMED_INPUT, INVALID_REQUEST, INVALID_PARAMETER, LIMIT_EXCEEDED);

    private final String code;
    private final String requestId;

    public DecodeException(String code, String message, String requestId) {
        this(code, message, requestId, null);
    }

    public DecodeException(String code, String message, String requestId, Throwable cause) {
        super(message, cause);
        if (!CODES.contains(code)) {
            throw new IllegalArgumentException("not a decode error code: " + code);
        }
        this.code = code;
        this.requestId = requestId;
    }

    /** One of MALFORMED_INPUT, INVALID_REQUEST, INVALID_PARAMETER, LIMIT_EXCEEDED. */
    public String code() {
        return code;
    }

    /** The request's id when it could be read before the failure, else null. */
    public String requestId() {
        return requestId;
    }

    @Override
    public String toString() {
        String id = requestId == null ? "" : ", request_id=" + requestId;
        return "DecodeException[" + code + id + "]: " + getMessage();
    }
}
