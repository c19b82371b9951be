package io.flinklora.gpu.model;

import io.flinklora.annotation.Internal;

/**
 * What LoRA adapts in a sparse layer outside the step's projections: the stacked experts' fused
 * gate and up projection, their down projection and the router (PEFT's {@code target_parameters}),
 * Qwen2-MoE's shared expert modules (nn.Linear: its gate, up and down projections and {@code
 * shared_expert_gate}, a projection to one output) and GraniteMoeShared's shared MLP (nn.Linear:
 * {@code input_linear}, gate and up fused, and {@code output_linear}, served as the down
 * projection).
 */
@Internal
public enum ExpertParameter {
    GATE_UP,
    DOWN,
    ROUTER,
    SHARED_GATE_PROJ,
    SHARED_UP_PROJ,
    SHARED_DOWN_PROJ,
    SHARED_EXPERT_GATE,
    SHARED_GATE_UP
}
