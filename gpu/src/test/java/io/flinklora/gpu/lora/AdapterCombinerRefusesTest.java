package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.gpu.safetensors.DType;
import io.flinklora.gpu.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What PEFT's add_weighted_adapter refuses, or would turn into something other than a combination
 * of the inputs, is refused by name before anything is written.
 */
class AdapterCombinerRefusesTest {
    private static final Path INPUTS = AdapterCombinerMatchesPeftTest.FIXTURES.resolve("inputs");
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir Path tmp;

    /** A copy of a committed input adapter with its config edited. */
    private Path variant(String name, String as, Consumer<ObjectNode> edit) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(as));
        Files.copy(
                INPUTS.resolve(name).resolve("adapter_model.safetensors"),
                dir.resolve("adapter_model.safetensors"));
        ObjectNode cfg =
                (ObjectNode)
                        JSON.readTree(INPUTS.resolve(name).resolve("adapter_config.json").toFile());
        edit.accept(cfg);
        Files.writeString(dir.resolve("adapter_config.json"), cfg.toString());
        return dir;
    }

    private void refused(String expected, AdapterCombiner.Options o, Path... dirs) {
        List<AdapterCombiner.Input> in =
                java.util.Arrays.stream(dirs).map(d -> new AdapterCombiner.Input(d, 0.5)).toList();
        Path out = tmp.resolve("out-" + expected.replaceAll("\\W", ""));
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> AdapterCombiner.combine(in, o, out),
                        expected);
        assertTrue(e.getMessage().contains(expected), expected + " -> " + e.getMessage());
        assertTrue(!Files.exists(out), "nothing written for " + expected);
    }

    private static AdapterCombiner.Options method(String m) {
        return AdapterCombiner.Options.of(CombineMethod.byName(m));
    }

    @Test
    void unsupportedAdapterFeaturesAreRefusedByName() throws IOException {
        Path a = INPUTS.resolve("a");
        refused("lora_bias", method("cat"), a, variant("b", "bias", c -> c.put("lora_bias", true)));
        refused("use_dora", method("cat"), a, variant("b", "dora", c -> c.put("use_dora", true)));
        refused(
                "modules_to_save",
                method("cat"),
                a,
                variant("b", "save", c -> c.putArray("modules_to_save").add("lm_head")));
        refused(
                "same target modules type",
                method("svd"),
                a,
                variant("b", "regex", c -> c.put("target_modules", ".*\\.(q_proj|v_proj|o_proj)")));
        Path layer0 = variant("b", "layers", c -> c.putArray("layers_to_transform").add(0));
        SafetensorsWriter w = new SafetensorsWriter();
        AdapterCombinerMatchesPeftTest.tensors(INPUTS.resolve("b"), null)
                .forEach(
                        (k, v) -> {
                            if (!k.contains(".layers.1.")) {
                                w.add(k, DType.F32, shape(k, v), v);
                            }
                        });
        w.write(layer0.resolve("adapter_model.safetensors"));
        refused("layers_to_transform", method("cat"), a, layer0);
    }

    @Test
    void tensorsOtherThanLoraFactorsAreRefusedByName() throws IOException {
        Path dir = variant("a", "embedding", c -> {});
        Map<String, float[]> t = AdapterCombinerMatchesPeftTest.tensors(INPUTS.resolve("a"), null);
        SafetensorsWriter w = new SafetensorsWriter();
        t.forEach((k, v) -> w.add(k, DType.F32, shape(k, v), v));
        w.add(
                "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector",
                DType.F32,
                new long[] {32},
                new float[32]);
        w.write(dir.resolve("adapter_model.safetensors"));
        refused("lora_magnitude_vector", method("linear"), dir, INPUTS.resolve("b"));

        Path base = variant("a", "base-layer", c -> {});
        SafetensorsWriter w2 = new SafetensorsWriter();
        t.forEach((k, v) -> w2.add(k, DType.F32, shape(k, v), v));
        w2.add(
                "base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight",
                DType.F32,
                new long[] {32, 32},
                new float[1024]);
        w2.write(base.resolve("adapter_model.safetensors"));
        refused(
                "saved base layer of a module without embedding LoRA",
                method("cat"),
                base,
                INPUTS.resolve("b"));

        Path extra = variant("a", "untargeted", c -> {});
        SafetensorsWriter w3 = new SafetensorsWriter();
        t.forEach((k, v) -> w3.add(k, DType.F32, shape(k, v), v));
        w3.add(
                "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight",
                DType.F32,
                new long[] {4, 32},
                new float[128]);
        w3.add(
                "base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight",
                DType.F32,
                new long[] {16, 4},
                new float[64]);
        w3.write(extra.resolve("adapter_model.safetensors"));
        refused("does not target", method("cat"), extra, INPUTS.resolve("c"));
    }

    @Test
    void embeddingAdaptersOfDifferentBaseModelsAreRefused() throws IOException {
        Path other = variant("e", "other-base", c -> {});
        Map<String, float[]> t = AdapterCombinerMatchesPeftTest.tensors(INPUTS.resolve("e"), null);
        SafetensorsWriter w = new SafetensorsWriter();
        t.forEach(
                (k, v) -> {
                    if (k.endsWith("base_layer.weight")) {
                        float[] changed = v.clone();
                        changed[5] += 1f;
                        w.add(k, DType.F32, new long[] {64, 32}, changed);
                    } else {
                        w.add(k, DType.F32, shape(k, v), v);
                    }
                });
        w.write(other.resolve("adapter_model.safetensors"));
        refused("different base models", method("cat"), INPUTS.resolve("e"), other);
    }

    private static long[] shape(String name, float[] v) {
        // Inputs a, b and e have rank 4 everywhere: A is [4, in], B is [out, 4].
        return name.endsWith("lora_A.weight") || name.endsWith("lora_embedding_A")
                ? new long[] {4, v.length / 4}
                : new long[] {v.length / 4, 4};
    }

    @Test
    void rankRulesOfPeftAreKept() throws IOException {
        Path a = INPUTS.resolve("a");
        Path c = INPUTS.resolve("c");
        refused("same r value", method("linear"), a, c);
        refused("same r value", method("ties").density(0.5), a, c);
        // Equal configured ranks, but c's k_proj has rank 2 through rank_pattern: PEFT's
        // torch.stack would fail.
        refused("rank_pattern", method("linear"), c, variant("c", "c2", x -> {}));
        refused("exceeds", method("svd").svdRank(20), a, c);
    }

    @Test
    void optionsAreCheckedAgainstTheMethod() {
        Path a = INPUTS.resolve("a");
        Path b = INPUTS.resolve("b");
        refused("--density is required", method("ties"), a, b);
        refused("--density is required", method("dare_linear_svd"), a, b);
        refused("divides", method("dare_ties").density(0), a, b);
        refused("--rank", method("linear").svdRank(2), a, b);
        refused("--density applies", method("cat").density(0.5), a, b);
        refused(
                "--majority-sign-method",
                method("magnitude_prune").density(0.5).majoritySign("total"),
                a,
                b);
        refused("total or frequency", method("ties").density(0.5).majoritySign("sum"), a, b);
        refused("--seed", method("svd").seed(3), a, b);
        refused("quantile", method("svd").svdClamp(1.5), a, b);
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> CombineMethod.byName("task"));
        assertTrue(e.getMessage().contains("dare_ties_svd"), e.getMessage());
    }
}
