package io.flinklora.operators.label;

import io.flinklora.annotation.Internal;

/** A record that cannot be labelled, with the stable code that goes to the errors file. */
@Internal
public final class LabelError extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final String code;

    public LabelError(String code, String message) {
        super(message, null, false, false);
        this.code = code;
    }

    public String code() {
        return code;
    }
}
