package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import java.util.List;
import java.util.Random;

/**
 * Test support: a LoRA strategy's deltas against the one-row-at-a-time loop's, projection by
 * projection.
 */
public final class LoopDeltas {
    private LoopDeltas() {}

    /**
     * For every projection of every layer, random inputs through {@code strategy} and through
     * {@link LoraStrategy#LOOP} on the same rows give the same deltas (to 1e-5 of the largest);
     * returns how many projections had a non-zero delta.
     */
    public static int assertSameAsLoop(
            ModelConfig c,
            NDManager manager,
            List<AdapterMix> rows,
            LoraStrategy strategy,
            Random r) {
        int adapted = 0;
        for (int layer = 0; layer < c.numLayers(); layer++) {
            for (Projection p : Projection.values()) {
                float[] x = new float[rows.size() * p.inFeatures(c)];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) r.nextGaussian();
                }
                NDArray input = manager.create(x, new Shape(rows.size(), p.inFeatures(c)));
                NDArray zero = manager.zeros(new Shape(rows.size(), p.outFeatures(c)));
                float[] got;
                float[] loop;
                try (LoraBatch b = new LoraBatch(rows, manager, DataType.FLOAT32, strategy)) {
                    got = b.apply(layer, p, input, zero, null).toFloatArray();
                }
                try (LoraBatch b =
                        new LoraBatch(rows, manager, DataType.FLOAT32, LoraStrategy.LOOP)) {
                    loop = b.apply(layer, p, input, zero, null).toFloatArray();
                }
                float maxAbs = 0;
                float maxDiff = 0;
                for (int i = 0; i < loop.length; i++) {
                    maxAbs = Math.max(maxAbs, Math.abs(loop[i]));
                    maxDiff = Math.max(maxDiff, Math.abs(loop[i] - got[i]));
                }
                adapted += maxAbs > 0 ? 1 : 0;
                assertTrue(
                        maxDiff <= 1e-5 * maxAbs,
                        "layer " + layer + " " + p + ": max diff " + maxDiff + " of " + maxAbs);
            }
        }
        return adapted;
    }
}
