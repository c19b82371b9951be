package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * svd_clamp: the factors are those of the plain SVD, clipped to +-(torch.quantile of all their
 * entries).
 */
class SvdClampClipsFactorsAtTheQuantileTest {

    @Test
    void quantileInterpolatesLinearlyAsTorch() {
        // torch.quantile(torch.tensor([1., 2., 3., 4.]), q): 0.5 -> 2.5, 0.9 -> 3.7, 0 -> 1, 1 ->
        // 4.
        double[] x = {4, 1, 3, 2};
        assertEquals(2.5, LowRankFactors.quantile(x, 0.5), 1e-12);
        assertEquals(3.7, LowRankFactors.quantile(x, 0.9), 1e-12);
        assertEquals(1.0, LowRankFactors.quantile(x, 0.0), 1e-12);
        assertEquals(4.0, LowRankFactors.quantile(x, 1.0), 1e-12);
    }

    @Test
    void clampedFactorsArePlainFactorsClippedAtTheQuantile() {
        int rows = 24;
        int cols = 40;
        float[] delta = new float[rows * cols];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < delta.length; i++) {
            delta[i] = (float) r.nextGaussian();
        }
        LowRankFactors plain = LowRankFactors.of(delta, rows, cols, 5, null);
        for (double q : new double[] {0.99, 0.9, 0.3}) {
            LowRankFactors clamped = LowRankFactors.of(delta, rows, cols, 5, q);
            double[] all = new double[plain.a().length + plain.b().length];
            for (int i = 0; i < plain.b().length; i++) {
                all[i] = plain.b()[i];
            }
            for (int i = 0; i < plain.a().length; i++) {
                all[plain.b().length + i] = plain.a()[i];
            }
            java.util.Arrays.sort(all);
            double pos = q * (all.length - 1);
            int lo = (int) pos;
            double hi = all[lo] + (all[Math.min(lo + 1, all.length - 1)] - all[lo]) * (pos - lo);
            for (int i = 0; i < plain.a().length; i++) {
                assertEquals(
                        (float) Math.min(hi, Math.max(-hi, plain.a()[i])),
                        clamped.a()[i],
                        1e-6,
                        "A " + q);
            }
            for (int i = 0; i < plain.b().length; i++) {
                assertEquals(
                        (float) Math.min(hi, Math.max(-hi, plain.b()[i])),
                        clamped.b()[i],
                        1e-6,
                        "B " + q);
            }
        }
    }
}
