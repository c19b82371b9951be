package io.flinklora.gpu.lora;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flinklora.gpu.model.LinearModule;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.safetensors.WeightIndex;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One PEFT LoRA adapter loaded for serving: per adapted projection, {@code A [r, in]} and
 * {@code B [out, r]} with the adapter's scale already folded into B, so a delta is two products.
 *
 * <p>Its weights live either on the device (ready to serve) or as host copies (evicted); the
 * registry moves it between the two. Ranks are whatever the files hold, module by module.
 */
public final class LoraAdapter implements AutoCloseable {
    private static final String[] PREFIXES = {"base_model.model.", "base_model.", ""};

    private final String name;
    private final long version;
    private final AdapterConfig config;
    private final Module[][] modules;
    private final long bytes;
    private AdapterPool placedIn;

    /** One adapted projection: host copies always, device arrays while resident. */
    static final class Module {
        final int rank;
        final int in;
        final int out;
        final float[] hostA;
        final float[] hostB;
        /** {@code lora_bias}: the bias of lora_B times the scale, or null. */
        final float[] hostBias;
        NDArray a;
        NDArray b;
        AdapterPool.RankPool pool;
        int slot = -1;

        Module(int rank, int in, int out, float[] hostA, float[] hostB, float[] hostBias) {
            this.rank = rank;
            this.in = in;
            this.out = out;
            this.hostA = hostA;
            this.hostB = hostB;
            this.hostBias = hostBias;
        }

        void place(AdapterPool.RankPool p, int s, NDArray viewA, NDArray viewB) {
            this.pool = p;
            this.slot = s;
            this.a = viewA;
            this.b = viewB;
        }

        void unplace() {
            this.pool = null;
            this.slot = -1;
            this.a = null;
            this.b = null;
        }
    }

    private LoraAdapter(String name, long version, AdapterConfig config, Module[][] modules, long bytes) {
        this.name = name;
        this.version = version;
        this.config = config;
        this.modules = modules;
        this.bytes = bytes;
    }

