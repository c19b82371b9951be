package io.flinklora.gpu.model;

/**
 * A parameter of a sparse layer that LoRA can target directly (PEFT's {@code target_parameters}):
 * the stacked experts' fused gate and up projection, their down projection, and the router.
 */
public enum ExpertParameter {
    GATE_UP,
    DOWN,
    ROUTER
}
