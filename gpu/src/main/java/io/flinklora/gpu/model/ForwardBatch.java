package io.flinklora.gpu.model;

import ai.djl.ndarray.NDArray;

/**
 * The tensors of one engine step, laid out for {@link LlamaModel#forward}: the step's tokens
 * flattened in row order, plus where each token's keys and values go in the cache and which
 * cached positions each query may see. Built by the model runner inside the step's scope.
 *
 * @param tokenIds [T] int64, every token of the step (prefill chunks and decode tokens)
 * @param positions [T] int64, each token's position in its sequence
 * @param kvWriteIndex [T * kvHeads] int64, flat row of the cache each (token, kv head) is written to
 * @param queryScatter [T] int64 row of each token in the padded [rows * queryLen] query layout,
 *     or null when every row has exactly one token (pure decode), where no padding is needed
 * @param attentionMask [rows, 1, queryLen, 1, keyLen] additive mask (0 visible, large negative hidden)
 * @param rows the number of cache slots taking part (slots 0..rows-1)
 * @param queryLen the longest chunk of any row in this step
 * @param keyLen the number of cached positions attention reads per row
 * @param logitRows [R] int64, the flattened token indices whose next-token logits are wanted
 */
public record ForwardBatch(
        NDArray tokenIds,
        NDArray positions,
        NDArray kvWriteIndex,
        NDArray queryScatter,
        NDArray attentionMask,
        int rows,
        int queryLen,
        int keyLen,
        NDArray logitRows) {

    /** Number of tokens in the step. */
    public long tokens() {
        return tokenIds.size();
    }
}
