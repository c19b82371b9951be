package io.flinklora.gpu.sampling;

import io.flinklora.annotation.Internal;
import java.util.Arrays;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Chooses a token from one row of logits: greedy, or temperature / top-k / top-p sampling.
 *
 * <p>The random draw for a token depends only on the request's seed and the token's index, so a
 * request gives the same tokens whatever else shares its batch, and a sequence resumed after a
 * restart continues exactly as it would have.
 */
@Internal
public final class Sampler {
    private Sampler() {}

    /** Index of the largest logit (the lowest index among equals, like torch.argmax). */
    public static int argmax(float[] logits, int offset, int length) {
        int best = 0;
        float bestValue = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < length; i++) {
            float v = logits[offset + i];
            if (v > bestValue || (Float.isNaN(bestValue) && !Float.isNaN(v))) {
                bestValue = v;
                best = i;
            }
        }
        return best;
    }

    /**
     * Chooses token number {@code index} of a sequence whose tokens so far are {@code tokens[0 ..
     * length)} (the first {@code promptLength} the prompt): the request's logit bias and penalties
     * first (on a copy of the row), then greedy or sampling as {@link #sample(float[], int, int,
     * SamplingParams, long, int)}.
     */
    public static int choose(
            float[] logits,
            int offset,
            int vocab,
            SamplingParams p,
            long seed,
            int index,
            int[] tokens,
            int promptLength,
            int length) {
        return choose(
                logits, offset, vocab, p, seed, index, tokens, promptLength, length, Set.of());
    }

    /**
     * As {@link #choose(float[], int, int, SamplingParams, long, int, int[], int, int)}, and while
     * {@code index < minTokens} the sequence's {@code stopIds} (EOS and stop_token_ids) get -inf,
     * as vLLM's min_tokens and transformers' min_new_tokens processors do.
     */
    public static int choose(
            float[] logits,
            int offset,
            int vocab,
            SamplingParams p,
            long seed,
            int index,
            int[] tokens,
            int promptLength,
            int length,
            Set<Integer> banned) {
        LogitAdjustments a = p.adjustments();
        boolean ban = !banned.isEmpty();
        if (!a.changesLogits() && !ban) {
            return sample(logits, offset, vocab, p, seed, index);
        }
        float[] row = Arrays.copyOfRange(logits, offset, offset + vocab);
        a.apply(row, 0, vocab, tokens, promptLength, length);
        if (ban) {
            for (int id : banned) {
                if (id >= 0 && id < vocab) {
                    row[id] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        return sample(row, 0, vocab, p, seed, index);
    }

    /**
     * The chosen token's log-probability under the raw logits (log-softmax, in double) and the
     * {@code top} most likely tokens', most likely first, ties to the lower id.
     */
    public static TokenLogprobs logprobs(
            float[] logits, int offset, int vocab, int chosen, int top) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            sum += Math.exp((double) logits[offset + i] - max);
        }
        double logZ = max + Math.log(sum);
        int k = Math.min(top, vocab);
        int[] best = new int[k];
        int filled = 0;
        for (int i = 0; i < vocab; i++) {
            float l = logits[offset + i];
            if (filled == k && (k == 0 || l <= logits[offset + best[k - 1]])) {
                continue;
            }
            int at = filled < k ? filled++ : k - 1;
            while (at > 0 && logits[offset + best[at - 1]] < l) {
                best[at] = best[at - 1];
                at--;
            }
            best[at] = i;
        }
        java.util.List<TokenLogprobs.Alternative> alts = new java.util.ArrayList<>(k);
        for (int r = 0; r < k; r++) {
            alts.add(new TokenLogprobs.Alternative(best[r], logits[offset + best[r]] - logZ));
        }
        return new TokenLogprobs(chosen, logits[offset + chosen] - logZ, alts);
    }

    /**
     * Samples a token id from {@code logits[offset .. offset+vocab)} for token number {@code
     * index}.
     */
    public static int sample(
            float[] logits, int offset, int vocab, SamplingParams p, long seed, int index) {
        if (p.isGreedy()) {
            return argmax(logits, offset, vocab);
        }
        double temperature = p.temperature();
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        // Candidates as (probability bits, token) pairs packed in longs so one primitive sort
        // orders them.
        double[] prob = new double[vocab];
        double total = 0;
        // min_p: e is p_i / p_max after the temperature, so a token below min_p * p_max has e <
        // min_p.
        double minP = p.adjustments().minP();
        for (int i = 0; i < vocab; i++) {
            double e = Math.exp((logits[offset + i] - max) / temperature);
            if (e < minP) {
                e = 0;
            }
            prob[i] = e;
            total += e;
        }
        int k = p.topK() > 0 && p.topK() < vocab ? p.topK() : vocab;
        boolean nucleus = p.topP() < 1.0;
        double u = new SplittableRandom(mix(seed, index)).nextDouble();
        if (k == vocab && !nucleus) {
            double target = u * total;
            double acc = 0;
            for (int i = 0; i < vocab; i++) {
                acc += prob[i];
                if (acc > target) {
                    return i;
                }
            }
            return argmax(logits, offset, vocab);
        }
        long[] order = new long[vocab];
        for (int i = 0; i < vocab; i++) {
            // Probabilities are non-negative, so their float bits sort like the values; ties keep
            // low ids first.
            order[i] =
                    ((long) Float.floatToIntBits((float) (prob[i] / total)) << 32)
                            | (0xFFFFFFFFL - i);
        }
        Arrays.sort(order);
        double keptMass = 0;
        int kept = 0;
        double all = 0;
        for (int r = 0; r < k; r++) {
            all += prob[tokenAt(order, vocab - 1 - r)];
        }
        for (int r = 0; r < k; r++) {
            keptMass += prob[tokenAt(order, vocab - 1 - r)];
            kept++;
            if (nucleus && keptMass / all >= p.topP()) {
                break;
            }
        }
        // The draw walks the kept tokens in id order, not probability order: rounding differences
        // between
        // batch shapes reorder near-equal probabilities, and a walk in that order would then pick
        // another
        // token for the same draw; in id order only a draw within rounding of a boundary can
        // change.
        boolean[] keep = new boolean[vocab];
        for (int r = 0; r < kept; r++) {
            keep[tokenAt(order, vocab - 1 - r)] = true;
        }
        double target = u * keptMass;
        double acc = 0;
        int last = -1;
        for (int i = 0; i < vocab; i++) {
            if (keep[i]) {
                acc += prob[i];
                last = i;
                if (acc > target) {
                    return i;
                }
            }
        }
        return last;
    }

    private static int tokenAt(long[] order, int rank) {
        return (int) (0xFFFFFFFFL - (order[rank] & 0xFFFFFFFFL));
    }

    /** A well-mixed 64-bit seed for token {@code index} of a request seeded with {@code seed}. */
    static long mix(long seed, int index) {
        long z = seed + 0x9E3779B97F4A7C15L * (index + 1L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
