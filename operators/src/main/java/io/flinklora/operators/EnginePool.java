package io.flinklora.operators;

import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.apache.flink.annotation.Internal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Engines kept warm between task attempts in one TaskManager process: an attempt that restarts
 * after a failure (or a restore onto the same TaskManager) takes the engine its predecessor
 * released - weights loaded, KV blocks of its prefix cache still there, so re-prefilling the
 * restored requests reuses them - instead of loading the model again. An engine nobody takes within
 * the idle time is closed, so a cancelled job does not keep device memory.
 */
@Internal
final class EnginePool {
    private static final Logger LOG = LoggerFactory.getLogger(EnginePool.class);
    static final long IDLE_MILLIS = Long.getLong("flinklora.engine.idle-millis", 60_000L);
    private static final Map<EngineConfig, Deque<Engine>> IDLE = new HashMap<>();
    private static final ScheduledExecutorService REAPER =
            Executors.newSingleThreadScheduledExecutor(
                    r -> {
                        Thread t = new Thread(r, "flink-lora-engine-reaper");
                        t.setDaemon(true);
                        return t;
                    });

    private EnginePool() {}

    /** An idle engine of exactly this configuration, or a new one opened with {@code open}. */
    static Engine acquire(EngineConfig config, Function<EngineConfig, Engine> open) {
        synchronized (IDLE) {
            Deque<Engine> parked = IDLE.get(config);
            if (parked != null && !parked.isEmpty()) {
                Engine e = parked.pop();
                LOG.info(
                        "Reusing a warm engine ({} prefix-cached KV blocks)",
                        e.stats().kvBlocksCached());
                return e;
            }
        }
        return open.apply(config);
    }

    /**
     * Takes back an engine its attempt no longer uses: requests still in it are dropped (they are
     * in the attempt's state, and a restore resubmits them), and it waits for the next attempt. An
     * engine whose step failed may be inconsistent: it is closed instead ({@code healthy} false).
     */
    static void release(Engine engine, boolean healthy) {
        if (!healthy || IDLE_MILLIS <= 0) {
            engine.close();
            return;
        }
        engine.abortAll();
        synchronized (IDLE) {
            IDLE.computeIfAbsent(engine.config(), k -> new ArrayDeque<>()).push(engine);
        }
        REAPER.schedule(() -> closeIfIdle(engine), IDLE_MILLIS, TimeUnit.MILLISECONDS);
    }

    private static void closeIfIdle(Engine engine) {
        synchronized (IDLE) {
            Deque<Engine> parked = IDLE.get(engine.config());
            if (parked == null || !parked.remove(engine)) {
                return; // taken by another attempt meanwhile
            }
        }
        LOG.info("Closing an engine nobody took within {} ms", IDLE_MILLIS);
        engine.close();
    }
}
