package io.flinklora.gpu.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The decoding sequences' KV copy: rows filled from the pool's blocks, kept while a sequence keeps
 * decoding, released and refilled when it leaves or its length no longer matches, grown without
 * losing what it holds, and refused past its budget.
 */
class DecodeKvCopyTest {
    private static final int LAYERS = 2;
    private static final int HEADS = 2;
    private static final int DIM = 4;
    private static final int BLOCKS = 16;
    private static final int BS = 4;
    private NDManager manager;
    private KvBlockPool pool;

    @BeforeEach
    void pool() {
        manager = NDManager.newBaseManager();
        pool =
                new KvBlockPool(
                        manager, LAYERS, HEADS, DIM, BLOCKS, BS, DataType.FLOAT32, Device.cpu());
        // Every pool entry distinct: keys positive, values negative, by (layer, block, head,
        // offset, d).
        for (int l = 0; l < LAYERS; l++) {
            NDArray ids =
                    manager.arange(0f, (float) BLOCKS * HEADS * BS * DIM).reshape(-1, BS * DIM);
            pool.keyBlocks(l).set(new NDIndex(":"), ids.add(1 + 100_000 * l));
            pool.valueBlocks(l).set(new NDIndex(":"), ids.add(1 + 100_000 * l).neg());
        }
    }

    @AfterEach
    void close() {
        pool.close();
        manager.close();
    }

    private static BlockTable table(int... blocks) {
        BlockTable t = new BlockTable();
        for (int b : blocks) {
            t.add(b);
        }
        return t;
    }

    /** The pool's key (or value) of a position of a table, one head's vector. */
    private float[] poolVector(boolean key, int layer, BlockTable t, int head, int position) {
        NDArray blocks = key ? pool.keyBlocks(layer) : pool.valueBlocks(layer);
        long row = pool.blockRow(t.block(position / BS), head);
        return blocks.get(row)
                .get(new NDIndex((position % BS) * DIM + ":" + (position % BS + 1) * DIM))
                .toFloatArray();
    }

    private static float[] copyVector(
            DecodeKvCopy c, boolean key, int layer, int row, int head, int position) {
        NDArray a = key ? c.keys(layer) : c.values(layer);
        return a.get(new NDIndex("{}, {}, {}", row, head, position)).toFloatArray();
    }

    private void assertHolds(DecodeKvCopy c, int row, BlockTable t, int positions) {
        for (int l = 0; l < LAYERS; l++) {
            for (int h = 0; h < HEADS; h++) {
                for (int p = 0; p < positions; p++) {
                    for (boolean key : new boolean[] {true, false}) {
                        assertArrayEquals(
                                poolVector(key, l, t, h, p),
                                copyVector(c, key, l, row, h, p),
                                (key ? "key" : "value")
                                        + " layer "
                                        + l
                                        + " row "
                                        + row
                                        + " head "
                                        + h
                                        + " position "
                                        + p);
                    }
                }
            }
        }
    }

    /** Writes a marker where the step's new token goes, as the forward pass does (copy only). */
    private static void writeNewToken(DecodeKvCopy c, int row, int position, float marker) {
        for (int l = 0; l < LAYERS; l++) {
            for (int h = 0; h < HEADS; h++) {
                long flat = c.flatRow(row, h, position);
                NDArray v = c.keysFlat(l).getManager().full(new Shape(1, DIM), marker);
                c.keysFlat(l).set(new NDIndex(flat + ":" + (flat + 1)), v);
            }
        }
    }

    private static float markerAt(DecodeKvCopy c, int row, int position) {
        return copyVector(c, true, 0, row, 0, position)[0];
    }

