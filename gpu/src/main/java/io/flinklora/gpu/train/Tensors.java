package io.flinklora.gpu.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Creates arrays from Java data in memory PyTorch owns. DJL's CPU arrays made from Java arrays wrap
 * a direct buffer that the garbage collector frees with the Java object; autograd keeps tensors
 * alive past that (saved for backward, views). {@code NDArray.mul(Number)} is the sharpest case: it
 * wraps the number, multiplies and closes the wrapper at once, while autograd keeps the number for
 * the backward pass. The trainer saw corrupted gradients under GC pressure from exactly this, so
 * its differentiable path multiplies by {@link #scalar}s and builds inputs with {@link #create}.
 */
final class Tensors {
    private Tensors() {}

    static NDArray owned(NDArray wrapped) {
        NDArray copy = wrapped.duplicate();
        wrapped.close();
        return copy;
    }

    /** A float32 scalar in PyTorch-owned memory (safe to multiply by under autograd). */
    static NDArray scalar(NDManager m, double value) {
        return create(m, new float[] {(float) value}, new Shape());
    }

    static NDArray create(NDManager m, float[] data, Shape shape) {
        return owned(m.create(data, shape));
    }

    static NDArray create(NDManager m, long[] data, Shape shape) {
        return owned(m.create(data, shape));
    }
}
