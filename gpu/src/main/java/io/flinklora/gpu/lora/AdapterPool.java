package io.flinklora.gpu.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flinklora.gpu.model.ExpertParameter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.model.Rows;
import java.util.HashMap;
import java.util.Map;

/**
 * Device memory for resident adapters: for each rank in use, and each projection of each layer, one
 * stacked tensor {@code A [slots, r, in]} and B transposed, {@code [slots, r, out]} (a row's delta
 * {@code t B^T} then reads B's rank rows whole: 20-25% faster batched products at two CPU threads
 * than a transposed view of {@code [slots, out, r]}, measured side by side). An adapter occupies
 * one slot of the pool of each rank it has, so a batch can gather every row's adapter weights with
 * one indexed read per projection instead of one operation per adapter. Ranks are never padded:
 * each rank gets its own pool, created when the first adapter of that rank arrives.
 */
final class AdapterPool implements AutoCloseable {
    private final NDManager manager;
    private final ModelConfig model;
    private final DataType dtype;
    private final int capacity;
    private final Map<Integer, RankPool> pools = new HashMap<>();
    private final ParameterPool parameters;

    /** The slots of one rank; tensors per (layer, projection) are allocated on first use. */
    static final class RankPool {
        final int rank;
        final NDArray[][] a;
        final NDArray[][] bT;
        final boolean[] used;
        // The last slot range a batch read of each (layer, projection), as {A^T, B^T} views: a
        // batch of the same adapters reads the same range every step, and two slices and a
        // transpose per adapted projection were 3 of its 8 native arrays per decode step.
        private final NDArray[][][] rangeViews;
        private final long[][] rangeKeys;
        // Placements into each slot so far: a packed copy of slots stays valid while none of them
        // has been placed into again (an eviction frees a slot, a later load reuses it).
        private final long[] placements;
        // The last packed slots each (layer, projection) read, as {A^T, B^T} copies with the slots
        // and their placement counts: a decode batch names the same adapters step after step.
        private final NDArray[][][] packedCopies;
        private final long[][][] packedKeys;

        RankPool(int rank, int layers, int capacity) {
            this.rank = rank;
            this.a = new NDArray[layers][Projection.values().length];
            this.bT = new NDArray[layers][Projection.values().length];
            this.used = new boolean[capacity];
            this.rangeViews = new NDArray[layers][Projection.values().length][];
            this.rangeKeys = new long[layers][Projection.values().length];
            this.placements = new long[capacity];
            this.packedCopies = new NDArray[layers][Projection.values().length][];
            this.packedKeys = new long[layers][Projection.values().length][];
        }

        /**
         * Views of slots {@code [first, first + slots)} of one projection's pools: {@code A^T
         * [slots, in, r]} and {@code B^T [slots, r, out]}. They outlive the step (the pool's
         * manager owns them) and are replaced when a batch reads another range; engine thread only.
         */
        NDArray[] range(int layer, Projection p, int first, int slots) {
            int i = p.ordinal();
            long key = ((long) first << 32) | slots;
            NDArray[] views = rangeViews[layer][i];
            if (views != null && rangeKeys[layer][i] == key) {
                return views;
            }
            if (views != null) {
                views[0].close();
                views[1].close();
            }
            NDIndex slice = new NDIndex(first + ":" + (first + slots));
            NDArray aSlice = a[layer][i].get(slice);
            views = new NDArray[] {aSlice.transpose(0, 2, 1), bT[layer][i].get(slice)};
            // Out of the step's scope: the pool's manager closes them (or the next range does).
            NDScope.unregister(aSlice);
            aSlice.close();
            NDScope.unregister(views[0]);
            NDScope.unregister(views[1]);
            rangeViews[layer][i] = views;
            rangeKeys[layer][i] = key;
            return views;
        }

        /**
         * Copies of the named slots of one projection's pools, in the order named: {@code A^T
         * [slots, in, r]} (a view of the copy) and {@code B^T [slots, r, out]}. Kept, like {@link
         * #range}, until a batch reads other slots or one of them is placed into again; one gather
         * per side when they are not. The copies are device memory outside the registry's byte
         * budget: at most one batch's adapters' worth per pool.
         */
        NDArray[] packed(int layer, Projection p, long[] slots) {
            int i = p.ordinal();
            long[] key = new long[2 * slots.length];
            for (int k = 0; k < slots.length; k++) {
                key[k] = slots[k];
                key[slots.length + k] = placements[(int) slots[k]];
            }
            NDArray[] copies = packedCopies[layer][i];
            if (copies != null && java.util.Arrays.equals(packedKeys[layer][i], key)) {
                return copies;
            }
            if (copies != null) {
                copies[0].close();
                copies[1].close();
            }
            try (NDManager tmp = a[layer][i].getManager().newSubManager()) {
                NDArray index = tmp.create(slots);
                NDArray aRows = Rows.of(a[layer][i], index);
                copies = new NDArray[] {aRows.transpose(0, 2, 1), Rows.of(bT[layer][i], index)};
                // Out of the step's scope and the temporary manager: the pool's manager owns them.
                for (NDArray c : copies) {
                    NDScope.unregister(c);
                    c.attach(a[layer][i].getManager());
                }
                NDScope.unregister(aRows);
                aRows.close();
            }
            packedCopies[layer][i] = copies;
            packedKeys[layer][i] = key;
            return copies;
        }
    }

