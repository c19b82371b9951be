package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flinklora.gpu.lora.AdapterMix;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.lora.AdapterRegistry;
import io.flinklora.gpu.lora.BaseWeights;
import io.flinklora.gpu.lora.LoraBatch;
import io.flinklora.gpu.lora.LoraStrategy;
import io.flinklora.gpu.model.ExpertParameter;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.NativeArrays;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA on experts and routers (PEFT's {@code target_parameters}, adapters saved by {@code
 * save_pretrained} on a Mixtral) in a batch mixing adapters: the pooled path - each rank's
 * (adapter, expert) cells gathered from the device pool, one batched product per side - gives the
 * deltas of the one-cell-at-a-time loop, with prefill chunks beside decode rows, weighted mixes and
 * several ranks; and its native operations per parameter do not grow with the number of adapters.
 */
class ExpertLoraBatchTest {
    private static final Path CASE =
            HuggingFaceConformanceTest.casesDir().resolve("mixtral_expert_lora");

    private static final String[] NAMES = {
        "moe_all_linear",
        "moe_experts_patterns",
        "moe_router_layer0",
        "v4_experts",
        "v4_experts_rslora"
    };

    @Test
    void decodeRowsOfEveryAdapterGetTheLoopsDeltas() throws Exception {
        check(
                List.of(
                        new int[] {0, 1},
                        new int[] {1, 1},
                        new int[] {2, 1},
                        new int[] {3, 2},
                        new int[] {4, 1}));
    }

    @Test
    void prefillChunksBesideDecodeRowsGetTheLoopsDeltas() throws Exception {
        // Chunks of 150 and 400 tokens beside single rows: the 400-token chunk's cells run alone.
        check(
                List.of(
                        new int[] {0, 150},
                        new int[] {3, 400},
                        new int[] {1, 1},
                        new int[] {4, 1},
                        new int[] {2, 1}));
    }