    @Test
    void rowsAreFilledFromThePoolKeptWhileDecodingAndRefilledWhenStale() {
        DecodeKvCopy c = pool.enableDecodeCopy(4, 64);
        Object a = new Object();
        Object b = new Object();
        BlockTable ta = table(3, 7);
        BlockTable tb = table(5);
        DecodeKvCopy.Plan plan =
                c.plan(List.of(a, b), new int[] {6, 2}, new BlockTable[] {ta, tb}, pool);
        assertArrayEquals(new int[] {0, 1}, plan.rows());
        assertEquals(2, plan.span());
        assertEquals(7, plan.keyLength(), "the longest row's 7 positions, no more");
        assertHolds(c, 0, ta, 6);
        assertHolds(c, 1, tb, 2);
        writeNewToken(c, 0, 6, 7777f);
        writeNewToken(c, 1, 2, 8888f);
        c.commit();

        // The next step: both one token longer, in the other order. Nothing is copied again.
        plan = c.plan(List.of(b, a), new int[] {3, 7}, new BlockTable[] {tb, ta}, pool);
        assertArrayEquals(new int[] {1, 0}, plan.rows());
        assertEquals(7777f, markerAt(c, 0, 6), "row kept: its appended token was not overwritten");
        assertEquals(8888f, markerAt(c, 1, 2));
        c.commit();

        // a leaves the batch: its row is free and the newcomer takes it, filled from the pool.
        Object d = new Object();
        BlockTable td = table(9, 10, 11);
        plan = c.plan(List.of(b, d), new int[] {4, 9}, new BlockTable[] {tb, td}, pool);
        assertArrayEquals(new int[] {1, 0}, plan.rows());
        assertHolds(c, 0, td, 9);
        c.commit();

        // b comes back with a length the copy does not hold (it was recomputed): filled again.
        plan = c.plan(List.of(b), new int[] {3}, new BlockTable[] {tb}, pool);
        assertArrayEquals(new int[] {0}, plan.rows(), "d left; b takes the lowest free row");
        assertEquals(1, plan.span());
        assertHolds(c, 0, tb, 3);
    }

    @Test
    void aStepThatDoesNotCommitLeavesNothingValid() {
        DecodeKvCopy c = pool.enableDecodeCopy(4, 64);
        Object a = new Object();
        BlockTable ta = table(2, 4);
        c.plan(List.of(a), new int[] {5}, new BlockTable[] {ta}, pool);
        writeNewToken(c, 0, 5, 5555f);
        // No commit (the step failed): the same step again copies the row afresh.
        c.plan(List.of(a), new int[] {5}, new BlockTable[] {ta}, pool);
        assertHolds(c, 0, ta, 6);
    }

    @Test
    void releasedSequencesLeaveHolesThatNewcomersFill() {
        DecodeKvCopy c = pool.enableDecodeCopy(4, 64);
        Object a = new Object(), b = new Object(), d = new Object();
        BlockTable t = table(1);
        c.plan(List.of(a, b, d), new int[] {1, 1, 1}, new BlockTable[] {t, t, t}, pool);
        c.commit();
        c.release(List.of(a)); // a computes a chunk this step
        DecodeKvCopy.Plan plan =
                c.plan(List.of(b, d), new int[] {2, 2}, new BlockTable[] {t, t}, pool);
        assertArrayEquals(new int[] {1, 2}, plan.rows(), "kept rows stay where they are");
        assertEquals(3, plan.span(), "row 0 is a hole attention spans");
        c.commit();
        Object e = new Object();
        plan = c.plan(List.of(b, d, e), new int[] {3, 3, 2}, new BlockTable[] {t, t, t}, pool);
        assertArrayEquals(new int[] {1, 2, 0}, plan.rows());
        assertHolds(c, 0, t, 2);
    }

    @Test
    void growingKeepsWhatTheCopyHolds() {
        DecodeKvCopy c = pool.enableDecodeCopy(4, 64);
        Object a = new Object(), b = new Object();
        BlockTable ta = table(3);
        c.plan(List.of(a), new int[] {2}, new BlockTable[] {ta}, pool);
        writeNewToken(c, 0, 2, 4242f);
        c.commit();
        long before = c.bytes();
        BlockTable tb = table(6, 7, 8, 9, 12);
        DecodeKvCopy.Plan plan =
                c.plan(List.of(a, b), new int[] {3, 19}, new BlockTable[] {ta, tb}, pool);
        assertEquals(20, plan.keyLength(), "the longest row's 20 positions");
        assertEquals(true, c.bytes() > before, "grew");
        assertEquals(4242f, markerAt(c, 0, 2), "a's appended token survived the growth");
        assertHolds(c, 0, ta, 2);
        assertHolds(c, 1, tb, 19);
    }

