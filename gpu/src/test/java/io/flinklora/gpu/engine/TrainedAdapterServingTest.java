package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.safetensors.WeightIndex;
import io.flinklora.gpu.sampling.SamplingParams;
import io.flinklora.gpu.tokenizer.Tokenizer;
import io.flinklora.gpu.train.JointTrainer;
import io.flinklora.gpu.train.LoraSpec;
import io.flinklora.gpu.train.TrainingData;
import io.flinklora.gpu.train.TrainingExample;
import io.flinklora.gpu.train.TrainingForward;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Adapters trained by the joint trainer, saved as PEFT folders, then loaded and served by the
 * engine.
 */
class TrainedAdapterServingTest {
    @TempDir static Path root;

    static final String[] PROMPTS = {
        "Once upon a time, there was a little",
        "Tom had a big red ball. He",
        "One day, Lily and Ben went to the park to play with"
    };

    @org.junit.jupiter.api.BeforeAll
    static void oneThread() {
        io.flinklora.gpu.OneTorchThread.set();
    }

    @org.junit.jupiter.api.AfterAll
    static void restoreThreads() {
        io.flinklora.gpu.OneTorchThread.restore();
    }

    @Test
    void trainerForwardEqualsTheEngineServingTheSavedAdapters() throws Exception {
        Path model = TestModels.stories260k();
        try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                LlamaModel llama =
                        LlamaModel.load(model, manager, Device.cpu(), DataType.FLOAT32, 128);
                Tokenizer tok = Tokenizer.load(model);
                JointTrainer trainer =
                        new JointTrainer(
                                llama,
                                JointTrainer.Options.defaults(6, 3).withBatch(3).withLr(2e-2))) {
            List<TrainingExample> data = new ArrayList<>();
            for (String p : PROMPTS) {
                data.add(TrainingData.example(tok, p, " a dog named Max. Max ran and ran.", -1));
            }
            trainer.add(new LoraSpec("qv", 4, 8, EnumSet.of(Projection.Q, Projection.V)), data);
            trainer.add(new LoraSpec("all", 8, 16, EnumSet.allOf(Projection.class)), data);
            for (int s = 0; s < 6; s++) {
                trainer.step();
            }
            trainer.save(root, "models/stories260k");

            // The trainer's forward: rows qv, all, base, right-padded to the longest prompt.
            int[][] ids = new int[PROMPTS.length][];
            int len = 0;
            for (int i = 0; i < ids.length; i++) {
                ids[i] = tok.encode(PROMPTS[i]);
                len = Math.max(len, ids[i].length);
            }
            long[] flat = new long[ids.length * len];
            for (int i = 0; i < ids.length; i++) {
                for (int k = 0; k < ids[i].length; k++) {
                    flat[i * len + k] = ids[i][k];
                }
            }
            TrainingForward f = trainer.forward();
            NDArray tokens = manager.create(flat, new Shape(ids.length, len));
            float[] all =
                    f.logits(
                                    tokens,
                                    List.of(
                                            new TrainingForward.Segment(
                                                    trainer.adapter("qv"), 0, 1),
                                            new TrainingForward.Segment(
                                                    trainer.adapter("all"), 1, 2),
                                            new TrainingForward.Segment(null, 2, 3)))
                            .toFloatArray();
            float[] baseOfRow0 =
                    f.logits(
                                    manager.create(Arrays.copyOf(flat, len), new Shape(1, len)),
                                    List.of(new TrainingForward.Segment(null, 0, 1)))
                            .toFloatArray();
            int vocab = llama.config().vocabSize();

            // The engine: the same three requests in one batch, adapters loaded by the registry
            // from the files.
            String[] adapters = {"qv", "all", null};
            Map<String, float[]> served = new HashMap<>();
            try (Engine e =
                    Engine.open(
                            EngineConfig.builder(model).maxRunning(4).adapterRoot(root).build())) {
                for (int i = 0; i < ids.length; i++) {
                    e.submit(
                            new EngineRequest(
                                    "r" + i,
                                    ids[i],
                                    adapters[i] == null
                                            ? List.of()
                                            : List.of(new AdapterRef(adapters[i], 1.0)),
                                    SamplingParams.greedy(2)));
                }
                Batch batch;
                long deadline = System.nanoTime() + 30_000_000_000L;
                do {
                    batch = e.scheduleForTest();
                } while (batch.chunks().size() < ids.length && System.nanoTime() < deadline);
                assertEquals(
                        ids.length,
                        batch.chunks().size(),
                        "every request admitted (adapters loaded)");
                float[][] got = e.logitsForTest(batch);
                for (int r = 0; r < got.length; r++) {
                    served.put(batch.chunks().get(r).sequence().id(), got[r]);
                }
            }
            for (int i = 0; i < ids.length; i++) {
                int at = (i * len + ids[i].length - 1) * vocab;
                float[] mine = Arrays.copyOfRange(all, at, at + vocab);
                float[] engine = served.get("r" + i);
                float maxAbs = 0;
                float maxDiff = 0;
                for (int v = 0; v < vocab; v++) {
                    maxAbs = Math.max(maxAbs, Math.abs(engine[v]));
                    maxDiff = Math.max(maxDiff, Math.abs(engine[v] - mine[v]));
                }
                assertTrue(
                        maxDiff <= 1e-4 * maxAbs,
                        "row " + i + ": max diff " + maxDiff + " vs max |logit| " + maxAbs);
            }
            int at = (ids[0].length - 1) * vocab;
            float moved = 0;
            for (int v = 0; v < vocab; v++) {
                moved = Math.max(moved, Math.abs(all[at + v] - baseOfRow0[at + v]));
            }
            assertTrue(
                    moved > 0.01,
                    "training changed the adapter's logits (by "
                            + moved
                            + "), so the comparison means something");
        }
        checkPeftFolder(root.resolve("all"), 8, 16, EnumSet.allOf(Projection.class));
        checkPeftFolder(root.resolve("qv"), 4, 8, EnumSet.of(Projection.Q, Projection.V));
    }

    /**
     * The folder is what PEFT writes: its config fields and {@code
     * base_model.model.<module>.lora_A/B.weight} tensors.
     */
    static void checkPeftFolder(Path dir, int r, double alpha, EnumSet<Projection> targets)
            throws Exception {
        JsonNode c = new ObjectMapper().readTree(dir.resolve("adapter_config.json").toFile());
        assertEquals("LORA", c.get("peft_type").asText());
        assertEquals("CAUSAL_LM", c.get("task_type").asText());
        assertEquals("models/stories260k", c.get("base_model_name_or_path").asText());
        assertEquals(r, c.get("r").asInt());
        assertEquals(alpha, c.get("lora_alpha").asDouble());
        List<String> modules = new ArrayList<>();
        c.get("target_modules").forEach(n -> modules.add(n.asText()));
        assertEquals(targets.stream().map(Projection::moduleName).toList(), modules);
        try (WeightIndex w = WeightIndex.openFile(dir.resolve("adapter_model.safetensors"))) {
            assertEquals(5 * targets.size() * 2, w.names().size());
            String a =
                    "base_model.model.model.layers.4."
                            + (targets.contains(Projection.Q) ? "self_attn.q_proj" : "")
                            + ".lora_A.weight";
            assertTrue(w.contains(a), a + " in " + w.names());
            assertEquals(List.of((long) r, 64L), Arrays.stream(w.info(a).shape()).boxed().toList());
        }
    }
}
