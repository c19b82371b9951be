package io.flinklora.client;

import io.flinklora.annotation.PublicEvolving;

/**
 * The job answered a request with an error record: its stable code (GenerationError.code) and
 * message.
 */
@PublicEvolving
public final class GenerationFailedException extends Exception {
    private static final long serialVersionUID = 1L;
    private final String code;

    public GenerationFailedException(String code, String message) {
        super(code + ": " + message);
        this.code = code;
    }

    /**
     * E.g. INVALID_PARAMETER, UNKNOWN_ADAPTER, CONTEXT_LENGTH_EXCEEDED, REPLY_TOPIC_NOT_ALLOWED.
     */
    public String code() {
        return code;
    }
}
