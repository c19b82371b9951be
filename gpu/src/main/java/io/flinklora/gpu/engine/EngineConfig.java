package io.flinklora.gpu.engine;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.flinklora.annotation.PublicEvolving;
import io.flinklora.gpu.lora.AdapterSettings;
import io.flinklora.gpu.safetensors.NativeDtypes;
import io.flinklora.gpu.sampling.RequestLimits;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.nio.file.Path;

/**
 * Settings of one {@link Engine}; build with {@link #builder(Path)}.
 *
 * @param maxRunning sequences decoding together at most (the batch size)
 * @param maxTokensPerStep tokens one forward pass computes at most (decodes plus prefill chunks)
 * @param kvSlots KV cache budget in whole sequences of maxSequenceLength positions, used when
 *     kvCacheBytes is not set (default: maxRunning, which can hold every running sequence at full
 *     length)
 * @param maxSequenceLength prompt plus generated tokens of one sequence at most (capped at the
 *     model's context)
 * @param adapterRoot folder of PEFT adapters served by name, or null for base-model only
 * @param adapters how adapters are cached and computed
 * @param reuseKvCache false recomputes every sequence from scratch each step (benchmark baseline
 *     only)
 * @param kvCacheBytes device bytes of the KV block pool, or 0 to size it by kvSlots
 * @param kvBlockSize positions per KV block
 * @param prefixCaching whether full KV blocks are shared between sequences with the same prefix and
 *     adapters
 * @param modelGenerationDefaults whether request fields left unset take the model folder's
 *     generation defaults ({@code generation_config.json}, as transformers' generate); false: the
 *     engine's defaults, the file's other fields ignored
 * @param decodeKvCopy whether decoding sequences keep a contiguous copy of their keys and values
 *     beside the block pool (at most the pool's size again), which decode steps read in place
 *     instead of gathering every row's blocks each layer; default on for CPUs, off for GPUs, where
 *     device memory is the KV budget
 */