    /** {adapter index, token rows} per adapter, shuffled with a weighted mix and base rows. */
    private static void check(List<int[]> plan) throws Exception {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                LlamaModel model =
                        LlamaModel.load(CASE, manager, Device.cpu(), DataType.FLOAT32, 256);
                AdapterRegistry registry =
                        CausalForwardConformanceTest.registry(CASE, model, manager)) {
            List<AdapterMix> rows = new ArrayList<>();
            for (int[] entry : plan) {
                AdapterMix mix =
                        CausalForwardConformanceTest.mix(
                                registry, List.of(new AdapterRef(NAMES[entry[0]], 1.0)));
                for (int k = 0; k < entry[1]; k++) {
                    rows.add(mix);
                }
            }
            rows.add(
                    CausalForwardConformanceTest.mix(
                            registry,
                            List.of(
                                    new AdapterRef(NAMES[0], 0.5),
                                    new AdapterRef(NAMES[3], 0.75))));
            rows.add(null);
            rows.add(null);
            java.util.Collections.shuffle(rows, new Random(7));
            ModelConfig c = model.config();
            Random r = new Random(11);
            int adapted = 0;
            for (int layer = 0; layer < c.numLayers(); layer++) {
                for (ExpertParameter p :
                        List.of(
                                ExpertParameter.GATE_UP,
                                ExpertParameter.DOWN,
                                ExpertParameter.ROUTER)) {
                    Routed routed =
                            p == ExpertParameter.ROUTER
                                    ? new Routed(null, null, rows.size())
                                    : route(
                                            rows.size(),
                                            c.experts().count(),
                                            c.experts().perToken(),
                                            r);
                    int in =
                            p == ExpertParameter.DOWN ? c.experts().intermediate() : c.hiddenSize();
                    int out =
                            switch (p) {
                                case GATE_UP -> 2 * c.experts().intermediate();
                                case DOWN -> c.hiddenSize();
                                default -> c.experts().count();
                            };
                    NDArray input = gaussian(manager, routed.rows(), in, r);
                    NDArray zero = manager.zeros(new Shape(routed.rows(), out));
                    float[] pooled =
                            delta(
                                    rows,
                                    manager,
                                    LoraStrategy.POOLED,
                                    layer,
                                    p,
                                    input,
                                    zero,
                                    routed);
                    float[] loop =
                            delta(rows, manager, LoraStrategy.LOOP, layer, p, input, zero, routed);
                    float maxAbs = 0;
                    float maxDiff = 0;
                    for (int i = 0; i < loop.length; i++) {
                        maxAbs = Math.max(maxAbs, Math.abs(loop[i]));
                        maxDiff = Math.max(maxDiff, Math.abs(loop[i] - pooled[i]));
                    }
                    adapted += maxAbs > 0 ? 1 : 0;
                    assertTrue(
                            maxDiff <= 1e-5 * maxAbs,
                            "layer " + layer + " " + p + ": max diff " + maxDiff + " of " + maxAbs);
                }
            }
            // every layer's experts (moe_all_linear, the v4 adapters), the routers of all layers
            assertEquals(3 * c.numLayers(), adapted);
        }
    }

    @Test
    void nativeOperationsPerParameterDoNotGrowWithTheAdapters(@TempDir Path tmp) throws Exception {
        // Eight copies of one PEFT adapter (as saved) under different names: eight adapters of one
        // rank, each in its own pool slot.
        Path adapters = Files.createDirectories(tmp.resolve("adapters"));
        for (int i = 0; i < 8; i++) {
            Path dir = Files.createDirectories(adapters.resolve("a" + i));
            try (var files = Files.list(CASE.resolve("adapters/moe_all_linear"))) {
                for (Path f : files.toList()) {
                    Files.copy(f, dir.resolve(f.getFileName()));
                }
            }
        }
        try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                LlamaModel model =
                        LlamaModel.load(CASE, manager, Device.cpu(), DataType.FLOAT32, 256);
                AdapterRegistry registry =
                        AdapterRegistry.builder(adapters, model.config(), manager, DataType.FLOAT32)
                                .baseWeights(BaseWeights.of(model))
                                .build()) {
            ModelConfig c = model.config();
            int[] arrays = new int[2];
            float[] deltaOfRowZero = null;
            for (int run = 0; run < 2; run++) {
                int distinct = run == 0 ? 2 : 8;
                // eight decode rows; row t uses adapter t mod distinct, routed to experts t and t+1
                List<AdapterMix> rows = new ArrayList<>();
                for (int t = 0; t < 8; t++) {
                    rows.add(
                            CausalForwardConformanceTest.mix(
                                    registry, List.of(new AdapterRef("a" + t % distinct, 1.0))));
                }
                Routed routed = cyclic(8, c.experts().count());
                NDArray input = gaussian(manager, routed.rows(), c.hiddenSize(), new Random(3));
                NDArray zero =
                        manager.zeros(new Shape(routed.rows(), 2 * c.experts().intermediate()));
                try (LoraBatch b =
                                new LoraBatch(
                                        rows, manager, DataType.FLOAT32, LoraStrategy.POOLED);
                        NDScope scope = new NDScope()) {
                    NDArray out =
                            b.parameter(
                                    0,
                                    ExpertParameter.GATE_UP,
                                    input,
                                    zero,
                                    routed.tokenOfRow(),
                                    routed.expertStart());
                    arrays[run] = NativeArrays.inScope(scope);
                    float[] all = out.toFloatArray();
                    float[] first = java.util.Arrays.copyOf(all, (int) out.getShape().get(1));
                    if (deltaOfRowZero == null) {
                        deltaOfRowZero = first;
                    } else {
                        // the same adapter (a0) on the same row either way
                        assertArrayEquals(deltaOfRowZero, first, 1e-4f);
                    }
                }
            }
            assertTrue(arrays[0] > 0, "arrays counted");
            assertEquals(arrays[0], arrays[1], "native arrays with 2 and with 8 adapters");
        }
    }

    /** Rows grouped by expert: which token each is, and where each expert's rows start. */
    private record Routed(long[] tokenOfRow, int[] expertStart, int rows) {}

    /** Each token routed to {@code k} distinct random experts, rows grouped by expert. */
    private static Routed route(int tokens, int experts, int k, Random r) {
        List<List<Long>> of = new ArrayList<>();
        for (int e = 0; e < experts; e++) {
            of.add(new ArrayList<>());
        }
        for (int t = 0; t < tokens; t++) {
            List<Integer> ids = new ArrayList<>();
            for (int e = 0; e < experts; e++) {
                ids.add(e);
            }
            java.util.Collections.shuffle(ids, r);
            for (int j = 0; j < k; j++) {
                of.get(ids.get(j)).add((long) t);
            }
        }
        return grouped(of, tokens * k);
    }

    /** Token t routed to experts t and t + 1 (mod experts). */
    private static Routed cyclic(int tokens, int experts) {
        List<List<Long>> of = new ArrayList<>();
        for (int e = 0; e < experts; e++) {
            of.add(new ArrayList<>());
        }
        for (int t = 0; t < tokens; t++) {
            of.get(t % experts).add((long) t);
            of.get((t + 1) % experts).add((long) t);
        }
        return grouped(of, 2 * tokens);
    }

    private static Routed grouped(List<List<Long>> of, int rows) {
        long[] tokenOfRow = new long[rows];
        int[] start = new int[of.size() + 1];
        int at = 0;
        for (int e = 0; e < of.size(); e++) {
            start[e] = at;
            for (long t : of.get(e)) {
                tokenOfRow[at++] = t;
            }
        }
        start[of.size()] = at;
        return new Routed(tokenOfRow, start, rows);
    }

    private static NDArray gaussian(NDManager manager, int rows, int cols, Random r) {
        float[] x = new float[rows * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return manager.create(x, new Shape(rows, cols));
    }

    private static float[] delta(
            List<AdapterMix> rows,
            NDManager manager,
            LoraStrategy strategy,
            int layer,
            ExpertParameter p,
            NDArray input,
            NDArray zero,
            Routed routed) {
        try (LoraBatch b = new LoraBatch(rows, manager, DataType.FLOAT32, strategy)) {
            return b.parameter(layer, p, input, zero, routed.tokenOfRow(), routed.expertStart())
                    .toFloatArray();
        }
    }
}
