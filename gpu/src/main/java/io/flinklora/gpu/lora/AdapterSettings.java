package io.flinklora.gpu.lora;

import io.flinklora.annotation.PublicEvolving;
import java.util.List;

/**
 * How an engine serves adapters.
 *
 * @param maxOnDevice adapters resident on the device at most
 * @param maxDeviceBytes bytes of adapters resident on the device at most
 * @param maxLoaded adapters kept in host memory at most (the rest are re-read from disk)
 * @param preload adapters loaded at start
 * @param strategy how the LoRA part of a mixed batch is computed
 */
@PublicEvolving
public record AdapterSettings(
        int maxOnDevice,
        long maxDeviceBytes,
        int maxLoaded,
        List<String> preload,
        LoraStrategy strategy)
        implements java.io.Serializable {
    /**
     * The defaults of the engine, the streaming job, the labelling job and generate.sh alike. 32 on
     * the device: a full default batch ({@code EngineConfig.DEFAULT_MAX_RUNNING}) of distinct
     * adapters runs in one pass; with 16, a batch over many adapters ran about 19 rows a step
     * instead of 29 and took 1.5x the steps (`scripts/bench.sh peer`, many adapters).
     */
    public static final AdapterSettings DEFAULT =
            new AdapterSettings(32, 1L << 30, 64, List.of(), LoraStrategy.POOLED);

    public AdapterSettings {
        preload = List.copyOf(preload);
    }

    public AdapterSettings withMaxOnDevice(int n) {
        return new AdapterSettings(n, maxDeviceBytes, Math.max(maxLoaded, n), preload, strategy);
    }

    public AdapterSettings withStrategy(LoraStrategy s) {
        return new AdapterSettings(maxOnDevice, maxDeviceBytes, maxLoaded, preload, s);
    }

    public AdapterSettings withPreload(List<String> names) {
        return new AdapterSettings(maxOnDevice, maxDeviceBytes, maxLoaded, names, strategy);
    }

    public AdapterSettings withMaxLoaded(int n) {
        return new AdapterSettings(maxOnDevice, maxDeviceBytes, n, preload, strategy);
    }
}
