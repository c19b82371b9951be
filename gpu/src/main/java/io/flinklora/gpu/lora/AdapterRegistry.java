package io.flinklora.gpu.lora;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import io.flinklora.gpu.model.ModelConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Adapters served by name from the sub-folders of one root: validates names, loads on first use on
 * a background thread (the running batch keeps decoding meanwhile), keeps a bounded set on the
 * device with LRU eviction to host memory and then to disk, and picks up changed files for new
 * requests while sequences already running keep the version they started with.
 *
 * <p>Called from one engine thread; only the disk loads run on the registry's loader thread, which
 * {@link #close()} stops.
 */
@Internal
public final class AdapterRegistry implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(AdapterRegistry.class);
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_-]{0,127}");

    private final Path root;
    private final ModelConfig model;
    private final BaseWeights baseWeights;
    private final AdapterPool pool;
    private final int maxOnDevice;
    private final long maxDeviceBytes;
    private final int maxLoaded;
    private final ExecutorService loader;
    // Loads read an adapter into host arrays that the engine thread then copies into the device
    // pool. Without a bound the loader reads every adapter a burst of requests names before the
    // first is uploaded, and the host copies of all of them (32 x 4.6 MB for the 110M benchmark)
    // add to peak memory; a few in flight keep the loader busy without that.
    static final int STAGED_LOADS = 4;
    private final Semaphore staging = new Semaphore(STAGED_LOADS);
    private final Map<String, Version> current = new HashMap<>();
    private final List<Version> versions = new ArrayList<>();
    private long clock;
    private long versionCounter;
    private long hits;
    private long misses;
    private long loads;
    private long loadNanos;
    private long evictions;
    private long drops;

    /** One loaded (or loading) version of an adapter's files. */
    public static final class Version {
        private static final java.util.concurrent.atomic.AtomicLong SERIALS =
                new java.util.concurrent.atomic.AtomicLong();
        final String name;
        // Unique per loaded version in this process: names the weights, for prefix-cache keys.
        final long serial = SERIALS.incrementAndGet();
        final Fingerprint fingerprint;
        final CompletableFuture<LoraAdapter> future;
        int leases;
        int running;
        long lastUsed;
        // Holds one of the registry's staging permits from the start of its load until it is
        // uploaded, its load fails or nobody leases it any more.
        boolean staged;

        Version(String name, Fingerprint fingerprint, CompletableFuture<LoraAdapter> future) {
            this.name = name;
            this.fingerprint = fingerprint;
            this.future = future;
        }

        LoraAdapter adapterOrNull() {
            return future.isDone() && !future.isCompletedExceptionally() ? future.join() : null;
        }

        public String name() {
            return name;
        }

        /** Unique among the versions this process loaded: another file content, another serial. */
        public long serial() {
            return serial;
        }
    }

    /** What a waiting sequence's adapter allows now. */
    public enum Readiness {
        /** On the device: the sequence may run. */
        READY,
        /** Still loading from disk: wait, without holding up others. */
        LOADING,
        /** Loaded, but every device slot holds an adapter with running sequences: wait in line. */
        NO_CAPACITY,
        /** The load failed: the request fails with ADAPTER_LOAD_FAILED. */
        FAILED
    }

    private record Fingerprint(
            long configModified, long configSize, long weightsModified, long weightsSize) {}

    /** Builder for a registry over one adapter root. */
    public static final class Builder {
        private final Path root;
        private final ModelConfig model;
        private final NDManager device;
        private final DataType dtype;
        private int maxOnDevice = AdapterSettings.DEFAULT.maxOnDevice();
        private long maxDeviceBytes = AdapterSettings.DEFAULT.maxDeviceBytes();
        private int maxLoaded = AdapterSettings.DEFAULT.maxLoaded();
        private List<String> preload = List.of();
        private BaseWeights baseWeights;

        private Builder(Path root, ModelConfig model, NDManager device, DataType dtype) {
            this.root = root;
            this.model = model;
            this.device = device;
            this.dtype = dtype;
        }

        /** Adapters resident on the device at most. */
        public Builder maxOnDevice(int n) {
            this.maxOnDevice = n;
            return this;
        }

        /** Bytes of adapters resident on the device at most. */
        public Builder maxDeviceBytes(long bytes) {
            this.maxDeviceBytes = bytes;
            return this;
        }

        /** Adapters kept in host memory at most (beyond it, unused ones are re-read from disk). */
        public Builder maxLoaded(int n) {
            this.maxLoaded = n;
            return this;
        }

        /** Adapters to load at start. */
        /** The base model's weights, which DoRA adapters need for their row norms. */
        public Builder baseWeights(BaseWeights weights) {
            this.baseWeights = weights;
            return this;
        }

        public Builder preload(List<String> names) {
            this.preload = List.copyOf(names);
            return this;
        }

        public AdapterRegistry build() {
            AdapterRegistry r = new AdapterRegistry(this);
            for (String name : preload) {
                Version v = r.acquire(name);
                r.release(v);
            }
            return r;
        }
    }

    public static Builder builder(Path root, ModelConfig model, NDManager device, DataType dtype) {
        return new Builder(root, model, device, dtype);
    }

    private AdapterRegistry(Builder b) {
        try {
            this.root = b.root.toRealPath();
        } catch (IOException e) {
            throw new IllegalArgumentException("adapter root " + b.root + " does not exist", e);
        }
        if (!Files.isDirectory(root)) {
            throw new IllegalArgumentException("adapter root " + b.root + " is not a folder");
        }
        if (b.maxOnDevice < 1 || b.maxLoaded < b.maxOnDevice) {
            throw new IllegalArgumentException("need 1 <= maxOnDevice <= maxLoaded");
        }
        this.model = b.model;
        this.baseWeights = b.baseWeights;
        this.pool = new AdapterPool(b.device, b.model, b.dtype, b.maxOnDevice);
        this.maxOnDevice = b.maxOnDevice;
        this.maxDeviceBytes = b.maxDeviceBytes;
        this.maxLoaded = b.maxLoaded;
        this.loader =
                Executors.newSingleThreadExecutor(
                        r -> {
                            Thread t = new Thread(r, "adapter-loader");
                            t.setDaemon(true);
                            return t;
                        });
    }

    /**
     * Takes a lease on the current version of an adapter, starting its load if needed. Throws
     * UNKNOWN_ADAPTER for a name that is not a plain identifier or not a folder inside the root.
     */
    public synchronized Version acquire(String name) {
        Path dir = resolve(name);
        Fingerprint fp = fingerprint(dir);
        Version v = current.get(name);
        if (v != null && v.fingerprint.equals(fp) && !v.future.isCompletedExceptionally()) {
            if (v.future.isDone()) {
                hits++;
            } else {
                misses++;
            }
        } else {
            misses++;
            long version = ++versionCounter;
            CompletableFuture<LoraAdapter> f = new CompletableFuture<>();
            Version fresh = new Version(name, fp, f);
            loader.execute(() -> stagedLoad(fresh, version, dir));
            Version old = current.put(name, fresh);
            versions.add(fresh);
            if (old != null) {
                retireIfUnused(old);
            }
            v = fresh;
        }
        v.leases++;
        v.lastUsed = ++clock;
        return v;
    }

    /** Runs on the loader thread: waits for a staging permit, then loads. */
    private void stagedLoad(Version v, long version, Path dir) {
        try {
            staging.acquire();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            v.future.completeExceptionally(new IllegalStateException("registry closed", e));
            return;
        }
        synchronized (this) {
            v.staged = true;
            if (v.leases == 0) {
                unstage(v); // leased and released before its load started: load it unstaged
            }
        }
        try {
            v.future.complete(load(v.name, version, dir));
        } catch (Throwable t) {
            v.future.completeExceptionally(t);
            synchronized (this) {
                unstage(v);
            }
        }
    }

    private void unstage(Version v) {
        if (v.staged) {
            v.staged = false;
            staging.release();
        }
    }

    private LoraAdapter load(String name, long version, Path dir) {
        long t0 = System.nanoTime();
        LoraAdapter a = LoraAdapter.read(name, version, dir, model, baseWeights);
        long nanos = System.nanoTime() - t0;
        synchronized (this) {
            loads++;
            loadNanos += nanos;
        }
        LOG.info(
                "Loaded adapter {} v{} ({} KiB) in {} ms",
                name,
                version,
                a.bytes() >> 10,
                nanos / 1_000_000);
        return a;
    }

    /**
     * Whether a leased version can run now, moving it onto the device if there is (or can be made)
     * room.
     */
    public synchronized Readiness ready(Version v) {
        if (!v.future.isDone()) {
            return Readiness.LOADING;
        }
        if (v.future.isCompletedExceptionally()) {
            return Readiness.FAILED;
        }
        LoraAdapter a = v.future.join();
        v.lastUsed = ++clock;
        if (a.onDevice()) {
            return Readiness.READY;
        }
        while (deviceCount() >= maxOnDevice || deviceBytes() + a.bytes() > maxDeviceBytes) {
            if (!evictOne()) {
                if (deviceCount() == 0) {
                    break; // a single adapter larger than the byte budget still gets served alone
                }
                return Readiness.NO_CAPACITY;
            }
        }
        if (!a.upload(pool)) {
            // A rank pool is full of adapters with running sequences (the count check covers the
            // usual case).
            if (!(evictOne() && a.upload(pool))) {
                return Readiness.NO_CAPACITY;
            }
        }
        unstage(v);
        return Readiness.READY;
    }

    /** The failure of a version whose load failed, for the error record. */
    public String failure(Version v) {
        try {
            v.future.join();
            return "";
        } catch (Exception e) {
            Throwable c = e.getCause() != null ? e.getCause() : e;
            return c.getMessage();
        }
    }

    /** The loaded adapter of a READY version. */
    public LoraAdapter adapter(Version v) {
        return v.future.join();
    }

    /**
     * Marks a sequence using {@code v} as running: the adapter stays on the device until it ends.
     */
    public synchronized void pin(Version v) {
        v.running++;
    }

    public synchronized void unpin(Version v) {
        v.running--;
    }

    /** Ends a lease; an old version nobody uses any more is freed. */
    public synchronized void release(Version v) {
        v.leases--;
        if (v.leases == 0) {
            unstage(v); // a host cache entry now, not a load someone waits for
        }
        if (current.get(v.name) != v) {
            retireIfUnused(v);
        }
        trimHost();
    }

    private void retireIfUnused(Version v) {
        if (v.leases == 0 && v.running == 0) {
            LoraAdapter a = v.adapterOrNull();
            if (a != null) {
                a.close();
            }
            versions.remove(v);
        }
    }

    private boolean evictOne() {
        Version victim = null;
        for (Version v : versions) {
            LoraAdapter a = v.adapterOrNull();
            if (a != null
                    && a.onDevice()
                    && v.running == 0
                    && (victim == null || v.lastUsed < victim.lastUsed)) {
                victim = v;
            }
        }
        if (victim == null) {
            return false;
        }
        victim.adapterOrNull().evictFromDevice();
        evictions++;
        return true;
    }

    private void trimHost() {
        while (loadedCount() > maxLoaded) {
            Version victim = null;
            for (Version v : versions) {
                if (v.adapterOrNull() != null
                        && v.leases == 0
                        && v.running == 0
                        && (victim == null || v.lastUsed < victim.lastUsed)) {
                    victim = v;
                }
            }
            if (victim == null) {
                return;
            }
            victim.adapterOrNull().close();
            versions.remove(victim);
            if (current.get(victim.name) == victim) {
                current.remove(victim.name);
            }
            drops++;
        }
    }

    private int deviceCount() {
        int n = 0;
        for (Version v : versions) {
            LoraAdapter a = v.adapterOrNull();
            if (a != null && a.onDevice()) {
                n++;
            }
        }
        return n;
    }

    private long deviceBytes() {
        long n = 0;
        for (Version v : versions) {
            LoraAdapter a = v.adapterOrNull();
            if (a != null && a.onDevice()) {
                n += a.bytes();
            }
        }
        return n;
    }

    private int loadedCount() {
        int n = 0;
        for (Version v : versions) {
            if (v.adapterOrNull() != null) {
                n++;
            }
        }
        return n;
    }

    /**
     * Checks a name and resolves it to its folder, refusing anything that could reach outside the
     * root.
     */
    Path resolve(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new RequestException(
                    ErrorCode.UNKNOWN_ADAPTER,
                    "adapter name "
                            + quote(name)
                            + " is not a plain identifier (letters, digits, '_' and '-')");
        }
        Path dir = root.resolve(name);
        if (!Files.isDirectory(dir)) {
            throw new RequestException(
                    ErrorCode.UNKNOWN_ADAPTER, "no adapter '" + name + "' under the adapter root");
        }
        try {
            for (Path p :
                    List.of(
                            dir,
                            dir.resolve("adapter_config.json"),
                            dir.resolve("adapter_model.safetensors"))) {
                if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)
                        && !p.toRealPath().startsWith(root)) {
                    throw new RequestException(
                            ErrorCode.UNKNOWN_ADAPTER,
                            "adapter '" + name + "' links outside the adapter root; refused");
                }
            }
        } catch (IOException e) {
            throw new RequestException(
                    ErrorCode.UNKNOWN_ADAPTER,
                    "adapter '" + name + "' cannot be read: " + e.getMessage());
        }
        return dir;
    }

    private static String quote(String s) {
        if (s == null) {
            return "null";
        }
        String shown = s.length() > 64 ? s.substring(0, 64) + "..." : s;
        return "'" + shown.replaceAll("[\\p{Cntrl}]", "?") + "'";
    }

    private static Fingerprint fingerprint(Path dir) {
        try {
            BasicFileAttributes c =
                    Files.readAttributes(
                            dir.resolve("adapter_config.json"), BasicFileAttributes.class);
            BasicFileAttributes w =
                    Files.readAttributes(
                            dir.resolve("adapter_model.safetensors"), BasicFileAttributes.class);
            return new Fingerprint(
                    c.lastModifiedTime().toMillis(),
                    c.size(),
                    w.lastModifiedTime().toMillis(),
                    w.size());
        } catch (IOException e) {
            return new Fingerprint(-1, -1, -1, -1);
        }
    }

    public synchronized AdapterStats stats() {
        return new AdapterStats(
                hits,
                misses,
                loads,
                loadNanos,
                evictions,
                drops,
                deviceCount(),
                deviceBytes(),
                loadedCount());
    }

    public Path root() {
        return root;
    }

    @Override
    public void close() {
        loader.shutdownNow();
        try {
            loader.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            for (Version v : versions) {
                LoraAdapter a = v.adapterOrNull();
                if (a != null) {
                    a.close();
                }
            }
            versions.clear();
            current.clear();
            pool.close();
        }
    }
}
