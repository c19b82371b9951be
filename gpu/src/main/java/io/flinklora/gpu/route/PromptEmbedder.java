package io.flinklora.gpu.route;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.tokenizer.Tokenizer;
import io.flinklora.gpu.train.TrainingForward;
import java.util.List;

/**
 * A prompt's embedding for routing: the base model's last hidden state (after the final norm),
 * mean-pooled over the prompt's tokens and scaled to unit length. One cache-free forward pass of the
 * base model over the prompt: the one extra prefill routing costs.
 */
public final class PromptEmbedder {
    private final TrainingForward forward;
    private final Tokenizer tokenizer;
    private final NDManager manager;
    private final int layer;

    /** @param layer hidden state after this many layers (the model's layer count: the last, final-normed) */
    public PromptEmbedder(LlamaModel model, Tokenizer tokenizer, NDManager manager, int layer) {
        this.forward = new TrainingForward(model);
        this.tokenizer = tokenizer;
        this.manager = manager;
        this.layer = layer;
        forward.checkLayer(layer);
    }

    public PromptEmbedder(LlamaModel model, Tokenizer tokenizer, NDManager manager) {
        this(model, tokenizer, manager, model.config().numLayers());
    }

    public float[] embed(String prompt) {
        return embed(tokenizer.encode(prompt));
    }

    public float[] embed(int[] ids) {
        if (ids.length == 0 || ids.length > forward.maxPositions()) {
            throw new IllegalArgumentException("a prompt of " + ids.length + " tokens cannot be embedded (1.."
                    + forward.maxPositions() + ")");
        }
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            long[] tokens = new long[ids.length];
            for (int i = 0; i < ids.length; i++) {
                tokens[i] = ids[i];
            }
            NDArray t = manager.create(tokens, new ai.djl.ndarray.types.Shape(1, ids.length));
            NDArray h = forward.hidden(t, List.of(new TrainingForward.Segment(null, 0, 1)), layer);
            float[] v = h.mean(new int[] {0}).toFloatArray();
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
