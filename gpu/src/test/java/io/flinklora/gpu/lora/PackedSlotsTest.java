package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A batch naming a few of many resident adapters, their device slots far apart (the pooled layout
 * then packs their weights instead of reading every slot between them), gets the deltas of the
 * one-row-at-a-time loop, on PEFT adapters saved by {@code save_pretrained}; and an adapter loaded
 * into a slot another one left reads its own weights, not a copy kept of the other's.
 */
class PackedSlotsTest {
    private static final Path CASE =
            TestModels.projectRoot().resolve("gpu/src/test/resources/conformance/llama_gqa_llama3");
    // Rank-4 adapters of the case, each with its own weights: fillers between the batch's slots.
    private static final List<String> RANK4 =
            List.of("plain", "exclude", "layers_subset", "lora_bias", "regex_target");

    @TempDir Path adapters;

    @Test
    void adaptersFarApartInTheirPoolsGetTheLoopsDeltas() throws Exception {
        // Slots of the rank-4 pool: plain 0, fillers 1-10, exclude 11, fillers 12-21, lora_bias 22.
        List<String> order = new ArrayList<>();
        order.add(copy("plain", "plain"));
        fillers(order, 0, 10);
        order.add(copy("exclude", "exclude"));
        fillers(order, 10, 10);
        order.add(copy("lora_bias", "lora_bias"));
        order.add(copy("rslora_all_linear", "rslora"));
        try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                LlamaModel model =
                        LlamaModel.load(CASE, manager, Device.cpu(), DataType.FLOAT32, 256);
                AdapterRegistry registry = registry(model, manager, 32)) {
            for (String name : order) {
                ready(registry, name);
            }
            int plainSlot = slot(registry, "plain");
            int biasSlot = slot(registry, "lora_bias");
            assertTrue(biasSlot - plainSlot >= 20, plainSlot + " .. " + biasSlot);
            // Decode rows of the three far-apart adapters and the rank-8 one, then the same
            // beside a 40-row chunk of one of them (which runs alone), base rows riding along.
            checkAgainstLoop(
                    model,
                    manager,
                    rows(registry, new String[] {"lora_bias", "plain", "exclude", "rslora"}, 1));
            List<AdapterMix> chunk =
                    rows(registry, new String[] {"lora_bias", "plain", "exclude", "rslora"}, 1);
            chunk.addAll(rows(registry, new String[] {"exclude"}, 40));
            checkAgainstLoop(model, manager, chunk);
        }
    }

    @Test
    void anAdapterLoadedIntoAFreedSlotIsReadNotTheAdapterBefore() throws Exception {
        // A capacity of 12: "plain" in slot 0, fillers 1-10, "exclude" in 11; "lora_bias" then
        // evicts the least recently used, "plain", and takes its slot.
        List<String> order = new ArrayList<>();
        order.add(copy("plain", "plain"));
        fillers(order, 0, 10);
        order.add(copy("exclude", "exclude"));
        copy("lora_bias", "lora_bias");
        try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                LlamaModel model =
                        LlamaModel.load(CASE, manager, Device.cpu(), DataType.FLOAT32, 256);
                AdapterRegistry registry = registry(model, manager, 12)) {
            for (String name : order) {
                AdapterRegistry.Version v = ready(registry, name);
                if (!name.equals("plain")) {
                    registry.pin(v); // running: only "plain" may be evicted
                }
            }
            int plainSlot = slot(registry, "plain");
            checkAgainstLoop(model, manager, rows(registry, new String[] {"plain", "exclude"}, 1));
            ready(registry, "lora_bias");
            assertEquals(plainSlot, slot(registry, "lora_bias"), "lora_bias reuses plain's slot");
            assertNotEquals(plainSlot, slot(registry, "exclude"));
            checkAgainstLoop(
                    model, manager, rows(registry, new String[] {"lora_bias", "exclude"}, 1));
        }
    }

    /** Every adapted projection of every layer: pooled deltas equal the loop's. */
    private static void checkAgainstLoop(
            LlamaModel model, NDManager manager, List<AdapterMix> adapted) {
        List<AdapterMix> rows = new ArrayList<>(adapted);
        rows.add(null);
        rows.add(null);
        Collections.shuffle(rows, new Random(3));
        ModelConfig c = model.config();
        int compared =
                LoopDeltas.assertSameAsLoop(c, manager, rows, LoraStrategy.POOLED, new Random(5));
        assertTrue(compared >= c.numLayers() * 2, compared + " adapted projections");
    }

    private AdapterRegistry registry(LlamaModel model, NDManager manager, int onDevice) {
        return AdapterRegistry.builder(adapters, model.config(), manager, DataType.FLOAT32)
                .baseWeights(BaseWeights.of(model))
                .maxOnDevice(onDevice)
                .build();
    }

    private List<AdapterMix> rows(AdapterRegistry registry, String[] names, int each)
            throws InterruptedException {
        List<AdapterMix> out = new ArrayList<>();
        for (String name : names) {
            AdapterRegistry.Version v = ready(registry, name);
            AdapterMix mix = new AdapterMix(List.of(new AdapterMix.Part(registry.adapter(v), 1.0)));
            for (int k = 0; k < each; k++) {
                out.add(mix);
            }
        }
        return out;
    }

    private static AdapterRegistry.Version ready(AdapterRegistry registry, String name)
            throws InterruptedException {
        AdapterRegistry.Version v = registry.acquire(name);
        AdapterRegistry.Readiness state;
        long deadline = System.nanoTime() + 60_000_000_000L;
        while ((state = registry.ready(v)) == AdapterRegistry.Readiness.LOADING
                && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals(AdapterRegistry.Readiness.READY, state, name + ": " + registry.failure(v));
        return v;
    }

    /** An adapter's slot in the rank-4 pool (one slot per pool for all its modules). */
    private static int slot(AdapterRegistry registry, String name) throws InterruptedException {
        AdapterRegistry.Version v = ready(registry, name);
        LoraAdapter a = registry.adapter(v);
        registry.release(v);
        for (int layer = 0; ; layer++) {
            for (Projection p : Projection.values()) {
                LoraAdapter.Module m = a.module(layer, p);
                if (m != null && m.rank == 4) {
                    return m.slot;
                }
            }
        }
    }

    /** {@code count} filler adapters, each a copy of one of the rank-4 adapters in turn. */
    private void fillers(List<String> order, int from, int count) throws IOException {
        for (int i = from; i < from + count; i++) {
            order.add(copy(RANK4.get(i % RANK4.size()), "filler" + i));
        }
    }

    private String copy(String fixture, String name) throws IOException {
        Path to = adapters.resolve(name);
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(CASE.resolve("adapters").resolve(fixture))) {
            for (Path f : files.toList()) {
                Files.copy(f, to.resolve(f.getFileName()));
            }
        }
        return name;
    }
}
