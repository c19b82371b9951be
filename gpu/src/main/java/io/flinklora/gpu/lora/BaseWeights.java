package io.flinklora.gpu.lora;

import ai.djl.ndarray.NDArray;
import io.flinklora.gpu.model.Projection;

/** The base model's projection weights [out, in], for adapter math that depends on them (DoRA's row norms). */
@FunctionalInterface
public interface BaseWeights {
    NDArray weight(int layer, Projection projection);
}