    @Test
    void pastItsBudgetTheCopyStepsAsideAndReleasesEveryRow() {
        // The budget is the pool's size: 16 blocks x 4 positions, i.e. 64 row-positions.
        DecodeKvCopy c = pool.enableDecodeCopy(8, 64);
        Object a = new Object();
        BlockTable t = table(1, 2, 3, 4);
        assertNotNull(c.plan(List.of(a), new int[] {15}, new BlockTable[] {t}, pool));
        c.commit();
        Object[] many = {a, new Object(), new Object(), new Object(), new Object()};
        BlockTable[] tables = {t, t, t, t, t};
        assertNull(
                c.plan(List.of(many), new int[] {16, 15, 15, 15, 15}, tables, pool),
                "5 x 20 positions");
        assertEquals(true, c.bytes() <= pool.bytes(), "never past the pool's size");
        // a's row was released: a later plan within budget fills it again.
        DecodeKvCopy.Plan plan = c.plan(List.of(a), new int[] {16}, new BlockTable[] {t}, pool);
        assertArrayEquals(new int[] {0}, plan.rows());
        assertHolds(c, 0, t, 16);
        assertEquals(true, c.bytes() <= pool.bytes(), "never past the pool's size");
    }

    @Test
    void longAndShortRowsInterleavedAreResortedLongestFirstAndReadAsTwoSpans() {
        pool.close();
        pool =
                new KvBlockPool(
                        manager, LAYERS, HEADS, DIM, 256, BS, DataType.FLOAT32, Device.cpu());
        for (int l = 0; l < LAYERS; l++) {
            NDArray ids = manager.arange(0f, 256f * HEADS * BS * DIM).reshape(-1, BS * DIM);
            pool.keyBlocks(l).set(new NDIndex(":"), ids.add(1 + 100_000 * l));
            pool.valueBlocks(l).set(new NDIndex(":"), ids.add(1 + 100_000 * l).neg());
        }
        DecodeKvCopy c = pool.enableDecodeCopy(8, 128);
        c.overrideCosts(8, 16);
        // Six short sequences take rows 0-5.
        Object[] shorts = new Object[6];
        BlockTable[] shortTables = new BlockTable[6];
        for (int i = 0; i < 6; i++) {
            shorts[i] = new Object();
            shortTables[i] = table(200 + i);
        }
        c.plan(List.of(shorts), new int[] {1, 1, 1, 1, 1, 1}, shortTables, pool);
        for (int row = 0; row < 6; row++) {
            writeNewToken(c, row, 1, 1000f + row);
        }
        c.commit();
        // Three leave (rows 0, 2, 4) and three long newcomers fill those holes: long and short
        // rows alternate, and one span would read every short row 120 positions long.
        Object[] longs = {new Object(), new Object(), new Object()};
        BlockTable[] longTables = new BlockTable[3];
        for (int i = 0; i < 3; i++) {
            int[] blocks = new int[30];
            for (int b = 0; b < 30; b++) {
                blocks[b] = i * 30 + b;
            }
            longTables[i] = table(blocks);
        }
        DecodeKvCopy.Plan plan =
                c.plan(
                        List.of(shorts[1], longs[0], shorts[3], longs[1], shorts[5], longs[2]),
                        new int[] {2, 119, 2, 119, 2, 119},
                        new BlockTable[] {
                            shortTables[1],
                            longTables[0],
                            shortTables[3],
                            longTables[1],
                            shortTables[5],
                            longTables[2]
                        },
                        pool);
        assertEquals(1, c.resorts(), "re-sorted");
        assertArrayEquals(new int[] {3, 0, 4, 1, 5, 2}, plan.rows(), "longest first, no hole");
        assertEquals(
                List.of(new DecodeKvCopy.Span(0, 3, 120), new DecodeKvCopy.Span(3, 3, 3)),
                plan.spans());
        for (int i = 0; i < 3; i++) {
            assertHolds(c, i, longTables[i], 119);
            assertHolds(c, 3 + i, shortTables[2 * i + 1], 1);
            assertEquals(
                    1001f + 2 * i,
                    markerAt(c, 3 + i, 1),
                    "a moved row keeps the token its last step appended");
        }
    }
}
