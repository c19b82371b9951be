package io.flinklora.gpu.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;

class BlockManagerTest {
    private static final int BS = 4;

    /** Block i of a sequence of token ids: the ids at positions i*BS .. i*BS+BS-1. */
    private static IntFunction<int[]> tokens(int... ids) {
        return b -> java.util.Arrays.copyOfRange(ids, b * BS, b * BS + BS);
    }

    private static int[] blocksOf(BlockTable t) {
        int[] out = new int[t.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = t.block(i);
        }
        return out;
    }

    @Test
    void tablesGrowBlockByBlockUntilThePoolIsEmptyAndGiveEverythingBack() {
        BlockManager m = new BlockManager(5, BS, false);
        assertEquals(4, m.total(), "the zero block is never handed out");
        BlockTable a = new BlockTable();
        assertTrue(m.grow(a, 9));
        assertEquals(3, a.size(), "9 positions take 3 blocks of 4");
        BlockTable b = new BlockTable();
        assertTrue(m.grow(b, 4));
        assertFalse(m.grow(b, 5), "the pool is empty");
        assertEquals(4, m.used());
        for (int block : blocksOf(a)) {
            assertNotEquals(KvBlockPool.NULL_BLOCK, block);
        }
        m.free(a);
        m.free(b);
        assertEquals(0, m.used());
        assertEquals(4, m.available());
        assertEquals(
                4,
                m.drainFresh().length,
                "each block is reported once, the first time it is handed out");
        BlockTable c = new BlockTable();
        assertTrue(m.grow(c, 16));
        assertEquals(0, m.drainFresh().length, "blocks used before are not fresh again");
    }

    @Test
    void aCommittedPrefixIsFoundAgainOnlyWithTheSameSaltAndEveryEarlierBlock() {
        BlockManager m = new BlockManager(16, BS, true);
        int[] ids = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        BlockTable first = new BlockTable();
        assertEquals(0, m.matchPrefix(first, "a", tokens(ids), 2));
        m.grow(first, ids.length);
        m.commit(first, 2, "a", tokens(ids));
        assertEquals(2, m.cachedBlocks());

        BlockTable same = new BlockTable();
        assertEquals(2, m.matchPrefix(same, "a", tokens(ids), 2));
        assertArrayEquals(
                new int[] {first.block(0), first.block(1)},
                blocksOf(same),
                "the very blocks are shared");
        assertEquals(
                1,
                m.matchPrefix(new BlockTable(), "a", tokens(1, 2, 3, 4, 0, 6, 7, 8), 2),
                "a different second block stops the match after the first");
        assertEquals(
                0,
                m.matchPrefix(new BlockTable(), "b", tokens(ids), 2),
                "another adapter mix shares nothing");
        assertEquals(
                0,
                m.matchPrefix(new BlockTable(), "a", tokens(5, 6, 7, 8), 1),
                "a block's content alone does not match: its prefix must too");
    }

    @Test
    void cachedBlocksNobodyOwnsAreEvictedLeastRecentlyReleasedFirst() {
        BlockManager m = new BlockManager(5, BS, true);
        int[] x = {1, 1, 1, 1, 2, 2, 2, 2};
        int[] y = {3, 3, 3, 3, 4, 4, 4, 4};
        BlockTable a = new BlockTable();
        m.grow(a, 8);
        m.commit(a, 2, "", tokens(x));
        m.free(a);
        BlockTable b = new BlockTable();
        m.grow(b, 8);
        m.commit(b, 2, "", tokens(y));
        m.free(b);
        assertEquals(0, m.used());
        assertEquals(
                4,
                m.cachedBlocks(),
                "released blocks keep their content while nobody needs the room");
        BlockTable c = new BlockTable();
        assertTrue(m.grow(c, 4));
        assertEquals(1, m.evictions());
        assertEquals(
                1,
                m.matchPrefix(new BlockTable(), "", tokens(x), 2),
                "x's last block went first (a later block is useless without its prefix)");
        assertEquals(
                2,
                m.matchPrefix(new BlockTable(), "", tokens(y), 2),
                "y, released later, is whole");
    }

