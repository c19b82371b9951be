package io.flinklora.registry;

/** The schema registry refused to register a writer schema, typically because its compatibility rule fails. */
public final class SchemaRefusedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    SchemaRefusedException(String message, Throwable cause) {
        super(message, cause);
    }
}
