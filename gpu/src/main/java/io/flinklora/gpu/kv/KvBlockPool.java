package io.flinklora.gpu.kv;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.PagedKv;

/**
 * The device memory of the KV cache: per layer one key and one value tensor {@code [blocks,
 * kvHeads, blockSize, headDim]}, allocated once for a memory budget and addressed through block
 * tables ({@link BlockManager} decides which block holds what).
 *
 * <p>The tensors are created uninitialised, so on a CPU the pages a block never used are never
 * touched and the process grows with the tokens in use; a block is zeroed the first time it is
 * handed out ({@link #zero}) because attention reads every position of a row's blocks, masked or
 * not, and uninitialised memory may hold NaN. Block 0 is the zero block padding rows point at.
 */
@Internal
public final class KvBlockPool implements PagedKv, AutoCloseable {
    /** The block padding entries of a block table point at: zero, never allocated. */
    public static final int NULL_BLOCK = 0;

    private final NDManager manager;
    private final int blocks;
    private final int blockSize;
    private final int kvHeads;
    private final int headDim;
    private final NDArray[] keysFlat;
    private final NDArray[] valuesFlat;
    private final NDArray[] keyBlocks;
    private final NDArray[] valueBlocks;
    private final long bytes;
    private final DataType dtype;
    private final int layers;
    private DecodeKvCopy decodeCopy;

    /**
     * @param blocks blocks in the pool, the zero block included
     */
    public KvBlockPool(
            NDManager parent,
            int layers,
            int kvHeads,
            int headDim,
            int blocks,
            int blockSize,
            DataType dtype,
            Device device) {
        if (blocks < 2 || blockSize < 1) {
            throw new IllegalArgumentException(
                    "a KV pool needs at least one usable block of one position");
        }
        this.manager = parent.newSubManager(device);
        this.blocks = blocks;
        this.blockSize = blockSize;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.dtype = dtype;
        this.layers = layers;
        keysFlat = new NDArray[layers];
        valuesFlat = new NDArray[layers];
        keyBlocks = new NDArray[layers];
        valueBlocks = new NDArray[layers];
        Shape shape = new Shape(blocks, kvHeads, blockSize, headDim);
        for (int l = 0; l < layers; l++) {
            NDArray k = manager.create(shape, dtype);
            NDArray v = manager.create(shape, dtype);
            // Views over the same storage: one row per (block, head, offset) for writing tokens,
            // and one row
            // per (block, head) holding blockSize positions for reading a block table in one
            // gather.
            keysFlat[l] = k.reshape(-1, headDim);
            valuesFlat[l] = v.reshape(-1, headDim);
            keyBlocks[l] = k.reshape(-1, (long) blockSize * headDim);
            valueBlocks[l] = v.reshape(-1, (long) blockSize * headDim);
        }
        bytes = 2L * layers * shape.size() * dtype.getNumOfBytes();
        zero(new int[] {NULL_BLOCK});
    }

    /** Bytes one block takes over all layers, keys and values. */
    public static long blockBytes(
            int layers, int kvHeads, int headDim, int blockSize, DataType dtype) {
        return 2L * layers * kvHeads * blockSize * headDim * dtype.getNumOfBytes();
    }

    /**
     * Writes zeros into whole blocks (blocks handed out for the first time). Fresh blocks come off
     * the free list mostly in runs of consecutive ids: each run is one slice fill (a memset), not
     * an indexed write, whose CPU kernel stores element by element.
     */
    public void zero(int[] ids) {
        if (ids.length == 0) {
            return;
        }
        int[] sorted = ids.clone();
        java.util.Arrays.sort(sorted);
        int start = 0;
        for (int i = 1; i <= sorted.length; i++) {
            if (i == sorted.length || sorted[i] != sorted[i - 1] + 1) {
                long from = blockRow(sorted[start], 0);
                long to = blockRow(sorted[i - 1] + 1, 0);
                NDIndex run = new NDIndex(from + ":" + to);
                // An array of the pool's dtype: a float16 or bfloat16 pool takes no float scalar.
                try (NDArray zeros =
                        manager.zeros(new Shape(to - from, (long) blockSize * headDim), dtype)) {
                    for (int l = 0; l < keyBlocks.length; l++) {
                        keyBlocks[l].set(run, zeros);
                        valueBlocks[l].set(run, zeros);
                    }
                }
                start = i;
            }
        }
    }

