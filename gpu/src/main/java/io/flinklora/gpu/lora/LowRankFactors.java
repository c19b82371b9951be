package io.flinklora.gpu.lora;

import java.util.Arrays;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;

/**
 * Re-factorizes a merged weight delta into LoRA factors as PEFT's
 * {@code _svd_generalized_task_arithmetic_weighted_adapter} does: a truncated SVD {@code U S Vh},
 * {@code B = U[:, :r] diag(S[:r])}, {@code A = Vh[:r]}, optionally clamped at a quantile.
 * The SVD runs in double precision (Apache Commons Math); singular vectors are unique only up to sign,
 * so the factors match torch's up to sign, and their product B A matches.
 *
 * @param a {@code [rank, cols]} row-major
 * @param b {@code [rows, rank]} row-major
 */
record LowRankFactors(int rank, float[] a, float[] b) {

    /**
     * @param delta {@code [rows, cols]} row-major
     * @param clamp {@code svd_clamp}: the quantile of all factor entries that bounds them (as
     *     {@code torch.quantile}, linear interpolation), or null for none
     */
    static LowRankFactors of(float[] delta, int rows, int cols, int rank, Double clamp) {
        if (rank > Math.min(rows, cols)) {
            throw new IllegalArgumentException("rank " + rank + " exceeds the smaller side of a " + rows + " x " + cols
                    + " module (PEFT cannot write such an adapter either)");
        }
        RealMatrix m = new Array2DRowRealMatrix(rows, cols);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                m.setEntry(i, j, delta[i * cols + j]);
            }
        }
        SingularValueDecomposition svd = new SingularValueDecomposition(m);
        RealMatrix u = svd.getU();
        RealMatrix vt = svd.getVT();
        double[] s = svd.getSingularValues();
        double[] b = new double[rows * rank];
        double[] a = new double[rank * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < rank; j++) {
                b[i * rank + j] = u.getEntry(i, j) * s[j];
            }
        }
        for (int j = 0; j < rank; j++) {
            for (int c = 0; c < cols; c++) {
                a[j * cols + c] = vt.getEntry(j, c);
            }
        }
        if (clamp != null) {
            double hi = quantile(concat(b, a), clamp);
            clamp(b, -hi, hi);
            clamp(a, -hi, hi);
        }
        return new LowRankFactors(rank, toFloat(a), toFloat(b));
    }

    /** torch.quantile(x, q) with its default linear interpolation. */
    static double quantile(double[] x, double q) {
        if (!(q >= 0 && q <= 1)) {
            throw new IllegalArgumentException("--svd-clamp is a quantile in [0, 1] (got " + q + ")");
        }
        double[] sorted = x.clone();
        Arrays.sort(sorted);
        double pos = q * (sorted.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = Math.min(lo + 1, sorted.length - 1);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }

    private static double[] concat(double[] x, double[] y) {
        double[] out = Arrays.copyOf(x, x.length + y.length);
        System.arraycopy(y, 0, out, x.length, y.length);
        return out;
    }

    private static void clamp(double[] x, double lo, double hi) {
        for (int i = 0; i < x.length; i++) {
            // torch.clamp: when min > max (a quantile below the median), every entry becomes max.
            x[i] = Math.min(hi, Math.max(lo, x[i]));
        }
    }

    private static float[] toFloat(double[] x) {
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = (float) x[i];
        }
        return out;
    }
}
