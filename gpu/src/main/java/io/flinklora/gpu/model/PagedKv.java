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
}
