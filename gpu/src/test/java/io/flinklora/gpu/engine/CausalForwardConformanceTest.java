package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import io.flinklora.gpu.lora.AdapterMix;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.lora.AdapterRegistry;
import io.flinklora.gpu.lora.BaseWeights;
import io.flinklora.gpu.lora.LoraBatch;
import io.flinklora.gpu.lora.LoraStrategy;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.ProjectionDelta;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * {@link LlamaModel#logitsCausal}, the cache-free forward the trainer and the router use, against
 * transformers + PEFT on every conformance case: all rows of a case right-padded into one batch,
 * each with its adapters through the engine's own {@link LoraBatch}, give the reference's
 * first-step logits at the row's last real token within 1e-4 of the largest logit. The cases cover
 * Gemma norms and soft-caps, Qwen3's q/k norms, sliding windows shorter than the prompts, LongRoPE
 * prompts past the original context (Phi-3), biases, DoRA and saved embeddings and heads.
 */
class CausalForwardConformanceTest {
    private static final double RELATIVE = 1e-4;

    @TestFactory
    Stream<DynamicTest> everyCaseMatchesTransformersWithAllRowsPaddedIntoOneBatch()
            throws Exception {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : HuggingFaceConformanceTest.cases()) {
            String name = c.get("model").asText();
            Path dir = HuggingFaceConformanceTest.casesDir().resolve(name);
            tests.add(
                    DynamicTest.dynamicTest(
                            name, () -> check(name, dir, HuggingFaceConformanceTest.rows(c))));
        }
        return tests.stream();
    }

    private static void check(String name, Path dir, List<HuggingFaceConformanceTest.Row> rows)
            throws Exception {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                LlamaModel model =
                        LlamaModel.load(dir, manager, Device.cpu(), DataType.FLOAT32, 256);
                AdapterRegistry registry = registry(dir, model, manager)) {
            int len = 0;
            for (HuggingFaceConformanceTest.Row r : rows) {
                len = Math.max(len, r.prompt().length);
            }
            long[] flat = new long[rows.size() * len];
            int[] lengths = new int[rows.size()];
            List<AdapterMix> tokenMix = new ArrayList<>();
            boolean anyAdapter = false;
            for (int i = 0; i < rows.size(); i++) {
                HuggingFaceConformanceTest.Row r = rows.get(i);
                lengths[i] = r.prompt().length;
                for (int k = 0; k < r.prompt().length; k++) {
                    flat[i * len + k] = r.prompt()[k];
                }
                AdapterMix mix = mix(registry, r.adapters());
                anyAdapter |= mix != null;
                // An activated LoRA acts from its invocation tokens on, as the engine applies it.
                int from = 0;
                if (mix != null) {
                    for (AdapterMix.Part p : mix.parts()) {
                        from = Math.max(from, p.adapter().activatesFrom(r.prompt()));
                    }
                }
                for (int k = 0; k < len; k++) {
                    tokenMix.add(k >= from ? mix : null);
                }
            }
            NDArray tokens = manager.create(flat, new Shape(rows.size(), len));
            for (LoraStrategy strategy :
                    anyAdapter ? LoraStrategy.values() : new LoraStrategy[] {LoraStrategy.POOLED}) {
                ProjectionDelta delta =
                        anyAdapter
                                ? new LoraBatch(tokenMix, manager, DataType.FLOAT32, strategy)
                                : ProjectionDelta.NONE;
                float[] logits = model.logitsCausal(tokens, lengths, delta).toFloatArray();
                int vocab = model.config().vocabSize();
                for (int i = 0; i < rows.size(); i++) {
                    HuggingFaceConformanceTest.Row r = rows.get(i);
                    int at = (i * len + lengths[i] - 1) * vocab;
                    float maxAbs = 0;
                    float maxDiff = 0;
                    for (int v = 0; v < vocab; v++) {
                        maxAbs = Math.max(maxAbs, Math.abs(r.firstLogits()[v]));
                        maxDiff = Math.max(maxDiff, Math.abs(r.firstLogits()[v] - logits[at + v]));
                    }
                    assertTrue(
                            maxDiff <= RELATIVE * maxAbs,
                            name
                                    + "/"
                                    + strategy
                                    + " row "
                                    + r.id()
                                    + ": max diff "
                                    + maxDiff
                                    + " (max |logit| "
                                    + maxAbs
                                    + ")");
                }
            }
        }
    }

    @Test
    void refusesLayerCountsAndShapesItCannotRun() {
        Path dir = HuggingFaceConformanceTest.casesDir().resolve("qwen3");
        try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                LlamaModel model =
                        LlamaModel.load(dir, manager, Device.cpu(), DataType.FLOAT32, 16)) {
            NDArray tokens = manager.create(new long[] {1, 2, 3}, new Shape(1, 3));
            int layers = model.config().numLayers();
            assertThrows(
                    IllegalArgumentException.class,
                    () -> model.hiddenCausal(tokens, null, ProjectionDelta.NONE, layers + 1));
            assertThrows(
                    IllegalArgumentException.class,
                    () -> model.hiddenCausal(tokens.reshape(3), null, ProjectionDelta.NONE, 1));
            assertThrows(
                    IllegalArgumentException.class,
                    () ->
                            model.hiddenCausal(
                                    manager.zeros(new Shape(1, 17), DataType.INT64),
                                    null,
                                    ProjectionDelta.NONE,
                                    1));
            assertEquals(
                    3, model.hiddenCausal(tokens, null, ProjectionDelta.NONE, 0).getShape().get(0));
        }
    }

    static AdapterRegistry registry(Path dir, LlamaModel model, NDManager manager) {
        Path adapters = dir.resolve("adapters");
        if (!Files.isDirectory(adapters)) {
            return null;
        }
        return AdapterRegistry.builder(adapters, model.config(), manager, DataType.FLOAT32)
                .baseWeights(BaseWeights.of(model))
                .build();
    }

    /** The row's adapters, loaded and on the device, or null for a base-model row. */
    static AdapterMix mix(AdapterRegistry registry, List<AdapterRef> refs)
            throws InterruptedException {
        if (refs.isEmpty()) {
            return null;
        }
        List<AdapterMix.Part> parts = new ArrayList<>();
        for (AdapterRef ref : refs) {
            AdapterRegistry.Version v = registry.acquire(ref.name());
            AdapterRegistry.Readiness ready;
            long deadline = System.nanoTime() + 60_000_000_000L;
            while ((ready = registry.ready(v)) == AdapterRegistry.Readiness.LOADING
                    && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(
                    AdapterRegistry.Readiness.READY,
                    ready,
                    ref.name() + ": " + registry.failure(v));
            parts.add(new AdapterMix.Part(registry.adapter(v), ref.weight()));
        }
        return new AdapterMix(parts);
    }
}
