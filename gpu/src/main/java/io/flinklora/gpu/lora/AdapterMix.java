package io.flinklora.gpu.lora;

import io.flinklora.annotation.Internal;
import java.util.List;

/**
 * The adapters one sequence runs with, each with its weight; held (and pinned) for the sequence's
 * life.
 */
@Internal
public record AdapterMix(List<Part> parts) {
    /** One adapter of the mix. */
    public record Part(LoraAdapter adapter, double weight) {}

    public AdapterMix {
        parts = List.copyOf(parts);
    }
}
