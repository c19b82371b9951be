package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.safetensors.WeightIndex;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Java combination of the committed input adapters equals what PEFT 0.21's add_weighted_adapter
 * saved for them (gpu/src/test/merge/make_merge_cases.py): every tensor for cat, linear, ties and
 * magnitude_prune; every module's product B A for the SVD methods (whose factors are unique only up
 * to sign), embedding LoRA included; the config's r, lora_alpha and target_modules; and the
 * project's loader reads the result as it reads PEFT's.
 */
class AdapterCombinerMatchesPeftTest {
    static final Path FIXTURES = TestModels.projectRoot().resolve("gpu/src/test/resources/merge");
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Same float32 operations as torch: only summation order can differ, by an ulp or so. */
    private static final double FACTOR_TOLERANCE = 1e-6;

    /** float32 SVD in torch vs double SVD here, relative to the largest entry of the product. */
    private static final double PRODUCT_TOLERANCE = 2e-5;

    static AdapterCombiner.Options options(JsonNode c) {
        AdapterCombiner.Options o =
                AdapterCombiner.Options.of(
                        CombineMethod.byName(c.get("combination_type").asText()));
        if (c.has("density")) {
            o = o.density(c.get("density").asDouble());
        }
        if (c.has("svd_rank")) {
            o = o.svdRank(c.get("svd_rank").asInt());
        }
        if (c.has("majority_sign_method")) {
            o = o.majoritySign(c.get("majority_sign_method").asText());
        }
        return o;
    }

    static Path combineCase(String name, Path out) throws IOException {
        JsonNode c = JSON.readTree(FIXTURES.resolve("cases.json").toFile()).get(name);
        assertNotNull(c, name);
        List<AdapterCombiner.Input> inputs = new ArrayList<>();
        for (int i = 0; i < c.get("adapters").size(); i++) {
            inputs.add(
                    new AdapterCombiner.Input(
                            FIXTURES.resolve("inputs").resolve(c.get("adapters").get(i).asText()),
                            c.get("weights").get(i).asDouble()));
        }
        AdapterCombiner.combine(inputs, options(c), out);
        return out;
    }

    static Map<String, float[]> tensors(Path dir, Map<String, long[]> shapes) throws IOException {
        Map<String, float[]> out = new TreeMap<>();
        try (WeightIndex w = WeightIndex.openFile(dir.resolve("adapter_model.safetensors"));
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            for (String name : w.names()) {
                try (NDArray a = w.load(name, m, DataType.FLOAT32)) {
                    out.put(name, a.toFloatArray());
                }
                if (shapes != null) {
                    shapes.put(name, w.info(name).shape());
                }
            }
        }
        return out;
    }

