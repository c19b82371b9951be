package io.flinklora.gpu.model;

/** A model folder that cannot be loaded: missing file or tensor, wrong shape, unsupported setting. */
public class ModelFormatException extends RuntimeException {
    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
