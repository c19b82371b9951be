package io.flinklora.gpu.lora;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * PEFT 0.21's {@code merge_utils} (task_arithmetic, ties, dare_linear, dare_ties, magnitude_prune)
 * on float32 tensors flattened to arrays, operation by operation in float32 as torch computes them
 * on CPU, so deterministic methods give PEFT's values. DARE's random drop uses a seeded {@link
 * SplittableRandom}: it follows torch.bernoulli's distribution, not its random stream.
 */
final class TaskMerge {
    private TaskMerge() {}

    /**
     * {@code majority_sign_method}: elect the sign of the summed values, or the most frequent sign.
     */
    enum SignMethod {
        TOTAL,
        FREQUENCY;

        static SignMethod byName(String name) {
            return switch (name) {
                case "total" -> TOTAL;
                case "frequency" -> FREQUENCY;
                default ->
                        throw new IllegalArgumentException(
                                "--majority-sign-method must be total or frequency, not '"
                                        + name
                                        + "'");
            };
        }
    }

    /** density (fraction kept), majority sign method, and the random source of DARE's drops. */
    record Settings(double density, SignMethod sign, SplittableRandom random) {}

    /**
     * Merges equally shaped {@code tensors} with one weight each (already float32, as PEFT's
     * torch.tensor).
     */
    static float[] merge(
            CombineMethod.Task task, List<float[]> tensors, float[] weights, Settings s) {
        int n = tensors.get(0).length;
        float[][] t = new float[tensors.size()][];
        for (int i = 0; i < t.length; i++) {
            if (tensors.get(i).length != n) {
                throw new IllegalArgumentException("tensors of different sizes cannot be merged");
            }
            t[i] =
                    switch (task) {
                        case ARITHMETIC -> tensors.get(i);
                        case TIES, MAGNITUDE_PRUNE -> magnitudePrune(tensors.get(i), s.density());
                        case DARE_LINEAR, DARE_TIES ->
                                randomPrune(tensors.get(i), s.density(), s.random());
                    };
        }
        boolean[][] keep = task.electsSign() ? majoritySignMask(t, s.sign()) : null;
        float[] out = new float[n];
        for (int j = 0; j < n; j++) {
            float acc = 0f;
            int kept = 0;
            for (int i = 0; i < t.length; i++) {
                float weighted = t[i][j] * weights[i];
                if (keep == null) {
                    acc += weighted;
                } else if (keep[i][j]) {
                    acc += weighted;
                    kept++;
                }
            }
            // disjoint_merge: the sum over the tensors that agree with the elected sign, over their
            // count (min 1).
            out[j] = keep == null ? acc : acc / Math.max(kept, 1);
        }
        return out;
    }

    /**
     * prune(method="magnitude"): keeps the int(density * numel) largest magnitudes, zeroes the
     * rest.
     */
    static float[] magnitudePrune(float[] x, double density) {
        checkDensity(density);
        if (density >= 1) {
            return x;
        }
        int n = x.length;
        int k = (int) (density * n);
        float[] out = new float[n];
        if (k == 0) {
            return out;
        }
        float[] mags = new float[n];
        for (int i = 0; i < n; i++) {
            mags[i] = Math.abs(x[i]);
        }
        float[] sorted = mags.clone();
        Arrays.sort(sorted);
        float threshold = sorted[n - k];
        int above = 0;
        for (float m : mags) {
            above += m > threshold ? 1 : 0;
        }
        // Entries equal to the k-th magnitude fill the remaining places in index order (torch.topk
        // leaves
        // the choice among equal values unspecified).
        int ties = k - above;
        for (int i = 0; i < n; i++) {
            if (mags[i] > threshold || (mags[i] == threshold && ties-- > 0)) {
                out[i] = x[i];
            }
        }
        return out;
    }

    /**
     * prune(method="random", rescale=True): keeps each entry with probability density, divided by
     * density.
     */
    static float[] randomPrune(float[] x, double density, SplittableRandom random) {
        checkDensity(density);
        if (density >= 1) {
            return x;
        }
        float d = (float) density;
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            if (random.nextDouble() < density) {
                out[i] = x[i] / d;
            }
        }
        return out;
    }

    /**
     * calculate_majority_sign_mask over the pruned, unweighted tensors: per entry, the sign of the
     * sum (total) or of the sum of signs (frequency), with 0 electing +; a tensor takes part where
     * its sign equals the elected one (a zero never does).
     */
    static boolean[][] majoritySignMask(float[][] t, SignMethod method) {
        int n = t[0].length;
        boolean[][] mask = new boolean[t.length][n];
        for (int j = 0; j < n; j++) {
            float magnitude = 0f;
            for (float[] x : t) {
                magnitude += method == SignMethod.TOTAL ? x[j] : Math.signum(x[j]);
            }
            float elected = magnitude >= 0 ? 1f : -1f;
            for (int i = 0; i < t.length; i++) {
                mask[i][j] = Math.signum(t[i][j]) == elected;
            }
        }
        return mask;
    }

    private static void checkDensity(double density) {
        if (!(density >= 0)) {
            throw new IllegalArgumentException("--density must be >= 0 (got " + density + ")");
        }
    }
}
