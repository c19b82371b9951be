package io.flinklora.gpu.kv;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.Rows;
import java.util.ArrayList;
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
    private long resorts;
    private long spanCost;

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
     * Rows of the copy that attend together: {@code rows} rows from {@code first}, each reading
     * {@code keyLength} positions: the longest of them, exactly (not rounded to whole blocks: the
     * span slices the copy, and every position read past a row's length is masked work).
     */
    public record Span(int first, int rows, int keyLength) {}

    /**
     * Where one step's decode rows attend: each owner's row in the copy and the spans of rows that
     * attention reads, in row order (rows outside every span hold no sequence).
     */
    public record Plan(int[] rows, List<Span> spans) {
        /** Rows attention covers from row 0: the end of the last span. */
        public int span() {
            Span last = spans.get(spans.size() - 1);
            return last.first() + last.rows();
        }

        /** The longest key length of the spans. */
        public int keyLength() {
            return spans.stream().mapToInt(Span::keyLength).max().orElse(0);
        }

        /** Row-positions attention reads: each span's rows times its key length. */
        public long work() {
            return spans.stream().mapToLong(s -> (long) s.rows() * s.keyLength()).sum();
        }
    }

    /** Spans a step's decode rows split into at most. */
    static final int MAX_SPANS = 4;

    /**
     * Steps a re-sort of the copy should pay for itself in: it is taken when the rows it spares
     * attention over this many steps exceed the rows it copies.
     */
    private static final int PAYBACK_STEPS = 16;

    private int paybackSteps = PAYBACK_STEPS;

    /**
     * Prepares the copy for a step: releases the rows of sequences not in {@code owners}, gives
     * each owner a row, copies from the pool the cached positions of owners whose row is new or
     * stale, and grows the copy when needed. Returns null, with every row released, when the copy
     * would pass its budget: the caller then reads the pool.
     *
     * <p>Attention reads each span's rows up to the span's longest row, so a batch of long and
     * short sequences reads the short ones padded. Newcomers go to the lowest free rows (holes
     * first), and when that layout reads notably more than the rows sorted longest first with no
     * hole, the copy is re-sorted (one gather per layer and tensor of the rows that move); spans
     * then cut the rows where a cut saves more than one more span's operations cost ({@link
     * #spanCost}).
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
        keyLength = roundUp(keyLength);
        for (int r = 0; r < owner.length; r++) {
            if (owner[r] != null && !keep.containsKey(owner[r])) {
                release(r);
            }
        }
        // Layout as it stands: kept rows stay, newcomers take the lowest free rows in the step's
        // order (a batch that starts together then reads the copy in token order, no gather).
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (x, y) -> Integer.compare(starts[y], starts[x]));
        int[] rows = new int[n];
        int heldSpan = 0;
        boolean[] taken = new boolean[owner.length + n];
        for (int row : keep.values()) {
            taken[row] = true;
            heldSpan = Math.max(heldSpan, row + 1);
        }
        int free = 0;
        int span = 0;
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
        int[] need = new int[span];
        for (int i = 0; i < n; i++) {
            need[rows[i]] = starts[i] + 1;
        }
        List<Span> spans = spans(need);
        int moved = 0;
        for (int k = 0; k < n; k++) {
            moved += keep.containsKey(owners.get(order[k])) && rows[order[k]] != k ? 1 : 0;
        }
        // The same rows sorted longest first, no hole: worth a re-sort when it pays back soon
        // (only kept rows out of that order can make it cheaper; newcomers cost nothing to place).
        List<Span> sortedSpans = null;
        boolean resort = false;
        if (moved > 0) {
            int[] sorted = new int[n];
            for (int k = 0; k < n; k++) {
                sorted[k] = starts[order[k]] + 1;
            }
            sortedSpans = spans(sorted);
            // A moved row is gathered whole (its capacity read and written), then its positions
            // put.
            long sortCopies = 2L * moved * (Math.max(capLength, keyLength) + keyLength);
            resort = (cost(spans) - cost(sortedSpans)) * paybackSteps > sortCopies;
        }
        if (!reserve(Math.max(resort ? n : span, heldSpan), keyLength)) {
            reset();
            return null;
        }
        if (resort) {
            List<int[]> moves = new ArrayList<>();
            for (int k = 0; k < n; k++) {
                int i = order[k];
                Integer row = keep.get(owners.get(i));
                if (row != null && row != k) {
                    moves.add(new int[] {row, k});
                }
                rows[i] = k;
            }
            move(moves, keyLength);
            for (int r = 0; r < owner.length; r++) {
                if (owner[r] != null) {
                    release(r);
                }
            }
            spans = sortedSpans;
        }
        for (int i = 0; i < n; i++) {
            owner[rows[i]] = owners.get(i);
            rowOf.put(owners.get(i), rows[i]);
            length[rows[i]] = -1; // stale until the step that writes the new token commits
            pending[rows[i]] = starts[i] + 1;
        }
        copyFromPool(rows, fill, starts, tables, pool);
        resorts += resort ? 1 : 0;
        return new Plan(rows, spans);
    }

    /** Re-sorts so far (each a gather of the copy's held rows). */
    public long resorts() {
        return resorts;
    }

    private int roundUp(int positions) {
        return (positions + blockSize - 1) / blockSize * blockSize;
    }

    /**
     * One more span's cost in row-positions: its operations per layer (about 250 us together on two
     * CPU cores, measured on a 110M model's decode step, smaller products included) at the bytes a
     * row-position of keys and values takes to read (about 25 GB/s), so a cut is made only where it
     * spares more reading than that.
     */
    private long spanCost() {
        if (spanCost > 0) {
            return spanCost;
        }
        long bytesPerRowPosition = 2L * kvHeads * headDim * dtype.getNumOfBytes();
        return Math.max(64, 250_000L * 25 / bytesPerRowPosition);
    }

    /**
     * Sets the cost of one more span (row-positions) in place of the one derived from the model's
     * shape, and the steps a re-sort must pay back in: tests on tiny models, whose rows would never
     * split or re-sort, use it to exercise both.
     */
    public void overrideCosts(long spanRowPositions, int paybackSteps) {
        this.spanCost = spanRowPositions;
        this.paybackSteps = paybackSteps;
    }

    private long cost(List<Span> spans) {
        return new Plan(null, spans).work() + spanCost() * spans.size();
    }

    /**
     * The cheapest cut of rows {@code 0..need.length-1} into at most {@link #MAX_SPANS} spans,
     * {@code need[r]} the positions row r reads (0 for a hole; a run of holes is left out of every
     * span): a small dynamic programme over the rows.
     */
    List<Span> spans(int[] need) {
        int m = need.length;
        long unit = spanCost();
        long[][] best = new long[MAX_SPANS + 1][m + 1];
        int[][] cut = new int[MAX_SPANS + 1][m + 1];
        for (long[] b : best) {
            Arrays.fill(b, Long.MAX_VALUE);
        }
        best[0][0] = 0;
        for (int k = 1; k <= MAX_SPANS; k++) {
            for (int end = 1; end <= m; end++) {
                int longest = 0;
                for (int start = end - 1; start >= 0; start--) {
                    longest = Math.max(longest, need[start]);
                    long before = best[k - 1][start];
                    if (before == Long.MAX_VALUE) {
                        continue;
                    }
                    long c = longest == 0 ? before : before + (long) (end - start) * longest + unit;
                    if (c < best[k][end]) {
                        best[k][end] = c;
                        cut[k][end] = start;
                    }
                }
            }
        }
        int k = 1;
        for (int j = 2; j <= MAX_SPANS; j++) {
            if (best[j][m] < best[k][m]) {
                k = j;
            }
        }
        List<Span> out = new ArrayList<>();
        for (int end = m; k > 0; k--) {
            int start = cut[k][end];
            int longest = 0;
            for (int r = start; r < end; r++) {
                longest = Math.max(longest, need[r]);
            }
            if (longest > 0) {
                out.add(0, new Span(start, end - start, longest));
            }
            end = start;
        }
        return out;
    }

    /**
     * Each {from, to} row pair: row {@code to} takes what row {@code from} holds, positions {@code
     * 0..positions-1}. The moved rows are gathered first (rows may trade places), then put one by
     * one (a slice assignment is a plain copy, where an indexed write stores element by element).
     */
    private void move(List<int[]> moves, int positions) {
        long[] index = new long[moves.size()];
        for (int k = 0; k < index.length; k++) {
            index[k] = moves.get(k)[0];
        }
        try (NDManager scope = manager.newSubManager()) {
            NDArray idx = scope.create(index);
            for (int l = 0; l < layers; l++) {
                for (NDArray a : new NDArray[] {keys[l], values[l]}) {
                    try (NDArray rows = Rows.of(a, idx)) {
                        for (int k = 0; k < index.length; k++) {
                            try (NDArray row = rows.get(new NDIndex(k + ", :, 0:" + positions))) {
                                a.set(new NDIndex(moves.get(k)[1] + ", :, 0:" + positions), row);
                            }
                        }
                    }
                }
            }
        }
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
