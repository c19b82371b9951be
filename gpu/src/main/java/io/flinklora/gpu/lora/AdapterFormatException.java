package io.flinklora.gpu.lora;

import io.flinklora.annotation.PublicEvolving;

/**
 * A PEFT adapter folder that cannot be served: unsupported setting, missing tensor, wrong shape.
 */
@PublicEvolving
public class AdapterFormatException extends RuntimeException {
    public AdapterFormatException(String message) {
        super(message);
    }

    public AdapterFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
