package io.flinklora.gpu.lora;

import io.flinklora.annotation.PublicEvolving;

/** How the LoRA part of a projection is computed for a batch that mixes adapters. */
@PublicEvolving
public enum LoraStrategy {
    /**
     * Rows are grouped by adapter; each adapter's segment runs two small products with its own
     * rank, and one product with a row/weight matrix puts the deltas back: exact ranks, each
     * adapter's weights read once per step, a fixed number of operations per adapter.
     */
    SEGMENTED,
    /**
     * Each (row, adapter) pair gathers its adapter's A and B, zero-padded to the largest rank in
     * the batch, and one batched product covers all pairs (the BGMV approach).
     */
    GATHERED,
    /**
     * Rows are scattered into the slot layout of the adapters' device pools ({@code [slots, rows,
     * in]}) and one batched product per rank runs over the pool's occupied slot range: no weight
     * copies and a fixed number of operations per projection, at the price of computing empty slots
     * in that range. The default ({@link AdapterSettings#DEFAULT}).
     */
    POOLED,
    /**
     * One row at a time, one adapter at a time: the baseline the batched strategies are measured
     * against.
     */
    LOOP
}
