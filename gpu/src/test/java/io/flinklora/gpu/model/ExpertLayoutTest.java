package io.flinklora.gpu.model;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flinklora.gpu.TestModels;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The experts of every mixture of experts saved by transformers 5 give the same logits whether each
 * expert's rows run through their own product (a CPU's layout), share padded batched products over
 * the stacked experts with the deepest experts alone (a GPU's), or all share them - on rows that
 * route unevenly (prompts of 40 and 3 tokens).
 */
class ExpertLayoutTest {
    @ParameterizedTest
    @ValueSource(
            strings = {
                "mixtral_expert_lora",
                "qwen3_moe_expert_lora",
                "olmoe_expert_lora",
                "qwen2_moe",
                "gpt_oss",
                "granitemoe"
            })
    void everyLayoutGivesTheSameLogits(String name) throws Exception {
        Path dir = TestModels.projectRoot().resolve("gpu/src/test/resources/conformance/" + name);
        try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                LlamaModel model =
                        LlamaModel.load(dir, manager, Device.cpu(), DataType.FLOAT32, 256)) {
            Random r = new Random(5);
            long[] ids = new long[2 * 40];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = 3 + r.nextInt(model.config().vocabSize() - 3);
            }
            int[] lengths = {40, 3};
            float[][] logits = new float[3][];
            int[] costs = {0, 8, Integer.MAX_VALUE / 4};
            for (int k = 0; k < costs.length; k++) {
                model.expertHeavyCost(costs[k]);
                logits[k] =
                        model.logitsCausal(
                                        manager.create(ids, new Shape(2, 40)),
                                        lengths,
                                        ProjectionDelta.NONE)
                                .toFloatArray();
            }
            float maxAbs = 0;
            for (float v : logits[0]) {
                maxAbs = Math.max(maxAbs, Math.abs(v));
            }
            for (int k = 1; k < costs.length; k++) {
                float diff = 0;
                for (int i = 0; i < logits[0].length; i++) {
                    diff = Math.max(diff, Math.abs(logits[0][i] - logits[k][i]));
                }
                assertTrue(
                        diff <= 1e-5f * Math.max(1f, maxAbs),
                        name + ", cost " + costs[k] + ": max diff " + diff + " of " + maxAbs);
            }
        }
    }
}
