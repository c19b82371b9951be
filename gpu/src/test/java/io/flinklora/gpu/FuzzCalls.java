package io.flinklora.gpu;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs one parser call of a fuzz property under a time bound, accepting only a value or the
 * parser's own exception.
 */
public final class FuzzCalls {

    private static final ExecutorService WORKER =
            Executors.newCachedThreadPool(
                    r -> {
                        Thread t = new Thread(r, "fuzz-call");
                        t.setDaemon(true);
                        return t;
                    });

    private FuzzCalls() {}

    /** A parser call. */
    public interface Call<T> {
        T run() throws Exception;
    }

    /**
     * The call's value, or null when it threw {@code expected}; fails on any other throwable (named
     * with {@code input}) and on a call that takes longer than {@code boundMs} (a hang).
     */
    public static <T> T valueOrCodedError(
            String input, long boundMs, Class<? extends Throwable> expected, Call<T> call) {
        Future<T> f = WORKER.submit(call::run);
        try {
            return f.get(boundMs, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            fail("call did not finish within " + boundMs + " ms on input " + input);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail(e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (expected.isInstance(c)) {
                if (c.getMessage() == null || c.getMessage().isEmpty()) {
                    fail(expected.getSimpleName() + " without a message on input " + input);
                }
                return null;
            }
            throw new AssertionError(
                    "threw " + c + " instead of " + expected.getSimpleName() + " on input " + input,
                    c);
        }
        return null;
    }
}
