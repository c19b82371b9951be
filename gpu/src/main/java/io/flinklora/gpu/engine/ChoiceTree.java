package io.flinklora.gpu.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The candidate labels of a constrained request, laid out as one "tree" row that shares the
 * prompt's KV cache.
 *
 * <p>After the prompt is prefilled, the first token of every candidate is scored from the prompt's
 * last logits. The remaining work is one extra chunk of the same sequence: every candidate's tokens
 * but its last, appended after the prompt in the sequence's own cache slot. Each candidate's rotary
 * positions restart at the prompt length, and the attention mask lets a tree token see the prompt
 * and its own candidate's earlier tokens only, so each token's logits are exactly those of {@code
 * prompt + candidate prefix} run alone, while the prompt is computed once. Why a tree row rather
 * than copying the prompt's cache into one slot per candidate: it needs no extra slot (the pool is
 * sized for the batch, and choice requests must not push ordinary ones out), no cache copy, and it
 * is one more chunk in the continuous batch, so the scheduler, the batched multi-LoRA pass and
 * admission control work unchanged; the price is that a slot holds prompt + all candidates.
 *
 * <p>A teacher-forced request is the one-candidate case: its continuation's tokens are the tree,
 * laid out causally after the prompt, and its score is their summed log-probability.
 */
final class ChoiceTree {
    private final List<String> labels;
    private final int[][] ids;
    private final double[] logprob;

    /** Tree tokens in cache order: for each candidate c, ids[c][0 .. len-2]. */
    private final int[] tokens;

    private final int[] candidate;
    private final int[] offset;
    private final int[] candidateStart;
    private int scoredFirst;

    ChoiceTree(List<String> labels, int[][] ids) {
        this.labels = List.copyOf(labels);
        this.ids = ids;
        this.logprob = new double[ids.length];
        int n = 0;
        for (int[] c : ids) {
            n += c.length - 1;
        }
        tokens = new int[n];
        candidate = new int[n];
        offset = new int[n];
        candidateStart = new int[n];
        int j = 0;
        for (int c = 0; c < ids.length; c++) {
            int start = j;
            for (int k = 0; k < ids[c].length - 1; k++, j++) {
                tokens[j] = ids[c][k];
                candidate[j] = c;
                offset[j] = k;
                candidateStart[j] = start;
            }
        }
    }

    int size() {
        return ids.length;
    }

    /** Tokens of the tree chunk (every candidate's tokens except its last). */
    int[] treeTokens() {
        return tokens;
    }

    int treeLength() {
        return tokens.length;
    }

    /** First token of candidate {@code c}, scored from the prompt's last logits. */
    int firstToken(int c) {
        return ids[c][0];
    }

    /**
     * Rotary position of tree token {@code j}: the candidate's tokens follow the prompt directly.
     */
    int rotaryPosition(int promptLength, int j) {
        return promptLength + offset[j];
    }

    /**
     * Tree index where tree token {@code j}'s candidate starts (attention sees from there to j).
     */
    int candidateStart(int j) {
        return candidateStart[j];
    }

    int candidateOf(int j) {
        return candidate[j];
    }

    /** The token that tree token {@code j}'s logits predict: the next token of its candidate. */
    int target(int j) {
        return ids[candidate[j]][offset[j] + 1];
    }

    void addFirst(int c, double lp) {
        logprob[c] += lp;
        scoredFirst++;
    }

    void add(int j, double lp) {
        logprob[candidate[j]] += lp;
    }

    /**
     * Best candidate (first on ties) and softmax-normalized probabilities of the total logprobs.
     */
    ChoiceResult result() {
        if (scoredFirst < ids.length) {
            throw new IllegalStateException(
                    "candidates scored " + scoredFirst + " of " + ids.length);
        }
        int best = 0;
        for (int c = 1; c < ids.length; c++) {
            if (logprob[c] > logprob[best]) {
                best = c;
            }
        }
        double max = logprob[best];
        double sum = 0;
        double[] e = new double[ids.length];
        for (int c = 0; c < ids.length; c++) {
            e[c] = Math.exp(logprob[c] - max);
            sum += e[c];
        }
        List<ChoiceScore> scores = new ArrayList<>(ids.length);
        for (int c = 0; c < ids.length; c++) {
            scores.add(new ChoiceScore(labels.get(c), logprob[c], e[c] / sum, ids[c].length));
        }
        return new ChoiceResult(
                labels.get(best), best, Arrays.copyOf(ids[best], ids[best].length), scores);
    }
}
