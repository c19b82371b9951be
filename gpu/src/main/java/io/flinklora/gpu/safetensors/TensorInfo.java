package io.flinklora.gpu.safetensors;

import ai.djl.ndarray.types.Shape;
import io.flinklora.annotation.Internal;
import java.util.Arrays;
import java.util.Objects;

/**
 * One header entry: name, dtype, shape and the byte range {@code [begin, end)} relative to the
 * start of the data region (i.e. after the 8-byte length and the header).
 */
@Internal
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {

    public TensorInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        shape = shape.clone(); // records expose arrays by reference; keep this one immutable
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of elements (1 for a scalar); {@link ArithmeticException} on overflow. */
    public long numel() {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** Stored size in bytes, {@code end - begin}. */
    public long byteLength() {
        return end - begin;
    }

    /** The shape as a DJL {@link Shape}. */
    public Shape djlShape() {
        return new Shape(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t
                && name.equals(t.name)
                && dtype == t.dtype
                && Arrays.equals(shape, t.shape)
                && begin == t.begin
                && end == t.end;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape), begin, end);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " @[" + begin + ", " + end + ")";
    }
}
