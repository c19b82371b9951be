package io.flinklora.gpu.lora;

import io.flinklora.annotation.Internal;
import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The {@code combination_type} values of PEFT 0.21's {@code LoraModel.add_weighted_adapter}: how
 * the adapters are combined ({@link Shape}) and which {@code merge_utils} function merges the
 * tensors ({@link Task}).
 */
@Internal
public enum CombineMethod {
    LINEAR("linear", Shape.FACTORS, Task.ARITHMETIC),
    CAT("cat", Shape.CONCAT, Task.ARITHMETIC),
    SVD("svd", Shape.DELTA, Task.ARITHMETIC),
    TIES("ties", Shape.FACTORS, Task.TIES),
    TIES_SVD("ties_svd", Shape.DELTA, Task.TIES),
    DARE_LINEAR("dare_linear", Shape.FACTORS, Task.DARE_LINEAR),
    DARE_LINEAR_SVD("dare_linear_svd", Shape.DELTA, Task.DARE_LINEAR),
    DARE_TIES("dare_ties", Shape.FACTORS, Task.DARE_TIES),
    DARE_TIES_SVD("dare_ties_svd", Shape.DELTA, Task.DARE_TIES),
    MAGNITUDE_PRUNE("magnitude_prune", Shape.FACTORS, Task.MAGNITUDE_PRUNE),
    MAGNITUDE_PRUNE_SVD("magnitude_prune_svd", Shape.DELTA, Task.MAGNITUDE_PRUNE);

    /**
     * FACTORS: A and B are merged separately, each weighted by sqrt(|weight * scaling|) (the sign
     * on A), all ranks equal; CONCAT: the weighted A's and the B's are stacked along the rank;
     * DELTA: the weight deltas {@code scaling * B A} are merged and re-factorized by a truncated
     * SVD.
     */
    public enum Shape {
        FACTORS,
        CONCAT,
        DELTA
    }

    /** The merge_utils function: task_arithmetic, ties, dare_linear, dare_ties, magnitude_prune. */
    public enum Task {
        ARITHMETIC,
        TIES,
        DARE_LINEAR,
        DARE_TIES,
        MAGNITUDE_PRUNE;

        /** Whether the task prunes, so {@code density} is required (PEFT fails without it). */
        public boolean prunes() {
            return this != ARITHMETIC;
        }

        /** Whether the task elects a sign per entry ({@code majority_sign_method} applies). */
        public boolean electsSign() {
            return this == TIES || this == DARE_TIES;
        }

        /** Whether the task drops entries at random (DARE). */
        public boolean random() {
            return this == DARE_LINEAR || this == DARE_TIES;
        }
    }

    private final String peftName;
    private final Shape shape;
    private final Task task;

    CombineMethod(String peftName, Shape shape, Task task) {
        this.peftName = peftName;
        this.shape = shape;
        this.task = task;
    }

    /** The name PEFT gives it ({@code combination_type}). */
    public String peftName() {
        return peftName;
    }

    public Shape shape() {
        return shape;
    }

    public Task task() {
        return task;
    }

    /** The method PEFT calls {@code name}; refuses any other name, listing the valid ones. */
    public static CombineMethod byName(String name) {
        for (CombineMethod m : values()) {
            if (m.peftName.equals(name)) {
                return m;
            }
        }
        throw new IllegalArgumentException(
                "unknown --method '" + name + "' (one of " + names() + ")");
    }

    public static String names() {
        return Arrays.stream(values())
                .map(CombineMethod::peftName)
                .collect(Collectors.joining(", "));
    }
}
