package io.flinklora.registry;

import io.flinklora.annotation.PublicEvolving;

/**
 * The schema registry refused to register a writer schema, typically because its compatibility rule
 * fails.
 */
@PublicEvolving
public final class SchemaRefusedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    SchemaRefusedException(String message, Throwable cause) {
        super(message, cause);
    }
}