    /**
     * Reads and checks an adapter folder against the base model's shapes. The result holds host
     * copies only; {@link #upload} puts it on the device.
     */
    public static LoraAdapter read(String name, long version, Path dir, ModelConfig model) {
        AdapterConfig config = AdapterConfig.read(dir);
        config.checkModules(model, dir.resolve("adapter_config.json").toString());
        Path file = dir.resolve("adapter_model.safetensors");
        if (!Files.isRegularFile(file)) {
            throw new AdapterFormatException("no adapter_model.safetensors in " + dir
                    + " (only the safetensors format is read)");
        }
        try (WeightIndex w = WeightIndex.openFile(file); NDManager scratch = NDManager.newBaseManager(Device.cpu())) {
            Map<String, String> byKey = new HashMap<>();
            for (String t : w.names()) {
                byKey.put(normalize(t), t);
            }
            Set<String> consumed = new HashSet<>();
            Module[][] modules = new Module[model.numLayers()][Projection.values().length];
            long bytes = 0;
            for (int l = 0; l < model.numLayers(); l++) {
                for (LinearModule m : model.linearModules(l)) {
                    if (!config.matches(m.path())) {
                        continue;
                    }
                    String base = m.path();
                    String aName = byKey.get(base + ".lora_A.weight");
                    String bName = byKey.get(base + ".lora_B.weight");
                    if (aName == null || bName == null) {
                        throw new AdapterFormatException(file + ": missing tensor '" + base + ".lora_"
                                + (aName == null ? "A" : "B") + ".weight' for a target module");
                    }
                    int rank = config.rankOf(base);
                    int in = m.inFeatures();
                    int out = m.outFeatures();
                    check(file, aName, w.info(aName).shape(), rank, in);
                    check(file, bName, w.info(bName).shape(), out, rank);
                    float[] a = load(w, aName, scratch);
                    float[] b = load(w, bName, scratch);
                    consumed.add(aName);
                    consumed.add(bName);
                    float scale = (float) config.scaleOf(base);
                    for (int i = 0; i < b.length; i++) {
                        b[i] *= scale;
                    }
                    float[] bias = null;
                    if (config.loraBias()) {
                        String biasName = byKey.get(base + ".lora_B.bias");
                        if (biasName == null) {
                            throw new AdapterFormatException(file + ": lora_bias is true but tensor '" + base
                                    + ".lora_B.bias' is missing");
                        }
                        long[] shape = w.info(biasName).shape();
                        if (shape.length != 1 || shape[0] != out) {
                            throw new AdapterFormatException(file + ": tensor '" + biasName + "' has shape "
                                    + Arrays.toString(shape) + ", expected [" + out + "]");
                        }
                        bias = load(w, biasName, scratch);
                        consumed.add(biasName);
                        for (int i = 0; i < bias.length; i++) {
                            bias[i] *= scale;
                        }
                    }
                    // A fused module's delta B A x splits by output rows like its weight: each projection
                    // gets A and its rows of B (and of the bias).
                    for (LinearModule.Slice sl : m.slices()) {
                        float[] partB = Arrays.copyOfRange(b, sl.offset() * rank, (sl.offset() + sl.rows()) * rank);
                        float[] partBias = bias == null ? null
                                : Arrays.copyOfRange(bias, sl.offset(), sl.offset() + sl.rows());
                        float[] partA = m.slices().size() == 1 ? a : a.clone();
                        modules[l][sl.projection().ordinal()] = new Module(rank, in, sl.rows(), partA, partB, partBias);
                        bytes += 4L * (partA.length + partB.length + (partBias == null ? 0 : partBias.length));
                    }
                }
            }
            List<String> unused = new ArrayList<>();
            for (String t : w.names()) {
                if (!consumed.contains(t)) {
                    unused.add(t);
                }
            }
            if (!unused.isEmpty()) {
                Collections.sort(unused);
                throw new AdapterFormatException(file + ": tensor(s) " + (unused.size() > 8
                        ? unused.subList(0, 8) + " and " + (unused.size() - 8) + " more" : unused)
                        + " are not used by the adapter's config (a feature not implemented, or a config that"
                        + " does not match the weights); refusing rather than ignoring them");
            }
            return new LoraAdapter(name, version, config, modules, bytes);
        } catch (IOException e) {
            throw new AdapterFormatException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static float[] load(WeightIndex w, String name, NDManager scratch) throws IOException {
        try (NDArray a = w.load(name, scratch, DataType.FLOAT32)) {
            return a.toFloatArray();
        }
    }

    private static String normalize(String tensor) {
        String t = tensor.replace(".default.weight", ".weight").replace(".default.bias", ".bias");
        for (String prefix : PREFIXES) {
            if (t.startsWith(prefix + "model.layers.")) {
                return t.substring(prefix.length());
            }
        }
        return t;
    }

    private static void check(Path file, String tensor, long[] shape, long rows, long cols) {
        if (shape.length != 2 || shape[0] != rows || shape[1] != cols) {
            throw new AdapterFormatException(file + ": tensor '" + tensor + "' has shape " + Arrays.toString(shape)
                    + ", expected [" + rows + ", " + cols + "] (rank from the config, size from the base model)");
        }
    }

    /** Copies the adapter into device pool slots; false when a pool has no free slot. */
    synchronized boolean upload(AdapterPool pool) {
        if (placedIn != null) {
            return true;
        }
        if (!pool.place(this)) {
            return false;
        }
        placedIn = pool;
        return true;
    }

    /** Frees the device slots, keeping the host copies. */
    public synchronized void evictFromDevice() {
        if (placedIn != null) {
            placedIn.free(this);
            placedIn = null;
        }
    }

    public synchronized boolean onDevice() {
        return placedIn != null;
    }

    /** The module of (layer, projection), or null when this adapter leaves it alone. */
    Module module(int layer, Projection p) {
        return modules[layer][p.ordinal()];
    }

    public String name() {
        return name;
    }

    /** Distinguishes reloads of the same name after its files changed. */
    public long version() {
        return version;
    }

    public AdapterConfig config() {
        return config;
    }

    /** Bytes of the adapter's weights (float32 host copies; the device copy is the same or smaller). */
    public long bytes() {
        return bytes;
    }

    /** Rank of (layer, projection), or 0 when not adapted. */
    public int rank(int layer, Projection p) {
        Module m = modules[layer][p.ordinal()];
        return m == null ? 0 : m.rank;
    }

    /** Whether any module carries a {@code lora_bias}, which a weight-only merge cannot fold in. */
    public boolean hasBias() {
        for (Module[] layer : modules) {
            for (Module m : layer) {
                if (m != null && m.hostBias != null) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The scaled delta {@code scale * B A} of one projection as a host matrix [out, in], for merge tools. */
    public float[] delta(int layer, Projection p) {
        Module m = modules[layer][p.ordinal()];
        if (m == null) {
            return null;
        }
        float[] d = new float[m.out * m.in];
        for (int o = 0; o < m.out; o++) {
            for (int k = 0; k < m.rank; k++) {
                float bv = m.hostB[o * m.rank + k];
                if (bv == 0) {
                    continue;
                }
                int aRow = k * m.in;
                int dRow = o * m.in;
                for (int i = 0; i < m.in; i++) {
                    d[dRow + i] += bv * m.hostA[aRow + i];
                }
            }
        }
        return d;
    }

    @Override
    public void close() {
        evictFromDevice();
    }

    @Override
    public String toString() {
        return "LoraAdapter[" + name + " v" + version + ", " + (bytes >> 10) + " KiB]";
    }
}
