package io.flinklora.client;

import io.flinklora.schemas.TokenEvent;

/**
 * Receives one request's token events in index order, each index once, on the client's reader thread
 * (keep it quick; hand work elsewhere if it is not).
 */
@FunctionalInterface
public interface TokenListener {
    void onToken(TokenEvent event);
}
