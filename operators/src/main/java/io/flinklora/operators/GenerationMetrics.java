package io.flinklora.operators;

import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineStats;
import io.flinklora.gpu.lora.AdapterStats;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;

/** The generation operator's metrics, registered under its operator metric group. */
final class GenerationMetrics {
    private final Counter tokens;
    private final Counter requests;
    private final Counter errors;
    private final Counter resumed;
    private final Counter cancelled;
    private final Histogram batchSize;
    private final Histogram timeToFirstTokenMs;
    private final Engine engine;
    // Gauges are read by the metric reporter's thread; the engine is not thread-safe, so they read
    // snapshots the task thread takes after each step.
    private volatile EngineStats stats;
    private volatile AdapterStats adapterStats;

    GenerationMetrics(MetricGroup group, Engine engine) {
        this.engine = engine;
        this.stats = engine.stats();
        this.adapterStats = engine.adapterStats();
        tokens = group.counter("generatedTokens");
        group.meter("tokensPerSecond", new MeterView(tokens));
        requests = group.counter("acceptedRequests");
        errors = group.counter("errorRecords");
        // Sequences restored from keyed state and re-prefilled after a failover or a savepoint
        // restore.
        resumed = group.counter("resumedRequests");
        // Requests their clients cancelled (a timeout, or an explicit cancel record) while in
        // flight.
        cancelled = group.counter("cancelledRequests");
        group.meter("requestsPerSecond", new MeterView(requests));
        batchSize = group.histogram("batchSize", new DescriptiveStatisticsHistogram(1000));
        timeToFirstTokenMs =
                group.histogram("timeToFirstTokenMs", new DescriptiveStatisticsHistogram(1000));
        group.gauge("runningSequences", (Gauge<Integer>) () -> stats.running());
        group.gauge("waitingSequences", (Gauge<Integer>) () -> stats.waiting());
        group.gauge("kvCacheBlocksUsed", (Gauge<Integer>) () -> stats.kvBlocksUsed());
        group.gauge(
                "kvCacheBlocksFree",
                (Gauge<Integer>) () -> stats.kvBlocksTotal() - stats.kvBlocksUsed());
        // Blocks whose content the prefix cache holds, owned or waiting for reuse (evicted when
        // space is needed).
        group.gauge("kvCacheBlocksCached", (Gauge<Integer>) () -> stats.kvBlocksCached());
        group.gauge(
                "kvCacheUtilization",
                (Gauge<Double>)
                        () -> {
                            EngineStats s = stats;
                            return s.kvBlocksTotal() == 0
                                    ? 0.0
                                    : (double) s.kvBlocksUsed() / s.kvBlocksTotal();
                        });
        // Prompt tokens served from the prefix cache / prompt tokens, since the operator started.
        group.gauge("prefixCacheHitRate", (Gauge<Double>) () -> stats.prefixCacheHitRate());
        group.gauge("preemptions", (Gauge<Long>) () -> stats.preemptions());
        group.gauge("completedRequests", (Gauge<Long>) () -> stats.completed());
        MetricGroup adapters = group.addGroup("adapters");
        adapters.gauge("hits", (Gauge<Long>) () -> adapterStat(AdapterStats::hits));
        adapters.gauge("misses", (Gauge<Long>) () -> adapterStat(AdapterStats::misses));
        adapters.gauge("loads", (Gauge<Long>) () -> adapterStat(AdapterStats::loads));
        adapters.gauge(
                "loadTimeMs", (Gauge<Long>) () -> adapterStat(AdapterStats::loadNanos) / 1_000_000);
        adapters.gauge("evictions", (Gauge<Long>) () -> adapterStat(AdapterStats::evictions));
        adapters.gauge("onDevice", (Gauge<Long>) () -> adapterStat(s -> (long) s.onDevice()));
    }

    private long adapterStat(java.util.function.ToLongFunction<AdapterStats> f) {
        AdapterStats s = adapterStats;
        return s == null ? 0 : f.applyAsLong(s);
    }

    /** Records a step; called on the task thread, which also refreshes the gauges' snapshots. */
    void step(int rows, int generated) {
        stats = engine.stats();
        adapterStats = engine.adapterStats();
        if (rows > 0) {
            batchSize.update(rows);
        }
        tokens.inc(generated);
    }

    void accepted() {
        requests.inc();
    }

    /** A cancel; the gauges' snapshots are refreshed too, as no step may follow to do it. */
    void cancelled() {
        cancelled.inc();
        stats = engine.stats();
        adapterStats = engine.adapterStats();
    }

    void resumed() {
        resumed.inc();
    }

    void error() {
        errors.inc();
    }

    void firstToken(long millis) {
        timeToFirstTokenMs.update(millis);
    }
}
