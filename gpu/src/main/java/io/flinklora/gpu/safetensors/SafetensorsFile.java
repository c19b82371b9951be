package io.flinklora.gpu.safetensors;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.flinklora.annotation.Internal;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One {@code .safetensors} file whose header is fully validated against the file before any tensor
 * data is read.
 *
 * <p>Only the file channel stays open; tensor bytes are mapped ({@link #bytes}) or read ({@link
 * #load}) per tensor, so no whole-file mapping is kept alive. Positional reads make it safe to use
 * from several threads. Gaps between tensors are tolerated; overlaps are not.
 */
@Internal
public final class SafetensorsFile implements AutoCloseable {

    /**
     * Same cap as the reference implementation (which uses 100 MB); headers are tiny in practice.
     */
    public static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    /** Tensors above this many bytes are loaded in dim-0 slices (DJL buffers are int-indexed). */
    static final long DEFAULT_LOAD_CHUNK_BYTES = 1L << 30;

    static final String METADATA_KEY = "__metadata__";

    static final JsonMapper JSON =
            JsonMapper.builder()
                    .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                    .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                    .build();

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final long dataLength;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;
    private volatile boolean closed;

    private SafetensorsFile(
            Path path,
            FileChannel channel,
            long dataStart,
            long dataLength,
            Map<String, TensorInfo> tensors,
            Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.dataLength = dataLength;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Opens and validates {@code file}; the channel is closed again if validation fails. */
    public static SafetensorsFile open(Path file) throws IOException {
        FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
        try {
            return parse(file, ch);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private static SafetensorsFile parse(Path file, FileChannel ch) throws IOException {
        long size = ch.size();
        if (size < 8) {
            throw err(file, "file is " + size + " bytes, shorter than the 8-byte header length");
        }
        ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(file, ch, lenBuf, 0);
        long n = lenBuf.getLong(0); // u64; >= 2^63 shows up negative
        String declared = Long.toUnsignedString(n);
        if (n == 0) {
            throw err(file, "header length is 0");
        }
        if (n < 0 || n > size - 8) {
            throw err(
                    file,
                    "header length "
                            + declared
                            + " exceeds the file ("
                            + size
                            + " bytes, minus 8 for the length)");
        }
        if (n > MAX_HEADER_BYTES) {
            throw err(
                    file,
                    "header length "
                            + declared
                            + " exceeds the cap of "
                            + MAX_HEADER_BYTES
                            + " bytes");
        }
        // Only now is n known to be small and backed by real bytes.
        ByteBuffer headerBuf = ByteBuffer.allocate((int) n);
        readFully(file, ch, headerBuf, 8);
        String text;
        try {
            CharBuffer chars =
                    StandardCharsets.UTF_8
                            .newDecoder()
                            .onMalformedInput(CodingErrorAction.REPORT)
                            .onUnmappableCharacter(CodingErrorAction.REPORT)
                            .decode(headerBuf.flip());
            text = chars.toString();
        } catch (CharacterCodingException e) {
            throw err(file, "header is not valid UTF-8", e);
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw err(file, "header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw err(
                    file,
                    "header is not a JSON object (got "
                            + (root == null ? "nothing" : root.getNodeType())
                            + ")");
        }
        long dataStart = 8 + n;
        long dataLength = size - dataStart;

        Map<String, String> metadata = Map.of();
        List<TensorInfo> list = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (METADATA_KEY.equals(e.getKey())) {
                metadata = parseMetadata(file, e.getValue());
            } else {
                list.add(parseEntry(file, e.getKey(), e.getValue(), dataLength));
            }
        }

        // Overlap check on non-empty tensors in offset order (empty tensors occupy no bytes).
        list.sort(Comparator.comparingLong(TensorInfo::begin).thenComparing(TensorInfo::name));
        TensorInfo prev = null;
        for (TensorInfo t : list) {
            if (t.byteLength() == 0) {
                continue;
            }
            if (prev != null && t.begin() < prev.end()) {
                throw err(
                        file,
                        "tensors '"
                                + prev.name()
                                + "' ["
                                + prev.begin()
                                + ", "
                                + prev.end()
                                + ") and '"
                                + t.name()
                                + "' ["
                                + t.begin()
                                + ", "
                                + t.end()
                                + ") overlap");
            }
            prev = t;
        }
        Map<String, TensorInfo> byName = new LinkedHashMap<>();
        for (TensorInfo t : list) {
            byName.put(t.name(), t);
        }
        return new SafetensorsFile(
                file, ch, dataStart, dataLength, Collections.unmodifiableMap(byName), metadata);
    }

    private static Map<String, String> parseMetadata(Path file, JsonNode node)
            throws SafetensorsException {
        if (!node.isObject()) {
            throw err(
                    file,
                    "'__metadata__' must be a JSON object of strings, got " + node.getNodeType());
        }
        Map<String, String> m = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) {
                throw err(
                        file,
                        "'__metadata__' value for key '"
                                + e.getKey()
                                + "' must be a string, got "
                                + e.getValue().getNodeType());
            }
            m.put(e.getKey(), e.getValue().textValue());
        }
        return Collections.unmodifiableMap(m);
    }

    private static TensorInfo parseEntry(Path file, String name, JsonNode node, long dataLength)
            throws SafetensorsException {
        String where = "tensor '" + name + "'";
        if (!node.isObject()) {
            throw err(file, where + ": entry must be a JSON object, got " + node.getNodeType());
        }
        JsonNode dt = node.get("dtype");
        JsonNode sh = node.get("shape");
        JsonNode off = node.get("data_offsets");
        if (dt == null) {
            throw err(file, where + ": missing field 'dtype'");
        }
        if (sh == null) {
            throw err(file, where + ": missing field 'shape'");
        }
        if (off == null) {
            throw err(file, where + ": missing field 'data_offsets'");
        }
        if (!dt.isTextual()) {
            throw err(file, where + ": field 'dtype' must be a string, got " + dt.getNodeType());
        }
        DType dtype;
        try {
            dtype = DType.parse(dt.textValue());
        } catch (SafetensorsException e) {
            throw err(file, where + ": field 'dtype': " + e.getMessage(), e);
        }
        if (!sh.isArray()) {
            throw err(
                    file,
                    where
                            + ": field 'shape' must be an array of integers, got "
                            + sh.getNodeType());
        }
        long[] shape = new long[sh.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = nonNegativeLong(file, where + ": field 'shape'[" + i + "]", sh.get(i));
        }
        if (!off.isArray() || off.size() != 2) {
            throw err(
                    file,
                    where + ": field 'data_offsets' must be an array of 2 integers, got " + off);
        }
        long begin = nonNegativeLong(file, where + ": field 'data_offsets'[0]", off.get(0));
        long end = nonNegativeLong(file, where + ": field 'data_offsets'[1]", off.get(1));
        long expected;
        try {
            long numel = 1;
            for (long d : shape) {
                numel = Math.multiplyExact(numel, d);
            }
            expected = Math.multiplyExact(numel, (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw err(
                    file,
                    where
                            + ": shape "
                            + Arrays.toString(shape)
                            + " of "
                            + dtype
                            + " overflows 64-bit size");
        }
        if (end < begin) {
            throw err(file, where + ": data_offsets end " + end + " is before begin " + begin);
        }
        if (end - begin != expected) {
            throw err(
                    file,
                    where
                            + ": data_offsets ["
                            + begin
                            + ", "
                            + end
                            + ") span "
                            + (end - begin)
                            + " bytes but shape "
                            + Arrays.toString(shape)
                            + " of "
                            + dtype
                            + " needs "
                            + expected);
        }
        if (end > dataLength) {
            throw err(
                    file,
                    where
                            + ": data_offsets ["
                            + begin
                            + ", "
                            + end
                            + ") go beyond the data region of "
                            + dataLength
                            + " bytes (file truncated?)");
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static long nonNegativeLong(Path file, String where, JsonNode n)
            throws SafetensorsException {
        if (n == null || !n.isIntegralNumber()) {
            throw err(
                    file,
                    where + " must be an integer, got " + (n == null ? "nothing" : n.toString()));
        }
        if (!n.canConvertToLong() || n.longValue() < 0) {
            throw err(file, where + " must be a non-negative 64-bit integer, got " + n);
        }
        return n.longValue();
    }

    /** The file this was opened from. */
    public Path path() {
        return path;
    }

    /** The {@code __metadata__} map (empty if absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** All tensors, in data-offset order. */
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /**
     * Header entry for {@code name}; a {@link SafetensorsException} naming tensor and file if
     * absent.
     */
    public TensorInfo info(String name) throws SafetensorsException {
        TensorInfo t = tensors.get(name);
        if (t == null) {
            throw err(path, "no tensor '" + name + "' (file has " + tensors.size() + " tensors)");
        }
        return t;
    }

    /**
     * Read-only little-endian view of the tensor's bytes, memory-mapped for this call only (the
     * mapping lives as long as the returned buffer). A ByteBuffer is int-indexed, so tensors over 2
     * GiB are refused here: use {@link #bytes(String, long, int)} for slices, or {@link #load},
     * which reads large tensors in chunks.
     */
    public ByteBuffer bytes(String name) throws IOException {
        TensorInfo t = info(name);
        if (t.byteLength() > Integer.MAX_VALUE) {
            throw err(
                    path,
                    "tensor '"
                            + name
                            + "' is "
                            + t.byteLength()
                            + " bytes, too large for one ByteBuffer; use bytes(name, offset, length) or load()");
        }
        return bytes(name, 0, (int) t.byteLength());
    }

    /**
     * Read-only little-endian mapped view of {@code length} bytes at {@code offset} into the
     * tensor.
     */
    public ByteBuffer bytes(String name, long offset, int length) throws IOException {
        ensureOpen();
        TensorInfo t = info(name);
        if (offset < 0 || length < 0 || offset > t.byteLength() - length) {
            throw new IndexOutOfBoundsException(
                    "range ["
                            + offset
                            + ", +"
                            + length
                            + ") outside tensor '"
                            + name
                            + "' of "
                            + t.byteLength()
                            + " bytes");
        }
        if (length == 0) {
            return ByteBuffer.allocate(0).order(ByteOrder.LITTLE_ENDIAN).asReadOnlyBuffer();
        }
        return channel.map(FileChannel.MapMode.READ_ONLY, dataStart + t.begin() + offset, length)
                .asReadOnlyBuffer()
                .order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Loads a tensor with its stored dtype and shape, then converts it to {@code target} if that
     * differs ({@code null} keeps the stored type). Bytes are copied into DJL-owned memory, so the
     * array never aliases the file.
     *
     * <p>DJL 0.35.1's released PyTorch JNI only knows FLOAT32/64, FLOAT16, UINT8, INT8, INT32,
     * INT64 and BOOLEAN; asking it for BFLOAT16 or INT16 calls {@code std::terminate} and kills the
     * JVM. So unless the JNI reports it can ({@link NativeDtypes}: one built by {@code
     * scripts/build-jni.sh}), stored BF16 is widened exactly to FLOAT32 (and I16 to INT32) in Java
     * before the array is created, and a {@code target} it cannot represent is refused with {@link
     * UnsupportedOperationException}. With such a JNI BF16 is loaded as BF16, byte for byte.
     */
    public NDArray load(String name, NDManager manager, DataType target) throws IOException {
        return load(name, manager, target, DEFAULT_LOAD_CHUNK_BYTES);
    }

    /**
     * Loads a tensor keeping its stored dtype (BF16/I16 widened on a PyTorch JNI without them, see
     * above).
     */
    public NDArray load(String name, NDManager manager) throws IOException {
        return load(name, manager, null, DEFAULT_LOAD_CHUNK_BYTES);
    }

    NDArray load(String name, NDManager manager, DataType target, long chunkBytes)
            throws IOException {
        ensureOpen();
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new UnsupportedOperationException("loading requires a little-endian platform");
        }
        TensorInfo t = info(name);
        if (target != null && !engineSupports(manager, target)) {
            throw new UnsupportedOperationException(
                    "cannot load tensor '"
                            + name
                            + "' as "
                            + target.name()
                            + ": the "
                            + manager.getEngine().getEngineName()
                            + " engine (DJL JNI) cannot create "
                            + target.name()
                            + " arrays; use FLOAT16 or FLOAT32"
                            + (target == DataType.BFLOAT16
                                    ? " (" + NativeDtypes.BFLOAT16_HINT + ")"
                                    : ""));
        }
        DataType created = createdType(t.dtype(), manager);
        long[] shape = t.shape();
        long memBytes = t.numel() * created.getNumOfBytes();
        if (memBytes <= chunkBytes || shape.length == 0 || shape[0] <= 1) {
            if (memBytes > Integer.MAX_VALUE) {
                throw err(
                        path,
                        "tensor '"
                                + name
                                + "' needs "
                                + memBytes
                                + " bytes and cannot be split along dim 0");
            }
            return convert(readChunk(t, created, manager, 0, shape), target);
        }
        // Large tensor: DJL buffers are int-sized, so read dim-0 slices and concatenate.
        long rowElems = t.numel() / shape[0];
        long rowMemBytes = rowElems * created.getNumOfBytes();
        if (rowMemBytes > Math.min(chunkBytes, Integer.MAX_VALUE)) {
            throw err(
                    path,
                    "tensor '" + name + "' row of " + rowMemBytes + " bytes is too large to load");
        }
        long rowsPerChunk = Math.max(1, chunkBytes / Math.max(1, rowMemBytes));
        NDList parts = new NDList();
        try {
            for (long row = 0; row < shape[0]; row += rowsPerChunk) {
                long[] partShape = shape.clone();
                partShape[0] = Math.min(rowsPerChunk, shape[0] - row);
                parts.add(
                        convert(readChunk(t, created, manager, row * rowElems, partShape), target));
            }
            return NDArrays.concat(parts, 0);
        } finally {
            parts.close();
        }
    }

    /** Whether {@code manager}'s engine can hold {@code type} (see {@link #load}). */
    static boolean engineSupports(NDManager manager, DataType type) {
        return NativeDtypes.canCreate(manager.getEngine(), type);
    }

    /** The DJL type the array is first created with: the stored type, or an exact widening. */
    private static DataType createdType(DType stored, NDManager manager) {
        DataType d = stored.toDjl();
        if (engineSupports(manager, d)) {
            return d;
        }
        return switch (stored) {
            case BF16 -> DataType.FLOAT32;
            case I16 -> DataType.INT32;
            default ->
                    throw new UnsupportedOperationException(
                            stored + " is not supported by " + manager.getEngine());
        };
    }

    private NDArray readChunk(
            TensorInfo t, DataType created, NDManager manager, long elemOffset, long[] shape)
            throws IOException {
        long elems = 1;
        for (long d : shape) {
            elems *= d; // validated at open
        }
        int storedSize = t.dtype().byteSize();
        long filePos = dataStart + t.begin() + elemOffset * storedSize;
        ByteBuffer buf = manager.allocateDirect(Math.toIntExact(elems * created.getNumOfBytes()));
        if (created == t.dtype().toDjl()) {
            readFully(path, channel, buf, filePos);
        } else if (elems > 0) {
            // Widen while copying out of a transient mapping (one copy, no temporary buffer).
            ByteBuffer src =
                    channel.map(FileChannel.MapMode.READ_ONLY, filePos, elems * storedSize)
                            .order(ByteOrder.LITTLE_ENDIAN);
            buf.order(ByteOrder.LITTLE_ENDIAN);
            if (t.dtype() == DType.BF16) {
                while (src.hasRemaining()) {
                    buf.putInt((src.getShort() & 0xffff) << 16); // bf16 is the top half of an f32
                }
            } else {
                while (src.hasRemaining()) {
                    buf.putInt(src.getShort());
                }
            }
        }
        buf.flip();
        return manager.create(buf, new Shape(shape), created);
    }

    private static NDArray convert(NDArray a, DataType target) {
        if (target == null || a.getDataType() == target) {
            return a;
        }
        NDArray c = a.toType(target, false);
        if (c != a) {
            a.close();
        }
        return c;
    }

    private static void readFully(Path file, FileChannel ch, ByteBuffer dst, long position)
            throws IOException {
        long pos = position;
        while (dst.hasRemaining()) {
            int r = ch.read(dst, pos);
            if (r < 0) {
                throw new EOFException(
                        file
                                + ": unexpected end of file at byte "
                                + pos
                                + " (file changed while open?)");
            }
            pos += r;
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException(path + ": SafetensorsFile is closed");
        }
    }

    /** Data region size in bytes (everything after the header). */
    long dataLength() {
        return dataLength;
    }

    /**
     * Closes the channel; previously returned mapped buffers stay valid until garbage-collected.
     */
    @Override
    public void close() throws IOException {
        closed = true;
        channel.close();
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + path + ", " + tensors.size() + " tensors]";
    }

    static SafetensorsException err(Path file, String what) {
        return new SafetensorsException(file + ": " + what);
    }

    static SafetensorsException err(Path file, String what, Throwable cause) {
        return new SafetensorsException(file + ": " + what, cause);
    }
}
