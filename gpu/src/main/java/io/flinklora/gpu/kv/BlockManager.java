package io.flinklora.gpu.kv;

import io.flinklora.annotation.Internal;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * Hands out the blocks of a {@link KvBlockPool} to block tables, and keeps full blocks
 * content-addressed for automatic prefix caching (as vLLM's KV cache manager does).
 *
 * <p>A block is free, owned (a reference count of the tables holding it) or cached without an
 * owner. A full block's key is a chain: the id of the previous block's key, a salt (what else
 * decides the keys and values: the adapter mix) and the block's content (token ids, and anything
 * else the caller knows changes them). Keys compare by their whole content, not a hash, so a hit is
 * exact. Cached blocks nobody owns are evicted least recently released first when a block is
 * needed.
 */
@Internal
public final class BlockManager {
    private final int blockSize;
    private final int total;
    private final boolean prefixCaching;
    private final int[] refs;
    private final Key[] keyOf;
    private final boolean[] touched;
    // Free blocks that hold no cached content; last freed first, so few distinct blocks (pages) get
    // used.
    private final ArrayDeque<Integer> free = new ArrayDeque<>();
    // Cached blocks with no owner, least recently released first.
    private final LinkedHashSet<Integer> evictable = new LinkedHashSet<>();
    private final Map<Key, Integer> cached = new HashMap<>();
    // Cached blocks by the key id of the block before them, for matches that end inside a block.
    private final Map<Long, LinkedHashSet<Integer>> children = new HashMap<>();
    private int[] fresh = new int[16];
    private int freshCount;
    // Pending copies (source, destination) of partly matched blocks; each source holds a reference
    // until drained.
    private int[] copies = new int[16];
    private int copyCount;
    private long nextKeyId = 1;
    private long evictions;

    /** The content-address of a full block; {@code id} names it as the parent of the next block. */
    private static final class Key {
        final long parent;
        final String salt;
        final int[] content;
        final int hash;
        long id;

