package io.flinklora.gpu.lora;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.LinearModule;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.safetensors.DType;
import io.flinklora.gpu.safetensors.SafetensorsWriter;
import io.flinklora.gpu.safetensors.WeightIndex;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Folds adapters into a base model ({@code W + sum w * scale * B A}) and writes a Hugging Face
 * model folder.
 */
@Internal
public final class AdapterMerger {
    private AdapterMerger() {}

    /** An adapter folder and its weight in the merge. */
    public record Weighted(Path dir, double weight) {}

    /**
     * Writes {@code out} as the base model with the adapters merged in; tensors keep their stored
     * dtype.
     */
    public static void merge(Path modelDir, List<Weighted> adapters, Path out) throws IOException {
        ModelConfig config = ModelConfig.read(modelDir);
        List<LoraAdapter> loaded = new ArrayList<>();
        for (Weighted w : adapters) {
            LoraAdapter a = LoraAdapter.read(w.dir().getFileName().toString(), 0, w.dir(), config);
            if (!a.onlyProjectionDeltas()) {
                // W + s B A has no place for a lora bias, DoRA's row scales or saved whole modules.
                throw new AdapterFormatException(
                        w.dir()
                                + ": an adapter with lora_bias, DoRA, embedding LoRA,"
                                + " modules_to_save, activated LoRA or target_parameters cannot be"
                                + " merged by this tool");
            }
            loaded.add(a);
        }
        Files.createDirectories(out);
        try (Stream<Path> files = Files.list(modelDir)) {
            for (Path f : files.toList()) {
                String name = f.getFileName().toString();
                if (Files.isRegularFile(f)
                        && !name.endsWith(".safetensors")
                        && !name.equals("model.safetensors.index.json")) {
                    Files.copy(
                            f,
                            out.resolve(name),
                            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        SafetensorsWriter writer = new SafetensorsWriter();
        try (WeightIndex weights = WeightIndex.open(modelDir);
                NDManager m = NDManager.newBaseManager()) {
            for (String name : weights.names()) {
                DType stored = weights.info(name).dtype();
                float[] values = weights.load(name, m, DataType.FLOAT32).toFloatArray();
                for (int l = 0; l < config.numLayers(); l++) {
                    for (LinearModule module : config.linearModules(l)) {
                        String full = module.path() + ".weight";
                        // a checkpoint saved from the bare model names it without the model root
                        boolean bare =
                                !weights.contains(full)
                                        && (config.basePrefix() + name).equals(full);
                        if (name.equals(full) || bare) {
                            addDeltas(values, module, l, loaded, adapters);
                        }
                    }
                }
                writer.add(name, stored, weights.info(name).shape(), values);
            }
        }
        writer.write(out.resolve("model.safetensors"));
    }

    /**
     * Adds each adapter's weighted deltas to a module's stored {@code [out, in]} weight ({@code
     * [in, out]} for a Conv1D): a fused module (Phi-3's {@code qkv_proj}, {@code gate_up_proj})
     * takes each projection's delta in its own rows.
     */
    private static void addDeltas(
            float[] values,
            LinearModule module,
            int layer,
            List<LoraAdapter> loaded,
            List<Weighted> adapters) {
        int in = module.inFeatures();
        for (LinearModule.Slice slice : module.slices()) {
            for (int i = 0; i < loaded.size(); i++) {
                float[] delta = loaded.get(i).delta(layer, slice.projection());
                if (delta == null) {
                    continue;
                }
                float w = (float) adapters.get(i).weight();
                int out = module.outFeatures();
                for (int r = 0; r < slice.rows(); r++) {
                    // the stored row of this output row (GPT-NeoX interleaves q, k, v per head)
                    int row = module.fileRow(slice.offset() + r);
                    for (int k = 0; k < in; k++) {
                        // GPT-2's Conv1D stores [in, out]: the output row is a column there
                        int at = module.conv1d() ? k * out + row : row * in + k;
                        values[at] += w * delta[r * in + k];
                    }
                }
            }
        }
    }
}
