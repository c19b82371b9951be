package io.flinklora.gpu.safetensors;

import ai.djl.ndarray.types.DataType;
import io.flinklora.annotation.Internal;
import java.util.Arrays;
import java.util.stream.Collectors;

/** Element types of the safetensors format, with their on-disk size and DJL equivalent. */
@Internal
public enum DType {
    F32(4, DataType.FLOAT32),
    F16(2, DataType.FLOAT16),
    BF16(2, DataType.BFLOAT16),
    F64(8, DataType.FLOAT64),
    I64(8, DataType.INT64),
    I32(4, DataType.INT32),
    I16(2, DataType.INT16),
    I8(1, DataType.INT8),
    U8(1, DataType.UINT8),
    BOOL(1, DataType.BOOLEAN);

    private final int byteSize;
    private final DataType djl;

    DType(int byteSize, DataType djl) {
        this.byteSize = byteSize;
        this.djl = djl;
    }

    /** Bytes per element on disk. */
    public int byteSize() {
        return byteSize;
    }

    /**
     * The DJL data type with the same in-memory layout. DJL 0.35.1's PyTorch engine cannot create
     * BFLOAT16 or INT16 arrays; {@link SafetensorsFile#load} widens those (see there).
     */
    public DataType toDjl() {
        return djl;
    }

    /**
     * Parses the header spelling ({@code "F32"}, {@code "BF16"}, ...), case-sensitive like the
     * reference implementation.
     */
    public static DType parse(String name) throws SafetensorsException {
        if (name != null) {
            for (DType d : values()) {
                if (d.name().equals(name)) {
                    return d;
                }
            }
        }
        throw new SafetensorsException(
                "unknown safetensors dtype '"
                        + name
                        + "' (supported: "
                        + Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "))
                        + ")");
    }

    /** The safetensors type for a DJL type; {@link IllegalArgumentException} if there is none. */
    public static DType fromDjl(DataType type) {
        for (DType d : values()) {
            if (d.djl == type) {
                return d;
            }
        }
        throw new IllegalArgumentException("DJL data type " + type + " has no safetensors dtype");
    }
}
