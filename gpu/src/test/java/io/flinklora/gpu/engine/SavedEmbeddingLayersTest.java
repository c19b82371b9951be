package io.flinklora.gpu.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flinklora.gpu.safetensors.DType;
import io.flinklora.gpu.safetensors.SafetensorsWriter;
import io.flinklora.gpu.safetensors.WeightIndex;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Adapters saved with {@code save_pretrained(save_embedding_layers=True)} carry the whole embedding
 * and output head, which PEFT's loader writes over the model's: served when they are the model's
 * own (the qwen2_saved_embedding_layers case checks the tokens), refused naming the tensor when
 * they are not.
 */
class SavedEmbeddingLayersTest {
    private static final Path MODEL =
            HuggingFaceConformanceTest.casesDir().resolve("qwen2_saved_embedding_layers");

    /** The saved adapter with one value of {@code tensor} changed. */
    private static void withChanged(Path out, String tensor) throws IOException {
        Path src = MODEL.resolve("adapters/saved_embedding_layers");
        Files.createDirectories(out);
        Files.copy(src.resolve("adapter_config.json"), out.resolve("adapter_config.json"));
        SafetensorsWriter w = new SafetensorsWriter();
        try (WeightIndex in = WeightIndex.openFile(src.resolve("adapter_model.safetensors"));
                NDManager m = NDManager.newBaseManager()) {
            for (String n : in.names()) {
                NDArray a = in.load(n, m, DataType.FLOAT32);
                float[] v = a.toFloatArray();
                if (n.equals(tensor)) {
                    v[7] += 0.25f;
                }
                w.add(n, DType.F32, a.getShape().getShape(), v);
            }
        }
        w.write(out.resolve("adapter_model.safetensors"));
    }

    @Test
    void aSavedEmbeddingOrHeadOtherThanTheModelsIsRefusedNamingIt(@TempDir Path root)
            throws IOException {
        String embed = "base_model.model.model.embed_tokens.weight";
        String head = "base_model.model.lm_head.weight";
        withChanged(root.resolve("embed"), embed);
        withChanged(root.resolve("head"), head);
        HuggingFaceConformanceTest.assertLoadFails(MODEL, root, "embed", embed, "differs");
        HuggingFaceConformanceTest.assertLoadFails(MODEL, root, "head", head, "differs");
    }
}
