package io.flinklora.gpu.safetensors;

import ai.djl.ndarray.NDArray;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Builds a {@code .safetensors} file in the reference layout: compact JSON header padded with
 * spaces to 8-byte alignment, {@code __metadata__} first, tensors in sorted name order, data
 * contiguous.
 *
 * <p>Not thread-safe. {@link ByteBuffer} data is read at {@link #write} time (do not modify it
 * before); {@code float[]} and {@link NDArray} data are copied when added.
 */
@Internal
public final class SafetensorsWriter {

    /**
     * Hugging Face's reader refuses headers above 100,000,000 bytes (slightly under our reader's
     * cap).
     */
    static final long REFERENCE_MAX_HEADER_BYTES = 100_000_000L;

    private record Pending(DType dtype, long[] shape, ByteBuffer data) {}

    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final TreeMap<String, Pending> tensors = new TreeMap<>();

    /** Adds a {@code __metadata__} entry (e.g. {@code "format" -> "pt"}). */
    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
        return this;
    }

    /**
     * Adds raw little-endian element bytes (position to limit of {@code data}, whatever its byte
     * order setting); their count must equal {@code numel(shape) * dtype.byteSize()}.
     */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, ByteBuffer data) {
        Objects.requireNonNull(dtype, "dtype");
        long[] s = shape.clone();
        long need = checkedBytes(name, dtype, s);
        if (data.remaining() != need) {
            throw new IllegalArgumentException(
                    "tensor '"
                            + name
                            + "': "
                            + data.remaining()
                            + " bytes given, shape "
                            + Arrays.toString(s)
                            + " of "
                            + dtype
                            + " needs "
                            + need);
        }
        put(name, new Pending(dtype, s, data.slice().asReadOnlyBuffer()));
        return this;
    }

    /**
     * Adds float values stored as {@code dtype} (F32, F16 or BF16); F16/BF16 are rounded to nearest
     * even, as PyTorch does.
     */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, float[] data) {
        Objects.requireNonNull(dtype, "dtype");
        long[] s = shape.clone();
        long need = checkedBytes(name, dtype, s);
        if ((long) data.length * dtype.byteSize() != need) {
            throw new IllegalArgumentException(
                    "tensor '"
                            + name
                            + "': "
                            + data.length
                            + " values given, shape "
                            + Arrays.toString(s)
                            + " needs "
                            + need / dtype.byteSize());
        }
        ByteBuffer buf = ByteBuffer.allocate(Math.toIntExact(need)).order(ByteOrder.LITTLE_ENDIAN);
        switch (dtype) {
            case F32 -> buf.asFloatBuffer().put(data);
            case F16 -> {
                for (float f : data) {
                    buf.putShort(HalfFloats.toF16(f));
                }
            }
            case BF16 -> {
                for (float f : data) {
                    buf.putShort(HalfFloats.toBf16(f));
                }
            }
            default ->
                    throw new IllegalArgumentException(
                            "tensor '"
                                    + name
                                    + "': float[] data can be stored as F32, F16 or BF16, not "
                                    + dtype);
        }
        buf.clear();
        put(name, new Pending(dtype, s, buf.asReadOnlyBuffer()));
        return this;
    }

    /**
     * Adds a copy of {@code array}, taking dtype and shape from it (F32/F16/BF16 and integer
     * types).
     */
    public SafetensorsWriter add(String name, NDArray array) {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new UnsupportedOperationException(
                    "writing NDArrays requires a little-endian platform");
        }
        DType dtype = DType.fromDjl(array.getDataType());
        ByteBuffer bytes = array.toByteBuffer(); // native order == little-endian here
        ByteBuffer copy = ByteBuffer.allocate(bytes.remaining());
        copy.put(bytes.duplicate()).flip();
        return add(name, dtype, array.getShape().getShape(), copy);
    }

    /** Number of tensors added so far. */
    public int size() {
        return tensors.size();
    }

    /**
     * Writes the file (via a temporary sibling moved into place, so readers never see half a file).
     */
    public void write(Path file) throws IOException {
        ObjectNode header = SafetensorsFile.JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = header.putObject(SafetensorsFile.METADATA_KEY);
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Map.Entry<String, Pending> e : tensors.entrySet()) {
            Pending p = e.getValue();
            ObjectNode t = header.putObject(e.getKey());
            t.put("dtype", p.dtype().name());
            ArrayNode shape = t.putArray("shape");
            for (long d : p.shape()) {
                shape.add(d);
            }
            long end = offset + p.data().remaining();
            t.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json = SafetensorsFile.JSON.writeValueAsBytes(header);
        int pad = (8 - json.length % 8) % 8; // keeps the data region 8-byte aligned
        long headerLen = (long) json.length + pad;
        if (headerLen > REFERENCE_MAX_HEADER_BYTES) {
            throw new SafetensorsException(
                    file
                            + ": header of "
                            + headerLen
                            + " bytes exceeds the reference limit of "
                            + REFERENCE_MAX_HEADER_BYTES);
        }
        ByteBuffer head = ByteBuffer.allocate(8 + (int) headerLen).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(headerLen).put(json);
        for (int i = 0; i < pad; i++) {
            head.put((byte) ' ');
        }
        head.flip();

        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        Path tmp = Files.createTempFile(dir, "." + abs.getFileName(), ".tmp");
        try {
            try (FileChannel ch =
                    FileChannel.open(
                            tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                writeFully(ch, head);
                for (Pending p : tensors.values()) {
                    writeFully(ch, p.data().duplicate());
                }
                ch.force(true);
            }
            try {
                Files.move(
                        tmp,
                        abs,
                        StandardCopyOption.REPLACE_EXISTING,
                        StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    private void put(String name, Pending p) {
        if (tensors.containsKey(name)) {
            throw new IllegalArgumentException("tensor '" + name + "' added twice");
        }
        tensors.put(name, p);
    }

    private static long checkedBytes(String name, DType dtype, long[] shape) {
        if (name == null || name.isEmpty() || SafetensorsFile.METADATA_KEY.equals(name)) {
            throw new IllegalArgumentException("invalid tensor name '" + name + "'");
        }
        try {
            long n = 1;
            for (long d : shape) {
                if (d < 0) {
                    throw new IllegalArgumentException(
                            "tensor '" + name + "': negative dim in " + Arrays.toString(shape));
                }
                n = Math.multiplyExact(n, d);
            }
            return Math.multiplyExact(n, (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(
                    "tensor '" + name + "': shape " + Arrays.toString(shape) + " overflows");
        }
    }
}