    AdapterPool(NDManager parent, ModelConfig model, DataType dtype, int capacity) {
        this.manager = parent.newSubManager();
        this.model = model;
        this.dtype = dtype;
        this.capacity = capacity;
        this.parameters = new ParameterPool(manager, dtype, capacity);
    }

    /**
     * Copies an adapter's modules into free slots and points its modules at them; false if a pool
     * is full.
     */
    /**
     * A manager on the pool's device for an adapter's whole matrices; the adapter closes it on
     * eviction.
     */
    NDManager newExtrasManager() {
        return manager.newSubManager();
    }

    DataType dtype() {
        return dtype;
    }

    synchronized boolean place(LoraAdapter adapter) {
        Map<Integer, Integer> slots = new HashMap<>();
        for (int l = 0; l < model.numLayers(); l++) {
            for (Projection p : Projection.values()) {
                LoraAdapter.Module m = adapter.module(l, p);
                if (m != null && !slots.containsKey(m.rank)) {
                    int s =
                            freeSlot(
                                    pools.computeIfAbsent(
                                            m.rank,
                                            r -> new RankPool(r, model.numLayers(), capacity)));
                    if (s < 0) {
                        slots.forEach((r, used) -> pools.get(r).used[used] = false);
                        return false;
                    }
                    pools.get(m.rank).used[s] = true;
                    pools.get(m.rank).placements[s]++;
                    slots.put(m.rank, s);
                }
            }
        }
        for (int l = 0; l < model.numLayers(); l++) {
            for (Projection p : Projection.values()) {
                LoraAdapter.Module m = adapter.module(l, p);
                if (m == null) {
                    continue;
                }
                RankPool pool = pools.get(m.rank);
                int slot = slots.get(m.rank);
                int i = p.ordinal();
                if (pool.a[l][i] == null) {
                    pool.a[l][i] = manager.zeros(new Shape(capacity, m.rank, m.in), dtype);
                    pool.bT[l][i] = manager.zeros(new Shape(capacity, m.rank, m.out), dtype);
                }
                try (NDManager tmp = manager.newSubManager()) {
                    pool.a[l][i].set(
                            new NDIndex(slot),
                            tmp.create(m.a(), new Shape(m.rank, m.in)).toType(dtype, false));
                    pool.bT[l][i].set(
                            new NDIndex(slot),
                            tmp.create(m.b(), new Shape(m.out, m.rank))
                                    .transpose()
                                    .toType(dtype, false));
                }
                // Persistent views of the slot, for the strategies that use one adapter at a time.
                m.place(
                        pool,
                        slot,
                        pool.a[l][i].get(new NDIndex(slot)),
                        pool.bT[l][i].get(new NDIndex(slot)));
            }
            for (ExpertParameter p : ExpertParameter.values()) {
                ParameterLora lora = adapter.parameter(l, p);
                if (lora != null) {
                    parameters.place(l, p, lora);
                }
            }
        }
        return true;
    }

    /**
     * Frees an adapter's slots (the data stays until overwritten; no row points at it any more).
     */
    synchronized void free(LoraAdapter adapter) {
        for (int l = 0; l < model.numLayers(); l++) {
            for (Projection p : Projection.values()) {
                LoraAdapter.Module m = adapter.module(l, p);
                if (m != null && m.pool != null) {
                    m.pool.used[m.slot] = false;
                    m.a.close();
                    m.bT.close();
                    m.unplace();
                }
            }
            for (ExpertParameter p : ExpertParameter.values()) {
                ParameterLora lora = adapter.parameter(l, p);
                if (lora != null) {
                    parameters.free(lora);
                }
            }
        }
    }

    private int freeSlot(RankPool pool) {
        for (int i = 0; i < pool.used.length; i++) {
            if (!pool.used[i]) {
                return i;
            }
        }
        return -1;
    }

    @Override
    public synchronized void close() {
        parameters.close();
        manager.close();
        pools.clear();
    }
}
