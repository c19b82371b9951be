package io.flinklora.registry;

import io.apicurio.registry.rest.client.exception.RestClientException;
import io.apicurio.rest.client.error.ApicurioRestClientException;

/**
 * Tells the registry's answers about a record (most 4xx) from the registry being unavailable
 * (anything else).
 */
final class RegistryErrors {
    private RegistryErrors() {}

    /**
     * Whether {@code e} came from talking to the registry (an answer or no answer), not from Avro.
     */
    static boolean fromRegistry(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ApicurioRestClientException || t instanceof java.io.IOException) {
                return true;
            }
        }
        return false;
    }

    /**
     * The registry answered that the request (an id, a schema) was at fault: a 4xx other than those
     * about the caller or the moment (401, 403: credentials; 408, 429: try later), which must not
     * condemn a record.
     */
    static boolean isClientError(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof RestClientException r
                    && r.getError() != null
                    && r.getError().getErrorCode() != null) {
                int code = r.getError().getErrorCode();
                return code >= 400
                        && code < 500
                        && code != 401
                        && code != 403
                        && code != 408
                        && code != 429;
            }
        }
        return false;
    }

    /**
     * The registry's own message, else what stopped the call (connection refused, ...), for
     * messages.
     */
    static String message(Throwable e) {
        Throwable root = e;
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof RestClientException r && r.getError() != null) {
                // Without an answer the client names what happened instead (e.g.
                // "ConnectException").
                String m =
                        r.getError().getMessage() != null
                                ? r.getError().getMessage()
                                : r.getError().getName();
                if (m != null) {
                    return m;
                }
            }
            root = t;
        }
        return String.valueOf(root);
    }
}
