package io.flinklora.gpu.cli;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.flinklora.annotation.PublicEvolving;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.lora.AdapterSettings;
import io.flinklora.gpu.lora.LoraStrategy;
import io.flinklora.gpu.model.GenerationDefaults;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.ModelFormatException;
import io.flinklora.gpu.sampling.RequestLimits;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Option;

/**
 * The engine's options, declared once: generate.sh, the streaming job and the labelling job mix
 * them in ({@code @Mixin}). Defaults are the engine's own ({@link EngineConfig}, {@link
 * AdapterSettings#DEFAULT}, {@link RequestLimits#DEFAULT}); paths are strings because a job's paths
 * are read on its task managers.
 */
@PublicEvolving
public final class EngineOptions implements Serializable {
    private static final long serialVersionUID = 1L;

    /** A job's engines take their slot's GPU when Flink's GPU resource gives one, else the CPU. */
    public static final String DEFAULT_DEVICE = "auto";

    @Option(
            names = "--model",
            order = 10,
            paramLabel = "DIR",
            description =
                    "Hugging Face model folder "
                            + "(config.json, model.safetensors, tokenizer.json; required)")
    public String model;

    @Option(
            names = "--adapters",
            order = 11,
            paramLabel = "DIR",
            description = "folder of PEFT adapters, served by " + "sub-folder name")
    public String adapters;

    @Option(
            names = "--device",
            order = 12,
            paramLabel = "auto|cpu|gpu",
            converter = CliOptions.DeviceChoice.class,
            description =
                    "where engines run; auto (jobs only): the slot's GPU when Flink's GPU resource gives one, "
                            + "else the CPU (default ${DEFAULT-VALUE})")
    public String device = DEFAULT_DEVICE;

    @Option(
            names = "--dtype",
            order = 13,
            paramLabel = "float32|float16|bfloat16",
            converter = CliOptions.Dtype.class,
            description =
                    "compute dtype (default float32 on cpu, float16 on gpu; bfloat16 needs the JNI of "
                            + "scripts/build-jni.sh, in a job on every task manager)")
    public String dtype;

    @Option(
            names = "--max-batch",
            order = 14,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description =
                    "sequences decoding together per engine, 1 = one at a time (default ${DEFAULT-VALUE})")
    public int maxBatch = EngineConfig.DEFAULT_MAX_RUNNING;

    @Option(
            names = "--max-tokens-per-step",
            order = 15,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description = "tokens per forward pass at most (default ${DEFAULT-VALUE})")
    public int maxTokensPerStep = EngineConfig.DEFAULT_MAX_TOKENS_PER_STEP;

    @Option(
            names = "--max-seq-len",
            order = 16,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description = "prompt + generated tokens at most (default: the model's context)")
    public int maxSeqLen = Integer.MAX_VALUE;

    @Option(
            names = "--kv-cache-mib",
            order = 17,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description =
                    "KV cache budget per engine in MiB (default: max batch sequences at max seq len)")
    public int kvCacheMib = -1;

    @Option(
            names = "--kv-slots",
            order = 18,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description =
                    "KV cache budget in whole sequences of max seq len (when no --kv-cache-mib)")
    public int kvSlots = -1;

    @Option(
            names = "--kv-block-size",
            order = 19,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description = "positions per KV block (default ${DEFAULT-VALUE})")
    public int kvBlockSize = EngineConfig.DEFAULT_KV_BLOCK_SIZE;

    public boolean prefixCaching = EngineConfig.DEFAULT_PREFIX_CACHING;

    @Option(
            names = "--adapters-on-device",
            order = 21,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description = "adapters resident on the device per engine (default ${DEFAULT-VALUE})")
    public int adaptersOnDevice = AdapterSettings.DEFAULT.maxOnDevice();

    @Option(
            names = "--adapters-in-memory",
            order = 22,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description = "adapters kept in host memory per engine (default ${DEFAULT-VALUE})")
    public int adaptersInMemory = AdapterSettings.DEFAULT.maxLoaded();

    public List<String> preload = AdapterSettings.DEFAULT.preload();

    @Option(
            names = "--lora-strategy",
            order = 24,
            paramLabel = "pooled|segmented|gathered|loop",
            converter = CliOptions.Strategy.class,
            description = "how mixed-adapter batches compute LoRA (default ${DEFAULT-VALUE})")
    public String loraStrategy = AdapterSettings.DEFAULT.strategy().name().toLowerCase(Locale.ROOT);

    @Option(
            names = "--max-prompt-tokens",
            order = 25,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description = "prompt tokens per request at most (default ${DEFAULT-VALUE})")
    public int maxPromptTokens = RequestLimits.DEFAULT.maxPromptTokens();

    @Option(
            names = "--max-new-tokens",
            order = 26,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description = "max_new_tokens per request at most (default ${DEFAULT-VALUE})")
    public int maxNewTokens = RequestLimits.DEFAULT.maxNewTokens();

    @Option(
            names = "--max-stop-strings",
            order = 27,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description = "stop strings per request at most (default ${DEFAULT-VALUE})")
    public int maxStopStrings = RequestLimits.DEFAULT.maxStopStrings();

