package io.flinklora.gpu.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class Stories260kSafetensorsTest {

    static final Path MODEL_DIR =
            Path.of(System.getProperty("project.root", "..")).resolve("models/stories260k");

    // From models/stories260k/config.json.
    static final int HIDDEN = 64,
            LAYERS = 5,
            HEADS = 8,
            KV_HEADS = 4,
            INTERMEDIATE = 172,
            VOCAB = 512;

    static Map<String, long[]> expectedShapes() {
        int kvDim = HIDDEN / HEADS * KV_HEADS;
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", new long[] {VOCAB, HIDDEN});
        m.put("model.norm.weight", new long[] {HIDDEN});
        for (int l = 0; l < LAYERS; l++) {
            String p = "model.layers." + l + ".";
            m.put(p + "input_layernorm.weight", new long[] {HIDDEN});
            m.put(p + "post_attention_layernorm.weight", new long[] {HIDDEN});
            m.put(p + "self_attn.q_proj.weight", new long[] {HIDDEN, HIDDEN});
            m.put(p + "self_attn.k_proj.weight", new long[] {kvDim, HIDDEN});
            m.put(p + "self_attn.v_proj.weight", new long[] {kvDim, HIDDEN});
            m.put(p + "self_attn.o_proj.weight", new long[] {HIDDEN, HIDDEN});
            m.put(p + "mlp.gate_proj.weight", new long[] {INTERMEDIATE, HIDDEN});
            m.put(p + "mlp.up_proj.weight", new long[] {INTERMEDIATE, HIDDEN});
            m.put(p + "mlp.down_proj.weight", new long[] {HIDDEN, INTERMEDIATE});
        }
        return m;
    }

    @Test
    void readsEveryTensorOfTheRealCheckpointWithShapesFromItsConfig() throws Exception {
        Map<String, long[]> expected = expectedShapes();
        try (SafetensorsFile f = SafetensorsFile.open(MODEL_DIR.resolve("model.safetensors"));
                NDManager manager = NDManager.newBaseManager()) {
            assertEquals("pt", f.metadata().get("format"));
            assertEquals(expected.keySet(), f.tensors().keySet());
            for (Map.Entry<String, long[]> e : expected.entrySet()) {
                TensorInfo info = f.info(e.getKey());
                assertEquals(DType.F32, info.dtype(), e.getKey());
                assertArrayEquals(e.getValue(), info.shape(), e.getKey());
                try (NDArray a = f.load(e.getKey(), manager, DataType.FLOAT32)) {
                    assertArrayEquals(e.getValue(), a.getShape().getShape(), e.getKey());
                    float[] loaded = a.toFloatArray();
                    FloatBuffer raw = f.bytes(e.getKey()).asFloatBuffer();
                    float[] mapped = new float[raw.remaining()];
                    raw.get(mapped);
                    assertArrayEquals(mapped, loaded, e.getKey());
                    for (float v : loaded) {
                        assertTrue(Float.isFinite(v), e.getKey());
                    }
                    assertTrue(a.abs().sum().getFloat() > 0, e.getKey() + " is all zeros");
                }
            }
        }
    }

    @Test
    void loadsStoredF32ConvertedToF16AndBf16OrRefusesBf16WhereTheJniWouldCrash() throws Exception {
        try (WeightIndex w = WeightIndex.open(MODEL_DIR);
                NDManager manager = NDManager.newBaseManager()) {
            assertEquals(expectedShapes().keySet(), w.names());
            String name = "model.layers.0.self_attn.q_proj.weight";
            try (NDArray f32 = w.load(name, manager, DataType.FLOAT32);
                    NDArray f16 = w.load(name, manager, DataType.FLOAT16)) {
                assertEquals(DataType.FLOAT16, f16.getDataType());
                assertArrayEquals(
                        f32.toType(DataType.FLOAT16, true)
                                .toType(DataType.FLOAT32, false)
                                .toFloatArray(),
                        f16.toType(DataType.FLOAT32, true).toFloatArray());
            }
            if (NativeDtypes.canCreate(manager.getEngine(), DataType.BFLOAT16)) {
                // A JNI with bfloat16 (scripts/build-jni.sh): F32 -> BF16 rounds like PyTorch's own
                // cast.
                try (NDArray f32 = w.load(name, manager, DataType.FLOAT32);
                        NDArray bf16 = w.load(name, manager, DataType.BFLOAT16)) {
                    assertEquals(DataType.BFLOAT16, bf16.getDataType());
                    float[] want = f32.toFloatArray();
                    float[] got = bf16.toType(DataType.FLOAT32, true).toFloatArray();
                    for (int i = 0; i < want.length; i++) {
                        assertEquals(
                                HalfFloats.fromBf16(HalfFloats.toBf16(want[i])),
                                got[i],
                                name + "[" + i + "]");
                    }
                }
            } else {
                // DJL 0.35.1's released PyTorch JNI aborts the JVM on BFLOAT16; load must refuse it
                // first.
                UnsupportedOperationException e =
                        assertThrows(
                                UnsupportedOperationException.class,
                                () -> w.load(name, manager, DataType.BFLOAT16));
                assertTrue(
                        e.getMessage().contains(name)
                                && e.getMessage().contains("BFLOAT16")
                                && e.getMessage().contains("build-jni.sh"),
                        e.getMessage());
            }
        }
    }

    @Test
    void bytesViewIsReadOnlyLittleEndianAndMissingTensorIsNamed() throws Exception {
        try (SafetensorsFile f = SafetensorsFile.open(MODEL_DIR.resolve("model.safetensors"))) {
            ByteBuffer b = f.bytes("model.norm.weight");
            assertTrue(b.isReadOnly());
            assertEquals(java.nio.ByteOrder.LITTLE_ENDIAN, b.order());
            assertEquals(HIDDEN * 4, b.remaining());
            assertFalse(f.contains("lm_head.weight"));
            SafetensorsException e =
                    assertThrows(SafetensorsException.class, () -> f.info("lm_head.weight"));
            assertTrue(
                    e.getMessage().contains("lm_head.weight")
                            && e.getMessage().contains("model.safetensors"),
                    e.getMessage());
        }
    }
}
