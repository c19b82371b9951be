package io.flinklora.operators;

import ai.djl.Device;
import io.flinklora.annotation.PublicEvolving;
import io.flinklora.gpu.cli.EngineOptions;
import io.flinklora.gpu.engine.EngineConfig;
import java.io.Serializable;

/**
 * What a generation operator needs to build its engine on the task manager; serializable so it
 * travels with the job graph (never in checkpointed state). The engine's settings are an {@link
 * EngineConfig.Builder}, unbuilt: each subtask picks its device and builds it there. Build with
 * {@link #builder(EngineConfig.Builder)}.
 */
@PublicEvolving
public final class GenerationSettings implements Serializable {
    // 3: the engine's settings became an EngineConfig.Builder (only job graphs carry it, never
    // state)
    private static final long serialVersionUID = 3L;

    /** The slot's GPU when the task manager has one, else the CPU. */
    public static final String DEFAULT_DEVICE = EngineOptions.DEFAULT_DEVICE;

    /**
     * Requests accepted per subtask before back pressure, unless told otherwise: the streaming
     * job's default.
     */
    public static final int DEFAULT_MAX_QUEUED = 64;

    private final EngineConfig.Builder engine;
    final String device;
    final int maxQueued;
    final long failOnceAfterTokens;

    /** Router file for requests with route "auto", or null: they are refused. */
    final String routerFile;

    private GenerationSettings(Builder b) {
        this.engine = b.engine.copy();
        this.device = b.device;
        this.maxQueued = b.maxQueued;
        this.failOnceAfterTokens = b.failOnceAfterTokens;
        this.routerFile = b.routerFile;
    }

    /**
     * Settings for engines configured as {@code engine} says (its device is replaced by the
     * subtask's).
     */
    public static Builder builder(EngineConfig.Builder engine) {
        return new Builder(engine);
    }

    /**
     * The engine configuration, with the device chosen on the task manager (a GPU if asked for and
     * present).
     */
    public EngineConfig engineConfig(Device chosen) {
        return engine.copy().device(chosen).build();
    }

    public int maxQueued() {
        return maxQueued;
    }

    /** The router file the operator opens, or null. */
    public String routerFile() {
        return routerFile;
    }

    /**
     * Builder with the streaming job's queue and device choice; the engine's settings come whole.
     */
    public static final class Builder {
        private final EngineConfig.Builder engine;
        private String device = DEFAULT_DEVICE;
        private int maxQueued = DEFAULT_MAX_QUEUED;
        private long failOnceAfterTokens = -1;
        private String routerFile;

        private Builder(EngineConfig.Builder engine) {
            this.engine = engine;
        }

        /** "cpu", "gpu", or "auto" (the slot's GPU when the task manager has one, else the CPU). */
        public Builder device(String d) {
            this.device = d;
            return this;
        }

        /**
         * Requests accepted but not yet running, at most; beyond it the operator stops reading
         * input.
         */
        public Builder maxQueued(int n) {
            this.maxQueued = n;
            return this;
        }

        /**
         * Failure drill, so recovery can be watched (tests, game days): the first attempt of each
         * subtask throws once it has emitted this many tokens after a completed checkpoint that
         * holds in-flight sequences - so the restore always resumes generations from keyed state,
         * and the tokens emitted since that checkpoint are rolled back (exactly-once) or replayed
         * (at-least-once). Negative (the default) disables it.
         */
        public Builder failOnceAfterTokens(long n) {
            this.failOnceAfterTokens = n;
            return this;
        }

        /**
         * A router file ({@code RouterFile}): requests with {@code "route": "auto"} get the
         * adapters of the task whose example prompts are nearest to theirs; null (the default):
         * such requests are refused.
         */
        public Builder router(String file) {
            this.routerFile = file;
            return this;
        }

        public GenerationSettings build() {
            if (maxQueued < 1) {
                throw new IllegalArgumentException("maxQueued must be positive");
            }
            return new GenerationSettings(this);
        }
    }
}
