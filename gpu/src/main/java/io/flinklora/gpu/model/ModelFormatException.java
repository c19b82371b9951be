package io.flinklora.gpu.model;

import io.flinklora.annotation.PublicEvolving;

/**
 * A model folder that cannot be loaded: missing file or tensor, wrong shape, unsupported setting.
 */
@PublicEvolving
public class ModelFormatException extends RuntimeException {
    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
