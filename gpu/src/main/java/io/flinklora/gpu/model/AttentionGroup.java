package io.flinklora.gpu.model;

import ai.djl.ndarray.NDArray;

/**
 * Rows of one step that attend together, padded only to the longest chunk and key range among
 * themselves: a step splits its rows by chunk length so that one long prefill chunk does not pad
 * every decoding row to its length.
 *
 * @param rows the sequences (cache slots) in the group, in slot order
 * @param firstSlot the first slot of the group; with {@code slots == null} the group reads slots
 *     {@code firstSlot .. firstSlot + rows - 1} as one window view of the cache
 * @param slots [rows] int64 cache slot of each row, or null when the slots are contiguous (no gather)
 * @param queryGather [rows * queryLen] int64 index into the step's tokens of each padded query row
 *     (a padding row points at any token of the step; its output is never read), or null when the
 *     group's padded layout is the step's tokens in order (pure decode, or one chunk alone)
 * @param mask [rows, 1, queryLen, 1, keyLen] additive mask (0 visible, large negative hidden)
 * @param windowMask the same for the model's sliding-window layers, or null when no layer slides
 * @param queryLen the longest chunk among the group's rows
 * @param keyLen the cached positions attention reads per row (the longest key range in the group)
 */
public record AttentionGroup(
        int rows,
        int firstSlot,
        NDArray slots,
        NDArray queryGather,
        NDArray mask,
        NDArray windowMask,
        int queryLen,
        int keyLen) {

    /** Padded query rows the group computes (its share of the step's attention output). */
    public long paddedRows() {
        return (long) rows * queryLen;
    }
}
