package io.flinklora.gpu.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import io.flinklora.annotation.Internal;

/**
 * One adapter's LoRA on one parameter of a sparse layer (PEFT's ParamWrapper): per expert, {@code
 * A_e [r, in]} and the scaled {@code B_e} transposed {@code [r, out]}, so that expert {@code e}'s
 * product becomes {@code x (W_e + s B_e A_e)^T}. The router is one "expert".
 *
 * <p>PEFT saves {@code lora_A [r * experts, in]} expert-major and {@code lora_B [out, r * experts]}
 * with the expert index fastest in its columns ({@code ParamWrapper.get_delta_factors}).
 */
@Internal
final class ParameterLora {
    final int experts;
    final int rank;
    final int in;
    final int out;

    /** {@code [experts * rank, in]}, as PEFT's lora_A. */
    final float[] hostA;

    /** {@code [experts, rank, out]}: expert e's {@code s B_e} transposed. */
    final float[] hostBT;

    /**
     * {@code s * lora_B.bias [out]} (PEFT's {@code lora_bias} on an nn.Linear: Qwen2-MoE's shared
     * expert), or null.
     */
    float[] hostBias;

    private NDArray bias;

    /**
     * DoRA on an nn.Linear (Qwen2-MoE's shared expert): {@code magnitude / ||W + s B A|| - 1} per
     * output row, or null.
     */
    float[] doraScale;

    private NDArray dora;

    // Where the adapter's cells sit while it is resident (ParameterPool), else null.
    private ParameterPool.Slots slots;
    private int slot;

    private ParameterLora(int experts, int rank, int in, int out, float[] a, float[] bT) {
        this.experts = experts;
        this.rank = rank;
        this.in = in;
        this.out = out;
        this.hostA = a;
        this.hostBT = bT;
    }

    /**
     * From PEFT's saved tensors: {@code a [experts * rank, in]}, {@code b [out, rank * experts]}
     * (column {@code k * experts + e} is expert e's k-th), and the scale.
     */
    static ParameterLora fromPeft(
            int experts, int rank, int in, int out, float[] a, float[] b, float scale) {
        float[] bT = new float[experts * rank * out];
        int cols = rank * experts;
        for (int e = 0; e < experts; e++) {
            for (int k = 0; k < rank; k++) {
                int dst = (e * rank + k) * out;
                int col = k * experts + e;
                for (int o = 0; o < out; o++) {
                    bT[dst + o] = scale * b[o * cols + col];
                }
            }
        }
        return new ParameterLora(experts, rank, in, out, a, bT);
    }

    long bytes() {
        return 4L
                * (hostA.length
                        + hostBT.length
                        + (hostBias == null ? 0 : hostBias.length)
                        + (doraScale == null ? 0 : doraScale.length));
    }

    /** The scaled {@code lora_bias} {@code [1, out]} on the device while resident, or null. */
    NDArray bias() {
        return bias;
    }

    void bias(NDArray onDevice) {
        this.bias = onDevice;
    }

    /** The DoRA scale {@code [1, out]} on the device while resident, or null. */
    NDArray dora() {
        return dora;
    }

    void dora(NDArray onDevice) {
        this.dora = onDevice;
    }

    void placed(ParameterPool.Slots slots, int slot) {
        this.slots = slots;
        this.slot = slot;
    }

    void unplace() {
        slots = null;
        if (bias != null) {
            bias.close();
            bias = null;
        }
        if (dora != null) {
            dora.close();
            dora = null;
        }
    }

    /** The pool holding the device copies, or null when the adapter is not resident. */
    ParameterPool.Slots slots() {
        return slots;
    }

    int slot() {
        return slot;
    }

    /** Whether the device copies exist (the adapter is resident). */
    boolean resident() {
        return slots != null;
    }

    /** Expert {@code e}'s row in its pool's stacks. */
    long cell(int e) {
        return (long) slot * experts + e;
    }

    /** Expert {@code e}'s A {@code [rank, in]} on the device. */
    NDArray a(int e) {
        return slots.a().get(new NDIndex(cell(e)));
    }

    /** Expert {@code e}'s scaled B transposed {@code [rank, out]} on the device. */
    NDArray bT(int e) {
        return slots.bT().get(new NDIndex(cell(e)));
    }
}
