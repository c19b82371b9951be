package io.flinklora.gpu.engine;

import io.flinklora.annotation.PublicEvolving;

/**
 * Counters of an engine since it started, for metrics and progress lines.
 *
 * @param steps forward passes run
 * @param generatedTokens tokens sampled
 * @param prefillTokens prompt (and resumed) tokens computed
 * @param completed requests finished normally
 * @param running sequences holding KV blocks now
 * @param waiting sequences admitted to the queue but not yet running
 * @param kvBlocksUsed KV blocks owned by running sequences now
 * @param kvBlocksTotal usable KV blocks in the pool
 * @param kvBlockSize positions per block
 * @param kvTokens positions computed and held by running sequences now
 * @param lastBatchRows rows of the last step
 * @param promptTokens tokens sequences brought when they started (prompts, resumed and preempted
 *     tokens)
 * @param cachedPromptTokens of those, tokens served from the prefix cache instead of computed
 * @param preemptions times a running sequence gave its blocks back because the pool ran out or a
 *     waiting request of higher priority took its place
 * @param kvBlocksCached blocks whose content is in the prefix cache (owned or evictable)
 */
@PublicEvolving
public record EngineStats(
        long steps,
        long generatedTokens,
        long prefillTokens,
        long completed,
        int running,
        int waiting,
        int kvBlocksUsed,
        int kvBlocksTotal,
        int kvBlockSize,
        long kvTokens,
        int lastBatchRows,
        long promptTokens,
        long cachedPromptTokens,
        long preemptions,
        int kvBlocksCached) {

    /** Tokens served from the prefix cache / prompt tokens (0 before any request). */
    public double prefixCacheHitRate() {
        return promptTokens == 0 ? 0 : (double) cachedPromptTokens / promptTokens;
    }
}
