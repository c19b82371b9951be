package io.flinklora.gpu.route;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.ProjectionDelta;
import io.flinklora.gpu.tokenizer.Tokenizer;

/**
 * A prompt's embedding for routing: the base model's last hidden state (after the final norm),
 * mean-pooled over the prompt's tokens and scaled to unit length. One cache-free forward pass of
 * the base model over the prompt ({@link LlamaModel#hiddenCausal}): the one extra prefill routing
 * costs.
 */
@Internal
public final class PromptEmbedder {
    private final LlamaModel model;
    private final Tokenizer tokenizer;
    private final NDManager manager;
    private final int layer;

    /**
     * @param layer hidden state after this many layers (the model's layer count: the last,
     *     final-normed)
     */
    public PromptEmbedder(LlamaModel model, Tokenizer tokenizer, NDManager manager, int layer) {
        if (layer < 0 || layer > model.config().numLayers()) {
            throw new IllegalArgumentException(
                    "layer " + layer + " is outside 0.." + model.config().numLayers());
        }
        this.model = model;
        this.tokenizer = tokenizer;
        this.manager = manager;
        this.layer = layer;
    }

    public PromptEmbedder(LlamaModel model, Tokenizer tokenizer, NDManager manager) {
        this(model, tokenizer, manager, model.config().numLayers());
    }

    /**
     * Embeds prompts with {@code engine}'s base model (one cache-free forward pass per prompt,
     * outside the step's batch, through the model's full-causal forward: any architecture and dtype
     * it serves).
     */
    public static PromptEmbedder of(Engine engine) {
        return of(engine, engine.model().config().numLayers());
    }

    /** As {@link #of(Engine)}, with the hidden state after {@code layer} layers. */
    public static PromptEmbedder of(Engine engine, int layer) {
        LlamaModel model = engine.model();
        // Each embedding's arrays live in a scope closed with the call, on the model's own device.
        return new PromptEmbedder(model, engine.tokenizer(), model.embedding().getManager(), layer);
    }

    public float[] embed(String prompt) {
        return embed(tokenizer.encode(prompt));
    }

    public float[] embed(int[] ids) {
        if (ids.length == 0 || ids.length > model.maxPositions()) {
            throw new IllegalArgumentException(
                    "a prompt of "
                            + ids.length
                            + " tokens cannot be embedded (1.."
                            + model.maxPositions()
                            + ")");
        }
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            long[] tokens = new long[ids.length];
            for (int i = 0; i < ids.length; i++) {
                tokens[i] = ids[i];
            }
            NDArray t = manager.create(tokens, new ai.djl.ndarray.types.Shape(1, ids.length));
            NDArray h = model.hiddenCausal(t, null, ProjectionDelta.NONE, layer);
            float[] v =
                    h.mean(new int[] {0})
                            .toType(ai.djl.ndarray.types.DataType.FLOAT32, false)
                            .toFloatArray();
            return unit(v);
        }
    }

    static float[] unit(float[] v) {
        double n = 0;
        for (float x : v) {
            n += (double) x * x;
        }
        float inv = (float) (1 / Math.max(Math.sqrt(n), 1e-12));
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i] * inv;
        }
        return out;
    }
}
