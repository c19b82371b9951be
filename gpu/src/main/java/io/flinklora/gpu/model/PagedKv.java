package io.flinklora.gpu.model;

import ai.djl.ndarray.NDArray;
import io.flinklora.annotation.Internal;

/**
 * The paged KV cache as the forward pass sees it: per layer, the keys and values as rows to write a
 * step's tokens into and as blocks to gather a group's tables from. The engine's block pool
 * implements it, so the model depends on this view and not on the cache that allocates and hands
 * out blocks.
 */
@Internal
public interface PagedKv {
    /** Keys of a layer as rows {@code [(block * kvHeads + head) * blockSize + offset, headDim]}. */
    NDArray keysFlat(int layer);

    /** Values of a layer, laid out as {@link #keysFlat}. */
    NDArray valuesFlat(int layer);

    /** Keys of a layer as rows {@code [block * kvHeads + head, blockSize * headDim]}. */
    NDArray keyBlocks(int layer);

    /** Values of a layer, laid out as {@link #keyBlocks}. */
    NDArray valueBlocks(int layer);

    /**
     * The decoding sequences' contiguous copy of their keys, {@code [rows, kvHeads, length,
     * headDim]}, which a group with {@link AttentionGroup#decodeWrite} reads instead of the blocks.
     */
    NDArray decodeKeys(int layer);

    /** Values of the decoding sequences' copy, laid out as {@link #decodeKeys}. */
    NDArray decodeValues(int layer);

    /**
     * {@link #decodeKeys} as rows {@code [(row * kvHeads + head) * length + position, headDim]}.
     */
    NDArray decodeKeysFlat(int layer);

    /** {@link #decodeValues} laid out as {@link #decodeKeysFlat}. */
    NDArray decodeValuesFlat(int layer);
}
