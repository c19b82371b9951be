package io.flinklora.gpu.engine;

/**
 * Counters of an engine since it started, for metrics and progress lines.
 *
 * @param steps forward passes run
 * @param generatedTokens tokens sampled
 * @param prefillTokens prompt (and resumed) tokens computed
 * @param completed requests finished normally
 * @param running sequences with a KV slot now
 * @param waiting sequences admitted to the queue but not yet running
 * @param kvSlotsUsed slots taken now
 * @param kvSlotsTotal slots in the pool
 * @param kvTokens positions cached now
 * @param lastBatchRows rows of the last step
 */
public record EngineStats(long steps, long generatedTokens, long prefillTokens, long completed, int running,
                          int waiting, int kvSlotsUsed, int kvSlotsTotal, long kvTokens, int lastBatchRows) {
}
