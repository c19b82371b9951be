package io.flinklora.gpu.lora;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.safetensors.WeightIndex;
import java.io.IOException;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Random;
import java.util.Set;

/**
 * Turns a fine-tuned model into a PEFT LoRA adapter of its base: for each target projection, the
 * difference {@code W_tuned - W_base} is approximated by its rank-R truncated SVD {@code U S V^T},
 * written as {@code B = U sqrt(S)}, {@code A = sqrt(S) V^T} with {@code lora_alpha = r} (scale 1).
 */
@Internal
public final class AdapterExtractor {
    private AdapterExtractor() {}

    /**
     * What one extraction kept: how much of the difference's energy the rank-R factors hold, worst
     * module.
     */
    public record Report(Set<Projection> targets, double worstEnergyKept) {}

    /**
     * @param targets projections to extract, or null for every projection that differs in some
     *     layer
     */
    public static Report extract(
            Path baseDir, Path tunedDir, int rank, Set<Projection> targets, Path out)
            throws IOException {
        ModelConfig base = ModelConfig.read(baseDir);
        ModelConfig tuned = ModelConfig.read(tunedDir);
        if (base.hiddenSize() != tuned.hiddenSize()
                || base.numLayers() != tuned.numLayers()
                || base.intermediateSize() != tuned.intermediateSize()
                || base.numKvHeads() != tuned.numKvHeads()) {
            throw new AdapterFormatException(
                    "the tuned model's shape differs from the base model's");
        }
        if (!base.llamaModuleNames() || !tuned.llamaModuleNames()) {
            // PEFT adapts a fused module (Phi-3's qkv_proj, gate_up_proj) as one: its factors
            // would come from the SVD of the whole module's difference, which this tool does not
            // compute; and the adapter is written under Llama's module names.
            throw new AdapterFormatException(
                    base.architecture()
                            + " does not store Llama's seven projections as modules under Llama's"
                            + " names (fused qkv_proj / gate_up_proj, or an MLP without a gate):"
                            + " extracting an adapter from such a model is not supported");
        }
        if (base.experts() != null) {
            // the experts' and router's differences would need LoRA on parameters, written in
            // PEFT's ParamWrapper layout; this tool writes module LoRA only
            throw new AdapterFormatException(
                    base.architecture()
                            + " is a mixture of experts: extracting an adapter from it is not"
                            + " supported");
        }
        if (rank < 1) {
            throw new IllegalArgumentException("rank must be at least 1");
        }
        PeftWriter writer = new PeftWriter(base).rank(rank).alpha(rank);
        Set<Projection> chosen =
                targets == null ? EnumSet.noneOf(Projection.class) : EnumSet.copyOf(targets);
        double worst = 1.0;
        try (WeightIndex b = WeightIndex.open(baseDir);
                WeightIndex t = WeightIndex.open(tunedDir);
                NDManager m = NDManager.newBaseManager()) {
            float[][][] deltas = new float[base.numLayers()][Projection.values().length][];
            for (int l = 0; l < base.numLayers(); l++) {
                for (Projection p : Projection.values()) {
                    String name = p.path(l) + ".weight";
                    float[] wb = b.load(name, m, DataType.FLOAT32).toFloatArray();
                    float[] wt = t.load(name, m, DataType.FLOAT32).toFloatArray();
                    boolean differs = false;
                    for (int i = 0; i < wb.length; i++) {
                        wt[i] -= wb[i];
                        differs |= wt[i] != 0;
                    }
                    deltas[l][p.ordinal()] = wt;
                    if (targets == null && differs) {
                        chosen.add(p);
                    }
                }
            }
            if (chosen.isEmpty()) {
                throw new AdapterFormatException(
                        "the tuned model's projections equal the base model's: nothing to extract");
            }
            writer.targets(chosen);
            Random random = new Random(17);
            for (int l = 0; l < base.numLayers(); l++) {
                for (Projection p : chosen) {
                    int rows = p.outFeatures(base);
                    int cols = p.inFeatures(base);
                    double[][] f =
                            truncatedSvd(
                                    deltas[l][p.ordinal()],
                                    rows,
                                    cols,
                                    Math.min(rank, Math.min(rows, cols)),
                                    random);
                    int k = f[2].length;
                    float[] a = new float[rank * cols];
                    float[] bm = new float[rows * rank];
                    double total = 0;
                    for (float v : deltas[l][p.ordinal()]) {
                        total += (double) v * v;
                    }
                    double kept = 0;
                    for (int j = 0; j < k; j++) {
                        double s = Math.sqrt(f[2][j]);
                        kept += f[2][j] * f[2][j];
                        for (int c = 0; c < cols; c++) {
                            a[j * cols + c] = (float) (s * f[1][j * cols + c]);
                        }
                        for (int r = 0; r < rows; r++) {
                            bm[r * rank + j] = (float) (f[0][r * k + j] * s);
                        }
                    }
                    worst = Math.min(worst, total == 0 ? 1.0 : Math.min(1.0, kept / total));
                    writer.module(l, p, a, bm);
                }
            }
        }
        writer.write(out, 0, 0, 0);
        return new Report(chosen, worst);
    }