    @Option(
            names = "--max-adapters",
            order = 28,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description = "adapters mixed in one request at most (default ${DEFAULT-VALUE})")
    public int maxAdapters = RequestLimits.DEFAULT.maxAdapters();

    @Option(
            names = "--prefix-caching",
            order = 20,
            paramLabel = "on|off",
            converter = CliOptions.OnOff.class,
            description =
                    "share KV blocks of identical prompt prefixes with the same adapters, e.g. a shared "
                            + "instruction prefilled once per adapter mix (default on)")
    void prefixCaching(String v) {
        prefixCaching = v.equals("on");
    }

    /** Null: the engine's default for the device (on for a CPU, off for a GPU). */
    public Boolean decodeKvCopy;

    @Option(
            names = "--decode-kv-copy",
            order = 20,
            paramLabel = "on|off",
            converter = CliOptions.OnOff.class,
            description =
                    "decode steps read a contiguous copy of the decoding sequences' keys and values"
                            + " (at most the KV pool's size again) instead of gathering their blocks"
                            + " (default on for a CPU, off for a GPU)")
    void decodeKvCopy(String v) {
        decodeKvCopy = v.equals("on");
    }

    public boolean modelGenerationDefaults = true;

    @Option(
            names = "--generation-config",
            order = 29,
            paramLabel = "model|engine",
            converter = CliOptions.GenerationConfig.class,
            description =
                    "defaults of request fields left unset: the model folder's generation_config.json"
                            + " as transformers' generate applies it (a field the engine cannot apply"
                            + " refuses the model), or the engine's own (greedy, 64 new tokens; the"
                            + " file's fields other than eos_token_id ignored) (default model)")
    void generationConfig(String v) {
        modelGenerationDefaults = v.equals("model");
    }

    @Option(
            names = "--preload",
            order = 23,
            paramLabel = "a,b",
            description = "adapters to load at start")
    void preload(String v) {
        preload = v.isEmpty() ? List.of() : List.of(v.split(","));
    }

    /**
     * Refuses, before a job is built, a model folder whose config.json or generation defaults the
     * engine would refuse on every task (IllegalArgumentException naming the field). Only where the
     * folder is readable here: a cluster's client may not see the TaskManagers' paths, and there
     * the operator fails the job once instead.
     */
    public void checkModelFiles() {
        Path dir = Path.of(model);
        if (!java.nio.file.Files.isRegularFile(dir.resolve("config.json"))) {
            return;
        }
        try {
            ModelConfig.read(dir);
            if (modelGenerationDefaults) {
                GenerationDefaults.load(dir);
            }
        } catch (ModelFormatException e) {
            throw new IllegalArgumentException("--model " + model + ": " + e.getMessage(), e);
        }
    }

    /**
     * The engine configuration these options describe, unbuilt. The device is set only when named:
     * with {@code auto} the caller chooses it (a job, per slot; the builder's default is the CPU).
     */
    public EngineConfig.Builder engineConfig() {
        EngineConfig.Builder b =
                EngineConfig.builder(Path.of(model))
                        .maxRunning(maxBatch)
                        .maxTokensPerStep(maxTokensPerStep)
                        .maxSequenceLength(maxSeqLen)
                        .kvBlockSize(kvBlockSize)
                        .prefixCaching(prefixCaching)
                        .modelGenerationDefaults(modelGenerationDefaults)
                        .adapters(adapterSettings())
                        .limits(limits());
        if (adapters != null && !adapters.isEmpty()) {
            b.adapterRoot(Path.of(adapters));
        }
        if (!device.equals(DEFAULT_DEVICE)) {
            b.device(device.equals("gpu") ? Device.gpu() : Device.cpu());
        }
        if (dtype != null) {
            b.dtype(DataType.valueOf(dtype.toUpperCase(Locale.ROOT)));
        }
        if (decodeKvCopy != null) {
            b.decodeKvCopy(decodeKvCopy);
        }
        if (kvSlots > 0) {
            b.kvSlots(kvSlots);
        }
        if (kvCacheMib > 0) {
            b.kvCacheBytes((long) kvCacheMib << 20);
        }
        return b;
    }

    // The registry refuses fewer adapters in memory than on the device; --adapters-on-device alone
    // raises both.
    private AdapterSettings adapterSettings() {
        return new AdapterSettings(
                adaptersOnDevice,
                AdapterSettings.DEFAULT.maxDeviceBytes(),
                Math.max(adaptersInMemory, adaptersOnDevice),
                preload,
                LoraStrategy.valueOf(loraStrategy.toUpperCase(Locale.ROOT)));
    }

    private RequestLimits limits() {
        return new RequestLimits(
                maxPromptTokens,
                maxNewTokens,
                maxStopStrings,
                RequestLimits.DEFAULT.maxStopStringLength(),
                maxAdapters);
    }

    /** The options as {@code name=value} words, for a job's log line (nothing here is secret). */
    @Override
    public String toString() {
        return "model="
                + model
                + " adapters="
                + adapters
                + " device="
                + device
                + (dtype != null ? " dtype=" + dtype : "")
                + " max-batch="
                + maxBatch;
    }
}
