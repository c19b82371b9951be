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
 * travels with the job graph. Build with {@link #builder(String)}.
 */
public final class GenerationSettings implements Serializable {
    private static final long serialVersionUID = 1L;

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
    final int adaptersOnDevice;
    final int adaptersInMemory;
    final List<String> preload;
    final String loraStrategy;
    final int maxPromptTokens;
    final int maxNewTokens;
    final int maxStopStrings;
    final int maxStopStringLength;
    final int maxAdapters;
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
        this.adaptersOnDevice = b.adaptersOnDevice;
        this.adaptersInMemory = b.adaptersInMemory;
        this.preload = List.copyOf(b.preload);
        this.loraStrategy = b.loraStrategy;
        this.maxPromptTokens = b.maxPromptTokens;
        this.maxNewTokens = b.maxNewTokens;
        this.maxStopStrings = b.maxStopStrings;
        this.maxStopStringLength = b.maxStopStringLength;
        this.maxAdapters = b.maxAdapters;
        this.failOnceAfterTokens = b.failOnceAfterTokens;
        this.routerFile = b.routerFile;
    }

    public static Builder builder(String modelDir) {
        return new Builder(modelDir);
    }

    /** The engine configuration, with the device chosen on the task manager (a GPU if asked for and present). */
    EngineConfig engineConfig(Device chosen) {
        EngineConfig.Builder b = EngineConfig.builder(Path.of(modelDir)).device(chosen).maxRunning(maxBatch)
                .maxTokensPerStep(Math.max(maxTokensPerStep, maxBatch)).maxSequenceLength(maxSequenceLength)
                .limits(new RequestLimits(maxPromptTokens, maxNewTokens, maxStopStrings, maxStopStringLength, maxAdapters))
                .adapters(new AdapterSettings(adaptersOnDevice, 1L << 32, Math.max(adaptersInMemory, adaptersOnDevice),
                        preload, LoraStrategy.valueOf(loraStrategy)));
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

    /** Builder with the defaults of the streaming job. */
    public static final class Builder {
        private final String modelDir;
        private String adapterRoot;
        private String device = "auto";
        private String dtype;
        private int maxBatch = 32;
        private int maxTokensPerStep = 512;
        private int kvSlots = -1;
        private int kvCacheMib = -1;
        private int kvBlockSize = 16;
        private boolean prefixCaching = true;
        private int maxSequenceLength = Integer.MAX_VALUE;
        private int maxQueued = 64;
        private int adaptersOnDevice = 16;
        private int adaptersInMemory = 64;
        private List<String> preload = List.of();
        private String loraStrategy = AdapterSettings.DEFAULT.strategy().name();
        private int maxPromptTokens = 1 << 16;
        private int maxNewTokens = 1 << 16;
        private int maxStopStrings = 16;
        private int maxStopStringLength = 256;
        private int maxAdapters = 8;
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
            this.adaptersOnDevice = n;
            return this;
        }

        public Builder adaptersInMemory(int n) {
            this.adaptersInMemory = n;
            return this;
        }

        public Builder preload(List<String> names) {
            this.preload = List.copyOf(names);
            return this;
        }

        public Builder loraStrategy(String s) {
            this.loraStrategy = s.toUpperCase(java.util.Locale.ROOT);
            return this;
        }

        public Builder limits(int promptTokens, int newTokens, int stopStrings, int stopStringLength, int adapters) {
            this.maxPromptTokens = promptTokens;
            this.maxNewTokens = newTokens;
            this.maxStopStrings = stopStrings;
            this.maxStopStringLength = stopStringLength;
            this.maxAdapters = adapters;
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
            LoraStrategy.valueOf(loraStrategy);
            return new GenerationSettings(this);
        }
    }
}