    /**
     * Copies whole blocks, given as (source, destination) pairs, in every layer (keys and values).
     */
    public void copy(int[] pairs) {
        if (pairs.length == 0) {
            return;
        }
        int n = pairs.length / 2;
        long[] from = new long[n * kvHeads];
        long[] to = new long[n * kvHeads];
        for (int i = 0; i < n; i++) {
            for (int h = 0; h < kvHeads; h++) {
                from[i * kvHeads + h] = blockRow(pairs[2 * i], h);
                to[i * kvHeads + h] = blockRow(pairs[2 * i + 1], h);
            }
        }
        try (NDManager scope = manager.newSubManager()) {
            NDArray source = scope.create(from);
            NDIndex destination = new NDIndex("{}", scope.create(to));
            for (int l = 0; l < keyBlocks.length; l++) {
                NDArray k = keyBlocks[l].get(source);
                NDArray v = valueBlocks[l].get(source);
                keyBlocks[l].set(destination, k);
                valueBlocks[l].set(destination, v);
                k.close();
                v.close();
            }
        }
    }

    /**
     * Keeps a contiguous copy of the decoding sequences' keys and values beside the pool (at most
     * the pool's own size), which decode steps read in place of gathering blocks; null until
     * enabled.
     *
     * @param maxRows sequences decoding at once at most
     * @param maxLength positions of one sequence at most
     */
    public DecodeKvCopy enableDecodeCopy(int maxRows, int maxLength) {
        if (decodeCopy == null) {
            decodeCopy =
                    new DecodeKvCopy(
                            manager, layers, kvHeads, headDim, blockSize, maxRows, maxLength, bytes,
                            dtype);
        }
        return decodeCopy;
    }

    /** The decoding sequences' copy, or null when not enabled. */
    public DecodeKvCopy decodeCopy() {
        return decodeCopy;
    }

    @Override
    public NDArray decodeKeys(int layer) {
        return decodeCopy.keys(layer);
    }

    @Override
    public NDArray decodeValues(int layer) {
        return decodeCopy.values(layer);
    }

    @Override
    public NDArray decodeKeysFlat(int layer) {
        return decodeCopy.keysFlat(layer);
    }

    @Override
    public NDArray decodeValuesFlat(int layer) {
        return decodeCopy.valuesFlat(layer);
    }

    /** Keys of a layer as rows {@code [(block * kvHeads + head) * blockSize + offset, headDim]}. */
    @Override
    public NDArray keysFlat(int layer) {
        return keysFlat[layer];
    }

    @Override
    public NDArray valuesFlat(int layer) {
        return valuesFlat[layer];
    }

    /** Keys of a layer as rows {@code [block * kvHeads + head, blockSize * headDim]}. */
    @Override
    public NDArray keyBlocks(int layer) {
        return keyBlocks[layer];
    }

    @Override
    public NDArray valueBlocks(int layer) {
        return valueBlocks[layer];
    }

    /** Row of (block, head, offset) in {@link #keysFlat}. */
    public long flatRow(int block, int head, int offset) {
        return ((long) block * kvHeads + head) * blockSize + offset;
    }

    /** Row of (block, head) in {@link #keyBlocks}. */
    public long blockRow(int block, int head) {
        return (long) block * kvHeads + head;
    }

    public int blocks() {
        return blocks;
    }

    public int blockSize() {
        return blockSize;
    }

    public int kvHeads() {
        return kvHeads;
    }

    /** Device bytes reserved for the pool (on a CPU, resident only as blocks are used). */
    public long bytes() {
        return bytes;
    }

    @Override
    public void close() {
        if (decodeCopy != null) {
            decodeCopy.close();
        }
        manager.close();
    }
}