    private static void sameConfig(Path ours, Path peft) throws IOException {
        JsonNode a = JSON.readTree(ours.resolve("adapter_config.json").toFile());
        JsonNode b = JSON.readTree(peft.resolve("adapter_config.json").toFile());
        for (String f : List.of("r", "lora_alpha", "use_rslora", "alpha_pattern", "rank_pattern")) {
            assertEquals(b.get(f).asDouble(), a.get(f).asDouble(), f);
            assertEquals(
                    b.get(f).toString().replace(".0", ""),
                    a.get(f).toString().replace(".0", ""),
                    f);
        }
        TreeSet<String> ta = new TreeSet<>();
        TreeSet<String> tb = new TreeSet<>();
        a.get("target_modules").forEach(n -> ta.add(n.asText()));
        b.get("target_modules").forEach(n -> tb.add(n.asText()));
        assertEquals(tb, ta, "target_modules");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "linear",
                "linear_three",
                "cat",
                "ties",
                "ties_frequency",
                "magnitude_prune",
                "cat_embedding",
                "linear_embedding"
            })
    void factorMethodsWritePeftsTensors(String name, @TempDir Path tmp) throws IOException {
        Path ours = combineCase(name, tmp.resolve(name));
        Path peft = FIXTURES.resolve("peft").resolve(name);
        sameConfig(ours, peft);
        Map<String, long[]> shapesOurs = new TreeMap<>();
        Map<String, long[]> shapesPeft = new TreeMap<>();
        Map<String, float[]> a = tensors(ours, shapesOurs);
        Map<String, float[]> b = tensors(peft, shapesPeft);
        assertEquals(b.keySet(), a.keySet(), "tensor names");
        double worst = 0;
        for (String t : b.keySet()) {
            assertTrue(Arrays.equals(shapesPeft.get(t), shapesOurs.get(t)), t + " shape");
            worst = Math.max(worst, maxAbsDiff(a.get(t), b.get(t)));
        }
        System.out.printf("combine %s: max |ours - PEFT| over tensors = %.3g%n", name, worst);
        assertTrue(worst <= FACTOR_TOLERANCE, name + ": max abs difference " + worst);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "svd",
                "svd_rank3",
                "ties_svd",
                "magnitude_prune_svd",
                "svd_embedding",
                "ties_svd_embedding"
            })
    void svdMethodsWritePeftsProducts(String name, @TempDir Path tmp) throws IOException {
        Path ours = combineCase(name, tmp.resolve(name));
        Path peft = FIXTURES.resolve("peft").resolve(name);
        sameConfig(ours, peft);
        Map<String, long[]> shapesOurs = new TreeMap<>();
        Map<String, long[]> shapesPeft = new TreeMap<>();
        Map<String, float[]> a = tensors(ours, shapesOurs);
        Map<String, float[]> b = tensors(peft, shapesPeft);
        assertEquals(b.keySet(), a.keySet(), "tensor names");
        double worst = 0;
        for (String t : b.keySet()) {
            assertTrue(Arrays.equals(shapesPeft.get(t), shapesOurs.get(t)), t + " shape");
            if (t.endsWith(".base_layer.weight")) {
                assertEquals(0.0, maxAbsDiff(a.get(t), b.get(t)), t);
            }
            if (!t.endsWith(".lora_A.weight") && !t.endsWith(".lora_embedding_A")) {
                continue;
            }
            String bName =
                    t.replace(".lora_A.weight", ".lora_B.weight")
                            .replace(".lora_embedding_A", ".lora_embedding_B");
            long[] s = shapesPeft.get(bName);
            int out = (int) s[0];
            int rank = (int) s[1];
            int in = (int) shapesPeft.get(t)[1];
            float[] pOurs = product(a.get(bName), a.get(t), out, rank, in);
            float[] pPeft = product(b.get(bName), b.get(t), out, rank, in);
            double scale = 0;
            for (float v : pPeft) {
                scale = Math.max(scale, Math.abs(v));
            }
            double diff = maxAbsDiff(pOurs, pPeft);
            worst = Math.max(worst, diff / scale);
            assertTrue(
                    diff <= PRODUCT_TOLERANCE * scale,
                    t + ": max |B A - PEFT's B A| = " + diff + " of " + scale);
        }
        System.out.printf(
                "combine %s: max |ours - PEFT| of B A, relative to max |B A| = %.3g%n",
                name, worst);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "linear",
                "cat",
                "svd",
                "ties",
                "magnitude_prune_svd",
                "cat_embedding",
                "svd_embedding"
            })
    void theProjectsLoaderReadsTheResultAsItReadsPefts(String name, @TempDir Path tmp)
            throws IOException {
        Path ours = combineCase(name, tmp.resolve(name));
        ModelConfig model = ModelConfig.read(FIXTURES);
        try (WeightIndex w = WeightIndex.openFile(FIXTURES.resolve("model.safetensors"));
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            // The loader checks a saved base embedding against the base model's.
            NDArray embedding = w.load("model.embed_tokens.weight", m, DataType.FLOAT32);
            BaseWeights base =
                    new BaseWeights() {
                        @Override
                        public NDArray weight(int layer, Projection projection) {
                            throw new UnsupportedOperationException("no DoRA here");
                        }

                        @Override
                        public NDArray embedding() {
                            return embedding;
                        }
                    };
            loadsAlike(name, ours, model, base);
        }
    }

    private static void loadsAlike(String name, Path ours, ModelConfig model, BaseWeights base) {
        try (LoraAdapter mine = LoraAdapter.read("ours", 1, ours, model, base);
                LoraAdapter theirs =
                        LoraAdapter.read(
                                "peft", 1, FIXTURES.resolve("peft").resolve(name), model, base)) {
            int adapted = 0;
            for (int l = 0; l < model.numLayers(); l++) {
                for (Projection p : Projection.values()) {
                    assertEquals(theirs.rank(l, p), mine.rank(l, p), l + " " + p);
                    float[] d1 = mine.delta(l, p);
                    float[] d2 = theirs.delta(l, p);
                    if (d2 == null) {
                        assertEquals(null, d1);
                        continue;
                    }
                    adapted++;
                    double scale = 0;
                    for (float v : d2) {
                        scale = Math.max(scale, Math.abs(v));
                    }
                    assertTrue(
                            maxAbsDiff(d1, d2) <= PRODUCT_TOLERANCE * scale,
                            name + " " + l + " " + p);
                }
            }
            assertTrue(adapted > 0);
        }
    }

    static double maxAbsDiff(float[] x, float[] y) {
        assertEquals(y.length, x.length);
        double m = 0;
        for (int i = 0; i < x.length; i++) {
            m = Math.max(m, Math.abs((double) x[i] - y[i]));
        }
        return m;
    }

    static float[] product(float[] b, float[] a, int out, int rank, int in) {
        float[] p = new float[out * in];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                double acc = 0;
                for (int k = 0; k < rank; k++) {
                    acc += (double) b[o * rank + k] * a[k * in + i];
                }
                p[o * in + i] = (float) acc;
            }
        }
        return p;
    }
}
