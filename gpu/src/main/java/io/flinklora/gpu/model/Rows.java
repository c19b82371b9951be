package io.flinklora.gpu.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import io.flinklora.annotation.Internal;

/**
 * {@code table[index]} along the first dimension, as PyTorch's {@code index_select} computes it.
 *
 * <p>DJL's {@code get(NDArray)} is advanced indexing, whose CPU kernel copies element by element;
 * {@code index_select} copies whole rows. DJL has no {@code index_select}, but {@code
 * torch.embedding} is exactly {@code weight.index_select(0, index)}: 2.6x faster on the KV-block
 * gather of a decode step (0.41 against 1.07 ms for 2,304 rows of 4 KiB), same values.
 */
@Internal
public final class Rows {
    private Rows() {}

    /**
     * The rows of {@code table} named by {@code index} (int32 or int64, any shape): shape {@code
     * index.shape + table.shape[1:]}. A table of more than two dimensions must be contiguous (it is
     * viewed as two), or it would be copied whole.
     */
    public static NDArray of(NDArray table, NDArray index) {
        Shape s = table.getShape();
        if (s.dimension() == 2) {
            return gather(table, index);
        }
        NDArray flat = table.reshape(s.get(0), s.size() / s.get(0));
        NDArray rows = gather(flat, index);
        flat.close(); // a view: closing the handle frees no storage
        NDArray out = rows.reshape(index.getShape().addAll(s.slice(1)));
        rows.close();
        return out;
    }

    private static NDArray gather(NDArray table2d, NDArray index) {
        return table2d.getNDArrayInternal()
                .embedding(index, table2d, SparseFormat.DENSE)
                .singletonOrThrow();
    }
}
