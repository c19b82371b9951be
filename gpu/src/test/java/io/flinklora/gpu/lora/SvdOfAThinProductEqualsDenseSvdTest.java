package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The svd method decomposes a weighted sum of LoRA deltas through its thin factors; that must give
 * the truncated SVD of the full delta (same B A), also when the factors are linearly dependent.
 */
class SvdOfAThinProductEqualsDenseSvdTest {

    @Test
    void sameProductAsTheDenseSvd() {
        SplittableRandom r = new SplittableRandom(9);
        int rows = 40;
        int cols = 56;
        int inner = 10;
        double[] p = gaussian(r, rows * inner);
        double[] q = gaussian(r, inner * cols);
        // Columns 7..9 of p repeat 0..2 and rows 7..9 of q repeat 0..2 scaled: a product of rank 7,
        // not 10.
        for (int i = 0; i < rows; i++) {
            for (int k = 0; k < 3; k++) {
                p[i * inner + 7 + k] = p[i * inner + k];
            }
        }
        for (int k = 0; k < 3; k++) {
            for (int c = 0; c < cols; c++) {
                q[(7 + k) * cols + c] = 2 * q[k * cols + c];
            }
        }
        float[] delta = new float[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int c = 0; c < cols; c++) {
                double acc = 0;
                for (int k = 0; k < inner; k++) {
                    acc += p[i * inner + k] * q[k * cols + c];
                }
                delta[i * cols + c] = (float) acc;
            }
        }
        for (int rank : new int[] {3, 7, 9}) {
            LowRankFactors dense = LowRankFactors.of(delta, rows, cols, rank, null);
            LowRankFactors thin = LowRankFactors.ofProduct(p, q, rows, inner, cols, rank, null);
            float[] d =
                    AdapterCombinerMatchesPeftTest.product(dense.b(), dense.a(), rows, rank, cols);
            float[] t =
                    AdapterCombinerMatchesPeftTest.product(thin.b(), thin.a(), rows, rank, cols);
            double scale = 0;
            for (float v : d) {
                scale = Math.max(scale, Math.abs(v));
            }
            double diff = AdapterCombinerMatchesPeftTest.maxAbsDiff(t, d);
            assertTrue(diff <= 1e-5 * scale, "rank " + rank + ": " + diff + " of " + scale);
        }
    }

    private static double[] gaussian(SplittableRandom r, int n) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = r.nextGaussian();
        }
        return x;
    }
}
