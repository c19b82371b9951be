package io.flinklora.gpu.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsRoundTripTest {

    @TempDir Path tmp;

    /** Values that exercise rounding: ties, subnormals, overflow, signed zero, NaN, inf. */
    static float[] trickyValues() {
        float[] fixed = {
            0f,
            -0f,
            1f,
            -1f,
            1f / 3,
            0.1f,
            65504f,
            65519f,
            65520f,
            1e6f,
            3.4e38f,
            -3.4e38f,
            1e-8f,
            6e-8f,
            5.960464477539063e-8f,
            2.98e-8f,
            1e-40f,
            1.00048828125f,
            1.001953125f,
            Float.intBitsToFloat(0x3f808000),
            Float.intBitsToFloat(0x3f818000),
            Float.intBitsToFloat(0x3f80c000),
            Float.NaN,
            Float.POSITIVE_INFINITY,
            Float.NEGATIVE_INFINITY,
            Float.MIN_VALUE,
            Float.MIN_NORMAL,
            6.1035156e-5f,
            6.0975552e-5f
        };
        float[] out = new float[64];
        System.arraycopy(fixed, 0, out, 0, fixed.length);
        Random r = new Random(42);
        for (int i = fixed.length; i < out.length; i++) {
            out[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(12) - 6));
        }
        return out;
    }

    @Test
    void f32RoundTripIsExactAndKeepsMetadata() throws Exception {
        float[] v = trickyValues();
        Path file = tmp.resolve("a.safetensors");
        new SafetensorsWriter()
                .metadata("format", "pt")
                .metadata("note", "ünïcode")
                .add("w", DType.F32, new long[] {8, 8}, v)
                .write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file);
                NDManager m = NDManager.newBaseManager();
                NDArray a = f.load("w", m, DataType.FLOAT32)) {
            assertEquals(Map.of("format", "pt", "note", "ünïcode"), f.metadata());
            assertEquals(new Shape(8, 8), a.getShape());
            assertArrayEquals(v, a.toFloatArray());
        }
    }

    /**
     * Independent round-to-nearest-even oracle: keep {@code bits} significant bits using double
     * arithmetic ({@link Math#rint} is half-even); {@code minExp} is the smallest normal exponent.
     */
    static float roundToPrecision(float f, int bits, int minExp, double maxFinite) {
        if (Float.isNaN(f) || Float.isInfinite(f) || f == 0) {
            return f;
        }
        int e = Math.max(Math.getExponent(f), minExp);
        double q = Math.scalb(1.0, e - (bits - 1));
        double r = Math.rint(f / q) * q;
        if (Math.abs(r) > maxFinite) {
            return r > 0 ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY;
        }
        return r == 0 ? Math.copySign(0f, f) : (float) r;
    }

    @Test
    void f16AndBf16WritesRoundToNearestEvenAndLoadExactly() throws Exception {
        float[] v = trickyValues();
        Path file = tmp.resolve("h.safetensors");
        new SafetensorsWriter()
                .add("half", DType.F16, new long[] {64}, v)
                .add("brain", DType.BF16, new long[] {4, 16}, v)
                .write(file);
        float[] expectF16 = new float[v.length];
        float[] expectBf16 = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            expectF16[i] = roundToPrecision(v[i], 11, -14, 65504);
            expectBf16[i] = roundToPrecision(v[i], 8, -126, 0x1.fep127);
        }
        try (SafetensorsFile f = SafetensorsFile.open(file);
                NDManager m = NDManager.newBaseManager();
                NDArray src = m.create(v);
                NDArray half = f.load("half", m, DataType.FLOAT32);
                NDArray brain = f.load("brain", m, DataType.FLOAT32);
                NDArray rawHalf = f.load("half", m);
                NDArray rawBrain = f.load("brain", m)) {
            assertEquals(DType.F16, f.info("half").dtype());
            assertEquals(DType.BF16, f.info("brain").dtype());
            assertEquals(DataType.FLOAT16, rawHalf.getDataType());
            if (NativeDtypes.canCreate(m.getEngine(), DataType.BFLOAT16)) {
                // A JNI with bfloat16 keeps the stored type: the array holds the file's bytes.
                assertEquals(DataType.BFLOAT16, rawBrain.getDataType());
                ByteBuffer held = rawBrain.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                ByteBuffer stored = f.bytes("brain");
                assertEquals(stored.remaining(), held.remaining());
                for (int i = 0; i < v.length; i++) {
                    assertEquals(stored.getShort(2 * i), held.getShort(2 * i), "bits of bf16 " + i);
                }
            } else {
                assertEquals(
                        DataType.FLOAT32,
                        rawBrain.getDataType(),
                        "BF16 is widened exactly on DJL's released JNI");
            }
            assertEquals(new Shape(4, 16), brain.getShape());
            assertArrayEquals(expectF16, half.toFloatArray());
            assertArrayEquals(expectBf16, brain.toFloatArray());
            assertArrayEquals(expectBf16, rawBrain.toType(DataType.FLOAT32, true).toFloatArray());
            // PyTorch's own float32 -> half rounding agrees.
            assertArrayEquals(
                    src.toType(DataType.FLOAT16, true)
                            .toType(DataType.FLOAT32, false)
                            .toFloatArray(),
                    expectF16);
            ByteBuffer hb = f.bytes("half");
            ByteBuffer bb = f.bytes("brain");
            for (int i = 0; i < v.length; i++) {
                assertEquals(
                        expectF16[i], HalfFloats.fromF16(hb.getShort(2 * i)), "f16 of " + v[i]);
                assertEquals(
                        expectBf16[i], HalfFloats.fromBf16(bb.getShort(2 * i)), "bf16 of " + v[i]);
            }
            // BF16 stored, F16 wanted: widened then converted once.
            assertArrayEquals(
                    brain.toType(DataType.FLOAT16, true)
                            .toType(DataType.FLOAT32, false)
                            .toFloatArray(),
                    f.load("brain", m, DataType.FLOAT16)
                            .toType(DataType.FLOAT32, false)
                            .toFloatArray());
        }
    }

    @Test
    void i16LoadsExactlyAsInt16OrWidenedToInt32() throws Exception {
        Path file = tmp.resolve("i16.safetensors");
        ByteBuffer b =
                ByteBuffer.allocate(6)
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .putShort((short) -3)
                        .putShort((short) 32767)
                        .putShort((short) -32768);
        new SafetensorsWriter().add("s", DType.I16, new long[] {3}, b.flip()).write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file);
                NDManager m = NDManager.newBaseManager()) {
            NDArray a = f.load("s", m);
            boolean native16 = NativeDtypes.canCreate(m.getEngine(), DataType.INT16);
            assertEquals(native16 ? DataType.INT16 : DataType.INT32, a.getDataType());
            assertArrayEquals(
                    new int[] {-3, 32767, -32768}, a.toType(DataType.INT32, false).toIntArray());
        }
    }

    @Test
    void addNdArrayTakesDtypeAndShapeFromTheArray() throws Exception {
        Path file = tmp.resolve("nd.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray base = m.randomNormal(new Shape(3, 5, 2));
            new SafetensorsWriter()
                    .add("f32", base)
                    .add("f16", base.toType(DataType.FLOAT16, true))
                    .add("i64", m.create(new long[] {0, 1, 2, 3, 4, 5, 6}))
                    .write(file);
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                assertEquals(DType.F32, f.info("f32").dtype());
                assertEquals(DType.F16, f.info("f16").dtype());
                assertEquals(DType.I64, f.info("i64").dtype());
                for (String n : List.of("f32", "f16")) {
                    assertArrayEquals(new long[] {3, 5, 2}, f.info(n).shape());
                }
                NDArray f16 = f.load("f16", m, DataType.FLOAT16);
                assertEquals(DataType.FLOAT16, f16.getDataType());
                assertArrayEquals(
                        base.toFloatArray(), f.load("f32", m, DataType.FLOAT32).toFloatArray());
                assertArrayEquals(
                        base.toType(DataType.FLOAT16, true)
                                .toType(DataType.FLOAT32, false)
                                .toFloatArray(),
                        f.load("f16", m, DataType.FLOAT32).toFloatArray());
                assertArrayEquals(
                        new long[] {0, 1, 2, 3, 4, 5, 6}, f.load("i64", m, null).toLongArray());
            }
        }
    }

    @Test
    void writerLayoutMatchesReferenceSpacePaddedSortedContiguous() throws Exception {
        Path file = tmp.resolve("layout.safetensors");
        new SafetensorsWriter()
                .metadata("format", "pt")
                .add("zeta", DType.F32, new long[] {3}, new float[] {1, 2, 3})
                .add("alpha", DType.BF16, new long[] {1}, new float[] {1})
                .add("mid", DType.U8, new long[] {5}, ByteBuffer.wrap(new byte[] {1, 2, 3, 4, 5}))
                .add("scalar", DType.F32, new long[] {}, new float[] {7})
                .add("empty", DType.F16, new long[] {0, 4}, new float[0])
                .write(file);
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8, "header length must be a multiple of 8");
        String header = new String(all, 8, (int) n, StandardCharsets.UTF_8);
        assertTrue(header.startsWith("{\"__metadata__\":{\"format\":\"pt\"},"), header);
        assertEquals(header.strip(), header.substring(0, header.strip().length()));
        assertTrue(header.substring(header.strip().length()).chars().allMatch(c -> c == ' '));
        JsonNode root = new ObjectMapper().readTree(header);
        List<String> names = new ArrayList<>();
        long expectBegin = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            names.add(e.getKey());
            assertEquals(
                    expectBegin, e.getValue().get("data_offsets").get(0).longValue(), e.getKey());
            expectBegin = e.getValue().get("data_offsets").get(1).longValue();
        }
        assertEquals(List.of("alpha", "empty", "mid", "scalar", "zeta"), names);
        assertEquals(all.length - 8 - n, expectBegin, "data must be contiguous and fill the file");
        try (SafetensorsFile f = SafetensorsFile.open(file);
                NDManager m = NDManager.newBaseManager()) {
            assertEquals(7f, f.load("scalar", m, DataType.FLOAT32).getFloat());
            assertEquals(0, f.info("empty").numel());
            assertArrayEquals(
                    new long[] {0, 4}, f.load("empty", m, DataType.FLOAT32).getShape().getShape());
            assertArrayEquals(new int[] {1, 2, 3, 4, 5}, f.load("mid", m, null).toUint8Array());
        }
    }

    @Test
    void largeTensorIsLoadedInDim0ChunksAndConverted() throws Exception {
        float[] v = new float[10 * 3 * 2];
        for (int i = 0; i < v.length; i++) {
            v[i] = i * 0.37f - 5;
        }
        Path file = tmp.resolve("chunk.safetensors");
        new SafetensorsWriter().add("big", DType.F32, new long[] {10, 3, 2}, v).write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file);
                NDManager m = NDManager.newBaseManager()) {
            NDArray whole = f.load("big", m, DataType.FLOAT32);
            NDArray chunked =
                    f.load("big", m, DataType.FLOAT32, 3 * 24); // 3 rows per chunk: 3+3+3+1
            assertEquals(whole.getShape(), chunked.getShape());
            assertArrayEquals(whole.toFloatArray(), chunked.toFloatArray());
            NDArray half = f.load("big", m, DataType.FLOAT16, 24);
            assertEquals(DataType.FLOAT16, half.getDataType());
            assertArrayEquals(
                    whole.toType(DataType.FLOAT16, true)
                            .toType(DataType.FLOAT32, false)
                            .toFloatArray(),
                    half.toType(DataType.FLOAT32, false).toFloatArray());
        }
        // Widened BF16 chunks: chunk size counts the F32 bytes in memory.
        Path bfFile = tmp.resolve("chunk-bf16.safetensors");
        new SafetensorsWriter().add("big", DType.BF16, new long[] {10, 3, 2}, v).write(bfFile);
        try (SafetensorsFile f = SafetensorsFile.open(bfFile);
                NDManager m = NDManager.newBaseManager()) {
            assertArrayEquals(
                    f.load("big", m, DataType.FLOAT32).toFloatArray(),
                    f.load("big", m, DataType.FLOAT32, 48).toFloatArray());
        }
    }

    @Test
    void writerRejectsMismatchedDataDuplicateAndReservedNames() {
        SafetensorsWriter w =
                new SafetensorsWriter().add("a", DType.F32, new long[] {2}, new float[] {1, 2});
        assertThrows(
                IllegalArgumentException.class,
                () -> w.add("a", DType.F32, new long[] {1}, new float[] {1}));
        assertThrows(
                IllegalArgumentException.class,
                () -> w.add("b", DType.F32, new long[] {3}, new float[] {1, 2}));
        assertThrows(
                IllegalArgumentException.class,
                () -> w.add("c", DType.F16, new long[] {2}, ByteBuffer.allocate(3)));
        assertThrows(
                IllegalArgumentException.class,
                () -> w.add("__metadata__", DType.F32, new long[] {1}, new float[] {1}));
        assertThrows(
                IllegalArgumentException.class,
                () -> w.add("d", DType.I32, new long[] {1}, new float[] {1}));
        assertThrows(
                IllegalArgumentException.class,
                () -> w.add("e", DType.F32, new long[] {-1}, new float[0]));
        assertThrows(
                IllegalArgumentException.class,
                () ->
                        w.add(
                                "f",
                                DType.F32,
                                new long[] {1L << 40, 1L << 40},
                                ByteBuffer.allocate(0)));
    }

    @Test
    void closedFileRefusesReads() throws Exception {
        Path file = tmp.resolve("c.safetensors");
        new SafetensorsWriter().add("a", DType.F32, new long[] {1}, new float[] {1}).write(file);
        SafetensorsFile f = SafetensorsFile.open(file);
        f.close();
        assertThrows(IllegalStateException.class, () -> f.bytes("a"));
    }
}
