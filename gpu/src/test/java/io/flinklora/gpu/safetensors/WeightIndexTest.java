package io.flinklora.gpu.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class WeightIndexTest {

    @TempDir Path dir;

    private Map<String, float[]> writeTwoShards() throws Exception {
        Map<String, float[]> values = new LinkedHashMap<>();
        values.put("model.embed_tokens.weight", new float[] {1, 2, 3, 4, 5, 6});
        values.put("model.layers.0.mlp.up_proj.weight", new float[] {-1, -2});
        values.put("model.layers.1.mlp.up_proj.weight", new float[] {9, 8, 7});
        values.put("model.norm.weight", new float[] {0.5f});
        new SafetensorsWriter()
                .metadata("format", "pt")
                .add(
                        "model.embed_tokens.weight",
                        DType.F32,
                        new long[] {3, 2},
                        values.get("model.embed_tokens.weight"))
                .add(
                        "model.layers.0.mlp.up_proj.weight",
                        DType.BF16,
                        new long[] {2},
                        values.get("model.layers.0.mlp.up_proj.weight"))
                .write(dir.resolve("model-00001-of-00002.safetensors"));
        new SafetensorsWriter()
                .metadata("format", "pt")
                .add(
                        "model.layers.1.mlp.up_proj.weight",
                        DType.F16,
                        new long[] {3},
                        values.get("model.layers.1.mlp.up_proj.weight"))
                .add(
                        "model.norm.weight",
                        DType.F32,
                        new long[] {1},
                        values.get("model.norm.weight"))
                .write(dir.resolve("model-00002-of-00002.safetensors"));
        writeIndex(
                Map.of(
                        "model.embed_tokens.weight", "model-00001-of-00002.safetensors",
                        "model.layers.0.mlp.up_proj.weight", "model-00001-of-00002.safetensors",
                        "model.layers.1.mlp.up_proj.weight", "model-00002-of-00002.safetensors",
                        "model.norm.weight", "model-00002-of-00002.safetensors"));
        return values;
    }

    private void writeIndex(Map<String, String> weightMap) throws Exception {
        Map<String, Object> root =
                Map.of(
                        "metadata",
                        Map.of("total_size", 42),
                        "weight_map",
                        new java.util.TreeMap<>(weightMap));
        Files.writeString(
                dir.resolve(WeightIndex.INDEX_FILE), SafetensorsFile.JSON.writeValueAsString(root));
    }

    private SafetensorsException refused(Path p) {
        return assertThrows(SafetensorsException.class, () -> WeightIndex.open(p).close());
    }

    @Test
    void shardedFolderLoadsEveryTensorFromItsShardOpeningEachShardOnce() throws Exception {
        Map<String, float[]> values = writeTwoShards();
        try (WeightIndex w = WeightIndex.open(dir);
                NDManager m = NDManager.newBaseManager()) {
            assertEquals(values.keySet(), w.names());
            assertEquals(2, w.files().size());
            for (Map.Entry<String, float[]> e : values.entrySet()) {
                assertTrue(w.contains(e.getKey()));
                assertArrayEquals(
                        e.getValue(),
                        w.load(e.getKey(), m, DataType.FLOAT32).toFloatArray(),
                        e.getKey());
            }
            assertEquals(DType.BF16, w.info("model.layers.0.mlp.up_proj.weight").dtype());
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> w.info("nope"));
            assertTrue(e.getMessage().contains("nope"), e.getMessage());
        }
    }

    @Test
    void singleFileFolderAndExplicitAdapterFileAreOpened() throws Exception {
        new SafetensorsWriter()
                .add("a", DType.F32, new long[] {2}, new float[] {1, 2})
                .write(dir.resolve("model.safetensors"));
        Path adapter = dir.resolve("adapter_model.safetensors");
        new SafetensorsWriter()
                .add(
                        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                        DType.F32,
                        new long[] {1, 2},
                        new float[] {3, 4})
                .write(adapter);
        try (WeightIndex w = WeightIndex.open(dir)) {
            assertEquals(Set.of("a"), w.names());
        }
        try (WeightIndex w = WeightIndex.openFile(adapter)) {
            assertEquals(
                    Set.of("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"),
                    w.names());
            assertArrayEquals(
                    new long[] {1, 2},
                    w.info("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
                            .shape());
        }
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "../escape.safetensors",
                "sub/model.safetensors",
                "/etc/passwd",
                "..",
                ".",
                "",
                "a\\b.safetensors"
            })
    void shardNamesThatAreNotPlainFileNamesAreRefused(String shard) throws Exception {
        writeTwoShards();
        writeIndex(Map.of("model.norm.weight", shard));
        SafetensorsException e = refused(dir);
        assertTrue(
                e.getMessage().contains("model.norm.weight")
                        && e.getMessage().contains("plain file name"),
                e.getMessage());
    }

    @Test
    void tensorListedInIndexButMissingFromShardNamesBoth() throws Exception {
        writeTwoShards();
        writeIndex(
                Map.of(
                        "model.norm.weight", "model-00002-of-00002.safetensors",
                        "lm_head.weight", "model-00001-of-00002.safetensors"));
        SafetensorsException e = refused(dir);
        assertTrue(
                e.getMessage().contains("lm_head.weight")
                        && e.getMessage().contains("model-00001-of-00002.safetensors"),
                e.getMessage());
    }

    @Test
    void missingShardFileIsNamed() throws Exception {
        writeTwoShards();
        writeIndex(Map.of("model.norm.weight", "model-00003-of-00003.safetensors"));
        SafetensorsException e = refused(dir);
        assertTrue(
                e.getMessage().contains("model-00003-of-00003.safetensors")
                        && e.getMessage().contains("does not exist"),
                e.getMessage());
    }

    @Test
    void malformedIndexIsRefused() throws Exception {
        Files.writeString(dir.resolve(WeightIndex.INDEX_FILE), "{\"weight_map\": [1, 2]}");
        assertTrue(refused(dir).getMessage().contains("weight_map"));
        Files.writeString(dir.resolve(WeightIndex.INDEX_FILE), "{\"weight_map\": {\"x\": 5}}");
        assertTrue(refused(dir).getMessage().contains("'x'"));
        Files.writeString(dir.resolve(WeightIndex.INDEX_FILE), "{\"weight_map\": ");
        assertTrue(refused(dir).getMessage().contains("not valid JSON"));
    }

    @Test
    void folderWithoutWeightsListsWhatWasLookedFor() {
        SafetensorsException e = refused(dir);
        assertTrue(
                e.getMessage().contains("model.safetensors")
                        && e.getMessage().contains("model.safetensors.index.json"),
                e.getMessage());
    }
}
