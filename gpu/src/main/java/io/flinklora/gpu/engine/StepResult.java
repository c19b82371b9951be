package io.flinklora.gpu.engine;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.gpu.errors.RequestFailure;
import java.util.List;

/**
 * What one engine step produced.
 *
 * @param events one token event per sequence that sampled this step
 * @param failures requests that ended with an error during the step
 * @param rows sequences in the forward pass
 * @param tokens tokens computed by the forward pass (prefill chunks plus decodes)
 * @param nanos wall time of the step
 */
@PublicEvolving
public record StepResult(
        List<TokenEvent> events, List<RequestFailure> failures, int rows, int tokens, long nanos) {
    public static final StepResult IDLE = new StepResult(List.of(), List.of(), 0, 0, 0);
}
