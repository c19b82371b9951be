package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A burst of requests for many adapters does not read them all into host memory at once: the loader
 * keeps at most {@link AdapterRegistry#STAGED_LOADS} loaded adapters waiting for the engine to
 * upload them.
 */
class AdapterRegistryStagingTest {
    private static final int ADAPTERS = 10;

    @TempDir Path root;

    @Test
    void loadsWaitingForUploadAreBoundedAndUploadsLetTheRestLoad() throws Exception {
        ModelConfig c = writeAdapters();
        try (NDManager device = NDManager.newBaseManager();
                AdapterRegistry r = registry(c, device)) {
            List<AdapterRegistry.Version> leased = leaseAll(r);
            awaitLoaded(leased, AdapterRegistry.STAGED_LOADS);
            Thread.sleep(300); // the loader would go on here if it were not bounded
            assertEquals(
                    AdapterRegistry.STAGED_LOADS,
                    loaded(leased),
                    "no upload yet: only the staged loads ran");

            // The engine uploads what has loaded; each upload lets another load start.
            long deadline = System.nanoTime() + 30_000_000_000L;
            int ready = 0;
            while (ready < ADAPTERS && System.nanoTime() < deadline) {
                ready = 0;
                for (AdapterRegistry.Version v : leased) {
                    if (r.ready(v) == AdapterRegistry.Readiness.READY) {
                        ready++;
                    }
                }
                Thread.sleep(5);
            }
            assertEquals(ADAPTERS, ready, "every adapter loaded and uploaded in the end");
        }
    }

    @Test
    void aLoadedAdapterNobodyLeasesAnyMoreFreesItsStagingPermit() throws Exception {
        ModelConfig c = writeAdapters();
        try (NDManager device = NDManager.newBaseManager();
                AdapterRegistry r = registry(c, device)) {
            List<AdapterRegistry.Version> leased = leaseAll(r);
            awaitLoaded(leased, AdapterRegistry.STAGED_LOADS);
            // Requests cancelled before their adapters reached the device: never uploaded.
            for (AdapterRegistry.Version v : leased) {
                if (v.future.isDone()) {
                    r.release(v);
                }
            }
            awaitLoaded(leased, 2 * AdapterRegistry.STAGED_LOADS);
        }
    }

    private AdapterRegistry registry(ModelConfig c, NDManager device) {
        return AdapterRegistry.builder(root, c, device, DataType.FLOAT32)
                .maxOnDevice(ADAPTERS)
                .maxLoaded(ADAPTERS)
                .build();
    }

    /** A burst of requests naming every adapter at once. */
    private static List<AdapterRegistry.Version> leaseAll(AdapterRegistry r) {
        List<AdapterRegistry.Version> leased = new ArrayList<>();
        for (int i = 0; i < ADAPTERS; i++) {
            leased.add(r.acquire("a" + i));
        }
        return leased;
    }

    private ModelConfig writeAdapters() throws Exception {
        ModelConfig c = ModelConfig.read(TestModels.stories260k());
        for (int i = 0; i < ADAPTERS; i++) {
            new PeftWriter(c)
                    .rank(4)
                    .alpha(8)
                    .targets(EnumSet.of(Projection.Q, Projection.V))
                    .write(root.resolve("a" + i), 100 + i, 0.3, 0.3);
        }
        return c;
    }

    private static int loaded(List<AdapterRegistry.Version> vs) {
        int n = 0;
        for (AdapterRegistry.Version v : vs) {
            if (v.future.isDone()) {
                n++;
            }
        }
        return n;
    }

    private static void awaitLoaded(List<AdapterRegistry.Version> vs, int n) throws Exception {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (loaded(vs) < n && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertTrue(loaded(vs) >= n, "expected " + n + " loads, got " + loaded(vs));
    }
}