    /**
     * Randomized truncated SVD (subspace iteration, then an exact eigen-decomposition of the small
     * projected problem): returns {U [rows x k] row-major, Vt [k x cols] row-major, S [k]}.
     */
    static double[][] truncatedSvd(float[] m, int rows, int cols, int rank, Random random) {
        int k = Math.min(Math.min(rows, cols), rank + 8);
        double[] y = new double[rows * k];
        double[] omega = new double[cols * k];
        for (int i = 0; i < omega.length; i++) {
            omega[i] = random.nextGaussian();
        }
        mul(m, rows, cols, omega, k, y);
        orthonormalize(y, rows, k);
        double[] z = new double[cols * k];
        for (int iter = 0; iter < 3; iter++) {
            mulT(m, rows, cols, y, k, z);
            orthonormalize(z, cols, k);
            mul(m, rows, cols, z, k, y);
            orthonormalize(y, rows, k);
        }
        // Bs = Q^T M  [k x cols]
        double[] bs = new double[k * cols];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < k; j++) {
                double q = y[r * k + j];
                if (q == 0) {
                    continue;
                }
                for (int c = 0; c < cols; c++) {
                    bs[j * cols + c] += q * m[r * cols + c];
                }
            }
        }
        double[] gram = new double[k * k];
        for (int i = 0; i < k; i++) {
            for (int j = i; j < k; j++) {
                double s = 0;
                for (int c = 0; c < cols; c++) {
                    s += bs[i * cols + c] * bs[j * cols + c];
                }
                gram[i * k + j] = s;
                gram[j * k + i] = s;
            }
        }
        double[] vecs = new double[k * k];
        double[] vals = jacobiEigen(gram, k, vecs);
        Integer[] order = new Integer[k];
        for (int i = 0; i < k; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (p, q) -> Double.compare(vals[q], vals[p]));
        int keep = Math.min(rank, k);
        double[] u = new double[rows * keep];
        double[] vt = new double[keep * cols];
        double[] s = new double[keep];
        for (int j = 0; j < keep; j++) {
            int e = order[j];
            double sigma = Math.sqrt(Math.max(vals[e], 0));
            s[j] = sigma;
            for (int r = 0; r < rows; r++) {
                double acc = 0;
                for (int i = 0; i < k; i++) {
                    acc += y[r * k + i] * vecs[i * k + e];
                }
                u[r * keep + j] = acc;
            }
            if (sigma > 0) {
                for (int c = 0; c < cols; c++) {
                    double acc = 0;
                    for (int i = 0; i < k; i++) {
                        acc += vecs[i * k + e] * bs[i * cols + c];
                    }
                    vt[j * cols + c] = acc / sigma;
                }
            }
        }
        return new double[][] {u, vt, s};
    }

    private static void mul(float[] m, int rows, int cols, double[] x, int k, double[] out) {
        java.util.Arrays.fill(out, 0);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                double v = m[r * cols + c];
                if (v == 0) {
                    continue;
                }
                for (int j = 0; j < k; j++) {
                    out[r * k + j] += v * x[c * k + j];
                }
            }
        }
    }

    private static void mulT(float[] m, int rows, int cols, double[] y, int k, double[] out) {
        java.util.Arrays.fill(out, 0);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                double v = m[r * cols + c];
                if (v == 0) {
                    continue;
                }
                for (int j = 0; j < k; j++) {
                    out[c * k + j] += v * y[r * k + j];
                }
            }
        }
    }

    /**
     * Modified Gram-Schmidt on the k columns of a [n x k] row-major matrix; dependent columns
     * become 0.
     */
    private static void orthonormalize(double[] a, int n, int k) {
        for (int j = 0; j < k; j++) {
            for (int pass = 0; pass < 2; pass++) {
                for (int i = 0; i < j; i++) {
                    double dot = 0;
                    for (int r = 0; r < n; r++) {
                        dot += a[r * k + i] * a[r * k + j];
                    }
                    for (int r = 0; r < n; r++) {
                        a[r * k + j] -= dot * a[r * k + i];
                    }
                }
            }
            double norm = 0;
            for (int r = 0; r < n; r++) {
                norm += a[r * k + j] * a[r * k + j];
            }
            norm = Math.sqrt(norm);
            for (int r = 0; r < n; r++) {
                a[r * k + j] = norm > 1e-300 ? a[r * k + j] / norm : 0;
            }
        }
    }

    /**
     * Cyclic Jacobi eigen-decomposition of a symmetric k x k matrix; eigenvectors in the columns of
     * vecs.
     */
    private static double[] jacobiEigen(double[] a, int k, double[] vecs) {
        double[] m = a.clone();
        for (int i = 0; i < k; i++) {
            vecs[i * k + i] = 1;
        }
        for (int sweep = 0; sweep < 100; sweep++) {
            double off = 0;
            for (int i = 0; i < k; i++) {
                for (int j = i + 1; j < k; j++) {
                    off += m[i * k + j] * m[i * k + j];
                }
            }
            if (off < 1e-30) {
                break;
            }
            for (int p = 0; p < k; p++) {
                for (int q = p + 1; q < k; q++) {
                    double apq = m[p * k + q];
                    if (Math.abs(apq) < 1e-300) {
                        continue;
                    }
                    double theta = (m[q * k + q] - m[p * k + p]) / (2 * apq);
                    double t =
                            Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
                    if (theta == 0) {
                        t = 1;
                    }
                    double c = 1 / Math.sqrt(t * t + 1);
                    double s = t * c;
                    for (int r = 0; r < k; r++) {
                        double mrp = m[r * k + p];
                        double mrq = m[r * k + q];
                        m[r * k + p] = c * mrp - s * mrq;
                        m[r * k + q] = s * mrp + c * mrq;
                    }
                    for (int r = 0; r < k; r++) {
                        double mpr = m[p * k + r];
                        double mqr = m[q * k + r];
                        m[p * k + r] = c * mpr - s * mqr;
                        m[q * k + r] = s * mpr + c * mqr;
                    }
                    for (int r = 0; r < k; r++) {
                        double vrp = vecs[r * k + p];
                        double vrq = vecs[r * k + q];
                        vecs[r * k + p] = c * vrp - s * vrq;
                        vecs[r * k + q] = s * vrp + c * vrq;
                    }
                }
            }
        }
        double[] vals = new double[k];
        for (int i = 0; i < k; i++) {
            vals[i] = m[i * k + i];
        }
        return vals;
    }
}
