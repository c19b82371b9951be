package io.flinklora.gpu.kv;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flinklora.gpu.model.ModelConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * A preallocated, bounded pool of key/value cache slots, one slot per running sequence.
 *
 * <p>Each layer holds one tensor {@code [slots, kvHeads, maxLen, headDim]} for keys and one for
 * values. Occupied slots are kept compact at the front (0..used-1): when a sequence leaves, the
 * last occupied slot is moved into the hole. Attention can then read every running sequence as one
 * strided view of the pool, with no per-step gather of the cache.
 */
public final class KvCache implements AutoCloseable {
    private final NDManager manager;
    private final int slots;
    private final int maxLen;
    private final int kvHeads;
    private final int headDim;
    private final NDArray[] keys;
    private final NDArray[] values;
    private final NDArray[] keysFlat;
    private final NDArray[] valuesFlat;
    private final List<KvSlot> occupied = new ArrayList<>();
    private final long bytes;

    public KvCache(NDManager parent, ModelConfig config, int slots, int maxLen, DataType dtype, Device device) {
        if (slots < 1 || maxLen < 1) {
            throw new IllegalArgumentException("KV cache needs at least one slot of one position");
        }
        this.manager = parent.newSubManager(device);
        this.slots = slots;
        this.maxLen = maxLen;
        this.kvHeads = config.numKvHeads();
        this.headDim = config.headDim();
        int layers = config.numLayers();
        keys = new NDArray[layers];
        values = new NDArray[layers];
        keysFlat = new NDArray[layers];
        valuesFlat = new NDArray[layers];
        Shape shape = new Shape(slots, kvHeads, maxLen, headDim);
        for (int l = 0; l < layers; l++) {
            keys[l] = manager.zeros(shape, dtype);
            values[l] = manager.zeros(shape, dtype);
            // Views over the same storage, rows addressed as (slot * kvHeads + head) * maxLen + position.
            keysFlat[l] = keys[l].reshape(-1, headDim);
            valuesFlat[l] = values[l].reshape(-1, headDim);
        }
        bytes = 2L * layers * shape.size() * dtype.getNumOfBytes();
    }

    /** Takes a free slot, or returns null when the pool is full (the caller keeps the sequence waiting). */
    public KvSlot allocate() {
        if (occupied.size() >= slots) {
            return null;
        }
        KvSlot slot = new KvSlot(occupied.size());
        occupied.add(slot);
        return slot;
    }

    /** Frees a slot at once, moving the last occupied slot into its place to keep the pool compact. */
    public void release(KvSlot slot) {
        int hole = slot.index();
        if (hole < 0 || hole >= occupied.size() || occupied.get(hole) != slot) {
            throw new IllegalStateException("slot " + hole + " is not occupied by this sequence");
        }
        int last = occupied.size() - 1;
        if (hole != last) {
            KvSlot moved = occupied.get(last);
            int len = moved.length();
            if (len > 0) {
                NDIndex to = new NDIndex(hole + ", :, 0:" + len);
                NDIndex from = new NDIndex(last + ", :, 0:" + len);
                for (int l = 0; l < keys.length; l++) {
                    try (NDArray k = keys[l].get(from); NDArray v = values[l].get(from)) {
                        keys[l].set(to, k);
                        values[l].set(to, v);
                    }
                }
            }
            moved.moveTo(hole);
            occupied.set(hole, moved);
        }
        occupied.remove(last);
        slot.moveTo(-1);
    }

    /** Keys of layer {@code layer}: {@code [slots, kvHeads, maxLen, headDim]}. */
    public NDArray keys(int layer) {
        return keys[layer];
    }

    public NDArray values(int layer) {
        return values[layer];
    }

    /** Keys of layer {@code layer} viewed as rows {@code [(slot * kvHeads + head) * maxLen + pos, headDim]}. */
    public NDArray keysFlat(int layer) {
        return keysFlat[layer];
    }

    public NDArray valuesFlat(int layer) {
        return valuesFlat[layer];
    }

    /** Flat row index of (slot, head, position) in {@link #keysFlat}. */
    public long flatRow(int slot, int head, int position) {
        return ((long) slot * kvHeads + head) * maxLen + position;
    }

    public int capacity() {
        return slots;
    }

    public int used() {
        return occupied.size();
    }

    public int maxLen() {
        return maxLen;
    }

    public int kvHeads() {
        return kvHeads;
    }

    /** Device bytes held by the pool, allocated once at start. */
    public long bytes() {
        return bytes;
    }

    /** Positions currently cached across all slots (for utilisation metrics). */
    public long cachedTokens() {
        long n = 0;
        for (KvSlot s : occupied) {
            n += s.length();
        }
        return n;
    }

    @Override
    public void close() {
        manager.close();
    }
}
