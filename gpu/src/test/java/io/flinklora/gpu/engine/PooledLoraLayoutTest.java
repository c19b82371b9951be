package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flinklora.gpu.lora.AdapterMix;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.lora.AdapterRegistry;
import io.flinklora.gpu.lora.LoopDeltas;
import io.flinklora.gpu.lora.LoraStrategy;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.ModelConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The pooled strategy's slot-major layout on steps whose adapters hold very different numbers of
 * rows - a prefill chunk beside single decode rows, as continuous batching makes them - gives the
 * deltas of the one-row-at-a-time loop, on PEFT adapters of several ranks saved by {@code
 * save_pretrained}.
 */
class PooledLoraLayoutTest {
    private static final Path CASE =
            HuggingFaceConformanceTest.casesDir().resolve("llama_gqa_llama3");

    @Test
    void chunksBesideDecodeRowsGetTheLoopsDeltas() throws Exception {
        // One adapter with a long chunk, the others one row each, interleaved with base rows.
        check(List.of(new int[] {0, 40}, new int[] {1, 1}, new int[] {2, 1}, new int[] {3, 1}));
    }

    @Test
    void twoChunksAndDecodeRowsOfEveryRankGetTheLoopsDeltas() throws Exception {
        check(
                List.of(
                        new int[] {0, 40},
                        new int[] {1, 30},
                        new int[] {2, 1},
                        new int[] {3, 2},
                        new int[] {4, 1},
                        new int[] {5, 1},
                        new int[] {6, 1}));
    }

    @Test
    void chunksAloneGetTheLoopsDeltas() throws Exception {
        check(List.of(new int[] {0, 40}, new int[] {5, 33}));
    }

    /** {adapter index, rows} per adapter; rows are shuffled among themselves and base rows. */
    private static void check(List<int[]> plan) throws Exception {
        String[] names = {
            "plain",
            "rslora_all_linear",
            "lora_bias",
            "exclude",
            "layers_subset",
            "patterns",
            "regex_target"
        };
        try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                LlamaModel model =
                        LlamaModel.load(CASE, manager, Device.cpu(), DataType.FLOAT32, 256);
                AdapterRegistry registry =
                        CausalForwardConformanceTest.registry(CASE, model, manager)) {
            List<AdapterMix> rows = new ArrayList<>();
            for (int[] entry : plan) {
                AdapterMix mix =
                        CausalForwardConformanceTest.mix(
                                registry, List.of(new AdapterRef(names[entry[0]], 1.0)));
                for (int k = 0; k < entry[1]; k++) {
                    rows.add(mix);
                }
            }
            // A weighted mix of two adapters and base rows ride along.
            rows.add(
                    CausalForwardConformanceTest.mix(
                            registry,
                            List.of(
                                    new AdapterRef(names[0], 0.5),
                                    new AdapterRef(names[5], 0.75))));
            rows.add(null);
            rows.add(null);
            java.util.Collections.shuffle(rows, new Random(7));
            ModelConfig c = model.config();
            int adapted =
                    LoopDeltas.assertSameAsLoop(
                            c, manager, rows, LoraStrategy.POOLED, new Random(11));
            assertTrue(adapted >= c.numLayers() * 2, adapted + " adapted projections");
        }
    }
}
