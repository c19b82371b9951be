package io.flinklora.gpu.lora;

import ai.djl.ndarray.NDArray;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.Projection;

/**
 * The base model's weights that adapter math depends on: projection weights [out, in] for DoRA's
 * row norms, and the input embedding [vocab, hidden], which PEFT saves beside an embedding LoRA.
 */
@Internal
public interface BaseWeights {
    NDArray weight(int layer, Projection projection);

    NDArray embedding();
}
