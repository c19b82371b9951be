package io.flinklora.gpu.train;

import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.Projection;
import java.util.EnumSet;
import java.util.Set;

/**
 * What one adapter to train looks like: its name (the adapter folder), rank, lora_alpha and target
 * projections. The delta is {@code alpha / rank * B A}, as PEFT computes it without rsLoRA.
 */
@Internal
public record LoraSpec(String name, int rank, double alpha, Set<Projection> targets) {
    public LoraSpec {
        if (!name.matches("[A-Za-z0-9][A-Za-z0-9_-]*")) {
            throw new IllegalArgumentException(
                    "adapter name '" + name + "' must be a plain identifier");
        }
        if (rank < 1 || alpha <= 0 || targets.isEmpty()) {
            throw new IllegalArgumentException(
                    "adapter " + name + ": rank >= 1, alpha > 0 and a target are required");
        }
        targets = Set.copyOf(EnumSet.copyOf(targets));
    }

    public double scale() {
        return alpha / rank;
    }
}
