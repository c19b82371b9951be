package io.flinklora.gpu.model;

import ai.djl.ndarray.NDArray;
import io.flinklora.annotation.Internal;

/**
 * Adds per-row adapter changes (LoRA deltas, DoRA scales, replaced embeddings and output heads) to
 * a batched forward pass. The base model calls it at every projection, after the embedding lookup
 * and after the output head; an implementation with nothing to add returns its argument unchanged,
 * so a batch without adapters pays nothing.
 */
@Internal
public interface ProjectionDelta extends AutoCloseable {
    ProjectionDelta NONE = (layer, projection, input, output, baseBias) -> output;

    /**
     * @param input the projection's input rows, one per token of the step
     * @param output the base projection's output for the same rows (its bias included)
     * @param baseBias the base projection's bias, or null (DoRA scales the output without it)
     * @return the output with the deltas added (may be {@code output} itself)
     */
    NDArray apply(
            int layer, Projection projection, NDArray input, NDArray output, NDArray baseBias);

    /**
     * LoRA on a sparse layer's parameters (PEFT's {@code target_parameters}): the deltas of every
     * expert's product over its rows, or of the router's logits.
     *
     * @param input the product's input rows, grouped by expert
     * @param output the base product of the same rows
     * @param tokenRows for each input row, its token row in the step; null when the rows are the
     *     step's tokens in order (the router, the shared expert)
     * @param expertStart rows {@code expertStart[e]} to {@code expertStart[e + 1]} are expert e's;
     *     null when all rows are one product's (the router, the shared expert)
     * @return the output with the deltas added (may be {@code output} itself)
     */
    default NDArray parameter(
            int layer,
            ExpertParameter parameter,
            NDArray input,
            NDArray output,
            long[] tokenRows,
            int[] expertStart) {
        return output;
    }

    /**
     * Per-row changes of the embedding lookup (embedding LoRA, an adapter's own embedding table),
     * applied before any embedding scale, as PEFT applies them inside the scaled embedding module.
     *
     * @param embedded [tokens, hidden] the base embeddings of the step's tokens
     */
    default NDArray embed(NDArray tokenIds, NDArray embedded) {
        return embedded;
    }

    /**
     * Per-row output heads (an adapter's saved {@code lm_head}).
     *
     * @param hidden [R, hidden] the final-norm states of the logit rows
     * @param logits [R, vocab] the base head's logits of the same rows
     * @param tokenRows for each logit row, its token row in the step
     */
    default NDArray logits(NDArray hidden, NDArray logits, long[] tokenRows) {
        return logits;
    }

    /** Frees what the delta kept for the whole step (arrays that outlive the per-layer scopes). */
    @Override
    default void close() {}
}
