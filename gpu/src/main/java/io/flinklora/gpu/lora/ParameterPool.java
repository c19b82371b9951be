package io.flinklora.gpu.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flinklora.gpu.model.ExpertParameter;
import java.util.HashMap;
import java.util.Map;

/**
 * Device memory for resident adapters' LoRA on experts and routers (PEFT's {@code
 * target_parameters}): for each (layer, parameter, rank), one stacked {@code A [slots * experts, r,
 * in]} and scaled B transposed {@code [slots * experts, r, out]}, so that a step gathers the
 * (adapter, expert) cells its rows use with one indexed read per side, whatever the number of
 * adapters.
 *
 * <p>Unlike {@link AdapterPool} the slots grow by doubling: one slot holds every expert of one
 * adapter (GPT-OSS-20B: 32 experts, about 18 MB per parameter and layer at rank 16), so a pool
 * sized up front for every resident adapter would hold gigabytes no adapter uses. Growth copies the
 * stacks; it happens on the engine thread between steps, when an adapter is placed.
 */
final class ParameterPool implements AutoCloseable {
    private final NDManager manager;
    private final DataType dtype;
    private final int capacity;
    private final Map<String, Slots> pools = new HashMap<>();

    /** The slots of one (layer, parameter, rank). */
    static final class Slots {
        final int experts;
        final int rank;
        private final int in;
        private final int out;
        private boolean[] used = new boolean[0];
        private NDArray a;
        private NDArray bT;

        private Slots(int experts, int rank, int in, int out) {
            this.experts = experts;
            this.rank = rank;
            this.in = in;
            this.out = out;
        }

        /** {@code [slots * experts, rank, in]}: cell {@code slot * experts + e} is expert e's A. */
        NDArray a() {
            return a;
        }

        /** {@code [slots * experts, rank, out]}: each cell's scaled B transposed. */
        NDArray bT() {
            return bT;
        }
    }

    /**
     * @param capacity the most adapters resident at once (the registry's): growth stops there
     */
    ParameterPool(NDManager parent, DataType dtype, int capacity) {
        this.manager = parent.newSubManager();
        this.dtype = dtype;
        this.capacity = capacity;
    }

    /** Copies {@code lora} into a free slot of its (layer, parameter, rank), growing it if full. */
    synchronized void place(int layer, ExpertParameter parameter, ParameterLora lora) {
        Slots s =
                pools.computeIfAbsent(
                        layer + "/" + parameter + "/" + lora.rank,
                        k -> new Slots(lora.experts, lora.rank, lora.in, lora.out));
        int slot = 0;
        while (slot < s.used.length && s.used[slot]) {
            slot++;
        }
        if (slot == s.used.length) {
            grow(s, Math.max(slot + 1, Math.min(Math.max(2, 2 * slot), capacity)));
        }
        s.used[slot] = true;
        int e = lora.experts;
        NDIndex cells = new NDIndex(slot * e + ":" + (slot + 1) * e);
        try (NDManager tmp = manager.newSubManager()) {
            s.a.set(cells, tmp.create(lora.hostA, new Shape(e, s.rank, s.in)).toType(dtype, false));
            s.bT.set(
                    cells,
                    tmp.create(lora.hostBT, new Shape(e, s.rank, s.out)).toType(dtype, false));
        }
        if (lora.hostBias != null) {
            NDArray bias =
                    manager.create(lora.hostBias, new Shape(1, lora.out)).toType(dtype, false);
            NDScope.unregister(bias);
            lora.bias(bias);
        }
        if (lora.doraScale != null) {
            NDArray dora =
                    manager.create(lora.doraScale, new Shape(1, lora.out)).toType(dtype, false);
            NDScope.unregister(dora);
            lora.dora(dora);
        }
        lora.placed(s, slot);
    }

    /** Frees the slot of {@code lora} (the data stays until overwritten). */
    synchronized void free(ParameterLora lora) {
        Slots s = lora.slots();
        if (s != null) {
            s.used[lora.slot()] = false;
            lora.unplace();
        }
    }

    private void grow(Slots s, int capacity) {
        long cells = (long) capacity * s.experts;
        NDArray a = manager.zeros(new Shape(cells, s.rank, s.in), dtype);
        NDArray bT = manager.zeros(new Shape(cells, s.rank, s.out), dtype);
        // Pool memory outlives any step scope open on this thread.
        NDScope.unregister(a, bT);
        if (s.a != null) {
            NDIndex old = new NDIndex("0:" + (long) s.used.length * s.experts);
            a.set(old, s.a);
            bT.set(old, s.bT);
            s.a.close();
            s.bT.close();
        }
        s.a = a;
        s.bT = bT;
        s.used = java.util.Arrays.copyOf(s.used, capacity);
    }

    @Override
    public synchronized void close() {
        manager.close();
        pools.clear();
    }
}
