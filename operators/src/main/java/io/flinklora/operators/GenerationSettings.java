package io.flinklora.operators;

import ai.djl.Device;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.lora.AdapterSettings;
import io.flinklora.gpu.lora.LoraStrategy;
import io.flinklora.gpu.sampling.RequestLimits;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.List;

/**
 * What a generation operator needs to build its engine on the task manager; serializable so it
 * travels with the job graph. Build with {@link #builder(String)}; defaults are the engine's
 * ({@link EngineConfig}, {@link AdapterSettings#DEFAULT}, {@link RequestLimits#DEFAULT}).
 */
public final class GenerationSettings implements Serializable {
    // 2: adapters and limits became AdapterSettings and RequestLimits (only job graphs carry it, never state)
    private static final long serialVersionUID = 2L;

    final String modelDir;
    final String adapterRoot;
    final String device;
    /** "float32", "float16", "bfloat16", or null for the engine's default (added later: older graphs carry null). */
    final String dtype;
    final int maxBatch;
    final int maxTokensPerStep;
    final int kvSlots;
    final int kvCacheMib;
    final int kvBlockSize;
    final boolean prefixCaching;
    final int maxSequenceLength;
    final int maxQueued;
    /** The engine's own types, serializable, so their defaults and fields are not repeated here. */
    final AdapterSettings adapters;
    final RequestLimits limits;
    final long failOnceAfterTokens;
    /** Router file for requests with route "auto", or null: they are refused (added later: older graphs carry null). */
    final String routerFile;

    private GenerationSettings(Builder b) {
        this.modelDir = b.modelDir;
        this.adapterRoot = b.adapterRoot;
        this.device = b.device;
        this.dtype = b.dtype;
        this.maxBatch = b.maxBatch;
        this.maxTokensPerStep = b.maxTokensPerStep;
        this.kvSlots = b.kvSlots;
        this.kvCacheMib = b.kvCacheMib;
        this.kvBlockSize = b.kvBlockSize;
        this.prefixCaching = b.prefixCaching;
        this.maxSequenceLength = b.maxSequenceLength;
        this.maxQueued = b.maxQueued;
        this.adapters = b.adapters;
        this.limits = b.limits;
        this.failOnceAfterTokens = b.failOnceAfterTokens;
        this.routerFile = b.routerFile;
    }

    /** The slot's GPU when the task manager has one, else the CPU. */
    public static final String DEFAULT_DEVICE = "auto";

    public static Builder builder(String modelDir) {
        return new Builder(modelDir);
    }

    /** The engine configuration, with the device chosen on the task manager (a GPU if asked for and present). */
    EngineConfig engineConfig(Device chosen) {
        EngineConfig.Builder b = EngineConfig.builder(Path.of(modelDir)).device(chosen).maxRunning(maxBatch)
                .maxTokensPerStep(Math.max(maxTokensPerStep, maxBatch)).maxSequenceLength(maxSequenceLength)
                .limits(limits).adapters(adapters.withMaxLoaded(Math.max(adapters.maxLoaded(), adapters.maxOnDevice())));
        if (kvSlots > 0) {
            b.kvSlots(kvSlots);
        }
        if (kvCacheMib > 0) {
            b.kvCacheBytes((long) kvCacheMib << 20);
        }
        b.kvBlockSize(kvBlockSize).prefixCaching(prefixCaching);
        if (dtype != null) {
            b.dtype(ai.djl.ndarray.types.DataType.valueOf(dtype.toUpperCase(java.util.Locale.ROOT)));
        }
        if (adapterRoot != null && !adapterRoot.isEmpty()) {
            b.adapterRoot(Path.of(adapterRoot));
        }
        return b.build();
    }

    public int maxQueued() {
        return maxQueued;
    }

    /** The router file the operator opens, or null. */
    public String routerFile() {
        return routerFile;
    }

    /** Requests accepted per subtask before back pressure, unless told otherwise: the streaming job's default. */
    public static final int DEFAULT_MAX_QUEUED = 64;

