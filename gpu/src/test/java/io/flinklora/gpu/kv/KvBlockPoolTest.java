package io.flinklora.gpu.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.Set;

/** Fresh blocks are zeroed in every layer, keys and values, and no other block is touched. */
class KvBlockPoolTest {
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(
            value = DataType.class,
            names = {"FLOAT32", "FLOAT16"})
    void zeroClearsExactlyTheGivenBlocksInRunsAndAlone(DataType dtype) {
        int layers = 2, kvHeads = 2, headDim = 4, blocks = 12, blockSize = 4;
        try (NDManager m = NDManager.newBaseManager();
                KvBlockPool pool =
                        new KvBlockPool(
                                m,
                                layers,
                                kvHeads,
                                headDim,
                                blocks,
                                blockSize,
                                dtype,
                                Device.cpu())) {
            for (int l = 0; l < layers; l++) {
                fill(pool.keyBlocks(l), 1f);
                fill(pool.valueBlocks(l), 2f);
            }
            // Two runs (3-5, 9-10) and a lone block, out of order.
            int[] fresh = {10, 4, 7, 3, 9, 5};
            pool.zero(fresh);
            Set<Integer> zeroed = Set.of(3, 4, 5, 7, 9, 10);
            for (int l = 0; l < layers; l++) {
                float[] k = pool.keyBlocks(l).toType(DataType.FLOAT32, false).toFloatArray();
                float[] v = pool.valueBlocks(l).toType(DataType.FLOAT32, false).toFloatArray();
                int perBlock = kvHeads * blockSize * headDim;
                for (int b = 0; b < blocks; b++) {
                    for (int i = 0; i < perBlock; i++) {
                        boolean z = zeroed.contains(b);
                        assertEquals(
                                z ? 0f : 1f,
                                k[b * perBlock + i],
                                "key, layer " + l + " block " + b);
                        assertEquals(
                                z ? 0f : 2f,
                                v[b * perBlock + i],
                                "value, layer " + l + " block " + b);
                    }
                }
            }
        }
    }

    private static void fill(NDArray a, float value) {
        a.set(new ai.djl.ndarray.index.NDIndex(":"), a.onesLike().mul(value));
    }
}
