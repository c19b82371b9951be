package io.flinklora.registry;

import io.flinklora.annotation.PublicEvolving;

/**
 * The schema registry could not be asked (down, unreachable, answering with server errors): not the
 * fault of the record at hand, so it is not turned into an error record; the caller fails and
 * retries later.
 */
@PublicEvolving
public final class RegistryUnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    RegistryUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
