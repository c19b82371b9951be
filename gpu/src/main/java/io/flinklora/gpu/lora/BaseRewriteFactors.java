package io.flinklora.gpu.lora;

import io.flinklora.annotation.Internal;

/**
 * The low-rank part PEFT's loader takes out of a base weight for OLoRA and PiSSA adapters ({@code
 * olora_init}, {@code pissa_init}): {@code W - D} is the base the saved A and B were trained on,
 * and {@code D = b a} is returned as factors so the engine serves {@code W x + s B A x - b (a x)}
 * on the adapter's rows (PEFT's own OLoRA / PiSSA-to-LoRA conversion) without touching the shared
 * base. Computed in double precision: OLoRA by Gram-Schmidt on the host (DJL's PyTorch JNI has no
 * QR; r columns cost little), PiSSA by torch's SVD ({@link TorchSvd}).
 */
@Internal
final class BaseRewriteFactors {
    /**
     * Relative size below which a column (OLoRA) or a singular-value gap (PiSSA) makes PEFT's
     * float32 result depend on its LAPACK routine's arbitrary choices, so the adapter is refused:
     * float32 QR and SVD turn their directions by about 1e-7 / gap, which at 1e-4 moves the
     * rewritten weight by about 1e-3 of its size, near the conformance tests' tolerance.
     */
    static final double DEGENERATE = 1e-4;

    /** {@code a} [rank, in] and {@code b} [out, rank], row-major. */
    record Factors(int rank, float[] a, float[] b) {}

    private BaseRewriteFactors() {}

    /**
     * OLoRA: {@code Q, R = qr(W)}, {@code D = s Q[:, :r] R[:r]} = {@code s} times the projection of
     * W onto the span of its first r columns (independent of the QR's signs, so Gram-Schmidt gives
     * PEFT's value). {@code w} is [out, in] row-major.
     */
    static Factors olora(float[] w, int out, int in, int r, double scale, String module) {
        int rank = Math.min(r, Math.min(out, in));
        double[][] q = new double[rank][out]; // the orthonormal columns, stored as rows
        for (int j = 0; j < rank; j++) {
            double[] v = new double[out];
            for (int i = 0; i < out; i++) {
                v[i] = w[i * in + j];
            }
            double norm0 = norm(v);
            // Gram-Schmidt twice ("twice is enough"): the columns stay orthonormal to double
            // precision.
            for (int pass = 0; pass < 2; pass++) {
                for (int k = 0; k < j; k++) {
                    double dot = 0;
                    for (int i = 0; i < out; i++) {
                        dot += q[k][i] * v[i];
                    }
                    for (int i = 0; i < out; i++) {
                        v[i] -= dot * q[k][i];
                    }
                }
            }
            double norm = norm(v);
            if (norm0 == 0 || norm <= DEGENERATE * norm0) {
                throw new AdapterFormatException(
                        module
                                + ": OLoRA (init_lora_weights olora) on a weight whose column "
                                + j
                                + " lies in the span of the columns before it; PEFT's QR then picks an"
                                + " arbitrary direction, so the adapter is refused");
            }
            for (int i = 0; i < out; i++) {
                q[j][i] = v[i] / norm;
            }
        }
        float[] a = new float[rank * in];
        float[] b = new float[out * rank];
        for (int k = 0; k < rank; k++) {
            for (int c = 0; c < in; c++) {
                double dot = 0;
                for (int i = 0; i < out; i++) {
                    dot += q[k][i] * w[i * in + c];
                }
                a[k * in + c] = (float) dot; // R[k] = Q[:, k]^T W
            }
            for (int i = 0; i < out; i++) {
                b[i * rank + k] = (float) (scale * q[k][i]);
            }
        }
        return new Factors(rank, a, b);
    }

    /**
     * PiSSA ({@code init_lora_weights = "pissa"}, the full SVD): {@code D = U_r S_r V_r^T}, the
     * best rank-r approximation of W (PEFT divides S by the scale in B0 A0 and multiplies it back
     * when rewriting W, so the scale cancels). Unique only when the r-th singular value stands
     * apart from the next one; otherwise the adapter is refused.
     */
    static Factors pissa(float[] w, int out, int in, int r, String module) {
        TorchSvd.Result svd = TorchSvd.svd(w, out, in);
        double[] s = svd.s();
        int k = svd.k();
        int rank = Math.min(r, k);
        if (rank < k && s[rank - 1] - s[rank] <= DEGENERATE * s[0]) {
            throw new AdapterFormatException(
                    module
                            + ": PiSSA (init_lora_weights pissa) on a weight whose singular values "
                            + rank
                            + " and "
                            + (rank + 1)
                            + " are equal or nearly so; the rank-"
                            + rank
                            + " part PEFT takes out is then not unique, so the adapter is refused");
        }
        float[] a = new float[rank * in];
        float[] b = new float[out * rank];
        for (int j = 0; j < rank; j++) {
            for (int c = 0; c < in; c++) {
                a[j * in + c] = (float) (s[j] * svd.vt()[j * in + c]);
            }
            for (int i = 0; i < out; i++) {
                b[i * rank + j] = (float) svd.u()[i * k + j];
            }
        }
        return new Factors(rank, a, b);
    }

    private static double norm(double[] v) {
        double sum = 0;
        for (double x : v) {
            sum += x * x;
        }
        return Math.sqrt(sum);
    }
}
