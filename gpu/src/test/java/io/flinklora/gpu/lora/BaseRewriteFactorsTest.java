package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;
import org.junit.jupiter.api.Test;

/**
 * The parts PEFT's OLoRA and PiSSA loaders take out of a base weight, checked by what defines them
 * rather than against a second implementation; the token-level match with PEFT is in the
 * *_base_rewriting_inits conformance cases.
 */
class BaseRewriteFactorsTest {
    private static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] w = new float[n];
        for (int i = 0; i < n; i++) {
            w[i] = (float) r.nextGaussian();
        }
        return w;
    }

    /** b a, [out, in]. */
    private static double[][] product(BaseRewriteFactors.Factors f, int out, int in) {
        double[][] d = new double[out][in];
        for (int i = 0; i < out; i++) {
            for (int c = 0; c < in; c++) {
                for (int k = 0; k < f.rank(); k++) {
                    d[i][c] += (double) f.b()[i * f.rank() + k] * f.a()[k * in + c];
                }
            }
        }
        return d;
    }

    @Test
    void oloraTakesOutTheScaledProjectionOntoTheFirstRColumns() {
        int out = 12, in = 9, r = 3;
        double s = 2.5;
        float[] w = random(out * in, 1);
        BaseRewriteFactors.Factors f = BaseRewriteFactors.olora(w, out, in, r, s, "m");
        assertEquals(r, f.rank());
        double[][] d = product(f, out, in);
        // D / s projects W onto span(W[:, :r]): those r columns come out whole, and applying the
        // projection twice changes nothing (D / s's columns already lie in that span).
        for (int i = 0; i < out; i++) {
            for (int c = 0; c < r; c++) {
                assertEquals(w[i * in + c], d[i][c] / s, 1e-5, "column " + c);
            }
        }
        double[][] q = new double[out][r];
        for (int i = 0; i < out; i++) {
            for (int k = 0; k < r; k++) {
                q[i][k] = f.b()[i * r + k] / s;
            }
        }
        for (int k = 0; k < r; k++) {
            for (int j = 0; j < r; j++) {
                double dot = 0;
                for (int i = 0; i < out; i++) {
                    dot += q[i][k] * q[i][j];
                }
                assertEquals(k == j ? 1.0 : 0.0, dot, 1e-6, "Q is orthonormal");
            }
        }
        // A column outside the span keeps only its part orthogonal to it: W - D / s is
        // orthogonal to Q.
        for (int c = r; c < in; c++) {
            for (int k = 0; k < r; k++) {
                double dot = 0;
                for (int i = 0; i < out; i++) {
                    dot += q[i][k] * (w[i * in + c] - d[i][c] / s);
                }
                assertEquals(0.0, dot, 1e-5);
            }
        }
    }

    @Test
    void pissaTakesOutTheBestRankRApproximation() {
        int out = 10, in = 14, r = 4;
        float[] w = random(out * in, 2);
        BaseRewriteFactors.Factors f = BaseRewriteFactors.pissa(w, out, in, r, "m");
        double[][] d = product(f, out, in);
        double[][] full = new double[out][in];
        double[][] rest = new double[out][in];
        for (int i = 0; i < out; i++) {
            for (int c = 0; c < in; c++) {
                full[i][c] = w[i * in + c];
                rest[i][c] = full[i][c] - d[i][c];
            }
        }
        double[] sw =
                new SingularValueDecomposition(new Array2DRowRealMatrix(full)).getSingularValues();
        double[] sd =
                new SingularValueDecomposition(new Array2DRowRealMatrix(d)).getSingularValues();
        double[] sr =
                new SingularValueDecomposition(new Array2DRowRealMatrix(rest)).getSingularValues();
        // Eckart-Young: D keeps the r largest singular values of W, W - D the others.
        for (int k = 0; k < sw.length; k++) {
            assertEquals(k < r ? sw[k] : 0.0, sd[k], 1e-4, "D's singular value " + k);
            assertEquals(k + r < sw.length ? sw[k + r] : 0.0, sr[k], 1e-4, "rest's " + k);
        }
    }

    @Test
    void aRankAboveTheWeightsShapeTakesOutTheWholeWeight() {
        int out = 3, in = 5;
        float[] w = random(out * in, 3);
        for (BaseRewriteFactors.Factors f :
                new BaseRewriteFactors.Factors[] {
                    BaseRewriteFactors.olora(w, out, in, 8, 1.0, "m"),
                    BaseRewriteFactors.pissa(w, out, in, 8, "m")
                }) {
            assertEquals(3, f.rank());
            double[][] d = product(f, out, in);
            for (int i = 0; i < out; i++) {
                for (int c = 0; c < in; c++) {
                    assertEquals(w[i * in + c], d[i][c], 1e-5);
                }
            }
        }
    }

    @Test
    void weightsWhereTheLibrariesWouldPickArbitrarilyAreRefusedNamingTheModule() {
        int out = 6, in = 4;
        float[] w = random(out * in, 4);
        for (int i = 0; i < out; i++) {
            w[i * in + 1] = 2 * w[i * in]; // column 1 lies in the span of column 0
        }
        AdapterFormatException olora =
                assertThrows(
                        AdapterFormatException.class,
                        () -> BaseRewriteFactors.olora(w, out, in, 2, 1.0, "layers.0.q_proj"));
        assertTrue(olora.getMessage().contains("layers.0.q_proj"), olora.getMessage());
        float[] identity = new float[4 * 4];
        for (int i = 0; i < 4; i++) {
            identity[i * 4 + i] = 1;
        }
        AdapterFormatException pissa =
                assertThrows(
                        AdapterFormatException.class,
                        () -> BaseRewriteFactors.pissa(identity, 4, 4, 2, "layers.1.v_proj"));
        assertTrue(pissa.getMessage().contains("layers.1.v_proj"), pissa.getMessage());
        assertTrue(pissa.getMessage().contains("not unique"), pissa.getMessage());
    }
}