    @Test
    void aSharedBlockIsFreedOnlyWhenItsLastOwnerLetsGo() {
        BlockManager m = new BlockManager(3, BS, true);
        int[] x = {1, 2, 3, 4, 5};
        BlockTable a = new BlockTable();
        m.grow(a, 5);
        m.commit(a, 1, "", tokens(x));
        BlockTable b = new BlockTable();
        assertEquals(1, m.matchPrefix(b, "", tokens(x), 1));
        m.free(a);
        assertEquals(1, m.used(), "b still owns the shared block");
        BlockTable c = new BlockTable();
        assertFalse(m.grow(c, 8), "the shared block cannot be evicted while owned");
        m.free(c);
        m.free(b);
        assertEquals(0, m.used());
    }

    @Test
    void contentAlreadyCachedUnderAnotherBlockLeavesTheCopyPrivateAndTheChainIntact() {
        BlockManager m = new BlockManager(16, BS, true);
        int[] x = {1, 2, 3, 4, 5, 6, 7, 8};
        BlockTable a = new BlockTable();
        BlockTable b = new BlockTable();
        m.grow(a, 8);
        m.grow(b, 8);
        // Both computed the same first block in the same step; a registers first.
        m.commit(a, 1, "", tokens(x));
        m.commit(b, 1, "", tokens(x));
        assertEquals(1, m.cachedBlocks());
        m.commit(b, 2, "", tokens(x));
        BlockTable c = new BlockTable();
        assertEquals(2, m.matchPrefix(c, "", tokens(x), 2), "b's second block chains on a's first");
        assertEquals(a.block(0), c.block(0));
        assertEquals(b.block(1), c.block(1));
    }

    @Test
    void aPrefixEndingInsideABlockIsCopiedFromTheCachedSiblingThatSharesTheMostPositions() {
        BlockManager m = new BlockManager(16, BS, true);
        int[] a = {1, 2, 3, 4, 5, 6, 9, 9};
        int[] b = {1, 2, 3, 4, 5, 6, 7, 9};
        for (int[] ids : new int[][] {a, b}) {
            BlockTable t = new BlockTable();
            m.grow(t, ids.length);
            m.commit(t, 2, "s", tokens(ids));
            m.free(t);
        }
        m.drainFresh();
        int[] want = {1, 2, 3, 4, 5, 6, 7, 8};
        BlockTable t = new BlockTable();
        assertEquals(1, m.matchPrefix(t, "s", tokens(want), 2), "the first block is shared whole");
        BlockManager.PartialHit hit = m.matchPartial(t, "s", tokens(want).apply(1), 1, 3);
        assertEquals(3, hit.positions(), "5, 6, 7 agree with b's second block; a's agrees on two");
        int available = m.available();
        assertTrue(m.grow(t, 8));
        assertEquals(
                available - 1,
                m.available(),
                "the source is referenced, so the new block is another one");
        assertNotEquals(hit.block(), t.block(1));
        m.copyInto(hit, t.block(1));
        assertArrayEquals(new int[] {hit.block(), t.block(1)}, m.drainCopies());
        assertEquals(available, m.available(), "draining gives the source's reference back");
        assertEquals(0, m.drainCopies().length);

        assertEquals(
                null,
                m.matchPartial(t, "other", tokens(want).apply(1), 1, 3),
                "another salt shares nothing");
        BlockTable u = new BlockTable();
        m.matchPrefix(u, "s", tokens(want), 2);
        BlockManager.PartialHit limited = m.matchPartial(u, "s", tokens(want).apply(1), 1, 2);
        assertEquals(
                2,
                limited.positions(),
                "never more than the limit (the last prompt token is always computed)");
        m.release(limited);
        m.free(u);
        assertEquals(
                available, m.available(), "u's references are all given back (t keeps its own)");
    }

    @Test
    void aSecondFieldPerPositionMustAgreeToo() {
        BlockManager m = new BlockManager(8, BS, true);
        // Content laid out field by field: four token ids, then four table rows.
        IntFunction<int[]> first = i -> new int[] {1, 2, 3, 4, 0, 0, 0, 0};
        IntFunction<int[]> second =
                i ->
                        i == 0
                                ? new int[] {1, 2, 3, 4, 0, 0, 0, 0}
                                : new int[] {5, 6, 7, 8, 0, 0, 1, 1};
        BlockTable t = new BlockTable();
        m.grow(t, 8);
        m.commit(t, 2, "", second);
        BlockTable u = new BlockTable();
        assertEquals(1, m.matchPrefix(u, "", first, 2));
        BlockManager.PartialHit hit =
                m.matchPartial(u, "", new int[] {5, 6, 7, 8, 0, 1, 1, 1}, 2, 4);
        assertEquals(
                1,
                hit.positions(),
                "the same token at position 1 under another table row does not match");
    }
}
