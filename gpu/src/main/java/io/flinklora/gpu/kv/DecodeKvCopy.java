package io.flinklora.gpu.kv;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.Rows;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A contiguous copy of the decoding sequences' keys and values, one row per sequence: per layer
 * {@code [rows, kvHeads, length, headDim]}, so a decode step's attention reads it in place.
 *
 * <p>Why: attention over the block pool gathers every row's blocks into a contiguous tensor each
 * layer of each step (DJL has no paged-attention kernel that reads block tables), which copies the
 * whole running batch's cache twice per layer per step - a fifth of a 110M model's decode step on
 * two CPU cores. Here a sequence's cached positions are copied once, when it starts decoding, and
 * each step appends only its new token (written to the pool as well: the pool stays the source of
 * truth for prefix sharing, preemption and recompute).
 *
 * <p>A row is valid only for the sequence that holds it and only while its copied length equals the
 * sequence's cached length: {@link #plan} releases the rows of sequences not decoding this step and
 * refills a row whose length does not match. Rows are handed out lowest first; a freed row below
 * the highest held one is a hole that attention computes fully masked. The copy grows on demand up
 * to a byte budget (the pool's own size), past which the caller gathers blocks instead.
 */
@Internal
public final class DecodeKvCopy implements AutoCloseable {
    private final NDManager manager;
    private final int layers;
    private final int kvHeads;
    private final int headDim;
    private final int blockSize;
    private final int maxRows;
    private final int maxLength;
    private final long budgetBytes;
    private final DataType dtype;
    private NDArray[] keys = new NDArray[0];
    private NDArray[] values = new NDArray[0];
    private NDArray[] keysFlat = new NDArray[0];
    private NDArray[] valuesFlat = new NDArray[0];
    private int capRows;
    private int capLength;
    private Object[] owner = new Object[0];
    private int[] length = new int[0];
    private int[] pending = new int[0];
    private final Map<Object, Integer> rowOf = new IdentityHashMap<>();

    /**
     * @param maxRows sequences decoding at once at most
     * @param maxLength positions of one sequence at most
     * @param budgetBytes the copy's device bytes at most, keys and values of every layer
     */
    DecodeKvCopy(
            NDManager manager,
            int layers,
            int kvHeads,
            int headDim,
            int blockSize,
            int maxRows,
            int maxLength,
            long budgetBytes,
            DataType dtype) {
        this.manager = manager;
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.blockSize = blockSize;
        this.maxRows = maxRows;
        this.maxLength = maxLength;
        this.budgetBytes = budgetBytes;
        this.dtype = dtype;
    }

    /**
     * Where one step's decode rows attend: each owner's row in the copy, the rows attention spans
     * (the highest held row + 1, holes included) and the positions it reads (whole blocks).
     */
    public record Plan(int[] rows, int span, int keyLength) {}

    /**
     * Prepares the copy for a step: releases the rows of sequences not in {@code owners}, gives
     * each owner a row, copies from the pool the cached positions of owners whose row is new or
     * stale, and grows the copy when needed. Returns null, with every row released, when the copy
     * would pass its budget: the caller then reads the pool.
     *
     * @param owners the step's decoding sequences (identity matters)
     * @param starts each owner's cached positions (its new token's position)
     * @param tables each owner's block table, covering at least {@code starts[i]} positions
     */
    public Plan plan(List<?> owners, int[] starts, BlockTable[] tables, KvBlockPool pool) {
        int n = owners.size();
        Map<Object, Integer> keep = new IdentityHashMap<>();
        int keyLength = 1;
        for (int i = 0; i < n; i++) {
            Integer row = rowOf.get(owners.get(i));
            if (row != null && length[row] == starts[i]) {
                keep.put(owners.get(i), row);
            }
            keyLength = Math.max(keyLength, starts[i] + 1);
        }
        keyLength = (keyLength + blockSize - 1) / blockSize * blockSize;
        for (int r = 0; r < owner.length; r++) {
            if (owner[r] != null && !keep.containsKey(owner[r])) {
                release(r);
            }
        }
        int[] rows = new int[n];
        int span = 0;
        boolean[] taken = new boolean[owner.length + n];
        for (int row : keep.values()) {
            taken[row] = true;
        }
        int free = 0;
        boolean[] fill = new boolean[n];
        for (int i = 0; i < n; i++) {
            Integer row = keep.get(owners.get(i));
            if (row == null) {
                while (taken[free]) {
                    free++;
                }
                row = free;
                taken[free] = true;
                fill[i] = starts[i] > 0;
            }
            rows[i] = row;
            span = Math.max(span, row + 1);
        }
        if (!reserve(span, keyLength)) {
            reset();
            return null;
        }
        for (int i = 0; i < n; i++) {
            owner[rows[i]] = owners.get(i);
            rowOf.put(owners.get(i), rows[i]);
            length[rows[i]] = -1; // stale until the step that writes the new token commits
            pending[rows[i]] = starts[i] + 1;
        }
        copyFromPool(rows, fill, starts, tables, pool);
        return new Plan(rows, span, keyLength);
    }

    /** Marks the planned rows as holding their sequences' new tokens (the step succeeded). */
    public void commit() {
        for (int r = 0; r < owner.length; r++) {
            if (owner[r] != null && pending[r] > 0) {
                length[r] = pending[r];
                pending[r] = 0;
            }
        }
    }

    /** Releases the rows of these sequences (they compute a chunk, and may rewrite their cache). */
    public void release(List<?> sequences) {
        for (Object s : sequences) {
            Integer row = rowOf.get(s);
            if (row != null) {
                release(row);
            }
        }
    }

    /** Releases every row (a failed step, or a step past the budget). */
    public void reset() {
        for (int r = 0; r < owner.length; r++) {
            if (owner[r] != null) {
                release(r);
            }
        }
    }

    private void release(int row) {
        rowOf.remove(owner[row]);
        owner[row] = null;
        length[row] = -1;
        pending[row] = 0;
    }

    /** Keys of a layer, {@code [rows, kvHeads, length, headDim]}. */
    public NDArray keys(int layer) {
        return keys[layer];
    }

    public NDArray values(int layer) {
        return values[layer];
    }

    /** Keys of a layer as rows {@code [(row * kvHeads + head) * length + position, headDim]}. */
    public NDArray keysFlat(int layer) {
        return keysFlat[layer];
    }

    public NDArray valuesFlat(int layer) {
        return valuesFlat[layer];
    }

    /** Row of (row, head, position) in {@link #keysFlat}. */
    public long flatRow(int row, int head, int position) {
        return ((long) row * kvHeads + head) * capLength + position;
    }

    /** Device bytes the copy holds now. */
    public long bytes() {
        return bytes(capRows, capLength);
    }

    private long bytes(long rows, long positions) {
        return 2L * layers * rows * kvHeads * positions * headDim * dtype.getNumOfBytes();
    }

    /**
     * Makes room for {@code rows} x {@code positions}: every row a batch may hold (rows are cheap
     * next to positions) and half as many positions again as needed (a sequence grows by a token a
     * step), or the most the budget allows; false when even the room asked for passes the budget.
     * Each growth copies what the copy holds, so it should happen a handful of times per run.
     */
    private boolean reserve(int rows, int positions) {
        if (rows <= capRows && positions <= capLength) {
            return true;
        }
        long perPosition = bytes(1, 1);
        if (bytes(rows, positions) > budgetBytes) {
            return false;
        }
        int p = Math.max(capLength, positions);
        if (positions > capLength) {
            int longest = (maxLength + blockSize - 1) / blockSize * blockSize;
            int grown = (capLength + capLength / 2 + blockSize - 1) / blockSize * blockSize;
            p = Math.max(positions, Math.min(longest, grown));
        }
        if (bytes(rows, p) > budgetBytes) {
            // As many positions as the budget gives the rows needed, so that the next steps' tokens
            // do not each grow the copy again.
            long fit = budgetBytes / (perPosition * rows) / blockSize * blockSize;
            p = (int) Math.max(positions, Math.min(p, fit));
        }
        // Rows past the span hold no sequence (plan released them), so fewer rows than before
        // lose nothing.
        int r = (int) Math.max(rows, Math.min(maxRows, budgetBytes / (perPosition * p)));
        grow(r, p);
        return true;
    }

    private void grow(int rows, int positions) {
        NDArray[] k = new NDArray[layers];
        NDArray[] v = new NDArray[layers];
        Shape shape = new Shape(rows, kvHeads, positions, headDim);
        // A smaller copy (the budget's) keeps only the rows and positions plan still needs.
        int kept = Math.min(capRows, rows);
        NDIndex old = new NDIndex("0:" + kept + ", :, 0:" + Math.min(capLength, positions));
        for (int l = 0; l < layers; l++) {
            // Zeros, not uninitialised memory: attention reads every position up to the step's
            // key length, masked or not, and stray NaN would survive the mask.
            k[l] = manager.zeros(shape, dtype);
            v[l] = manager.zeros(shape, dtype);
            if (kept > 0) {
                k[l].set(old, keys[l].get(old));
                v[l].set(old, values[l].get(old));
            }
        }
        close(keys);
        close(values);
        close(keysFlat);
        close(valuesFlat);
        keys = k;
        values = v;
        keysFlat = new NDArray[layers];
        valuesFlat = new NDArray[layers];
        for (int l = 0; l < layers; l++) {
            keysFlat[l] = k[l].reshape(-1, headDim);
            valuesFlat[l] = v[l].reshape(-1, headDim);
            // Created inside a step's scope (plan runs in the model runner), but they outlive it.
            for (NDArray a : new NDArray[] {k[l], v[l], keysFlat[l], valuesFlat[l]}) {
                NDScope.unregister(a);
            }
        }
        owner = Arrays.copyOf(owner, rows);
        int[] len = Arrays.copyOf(length, rows);
        Arrays.fill(len, kept, rows, -1);
        length = len;
        pending = Arrays.copyOf(pending, rows);
        capRows = rows;
        capLength = positions;
    }

    /**
     * Copies the cached positions of the rows marked in {@code fill} from the pool: one block
     * gather and one write per layer and tensor for all of them.
     */
    private void copyFromPool(
            int[] rows, boolean[] fill, int[] starts, BlockTable[] tables, KvBlockPool pool) {
        int m = 0;
        int blocks = 0;
        for (int i = 0; i < rows.length; i++) {
            if (fill[i]) {
                m++;
                blocks = Math.max(blocks, (starts[i] + blockSize - 1) / blockSize);
            }
        }
        if (m == 0) {
            return;
        }
        long[] source = new long[m * kvHeads * blocks];
        int j = 0;
        for (int i = 0; i < rows.length; i++) {
            if (!fill[i]) {
                continue;
            }
            int own = Math.min(tables[i].size(), blocks);
            for (int h = 0; h < kvHeads; h++) {
                int at = (j * kvHeads + h) * blocks;
                for (int b = 0; b < blocks; b++) {
                    source[at + b] =
                            pool.blockRow(b < own ? tables[i].block(b) : KvBlockPool.NULL_BLOCK, h);
                }
            }
            j++;
        }
        long positions = (long) blocks * blockSize;
        try (NDManager scope = manager.newSubManager()) {
            NDArray from = scope.create(source);
            for (int l = 0; l < layers; l++) {
                copyRows(pool.keyBlocks(l), from, keys[l], rows, fill, positions);
                copyRows(pool.valueBlocks(l), from, values[l], rows, fill, positions);
            }
        }
    }

    /**
     * One gather of the filled rows' blocks, then one slice assignment per row (a plain copy: an
     * indexed write's CPU kernel stores element by element).
     */
    private void copyRows(
            NDArray poolBlocks,
            NDArray from,
            NDArray copy,
            int[] rows,
            boolean[] fill,
            long positions) {
        // [m * kvHeads * blocks, blockSize * d] -> [m, kvHeads, positions, d]: a row's blocks for
        // one head are consecutive, so its positions come out in order.
        try (NDArray gathered = Rows.of(poolBlocks, from);
                NDArray byRow = gathered.reshape(-1, kvHeads, positions, headDim)) {
            for (int i = 0, j = 0; i < rows.length; i++) {
                if (fill[i]) {
                    try (NDArray row = byRow.get(j++)) {
                        copy.set(new NDIndex(rows[i] + ", :, 0:" + positions), row);
                    }
                }
            }
        }
    }

    @Override
    public void close() {
        close(keys);
        close(values);
        close(keysFlat);
        close(valuesFlat);
    }

    private static void close(NDArray[] arrays) {
        for (NDArray a : arrays) {
            if (a != null) {
                a.close();
            }
        }
    }
}
