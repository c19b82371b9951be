package io.flinklora.gpu.safetensors;

import io.flinklora.annotation.PublicEvolving;
import java.io.IOException;

/**
 * A safetensors file, shard index or model folder is malformed, inconsistent or missing.
 *
 * <p>Checked ({@link IOException}) on purpose: weights come from disk or the network and a bad file
 * is an expected, recoverable input error, not a programming bug. Messages always name the file
 * and, where one is involved, the tensor or header field.
 */
@PublicEvolving
public class SafetensorsException extends IOException {
    private static final long serialVersionUID = 1L;

    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
