package io.flinklora.gpu.tokenizer;

import io.flinklora.annotation.PublicEvolving;

/** Thrown when a model's tokenizer files are missing, unreadable or inconsistent. */
@PublicEvolving
public class TokenizerException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public TokenizerException(String message) {
        super(message);
    }

    public TokenizerException(String message, Throwable cause) {
        super(message, cause);
    }
}
