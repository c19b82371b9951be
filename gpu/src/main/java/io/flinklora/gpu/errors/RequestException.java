package io.flinklora.gpu.errors;

import io.flinklora.annotation.PublicEvolving;

/** A request the engine refuses, with a code that travels to the caller's error record. */
@PublicEvolving
public class RequestException extends RuntimeException {
    private final ErrorCode code;

    public RequestException(ErrorCode code, String message) {
        super(message);
        this.code = code;
    }

    public RequestException(ErrorCode code, String message, Throwable cause) {
        super(message, cause);
        this.code = code;
    }

    public ErrorCode code() {
        return code;
    }
}
