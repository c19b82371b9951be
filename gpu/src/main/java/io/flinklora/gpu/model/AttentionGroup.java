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
 * @param readsDecodeCopy whether the group is the decode group, which reads rows {@code 0..rows-1}
 *     of the decoding sequences' contiguous copy ({@link PagedKv#decodeKeys}) in place ({@code
 *     kvBlocks} is then null) instead of gathering its rows' blocks
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
        boolean readsDecodeCopy,
        int copyFrom) {

    /** Padded query rows the group computes (its share of the step's attention output). */
    public long paddedRows() {
        return (long) rows * queryLen;
    }
}
