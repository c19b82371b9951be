package io.flinklora.gpu.lora;

import java.util.Arrays;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;

/**
 * Re-factorizes a merged weight delta into LoRA factors as PEFT's {@code
 * _svd_generalized_task_arithmetic_weighted_adapter} does: a truncated SVD {@code U S Vh}, {@code B
 * = U[:, :r] diag(S[:r])}, {@code A = Vh[:r]}, optionally clamped at a quantile. The SVD runs in
 * double precision (Apache Commons Math); singular vectors are unique only up to sign, so the
 * factors match torch's up to sign, and their product B A matches. A delta given as a product of
 * thin factors (a plain weighted sum of LoRA deltas) is decomposed through those factors, exactly
 * and without forming the {@code [rows, cols]} matrix.
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
            throw new IllegalArgumentException(
                    "rank "
                            + rank
                            + " exceeds the smaller side of a "
                            + rows
                            + " x "
                            + cols
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
        return finish(rank, a, b, clamp);
    }

    /**
     * The same factorization of {@code delta = p q} given {@code p [rows, inner]} and {@code q
     * [inner, cols]} (row-major), {@code inner < min(rows, cols)}: with thin QRs {@code p = Qp Rp},
     * {@code q^T = Qq Rq}, {@code delta = Qp (Rp Rq^T) Qq^T}, so the SVD of the small core gives
     * delta's.
     */
    static LowRankFactors ofProduct(
            double[] p, double[] q, int rows, int inner, int cols, int rank, Double clamp) {
        if (rank > Math.min(rows, cols)) {
            throw new IllegalArgumentException(
                    "rank "
                            + rank
                            + " exceeds the smaller side of a "
                            + rows
                            + " x "
                            + cols
                            + " module (PEFT cannot write such an adapter either)");
        }
        double[] qt = new double[cols * inner];
        for (int k = 0; k < inner; k++) {
            for (int c = 0; c < cols; c++) {
                qt[c * inner + k] = q[k * cols + c];
            }
        }
        double[] rp = new double[inner * inner];
        double[] rq = new double[inner * inner];
        double[] qp = thinQr(p, rows, inner, rp);
        double[] qq = thinQr(qt, cols, inner, rq);
        RealMatrix core = new Array2DRowRealMatrix(inner, inner);
        for (int i = 0; i < inner; i++) {
            for (int j = 0; j < inner; j++) {
                double acc = 0;
                for (int k = 0; k < inner; k++) {
                    acc += rp[i * inner + k] * rq[j * inner + k];
                }
                core.setEntry(i, j, acc);
            }
        }
        SingularValueDecomposition svd = new SingularValueDecomposition(core);
        RealMatrix uc = svd.getU();
        RealMatrix vc = svd.getV();
        double[] s = svd.getSingularValues();
        int kept = Math.min(rank, inner);
        double[] b = new double[rows * rank];
        double[] a = new double[rank * cols];
        for (int j = 0; j < kept; j++) {
            for (int i = 0; i < rows; i++) {
                double acc = 0;
                for (int k = 0; k < inner; k++) {
                    acc += qp[i * inner + k] * uc.getEntry(k, j);
                }
                b[i * rank + j] = acc * s[j];
            }
            for (int c = 0; c < cols; c++) {
                double acc = 0;
                for (int k = 0; k < inner; k++) {
                    acc += qq[c * inner + k] * vc.getEntry(k, j);
                }
                a[j * cols + c] = acc;
            }
        }
        // Beyond the product's rank delta has only zero singular values: B's columns are zero
        // there, and A's
        // rows (any orthonormal completion in torch) do not change B A; they stay zero here.
        return finish(rank, a, b, clamp);
    }

    /**
     * Thin QR of {@code x [n, k]} by Gram-Schmidt with re-orthogonalization: returns Q {@code [n,
     * k]} and fills r {@code [k, k]} (upper triangular). A column dependent on earlier ones gets a
     * zero Q column, which keeps {@code x = Q R} exact.
     */
    private static double[] thinQr(double[] x, int n, int k, double[] r) {
        double[] q = new double[n * k];
        for (int j = 0; j < k; j++) {
            double[] v = new double[n];
            double norm0 = 0;
            for (int i = 0; i < n; i++) {
                v[i] = x[i * k + j];
                norm0 += v[i] * v[i];
            }
            for (int pass = 0; pass < 2; pass++) {
                for (int p = 0; p < j; p++) {
                    double dot = 0;
                    for (int i = 0; i < n; i++) {
                        dot += q[i * k + p] * v[i];
                    }
                    r[p * k + j] += dot;
                    for (int i = 0; i < n; i++) {
                        v[i] -= dot * q[i * k + p];
                    }
                }
            }
            double norm = 0;
            for (double e : v) {
                norm += e * e;
            }
            norm = Math.sqrt(norm);
            if (norm <= 1e-13 * Math.sqrt(norm0) || norm == 0) {
                continue; // dependent column: its part along earlier columns is in r already
            }
            r[j * k + j] = norm;
            for (int i = 0; i < n; i++) {
                q[i * k + j] = v[i] / norm;
            }
        }
        return q;
    }

    private static LowRankFactors finish(int rank, double[] a, double[] b, Double clamp) {
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
            throw new IllegalArgumentException(
                    "--svd-clamp is a quantile in [0, 1] (got " + q + ")");
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