@PublicEvolving
public record EngineConfig(
        Path modelDir,
        Device device,
        DataType dtype,
        int maxRunning,
        int maxTokensPerStep,
        int kvSlots,
        int maxSequenceLength,
        RequestLimits limits,
        Path adapterRoot,
        AdapterSettings adapters,
        boolean reuseKvCache,
        long kvCacheBytes,
        int kvBlockSize,
        boolean prefixCaching,
        boolean modelGenerationDefaults,
        boolean decodeKvCopy) {
    /**
     * Defaults, defined here once: the job's, the labelling job's and the tools' options start from
     * them.
     */
    public static final int DEFAULT_MAX_RUNNING = 32;

    public static final int DEFAULT_MAX_TOKENS_PER_STEP = 512;
    public static final int DEFAULT_KV_BLOCK_SIZE = 16;
    public static final boolean DEFAULT_PREFIX_CACHING = true;

    public static Builder builder(Path modelDir) {
        return new Builder(modelDir);
    }

    /**
     * Builder with defaults: float32 on CPU, float16 on a GPU (bfloat16 on request, given a JNI
     * that has it). Serializable, unbuilt, so that a Flink job graph carries the settings to the
     * task managers: there the device is chosen per slot, and the dtype default and the bfloat16
     * check depend on that machine.
     */
    public static final class Builder implements Serializable {
        private static final long serialVersionUID = 1L;

        // Path and Device are not serializable: written as strings by writeObject.
        private transient Path modelDir;
        private transient Device device;
        private DataType dtype;
        private int maxRunning = DEFAULT_MAX_RUNNING;
        private int maxTokensPerStep = DEFAULT_MAX_TOKENS_PER_STEP;
        private int kvSlots = -1;
        private int maxSequenceLength = Integer.MAX_VALUE;
        private RequestLimits limits = RequestLimits.DEFAULT;
        private transient Path adapterRoot;
        private boolean reuseKvCache = true;
        private AdapterSettings adapters = AdapterSettings.DEFAULT;
        private long kvCacheBytes;
        private int kvBlockSize = DEFAULT_KV_BLOCK_SIZE;
        private boolean prefixCaching = DEFAULT_PREFIX_CACHING;
        private boolean modelGenerationDefaults = true;
        private Boolean decodeKvCopy; // null: on for a CPU, off for a GPU

        private Builder(Path modelDir) {
            this.modelDir = modelDir;
        }

        /** An independent builder with the same settings (a shared one would see later changes). */
        public Builder copy() {
            Builder b = new Builder(modelDir);
            b.device = device;
            b.dtype = dtype;
            b.maxRunning = maxRunning;
            b.maxTokensPerStep = maxTokensPerStep;
            b.kvSlots = kvSlots;
            b.maxSequenceLength = maxSequenceLength;
            b.limits = limits;
            b.adapterRoot = adapterRoot;
            b.reuseKvCache = reuseKvCache;
            b.adapters = adapters;
            b.kvCacheBytes = kvCacheBytes;
            b.kvBlockSize = kvBlockSize;
            b.prefixCaching = prefixCaching;
            b.modelGenerationDefaults = modelGenerationDefaults;
            b.decodeKvCopy = decodeKvCopy;
            return b;
        }

        public Builder device(Device device) {
            this.device = device;
            return this;
        }

        public Builder dtype(DataType dtype) {
            this.dtype = dtype;
            return this;
        }

        public Builder maxRunning(int n) {
            this.maxRunning = n;
            return this;
        }

        public Builder maxTokensPerStep(int n) {
            this.maxTokensPerStep = n;
            return this;
        }

        /**
         * KV budget as whole sequences of maxSequenceLength positions (ignored when kvCacheBytes is
         * set).
         */
        public Builder kvSlots(int n) {
            this.kvSlots = n;
            return this;
        }

        /** KV budget in device bytes: the block pool holds as many blocks as fit. */
        public Builder kvCacheBytes(long bytes) {
            this.kvCacheBytes = bytes;
            return this;
        }

        public Builder kvBlockSize(int positions) {
            this.kvBlockSize = positions;
            return this;
        }

        /** Turns automatic prefix caching off (every request prefills its whole prompt). */
        public Builder prefixCaching(boolean on) {
            this.prefixCaching = on;
            return this;
        }

        /**
         * Whether unset request fields take the model folder's generation defaults (default true);
         * false serves a model whose generation_config.json has fields the engine cannot apply.
         */
        public Builder modelGenerationDefaults(boolean apply) {
            this.modelGenerationDefaults = apply;
            return this;
        }

        /**
         * Whether decoding sequences keep a contiguous copy of their keys and values that decode
         * steps read in place (default: on for a CPU, off for a GPU); tokens are the same either
         * way.
         */
        public Builder decodeKvCopy(boolean on) {
            this.decodeKvCopy = on;
            return this;
        }

        public Builder maxSequenceLength(int n) {
            this.maxSequenceLength = n;
            return this;
        }

        public Builder limits(RequestLimits limits) {
            this.limits = limits;
            return this;
        }

        public Builder adapterRoot(Path root) {
            this.adapterRoot = root;
            return this;
        }

        public Builder adapters(AdapterSettings settings) {
            this.adapters = settings;
            return this;
        }

        /**
         * Turns KV cache reuse off: every step recomputes all tokens. Only a benchmark baseline
         * wants this.
         */
        public Builder reuseKvCache(boolean reuse) {
            this.reuseKvCache = reuse;
            return this;
        }

        public EngineConfig build() {
            if (maxRunning < 1) {
                throw new IllegalArgumentException("maxRunning must be at least 1");
            }
            Device d = device != null ? device : Device.cpu();
            // GPUs default to float16, not bfloat16: DJL's released JNI cannot create bfloat16
            // tensors.
            DataType t = dtype != null ? dtype : (d.isGpu() ? DataType.FLOAT16 : DataType.FLOAT32);
            if (t != DataType.FLOAT32 && t != DataType.FLOAT16 && t != DataType.BFLOAT16) {
                throw new IllegalArgumentException(
                        "compute dtype must be float32, float16 or bfloat16, not " + t);
            }
            // Refused here, before any tensor exists: the released JNI aborts the JVM on bfloat16.
            if (t == DataType.BFLOAT16
                    && !NativeDtypes.canCreate(ai.djl.engine.Engine.getEngine("PyTorch"), t)) {
                throw new IllegalArgumentException(
                        "bfloat16 compute is not available: " + NativeDtypes.BFLOAT16_HINT);
            }
            if (kvBlockSize < 1 || kvBlockSize > 1024) {
                throw new IllegalArgumentException(
                        "KV block size must be within 1..1024 positions, not " + kvBlockSize);
            }
            if (kvCacheBytes < 0) {
                throw new IllegalArgumentException("KV cache bytes must not be negative");
            }
            int slots = kvSlots > 0 ? kvSlots : maxRunning;
            int tokens = Math.max(maxTokensPerStep, maxRunning);
            return new EngineConfig(
                    modelDir,
                    d,
                    t,
                    maxRunning,
                    tokens,
                    slots,
                    maxSequenceLength,
                    limits,
                    adapterRoot,
                    adapters,
                    reuseKvCache,
                    kvCacheBytes,
                    kvBlockSize,
                    prefixCaching && reuseKvCache,
                    modelGenerationDefaults,
                    (decodeKvCopy != null ? decodeKvCopy : !d.isGpu()) && reuseKvCache);
        }

        private void writeObject(ObjectOutputStream out) throws IOException {
            out.defaultWriteObject();
            out.writeObject(modelDir == null ? null : modelDir.toString());
            out.writeObject(adapterRoot == null ? null : adapterRoot.toString());
            out.writeObject(device == null ? null : device.getDeviceType());
            out.writeInt(device == null ? 0 : device.getDeviceId());
        }

        private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
            in.defaultReadObject();
            String model = (String) in.readObject();
            String root = (String) in.readObject();
            String deviceType = (String) in.readObject();
            int deviceId = in.readInt();
            modelDir = model == null ? null : Path.of(model);
            adapterRoot = root == null ? null : Path.of(root);
            device = deviceType == null ? null : Device.of(deviceType, deviceId);
        }
    }
}
