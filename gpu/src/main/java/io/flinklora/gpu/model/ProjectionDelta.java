package io.flinklora.gpu.model;

import ai.djl.ndarray.NDArray;

/**
 * Adds per-row deltas (LoRA adapters) to the output of a projection during a batched forward pass.
 * The base model calls it for every projection; an implementation with nothing to add returns
 * {@code output} unchanged, so a batch without adapters pays nothing.
 */
public interface ProjectionDelta {
    ProjectionDelta NONE = (layer, projection, input, output) -> output;

    /**
     * @param input the projection's input rows, one per token of the step
     * @param output the base projection's output for the same rows
     * @return the output with the deltas added (may be {@code output} itself)
     */
    NDArray apply(int layer, Projection projection, NDArray input, NDArray output);
}
