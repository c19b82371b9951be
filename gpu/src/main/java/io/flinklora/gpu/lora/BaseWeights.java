package io.flinklora.gpu.lora;

import ai.djl.ndarray.NDArray;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.ExpertParameter;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.Projection;

/**
 * The base model's weights that adapter math depends on: projection weights [out, in] for DoRA's
 * row norms, projection biases for the base biases PEFT saves with {@code bias = all / lora_only},
 * and the input embedding and output head [vocab, hidden], which PEFT saves beside a LoRA on them.
 */
@Internal
public interface BaseWeights {
    NDArray weight(int layer, Projection projection);

    NDArray embedding();

    /** A projection's base bias [out], or null when the model has none there. */
    default NDArray bias(int layer, Projection projection) {
        return null;
    }

    /** A sparse layer's router bias [experts] (GPT-OSS), or null where there is none. */
    default NDArray routerBias(int layer) {
        return null;
    }

    /** A Qwen2-MoE shared-expert module's weight [out, in], or null where there is none. */
    default NDArray sharedWeight(int layer, ExpertParameter p) {
        return null;
    }

    /** The output head [vocab, hidden] (the embedding when tied); null where not available. */
    default NDArray outputHead() {
        return null;
    }

    /** The output head's bias [vocab] (Phi), or null where the head has none or not available. */
    default NDArray outputHeadBias() {
        return null;
    }

    /** A loaded model's own weights. */
    static BaseWeights of(LlamaModel model) {
        return new BaseWeights() {
            @Override
            public NDArray weight(int layer, Projection projection) {
                return model.weight(layer, projection);
            }

            @Override
            public NDArray embedding() {
                return model.embedding();
            }

            @Override
            public NDArray bias(int layer, Projection projection) {
                return model.bias(layer, projection);
            }

            @Override
            public NDArray routerBias(int layer) {
                return model.routerBias(layer);
            }

            @Override
            public NDArray sharedWeight(int layer, ExpertParameter p) {
                return model.sharedWeight(layer, p);
            }

            @Override
            public NDArray outputHead() {
                return model.outputHead();
            }

            @Override
            public NDArray outputHeadBias() {
                return model.outputHeadBias();
            }
        };
    }
}
