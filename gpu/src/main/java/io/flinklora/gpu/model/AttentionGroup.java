package io.flinklora.gpu.model;

import ai.djl.ndarray.NDArray;
import io.flinklora.annotation.Internal;

/**
 * Rows of one step that attend together, padded only to the longest chunk and key range among
 * themselves: a step splits its rows by chunk length so that one long prefill chunk does not pad
 * every decoding row to its length.
 *
 * @param rows the sequences in the group
 * @param kvBlocks [rows * kvHeads * blocks] int64 row of the pool's block view ({@code
 *     PagedKv#keyBlocks}) for each (row, kv head, block of the row's table); entries past a row's
 *     table point at the zero block. Gathering them lays the group's keys out as {@code [rows,
 *     kvHeads, keyLen, headDim]}
 * @param queryGather [rows * queryLen] int64 index into the step's tokens of each padded query row
 *     (a padding row points at any token of the step; its output is never read), or null when the
 *     group's padded layout is the step's tokens in order (pure decode, or one chunk alone)
 * @param mask [rows, 1, queryLen, 1, keyLen] additive mask (0 visible, large negative hidden)
 * @param windowMask the same for the model's sliding-window layers, or null when no layer slides
 * @param queryLen the longest chunk among the group's rows
 * @param keyLen positions attention reads per row: the longest key range in the group, rounded up
 *     to whole blocks
 * @param inPlace how a decode group reads its keys and values where they lie in the pool, or null
 *     when it gathers them ({@code kvBlocks})
 */
@Internal
public record AttentionGroup(
        int rows,
        NDArray kvBlocks,
        NDArray queryGather,
        NDArray mask,
        NDArray windowMask,
        int queryLen,
        int keyLen,
        InPlace inPlace) {

    /**
     * Decode attention on the pool's blocks where they lie, without gathering each row's keys and
     * values into a padded copy: the gather reads and writes every key and value of the group once
     * more per layer (12% of a batch-32 decode step of a 110M model at two threads). Possible when
     * each of the group's blocks belongs to one row only and the blocks lie close together: then
     * one batched product over the range {@code [firstBlock, firstBlock + blocks)} of the pool
     * scores each block against its row's query, and another mixes each block's values; only the
     * small scores and probabilities move between the block and the row layout.
     *
     * @param firstBlock the range's first block of the pool
     * @param blocks blocks in the range
     * @param blockQuery [blocks] int64 the group row whose query scores each block (any row for a
     *     block of no row of the group: its result is never read)
     * @param pairBlock [rows * tableLen] int64 for each (row, block of its table) the block's index
     *     in the range; entries past a row's table point at any block (masked)
     * @param blockPair [blocks] int64 the (row, table position) of each block in the range, as
     *     {@code row * tableLen + position} (any pair for a block of no row)
     * @param owner [rows, blocks] 1 where the block belongs to the row, else 0, in the model's
     *     dtype: its product with the blocks' partial outputs sums each row's blocks
     */
    public record InPlace(
            int firstBlock,
            int blocks,
            NDArray blockQuery,
            NDArray pairBlock,
            NDArray blockPair,
            NDArray owner) {}

    /** Padded query rows the group computes (its share of the step's attention output). */
    public long paddedRows() {
        return (long) rows * queryLen;
    }
}
