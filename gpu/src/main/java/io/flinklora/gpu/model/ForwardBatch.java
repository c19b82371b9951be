package io.flinklora.gpu.model;

import ai.djl.ndarray.NDArray;
import io.flinklora.annotation.Internal;
import java.util.List;

/**
 * The tensors of one engine step, laid out for {@link LlamaModel#forward}: the step's tokens
 * flattened in row order, where each token's keys and values go in the cache, and the attention
 * groups (rows split by chunk length, each padded only among its own rows) with the mask of which
 * cached positions each query may see. Built by the model runner inside the step's scope.
 *
 * @param tokenIds [T] int64, every token of the step (prefill chunks and decode tokens)
 * @param positions [T] int64, each token's position in its sequence
 * @param kvWriteIndex [T * kvHeads] int64, flat row of the cache each (token, kv head) is written
 *     to
 * @param attention the step's attention groups; every token of the step is in exactly one
 * @param outputGather [T] int64 row of each token in the groups' padded attention outputs
 *     concatenated in group order, which puts the outputs back in the step's token order; null when
 *     that concatenation already is the step's tokens in order (one group with no padding)
 * @param logitRows [R] int64, the flattened token indices whose next-token logits are wanted
 * @param copyTokens [n] int64, the step's tokens whose keys and values also go in the decoding
 *     sequences' contiguous copy ({@link PagedKv#decodeKeys}); null when it is not kept ({@code
 *     copyWrite} null too) or when the copy takes every token of the step in order
 * @param copyWrite [n * kvHeads] int64 row of {@link PagedKv#decodeKeysFlat} each (copy token, kv
 *     head) is written to, or null
 */
@Internal
public record ForwardBatch(
        NDArray tokenIds,
        NDArray positions,
        NDArray kvWriteIndex,
        List<AttentionGroup> attention,
        NDArray outputGather,
        NDArray logitRows,
        long[] logitTokenRows,
        NDArray copyTokens,
        NDArray copyWrite) {

    public ForwardBatch {
        attention = List.copyOf(attention);
    }

    /** Number of tokens in the step. */
    public long tokens() {
        return tokenIds.size();
    }
}
