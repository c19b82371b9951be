package io.flinklora.client;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.TokenEvent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One request sent through a {@link GenerationClient}: its token events in index order (to the
 * listener given at {@code generate}, and as a list so far), and its completion. The completion
 * future completes once the completion record and the request's last token event have both arrived
 * (they come from different transactions, in either order); it fails with a {@link
 * GenerationFailedException} on an error record, a {@link TimeoutException} when the client's
 * timeout passes, and a {@link CancellationException} on {@link #cancel()}. A timeout or a cancel
 * also cancels the generation in the job.
 */
@PublicEvolving
public final class GenerationHandle {
    private static final Logger LOG = LoggerFactory.getLogger(GenerationHandle.class);
    private final String requestId;
    private final TokenListener listener;
    private final Consumer<String> cancelInJob;
    private final CompletableFuture<Completion> completion = new CompletableFuture<>();
    // Guarded by this: events in order so far, and later ones that arrived early.
    private final List<TokenEvent> tokens = new ArrayList<>();
    private final TreeMap<Integer, TokenEvent> early = new TreeMap<>();
    private boolean lastTokenSeen;
    private Completion received;

    GenerationHandle(String requestId, TokenListener listener, Consumer<String> cancelInJob) {
        this.requestId = requestId;
        this.listener = listener;
        this.cancelInJob = cancelInJob;
    }

    public String requestId() {
        return requestId;
    }

    /** Completes with the request's completion, or fails as the class comment says. */
    public CompletableFuture<Completion> completion() {
        return completion;
    }

    /** The token events delivered so far, in index order. */
    public synchronized List<TokenEvent> tokens() {
        return List.copyOf(tokens);
    }

    /**
     * Stops waiting and cancels the generation in the job; false if the request had already ended.
     */
    public boolean cancel() {
        if (completion.completeExceptionally(
                new CancellationException("request " + requestId + " cancelled"))) {
            cancelInJob.accept(requestId);
            return true;
        }
        return false;
    }

    /** A token event from the reply topic; repeats (at-least-once replays) are dropped by index. */
    synchronized void token(TokenEvent t) {
        int next = tokens.size();
        if (completion.isDone() || t.getIndex() < next || early.containsKey(t.getIndex())) {
            return;
        }
        early.put(t.getIndex(), t);
        while (!early.isEmpty() && early.firstKey() == tokens.size()) {
            TokenEvent e = early.pollFirstEntry().getValue();
            tokens.add(e);
            lastTokenSeen |= e.getFinished();
            try {
                listener.onToken(e);
            } catch (RuntimeException ex) {
                LOG.warn("Token listener of {} failed on index {}", requestId, e.getIndex(), ex);
            }
        }
        completeIfDone();
    }

    synchronized void completed(Completion c) {
        received = c;
        completeIfDone();
    }

    void failed(GenerationError e) {
        completion.completeExceptionally(
                new GenerationFailedException(e.getCode(), e.getMessage()));
    }

    void failed(Throwable t) {
        completion.completeExceptionally(t);
    }

    /** True if this call ended the request (so the caller cancels it in the job). */
    boolean timedOut(Duration timeout) {
        return completion.completeExceptionally(
                new TimeoutException("request " + requestId + ": no completion within " + timeout));
    }

    private void completeIfDone() {
        // A cancelled request has no last token event.
        if (received != null && (lastTokenSeen || "cancelled".equals(received.getFinishReason()))) {
            completion.complete(received);
        }
    }
}
