package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.sampling.SamplingParams;
import io.flinklora.gpu.train.JointTrainer;
import io.flinklora.gpu.train.LoraSpec;
import io.flinklora.gpu.train.TrainingExample;
import io.flinklora.gpu.train.TrainingForward;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trainer beyond the Llama block: since it differentiates the serving forward pass itself, an
 * adapter trained on Gemma, Gemma 2 (soft-caps, sliding window), Qwen3 (q/k norms) or a biased,
 * windowed Qwen2 is served by the engine with the logits the trainer computed. A checkpoint with
 * fused projections (Phi-3) is refused by name.
 */
class TrainedAdapterArchitecturesTest {
    @TempDir static Path root;

    @BeforeAll
    static void oneThread() {
        io.flinklora.gpu.OneTorchThread.set();
    }

    @AfterAll
    static void restoreThreads() {
        io.flinklora.gpu.OneTorchThread.restore();
    }

    @TestFactory
    Stream<DynamicTest> trainerForwardEqualsTheEngineServingTheSavedAdapter() {
        return Stream.of("gemma", "gemma2", "qwen3", "qwen2_window", "mistral_window")
                .map(name -> DynamicTest.dynamicTest(name, () -> check(name)));
    }

    private static void check(String name) throws Exception {
        Path model = HuggingFaceConformanceTest.casesDir().resolve(name);
        List<int[]> prompts = new ArrayList<>();
        for (var c : HuggingFaceConformanceTest.cases()) {
            if (c.get("model").asText().equals(name)) {
                HuggingFaceConformanceTest.rows(c).forEach(r -> prompts.add(r.prompt()));
            }
        }
        Path adapters = root.resolve(name);
        float[][] mine = new float[prompts.size()][];
        float moved = 0;
        try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                LlamaModel llama =
                        LlamaModel.load(model, manager, Device.cpu(), DataType.FLOAT32, 64);
                JointTrainer trainer =
                        new JointTrainer(
                                llama,
                                JointTrainer.Options.defaults(4, 5).withBatch(2).withLr(5e-2))) {
            List<TrainingExample> data = new ArrayList<>();
            prompts.forEach(p -> data.add(new TrainingExample(p, 1)));
            trainer.add(new LoraSpec("all", 4, 8, EnumSet.allOf(Projection.class)), data);
            for (int s = 0; s < 4; s++) {
                trainer.step();
            }
            trainer.save(adapters, name);
            int vocab = llama.config().vocabSize();
            for (int i = 0; i < prompts.size(); i++) {
                int[] ids = prompts.get(i);
                var tokens =
                        manager.create(
                                Arrays.stream(ids).asLongStream().toArray(),
                                new Shape(1, ids.length));
                float[] trained =
                        trainer.forward()
                                .logits(
                                        tokens,
                                        List.of(
                                                new TrainingForward.Segment(
                                                        trainer.adapter("all"), 0, 1)))
                                .toFloatArray();
                float[] base =
                        trainer.forward()
                                .logits(tokens, List.of(new TrainingForward.Segment(null, 0, 1)))
                                .toFloatArray();
                int at = (ids.length - 1) * vocab;
                mine[i] = Arrays.copyOfRange(trained, at, at + vocab);
                for (int v = 0; v < vocab; v++) {
                    moved = Math.max(moved, Math.abs(trained[at + v] - base[at + v]));
                }
            }
        }
        assertTrue(
                moved > 0.01, name + ": training changed the adapter's logits (by " + moved + ")");
        Map<String, float[]> served = new HashMap<>();
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(model)
                                .maxRunning(prompts.size())
                                .adapterRoot(adapters)
                                .build())) {
            for (int i = 0; i < prompts.size(); i++) {
                e.submit(
                        new EngineRequest(
                                "r" + i,
                                prompts.get(i),
                                List.of(new AdapterRef("all", 1.0)),
                                SamplingParams.greedy(2)));
            }
            Batch batch;
            long deadline = System.nanoTime() + 30_000_000_000L;
            do {
                batch = e.scheduleForTest();
            } while (batch.chunks().size() < prompts.size() && System.nanoTime() < deadline);
            assertEquals(
                    prompts.size(),
                    batch.chunks().size(),
                    name + ": every request admitted (adapter loaded)");
            float[][] got = e.logitsForTest(batch);
            for (int r = 0; r < got.length; r++) {
                served.put(batch.chunks().get(r).sequence().id(), got[r]);
            }
        }
        for (int i = 0; i < prompts.size(); i++) {
            float[] engine = served.get("r" + i);
            float maxAbs = 0;
            float maxDiff = 0;
            for (int v = 0; v < engine.length; v++) {
                maxAbs = Math.max(maxAbs, Math.abs(engine[v]));
                maxDiff = Math.max(maxDiff, Math.abs(engine[v] - mine[i][v]));
            }
            assertTrue(
                    maxDiff <= 1e-4 * maxAbs,
                    name + " row " + i + ": max diff " + maxDiff + " vs max |logit| " + maxAbs);
        }
    }

    @Test
    void fusedProjectionsAreRefusedByName() {
        assertTrainingRefused("phi3", "Phi3ForCausalLM", "fuses");
    }

    @Test
    void mixturesOfExpertsAreRefusedByName() {
        assertTrainingRefused("mixtral", "MixtralForCausalLM", "router");
        assertTrainingRefused("qwen3_moe", "Qwen3MoeForCausalLM", "router");
        assertTrainingRefused("olmoe", "OlmoeForCausalLM", "router");
    }

    private static void assertTrainingRefused(String fixture, String... words) {
        Path model = HuggingFaceConformanceTest.casesDir().resolve(fixture);
        try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                LlamaModel llama =
                        LlamaModel.load(model, manager, Device.cpu(), DataType.FLOAT32, 64)) {
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> new JointTrainer(llama, JointTrainer.Options.defaults(1, 1)));
            for (String w : words) {
                assertTrue(e.getMessage().contains(w), e.getMessage());
            }
        }
    }
}
