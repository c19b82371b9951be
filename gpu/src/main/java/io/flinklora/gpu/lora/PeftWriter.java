package io.flinklora.gpu.lora;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.safetensors.DType;
import io.flinklora.gpu.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Writes LoRA adapters in PEFT's on-disk format ({@code adapter_config.json} + {@code
 * adapter_model.safetensors} with {@code base_model.model.<module>.lora_A/B.weight} tensors):
 * random adapters for demos, tests and benchmarks, and adapters extracted from fine-tuned models.
 */
@Internal
public final class PeftWriter {
    private final ModelConfig model;
    private int r = 8;
    private double alpha = 16;
    private boolean rsLora;
    private boolean dora;
    private boolean experts;
    private Set<Projection> targets = EnumSet.of(Projection.Q, Projection.V);
    private DType dtype = DType.F32;
    private String baseModel;
    private final Map<String, Integer> rankPattern = new LinkedHashMap<>();
    private final Map<String, Double> alphaPattern = new LinkedHashMap<>();
    private final Map<String, float[][]> explicit = new LinkedHashMap<>();

    public PeftWriter(ModelConfig model) {
        this.model = model;
    }

    public PeftWriter rank(int rank) {
        this.r = rank;
        return this;
    }

    public PeftWriter alpha(double a) {
        this.alpha = a;
        return this;
    }

    public PeftWriter rsLora(boolean on) {
        this.rsLora = on;
        return this;
    }

    /**
     * Writes a DoRA adapter ({@code use_dora}): each adapted module gets a {@code
     * lora_magnitude_vector} drawn around 1 (a valid magnitude for benchmarks and tests; a trained
     * one holds row norms).
     */
    public PeftWriter dora(boolean on) {
        this.dora = on;
        return this;
    }

    /**
     * Also adapts every sparse layer's experts ({@code target_parameters} {@code
     * experts.gate_up_proj} and {@code experts.down_proj}, in PEFT's ParamWrapper layout: {@code
     * lora_A [r * experts, in]}, {@code lora_B [out, r * experts]}, gate_up's wrapper nested inside
     * down_proj's), at the adapter's rank and alpha.
     */
    public PeftWriter experts(boolean on) {
        this.experts = on;
        return this;
    }

    public PeftWriter targets(Set<Projection> t) {
        this.targets = EnumSet.copyOf(t);
        return this;
    }

    public PeftWriter dtype(DType t) {
        this.dtype = t;
        return this;
    }

    /** Sets {@code base_model_name_or_path} (PEFT tools read it to find the base model). */
    public PeftWriter baseModel(String nameOrPath) {
        this.baseModel = nameOrPath;
        return this;
    }

    /**
     * A per-module rank as PEFT's {@code rank_pattern} (key matched against the end of the module
     * path).
     */
    public PeftWriter rankPattern(String key, int rank) {
        rankPattern.put(key, rank);
        return this;
    }

    public PeftWriter alphaPattern(String key, double a) {
        alphaPattern.put(key, a);
        return this;
    }

    /**
     * Sets explicit A [rank, in] and B [out, rank] (row-major) for one module instead of random
     * values.
     */
    public PeftWriter module(int layer, Projection p, float[] a, float[] b) {
        explicit.put(p.path(layer), new float[][] {a, b});
        return this;
    }

    private AdapterConfig config() {
        ObjectNode n = json();
        return AdapterConfig.parse(n, "generated");
    }

    private ObjectNode json() {
        ObjectMapper om = new ObjectMapper();
        ObjectNode n = om.createObjectNode();
        if (baseModel != null) {
            n.put("base_model_name_or_path", baseModel);
        }
        n.put("peft_type", "LORA")
                .put("task_type", "CAUSAL_LM")
                .put("r", r)
                .put("lora_alpha", alpha)
                .put("lora_dropout", 0.0)
                .put("bias", "none")
                .put("use_rslora", rsLora)
                .put("use_dora", dora)
                .put("fan_in_fan_out", false)
                .putNull("modules_to_save")
                .put("inference_mode", true);
        var tm = n.putArray("target_modules");
        for (Projection p : targets) {
            tm.add(p.moduleName());
        }
        if (experts) {
            n.putArray("target_parameters").add("experts.gate_up_proj").add("experts.down_proj");
        }
        ObjectNode rp = n.putObject("rank_pattern");
        rankPattern.forEach(rp::put);
        ObjectNode ap = n.putObject("alpha_pattern");
        alphaPattern.forEach(ap::put);
        return n;
    }

    /**
     * Writes the adapter to {@code dir}: modules given with {@link #module} keep their values,
     * every other target module gets A ~ N(0, aStd) and B ~ N(0, bStd) from {@code seed}.
     */
    public Path write(Path dir, long seed, double aStd, double bStd) throws IOException {
        Files.createDirectories(dir);
        AdapterConfig cfg = config();
        Random random = new Random(seed);
        SafetensorsWriter w = new SafetensorsWriter();
        for (int l = 0; l < model.numLayers(); l++) {
            for (Projection p : Projection.values()) {
                if (!cfg.adapts(l, p)) {
                    continue;
                }
                int rank = cfg.rankOf(l, p);
                int in = p.inFeatures(model);
                int out = p.outFeatures(model);
                float[][] given = explicit.get(p.path(l));
                float[] a = given != null ? given[0] : gaussian(random, rank * in, aStd);
                float[] b = given != null ? given[1] : gaussian(random, out * rank, bStd);
                String base = "base_model.model." + p.path(l);
                w.add(base + ".lora_A.weight", dtype, new long[] {rank, in}, a);
                w.add(base + ".lora_B.weight", dtype, new long[] {out, rank}, b);
                if (dora) {
                    float[] m = gaussian(random, out, 0.1);
                    for (int i = 0; i < out; i++) {
                        m[i] = Math.abs(1f + m[i]);
                    }
                    w.add(base + ".lora_magnitude_vector", dtype, new long[] {out}, m);
                }
            }
        }
        if (experts) {
            if (model.experts() == null) {
                throw new IllegalArgumentException("experts(true) on a model without experts");
            }
            int n = model.experts().count();
            int inter = model.experts().intermediate();
            int hidden = model.hiddenSize();
            for (int l = 0; l < model.numLayers(); l++) {
                if (!model.experts().sparse(l)) {
                    continue;
                }
                String base = "base_model.model.model.layers." + l + ".mlp.experts.";
                w.add(
                        base + "base_layer.lora_A.weight",
                        dtype,
                        new long[] {(long) r * n, hidden},
                        gaussian(random, r * n * hidden, aStd));
                w.add(
                        base + "base_layer.lora_B.weight",
                        dtype,
                        new long[] {2L * inter, (long) r * n},
                        gaussian(random, 2 * inter * r * n, bStd));
                w.add(
                        base + "lora_A.weight",
                        dtype,
                        new long[] {(long) r * n, inter},
                        gaussian(random, r * n * inter, aStd));
                w.add(
                        base + "lora_B.weight",
                        dtype,
                        new long[] {hidden, (long) r * n},
                        gaussian(random, hidden * r * n, bStd));
            }
        }
        w.write(dir.resolve("adapter_model.safetensors"));
        Files.writeString(
                dir.resolve("adapter_config.json"),
                new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(json()));
        return dir;
    }

    private static float[] gaussian(Random r, int n, double std) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) (r.nextGaussian() * std);
        }
        return out;
    }
}
