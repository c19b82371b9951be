package io.flinklora.gpu.engine;

import io.flinklora.annotation.PublicEvolving;
import java.util.List;

/**
 * The outcome of a constrained request: the most likely candidate and every candidate's score.
 *
 * @param label the chosen label, always one of the request's choices
 * @param index its position in the request's choices
 * @param tokenIds the chosen label's tokens
 * @param scores one entry per choice, in request order
 */
@PublicEvolving
public record ChoiceResult(String label, int index, int[] tokenIds, List<ChoiceScore> scores) {
    public ChoiceResult {
        scores = List.copyOf(scores);
    }
}
