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
    private final Histogram batchSize;
    private final Histogram timeToFirstTokenMs;

    GenerationMetrics(MetricGroup group, Engine engine) {
        tokens = group.counter("generatedTokens");
        group.meter("tokensPerSecond", new MeterView(tokens));
        requests = group.counter("acceptedRequests");
        errors = group.counter("errorRecords");
        group.meter("requestsPerSecond", new MeterView(requests));
        batchSize = group.histogram("batchSize", new DescriptiveStatisticsHistogram(1000));
        timeToFirstTokenMs = group.histogram("timeToFirstTokenMs", new DescriptiveStatisticsHistogram(1000));
        group.gauge("runningSequences", (Gauge<Integer>) () -> engine.stats().running());
        group.gauge("waitingSequences", (Gauge<Integer>) () -> engine.stats().waiting());
        group.gauge("kvCacheSlotsUsed", (Gauge<Integer>) () -> engine.stats().kvSlotsUsed());
        group.gauge("kvCacheUtilization", (Gauge<Double>) () -> {
            EngineStats s = engine.stats();
            return s.kvSlotsTotal() == 0 ? 0.0 : (double) s.kvTokens() / ((long) s.kvSlotsTotal() * engine.maxSequenceLength());
        });
        group.gauge("completedRequests", (Gauge<Long>) () -> engine.stats().completed());
        MetricGroup adapters = group.addGroup("adapters");
        adapters.gauge("hits", (Gauge<Long>) () -> adapterStat(engine, AdapterStats::hits));
        adapters.gauge("misses", (Gauge<Long>) () -> adapterStat(engine, AdapterStats::misses));
        adapters.gauge("loads", (Gauge<Long>) () -> adapterStat(engine, AdapterStats::loads));
        adapters.gauge("loadTimeMs", (Gauge<Long>) () -> adapterStat(engine, AdapterStats::loadNanos) / 1_000_000);
        adapters.gauge("evictions", (Gauge<Long>) () -> adapterStat(engine, AdapterStats::evictions));
        adapters.gauge("onDevice", (Gauge<Long>) () -> adapterStat(engine, s -> (long) s.onDevice()));
    }

    private static long adapterStat(Engine engine, java.util.function.ToLongFunction<AdapterStats> f) {
        AdapterStats s = engine.adapterStats();
        return s == null ? 0 : f.applyAsLong(s);
    }

    void step(int rows, int generated) {
        if (rows > 0) {
            batchSize.update(rows);
        }
        tokens.inc(generated);
    }

    void accepted() {
        requests.inc();
    }

    void error() {
        errors.inc();
    }

    void firstToken(long millis) {
        timeToFirstTokenMs.update(millis);
    }
}