        Key(long parent, String salt, int[] content) {
            this.parent = parent;
            this.salt = salt;
            this.content = content;
            this.hash =
                    31 * (31 * Long.hashCode(parent) + salt.hashCode()) + Arrays.hashCode(content);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Key k
                    && k.parent == parent
                    && k.salt.equals(salt)
                    && Arrays.equals(k.content, content);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    /**
     * @param blocks blocks of the pool, {@link KvBlockPool#NULL_BLOCK} included (never handed out)
     */
    public BlockManager(int blocks, int blockSize, boolean prefixCaching) {
        if (blocks < 2) {
            throw new IllegalArgumentException("a KV pool needs at least one usable block");
        }
        this.blockSize = blockSize;
        this.total = blocks - 1;
        this.prefixCaching = prefixCaching;
        this.refs = new int[blocks];
        this.keyOf = new Key[blocks];
        this.touched = new boolean[blocks];
        for (int b = blocks - 1; b >= 1; b--) {
            free.push(b);
        }
        touched[KvBlockPool.NULL_BLOCK] = true;
    }

    public int blockSize() {
        return blockSize;
    }

    public boolean prefixCaching() {
        return prefixCaching;
    }

    /** Usable blocks in the pool. */
    public int total() {
        return total;
    }

    /** Blocks a new table could get now: free ones and cached ones nobody owns. */
    public int available() {
        return free.size() + evictable.size();
    }

    /** Blocks owned by at least one table. */
    public int used() {
        return total - available();
    }

    /** Blocks whose content is in the prefix cache (owned or not). */
    public int cachedBlocks() {
        return cached.size();
    }

    public long evictions() {
        return evictions;
    }

    /** Blocks needed for {@code positions} positions. */
    public int blocksFor(int positions) {
        return (positions + blockSize - 1) / blockSize;
    }

    /**
     * Appends to an empty table the longest run of cached blocks matching its first blocks, up to
     * {@code maxBlocks}, and takes a reference on each; returns how many matched.
     *
     * @param content the content of the table's block i (as given to {@link #commit})
     */
    public int matchPrefix(
            BlockTable table, String salt, IntFunction<int[]> content, int maxBlocks) {
        if (table.size() != 0) {
            throw new IllegalStateException("prefix matching needs an empty block table");
        }
        if (!prefixCaching) {
            return 0;
        }
        long parent = 0;
        int n = 0;
        while (n < maxBlocks) {
            Integer b = cached.get(new Key(parent, salt, content.apply(n)));
            if (b == null) {
                break;
            }
            if (refs[b]++ == 0) {
                evictable.remove(b);
            }
            table.add(b);
            table.markRegistered(n, keyOf[b].id);
            parent = keyOf[b].id;
            n++;
        }
        return n;
    }

    /**
     * A cached block whose first {@code positions} positions hold what a table's next block would.
     */
    public record PartialHit(int block, int positions) {}

    // Children scanned for a partial match: they share everything before the block, so a shared
    // text
    // continues in any of them (a bound keeps admission cheap behind an instruction with thousands
    // of records).
    private static final int PARTIAL_CANDIDATES = 64;

    /**
     * After {@link #matchPrefix}: the cached block, following the table's last block, that agrees
     * with {@code content} (the table's next block) on the longest run of leading positions, at
     * most {@code limit}. Takes a reference on it, given back by {@link #copyInto} or {@link
     * #release}. SGLang's radix cache shares prefixes to the token; this gets the same for the
     * block a shared prefix ends in, by copying its matching positions into the table's own block
     * instead of computing them again.
     *
     * @param content the next block's content as for {@link #commit}, a position past the sequence
     *     holding a value no real block holds (so it never matches)
     * @param fields how many values per position {@code content} holds (laid out field by field)
     * @return null when no cached block shares even the first position
     */
    public PartialHit matchPartial(
            BlockTable table, String salt, int[] content, int fields, int limit) {
        if (!prefixCaching || limit <= 0) {
            return null;
        }
        LinkedHashSet<Integer> candidates = children.get(table.keyId(table.size() - 1));
        if (candidates == null) {
            return null;
        }
        int best = -1;
        int bestLength = 0;
        int scanned = 0;
        for (int b : candidates) {
            if (++scanned > PARTIAL_CANDIDATES) {
                break;
            }
            Key k = keyOf[b];
            if (!k.salt.equals(salt)) {
                continue;
            }
            int n = 0;
            while (n < limit && samePosition(k.content, content, n, fields)) {
                n++;
            }
            if (n > bestLength) {
                best = b;
                bestLength = n;
            }
        }
        if (best < 0) {
            return null;
        }
        if (refs[best]++ == 0) {
            evictable.remove(best);
        }
        return new PartialHit(best, bestLength);
    }

    private boolean samePosition(int[] a, int[] b, int position, int fields) {
        for (int f = 0; f < fields; f++) {
            int i = f * blockSize + position;
            if (a[i] != b[i]) {
                return false;
            }
        }
        return true;
    }

    /**
     * Schedules the copy of a partly matched block into a table's own block (before the next
     * forward pass).
     */
    public void copyInto(PartialHit hit, int destination) {
        if (copyCount * 2 + 2 > copies.length) {
            copies = Arrays.copyOf(copies, copies.length * 2);
        }
        copies[copyCount * 2] = hit.block();
        copies[copyCount * 2 + 1] = destination;
        copyCount++;
    }

    /** Gives back the reference {@link #matchPartial} took, when its block will not be copied. */
    public void release(PartialHit hit) {
        unref(hit.block());
    }

    /**
     * The copies scheduled since the last call, as (source, destination) pairs; their sources'
     * references are given back, so the caller must copy before any block is handed out again.
     */
    public int[] drainCopies() {
        int[] out = Arrays.copyOf(copies, copyCount * 2);
        for (int i = 0; i < copyCount; i++) {
            unref(copies[i * 2]);
        }
        copyCount = 0;
        return out;
    }

    private void unref(int b) {
        if (--refs[b] == 0) {
            if (keyOf[b] != null) {
                evictable.add(b);
            } else {
                free.push(b);
            }
        } else if (refs[b] < 0) {
            throw new IllegalStateException("block " + b + " freed more often than taken");
        }
    }

    /**
     * Grows a table to hold {@code positions} positions; false (keeping what it got) when blocks
     * run out.
     */
    public boolean grow(BlockTable table, int positions) {
        while ((long) table.size() * blockSize < positions) {
            int b = allocate();
            if (b < 0) {
                return false;
            }
            table.add(b);
        }
        return true;
    }

    private int allocate() {
        int b;
        if (!free.isEmpty()) {
            b = free.pop();
        } else if (!evictable.isEmpty()) {
            Iterator<Integer> eldest = evictable.iterator();
            b = eldest.next();
            eldest.remove();
            cached.remove(keyOf[b]);
            LinkedHashSet<Integer> siblings = children.get(keyOf[b].parent);
            siblings.remove(b);
            if (siblings.isEmpty()) {
                children.remove(keyOf[b].parent);
            }
            keyOf[b] = null;
            evictions++;
        } else {
            return -1;
        }
        refs[b] = 1;
        if (!touched[b]) {
            touched[b] = true;
            if (freshCount == fresh.length) {
                fresh = Arrays.copyOf(fresh, freshCount * 2);
            }
            fresh[freshCount++] = b;
        }
        return b;
    }

    /**
     * Puts the table's first {@code fullBlocks} blocks (full, computed) in the prefix cache. A
     * block whose content is already cached under another block stays private; the chain continues
     * from the cached one, so later blocks are still found.
     */
    public void commit(BlockTable table, int fullBlocks, String salt, IntFunction<int[]> content) {
        if (!prefixCaching) {
            return;
        }
        for (int i = table.registered(); i < Math.min(fullBlocks, table.size()); i++) {
            Key key = new Key(table.keyId(i - 1), salt, content.apply(i));
            int b = table.block(i);
            Integer existing = cached.get(key);
            if (existing != null) {
                table.markRegistered(i, keyOf[existing].id);
            } else if (keyOf[b] != null) {
                // Written again with other content (the recompute-everything baseline): not
                // expected here.
                throw new IllegalStateException(
                        "block " + b + " is already cached under other content");
            } else {
                key.id = nextKeyId++;
                cached.put(key, b);
                keyOf[b] = key;
                children.computeIfAbsent(key.parent, x -> new LinkedHashSet<>()).add(b);
                table.markRegistered(i, key.id);
            }
        }
    }

    /**
     * Gives back every block of a table (cached ones stay findable until evicted) and empties it.
     */
    public void free(BlockTable table) {
        // Last block first: a later block is useless without its prefix, so it should be evicted
        // first.
        for (int i = table.size() - 1; i >= 0; i--) {
            unref(table.block(i));
        }
        table.clear();
    }

    /**
     * Blocks handed out for the first time since the last call: the pool must zero them before use.
     */
    public int[] drainFresh() {
        int[] out = Arrays.copyOf(fresh, freshCount);
        freshCount = 0;
        return out;
    }
}
