package io.flinklora.gpu.lora;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.gpu.safetensors.WeightIndex;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * One adapter to combine, read and checked: raw and parsed config, weight, its modules' factors by
 * module path, and the base embeddings PEFT saved beside embedding LoRA ({@code
 * <path>.base_layer.weight}).
 */
record CombineInput(
        Path dir,
        double weight,
        ObjectNode json,
        AdapterConfig config,
        Map<String, Factors> modules,
        Map<String, Saved> savedBase) {
    /** PEFT saves tensors under the PeftModel prefix. */
    static final String PREFIX = "base_model.model.";

    /**
     * One module's {@code A [rank, in]} and {@code B [out, rank]}, row-major, as stored (unscaled);
     * for an embedding ({@code lora_embedding_A [rank, vocab]}, {@code lora_embedding_B [hidden,
     * rank]}) B A is the transposed delta, and PEFT combines it the same way.
     */
    record Factors(int rank, int in, int out, float[] a, float[] b, boolean embedding) {}

    /** A saved tensor as read. */
    record Saved(long[] shape, float[] values) {}

    /** PEFT sizes the new adapter by r, or the largest rank_pattern value when that is larger. */
    int peftRank() {
        int r = config.r();
        for (int v : config.rankPattern().values()) {
            r = Math.max(r, v);
        }
        return r;
    }

    /** Reads and checks one adapter folder; what cannot be combined is refused by name. */
    static CombineInput read(Path dir, double weight) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("adapter " + dir + " is not a folder");
        }
        AdapterConfig config = AdapterConfig.read(dir);
        String where = dir.resolve("adapter_config.json").toString();
        if (config.loraBias()) {
            throw new IllegalArgumentException(
                    where
                            + ": lora_bias is true; add_weighted_adapter combines only"
                            + " lora_A and lora_B and would drop the bias, so it is refused");
        }
        if (!config.targetParameters().isEmpty()) {
            throw new IllegalArgumentException(
                    where
                            + ": target_parameters "
                            + config.targetParameters()
                            + " is set; PEFT's add_weighted_adapter refuses adapters on parameters,"
                            + " so it is refused");
        }
        if (config.useDora()) {
            throw new IllegalArgumentException(
                    where
                            + ": use_dora is true; add_weighted_adapter does not combine"
                            + " DoRA magnitude vectors, so DoRA adapters are refused");
        }
        if (config.activated()) {
            throw new IllegalArgumentException(
                    where
                            + ": alora_invocation_tokens is set; an activated LoRA acts only after its"
                            + " invocation tokens, which a combined plain adapter would drop, so it is"
                            + " refused");
        }
        if (config.baseRewrite() != AdapterConfig.BaseRewrite.NONE) {
            throw new IllegalArgumentException(
                    where
                            + ": init_lora_weights is "
                            + config.baseRewrite().name().toLowerCase(java.util.Locale.ROOT)
                            + "; PEFT's loader rewrites the base weights for such an adapter, which"
                            + " a combined plain adapter would drop, so it is refused");
        }
        if (!config.modulesToSave().isEmpty()) {
            throw new IllegalArgumentException(
                    where
                            + ": modules_to_save "
                            + config.modulesToSave()
                            + " is set; whole"
                            + " saved modules cannot be combined, so such adapters are refused");
        }
        ObjectNode json =
                (ObjectNode)
                        new ObjectMapper().readTree(dir.resolve("adapter_config.json").toFile());
        Path file = dir.resolve("adapter_model.safetensors");
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(
                    "no adapter_model.safetensors in " + dir + " (only safetensors is read)");
        }
        Map<String, float[]> a = new TreeMap<>();
        Map<String, float[]> b = new TreeMap<>();
        Map<String, long[]> shapes = new TreeMap<>();
        Set<String> embeddings = new TreeSet<>();
        Map<String, Saved> saved = new TreeMap<>();
        try (WeightIndex w = WeightIndex.openFile(file);
                NDManager scratch = NDManager.newBaseManager(Device.cpu())) {
            for (String name : w.names()) {
                String key = name;
                for (String p : new String[] {PREFIX, "base_model."}) {
                    if (key.startsWith(p)) {
                        key = key.substring(p.length());
                        break;
                    }
                }
                key = key.replace(".default.weight", ".weight");
                Map<String, float[]> target;
                String suffix;
                if (key.endsWith(".lora_A.weight") || key.endsWith(".lora_B.weight")) {
                    target = key.endsWith(".lora_A.weight") ? a : b;
                    suffix = key.substring(key.length() - ".lora_A.weight".length());
                } else if (key.endsWith(".lora_embedding_A") || key.endsWith(".lora_embedding_B")) {
                    target = key.endsWith("_A") ? a : b;
                    suffix = key.substring(key.length() - ".lora_embedding_A".length());
                } else if (key.endsWith(".base_layer.weight")) {
                    target = null;
                    suffix = ".base_layer.weight";
                } else {
                    throw new IllegalArgumentException(
                            file
                                    + ": tensor '"
                                    + name
                                    + "' is not a LoRA factor ("
                                    + why(name)
                                    + "); refusing rather than dropping it");
                }
                String path = key.substring(0, key.length() - suffix.length());
                float[] values;
                try (NDArray x = w.load(name, scratch, DataType.FLOAT32)) {
                    // PEFT loads adapters upcast to float32 (autocast_adapter_dtype) and combines
                    // in float32.
                    values = x.toFloatArray();
                }
                if (target == null) {
                    saved.put(path, new Saved(w.info(name).shape(), values));
                    continue;
                }
                if (suffix.startsWith(".lora_embedding")) {
                    embeddings.add(path);
                }
                target.put(path, values);
                shapes.put(path + (target == a ? ".A" : ".B"), w.info(name).shape());
            }
        }
        Map<String, Factors> modules = new TreeMap<>();
        for (String path : a.keySet()) {
            if (!b.containsKey(path)) {
                throw new IllegalArgumentException(
                        file + ": '" + path + "' has lora_A but no lora_B");
            }
            long[] sa = shapes.get(path + ".A");
            long[] sb = shapes.get(path + ".B");
            if (sa.length != 2 || sb.length != 2 || sa[0] != sb[1]) {
                throw new IllegalArgumentException(
                        file
                                + ": '"
                                + path
                                + "' has lora_A "
                                + Arrays.toString(sa)
                                + " and lora_B "
                                + Arrays.toString(sb)
                                + ", not [r, in] and [out, r]");
            }
            if (!config.matches(path)) {
                // PEFT ignores such tensors when it loads the adapter, so they are no part of its
                // combination.
                throw new IllegalArgumentException(
                        file
                                + ": tensors for '"
                                + path
                                + "', which adapter_config.json does"
                                + " not target (a config that does not match the weights)");
            }
            int r = (int) sa[0];
            if (r != config.rankOf(path)) {
                throw new IllegalArgumentException(
                        file
                                + ": '"
                                + path
                                + "' has rank "
                                + r
                                + " but the config gives "
                                + config.rankOf(path)
                                + " (its scaling would be wrong)");
            }
            modules.put(
                    path,
                    new Factors(
                            r,
                            (int) sa[1],
                            (int) sb[0],
                            a.get(path),
                            b.get(path),
                            embeddings.contains(path)));
        }
        for (String path : b.keySet()) {
            if (!a.containsKey(path)) {
                throw new IllegalArgumentException(
                        file + ": '" + path + "' has lora_B but no lora_A");
            }
        }
        if (modules.isEmpty()) {
            throw new IllegalArgumentException(file + ": no lora_A/lora_B tensors");
        }
        for (var e : saved.entrySet()) {
            Factors f = modules.get(e.getKey());
            long[] shape = e.getValue().shape();
            if (f == null || !f.embedding()) {
                throw new IllegalArgumentException(
                        file
                                + ": tensor '"
                                + e.getKey()
                                + ".base_layer.weight' is a saved"
                                + " base layer of a module without embedding LoRA; refusing rather than dropping it");
            }
            if (shape.length != 2 || shape[0] != f.in() || shape[1] != f.out()) {
                throw new IllegalArgumentException(
                        file
                                + ": saved base embedding '"
                                + e.getKey()
                                + "' has shape "
                                + Arrays.toString(shape)
                                + ", expected ["
                                + f.in()
                                + ", "
                                + f.out()
                                + "]");
            }
        }
        return new CombineInput(dir, weight, json, config, modules, saved);
    }

    private static String why(String tensor) {
        if (tensor.contains("lora_magnitude_vector")) {
            return "a DoRA magnitude";
        }
        if (tensor.endsWith(".lora_B.bias")) {
            return "a lora_bias bias";
        }
        if (tensor.endsWith(".bias")) {
            // add_weighted_adapter combines lora_A and lora_B only
            return "a base bias trained with PEFT's bias = all or lora_only";
        }
        return "a saved module or an unknown tensor";
    }
}
