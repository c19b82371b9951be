package io.flinklora.client;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.schemas.TokenEvent;

/**
 * Receives one request's token events in index order, each index once, on the client's reader
 * thread (keep it quick; hand work elsewhere if it is not).
 */
@FunctionalInterface
@PublicEvolving
public interface TokenListener {
    void onToken(TokenEvent event);
}
