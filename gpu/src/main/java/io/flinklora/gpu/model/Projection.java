package io.flinklora.gpu.model;

import io.flinklora.annotation.Internal;
import java.util.Locale;

/**
 * The seven linear projections of a Llama-family decoder layer, by their Hugging Face module names.
 */
@Internal
public enum Projection {
    Q("self_attn", "q_proj"),
    K("self_attn", "k_proj"),
    V("self_attn", "v_proj"),
    O("self_attn", "o_proj"),
    GATE("mlp", "gate_proj"),
    UP("mlp", "up_proj"),
    DOWN("mlp", "down_proj");

    private final String block;
    private final String moduleName;

    Projection(String block, String moduleName) {
        this.block = block;
        this.moduleName = moduleName;
    }

    /** The module name as PEFT's {@code target_modules} spells it, e.g. {@code q_proj}. */
    public String moduleName() {
        return moduleName;
    }

    /**
     * The dotted path of this projection inside layer {@code layer}, e.g. {@code
     * model.layers.3.self_attn.q_proj}.
     */
    public String path(int layer) {
        return "model.layers." + layer + "." + block + "." + moduleName;
    }

    /** Input features of this projection. */
    public int inFeatures(ModelConfig c) {
        return switch (this) {
            case O -> c.numHeads() * c.headDim();
            case DOWN -> c.intermediateSize();
            default -> c.hiddenSize();
        };
    }

    /** Output features of this projection. */
    public int outFeatures(ModelConfig c) {
        return switch (this) {
            case Q -> c.numHeads() * c.headDim();
            case K, V -> c.numKvHeads() * c.headDim();
            case O, DOWN -> c.hiddenSize();
            case GATE, UP -> c.intermediateSize();
        };
    }

    /** Looks a projection up by its module name ({@code q_proj} ...), or null if it is not one. */
    public static Projection byModuleName(String name) {
        for (Projection p : values()) {
            if (p.moduleName.equals(name.toLowerCase(Locale.ROOT))) {
                return p;
            }
        }
        return null;
    }
}