    /** Builder with the engine's defaults and the streaming job's queue. */
    public static final class Builder {
        private final String modelDir;
        private String adapterRoot;
        private String device = DEFAULT_DEVICE;
        private String dtype;
        private int maxBatch = EngineConfig.DEFAULT_MAX_RUNNING;
        private int maxTokensPerStep = EngineConfig.DEFAULT_MAX_TOKENS_PER_STEP;
        private int kvSlots = -1;
        private int kvCacheMib = -1;
        private int kvBlockSize = EngineConfig.DEFAULT_KV_BLOCK_SIZE;
        private boolean prefixCaching = EngineConfig.DEFAULT_PREFIX_CACHING;
        private int maxSequenceLength = Integer.MAX_VALUE;
        private int maxQueued = DEFAULT_MAX_QUEUED;
        private AdapterSettings adapters = AdapterSettings.DEFAULT;
        private RequestLimits limits = RequestLimits.DEFAULT;
        private long failOnceAfterTokens = -1;
        private String routerFile;

        private Builder(String modelDir) {
            this.modelDir = modelDir;
        }

        public Builder adapterRoot(String root) {
            this.adapterRoot = root;
            return this;
        }

        /** "cpu", "gpu", or "auto" (the slot's GPU when the task manager has one, else the CPU). */
        public Builder device(String d) {
            this.device = d;
            return this;
        }

        /** Compute dtype: "float32", "float16" or "bfloat16" (needs a JNI with it); null keeps the engine's default. */
        public Builder dtype(String d) {
            this.dtype = d;
            return this;
        }

        public Builder maxBatch(int n) {
            this.maxBatch = n;
            return this;
        }

        public Builder maxTokensPerStep(int n) {
            this.maxTokensPerStep = n;
            return this;
        }

        /** KV budget in whole sequences of the longest sequence (used when no byte budget is given). */
        public Builder kvSlots(int n) {
            this.kvSlots = n;
            return this;
        }

        /** KV budget in MiB of device memory per subtask; -1 sizes it by kvSlots (default: max batch). */
        public Builder kvCacheMib(int mib) {
            this.kvCacheMib = mib;
            return this;
        }

        public Builder kvBlockSize(int positions) {
            this.kvBlockSize = positions;
            return this;
        }

        /** Whether requests with the same prompt prefix and adapters share KV blocks (default on). */
        public Builder prefixCaching(boolean on) {
            this.prefixCaching = on;
            return this;
        }

        public Builder maxSequenceLength(int n) {
            this.maxSequenceLength = n;
            return this;
        }

        /** Requests accepted but not yet running, at most; beyond it the operator stops reading input. */
        public Builder maxQueued(int n) {
            this.maxQueued = n;
            return this;
        }

        public Builder adaptersOnDevice(int n) {
            this.adapters = new AdapterSettings(n, adapters.maxDeviceBytes(), adapters.maxLoaded(), adapters.preload(),
                    adapters.strategy());
            return this;
        }

        public Builder adaptersInMemory(int n) {
            this.adapters = adapters.withMaxLoaded(n);
            return this;
        }

        public Builder preload(List<String> names) {
            this.adapters = adapters.withPreload(names);
            return this;
        }

        /** "pooled", "segmented", "gathered" or "loop". */
        public Builder loraStrategy(String s) {
            this.adapters = adapters.withStrategy(LoraStrategy.valueOf(s.toUpperCase(java.util.Locale.ROOT)));
            return this;
        }

        public Builder limits(RequestLimits l) {
            this.limits = l;
            return this;
        }

        /**
         * Failure drill, so recovery can be watched (tests, game days): the first attempt of each subtask
         * throws once it has emitted this many tokens after a completed checkpoint that holds in-flight
         * sequences - so the restore always resumes generations from keyed state, and the tokens emitted
         * since that checkpoint are rolled back (exactly-once) or replayed (at-least-once). Negative (the
         * default) disables it.
         */
        public Builder failOnceAfterTokens(long n) {
            this.failOnceAfterTokens = n;
            return this;
        }

        /**
         * A router file ({@code RouterFile}): requests with {@code "route": "auto"} get the adapters of the task
         * whose example prompts are nearest to theirs; null (the default): such requests are refused.
         */
        public Builder router(String file) {
            this.routerFile = file;
            return this;
        }

        public GenerationSettings build() {
            if (maxBatch < 1 || maxQueued < 1) {
                throw new IllegalArgumentException("maxBatch and maxQueued must be positive");
            }
            return new GenerationSettings(this);
        }
    }
}
