package io.flinklora.gpu.engine;

import io.flinklora.annotation.PublicEvolving;
import java.util.List;

/**
 * The candidates of a constrained request, already tokenized by the front end: each label with its
 * token ids (a teacher-forced request is the one-candidate case, its continuation as given).
 *
 * @param labels what each candidate is reported as
 * @param tokenIds each candidate's token ids, as it follows the prompt (none empty)
 */
@PublicEvolving
public record Choices(List<String> labels, int[][] tokenIds) {
    public Choices {
        labels = List.copyOf(labels);
        int[][] copy = new int[tokenIds.length][];
        for (int c = 0; c < copy.length; c++) {
            copy[c] = tokenIds[c].clone();
        }
        tokenIds = copy;
        if (labels.size() != tokenIds.length) {
            throw new IllegalArgumentException(
                    labels.size() + " labels for " + tokenIds.length + " candidates");
        }
    }

    /** Candidate tokens beyond the first of each: what one cache slot holds after the prompt. */
    public long treeTokens() {
        long n = 0;
        for (int[] ids : tokenIds) {
            n += ids.length - 1;
        }
        return n;
    }
}
