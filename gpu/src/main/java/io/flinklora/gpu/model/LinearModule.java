package io.flinklora.gpu.model;

import io.flinklora.annotation.Internal;
import java.util.List;

/**
 * A linear layer as the Hugging Face module tree names it, and the projections its output rows
 * feed: one for Llama's {@code q_proj}, three for Phi-3's fused {@code qkv_proj}. Weights and LoRA
 * deltas of a fused module are split by these row ranges, so the forward pass only ever sees the
 * seven projections.
 *
 * @param path the module path, e.g. {@code model.layers.3.self_attn.qkv_proj}
 * @param slices the output row ranges, in order, covering {@code outFeatures}
 */
@Internal
public record LinearModule(String path, int inFeatures, int outFeatures, List<Slice> slices) {
    /**
     * Rows {@code offset .. offset + rows - 1} of the module's output are projection {@code
     * projection}.
     */
    public record Slice(Projection projection, int offset, int rows) {}

    public LinearModule {
        slices = List.copyOf(slices);
    }

    /** The linear modules of one decoder layer of a model with this config, in module order. */
    static List<LinearModule> of(ModelConfig c, int layer) {
        // Phi-3: qkv_proj holds q, k, v rows in that order; Phi-3 and GLM: gate_up_proj holds gate
        // then up (chunk(2)).
        String pre = "model.layers." + layer + ".";
        int q = Projection.Q.outFeatures(c);
        int kv = Projection.K.outFeatures(c);
        int inter = c.intermediateSize();
        List<LinearModule> out = new java.util.ArrayList<>();
        if (c.fusedQkv()) {
            out.add(
                    new LinearModule(
                            pre + "self_attn.qkv_proj",
                            c.hiddenSize(),
                            q + 2 * kv,
                            List.of(
                                    new Slice(Projection.Q, 0, q),
                                    new Slice(Projection.K, q, kv),
                                    new Slice(Projection.V, q + kv, kv))));
        } else {
            out.add(single(c, layer, Projection.Q));
            out.add(single(c, layer, Projection.K));
            out.add(single(c, layer, Projection.V));
        }
        if (c.phi()) {
            // Phi: dense (o), and fc1 and fc2 as up and down around the activation.
            out.add(named(c, pre + "self_attn.dense", Projection.O));
            out.add(named(c, pre + "mlp.fc1", Projection.UP));
            out.add(named(c, pre + "mlp.fc2", Projection.DOWN));
            return List.copyOf(out);
        }
        out.add(single(c, layer, Projection.O));
        if (c.upDownMlp()) {
            // Nemotron and Arcee: up and down under Llama's names, no gate.
            out.add(single(c, layer, Projection.UP));
            out.add(single(c, layer, Projection.DOWN));
            return List.copyOf(out);
        }
        if (!c.gatedMlp()) {
            // Starcoder2: c_fc and c_proj, as up and down around the activation.
            out.add(named(c, pre + "mlp.c_fc", Projection.UP));
            out.add(named(c, pre + "mlp.c_proj", Projection.DOWN));
            return List.copyOf(out);
        }
        if (c.fusedGateUp()) {
            out.add(
                    new LinearModule(
                            pre + "mlp.gate_up_proj",
                            c.hiddenSize(),
                            2 * inter,
                            List.of(
                                    new Slice(Projection.GATE, 0, inter),
                                    new Slice(Projection.UP, inter, inter))));
        } else {
            out.add(single(c, layer, Projection.GATE));
            out.add(single(c, layer, Projection.UP));
        }
        out.add(single(c, layer, Projection.DOWN));
        return List.copyOf(out);
    }

    private static LinearModule single(ModelConfig c, int layer, Projection p) {
        return named(c, p.path(layer), p);
    }

    private static LinearModule named(ModelConfig c, String path, Projection p) {
        return new LinearModule(
                path,
                p.inFeatures(c),
                p.outFeatures(c),
                List.of(new Slice(p, 0, p.outFeatures(c))));
    }
}
