package io.flinklora.gpu.errors;

import io.flinklora.annotation.PublicEvolving;

/** Stable machine-readable codes for requests the engine refuses or cannot finish. */
@PublicEvolving
public enum ErrorCode {
    /** The input line or record is not parseable at all (not JSON, wrong encoding). */
    MALFORMED_INPUT,
    /** A field has the wrong type or is missing. */
    INVALID_REQUEST,
    /** A sampling or length parameter is outside its allowed range. */
    INVALID_PARAMETER,
    /** Prompt plus requested tokens do not fit the model's context. */
    CONTEXT_LENGTH_EXCEEDED,
    /**
     * A prompt token id is outside the vocabulary, or the model's tokenizer cannot encode the text.
     */
    INVALID_TOKEN,
    /** An adapter name is not a plain identifier or does not exist under the adapter root. */
    UNKNOWN_ADAPTER,
    /** An adapter exists but its files cannot be loaded. */
    ADAPTER_LOAD_FAILED,
    /** A request id is already in flight. */
    DUPLICATE_REQUEST,
    /**
     * A configured limit (prompt tokens, stop strings, adapters per request, size) was exceeded.
     */
    LIMIT_EXCEEDED,
    /** Something failed inside the engine; the request was not completed. */
    INTERNAL
}
