package io.flinklora.gpu.engine;

import io.flinklora.annotation.PublicEvolving;

/**
 * One candidate label of a constrained request, scored.
 *
 * @param label the candidate as given
 * @param logprob sum over the label's tokens of log p(token | prompt, earlier label tokens)
 * @param probability softmax of the candidates' logprobs: the candidates' probabilities sum to 1
 * @param tokens how many tokens the label has
 */
@PublicEvolving
public record ChoiceScore(String label, double logprob, double probability, int tokens) {}
