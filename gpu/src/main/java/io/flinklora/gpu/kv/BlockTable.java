package io.flinklora.gpu.kv;

import io.flinklora.annotation.Internal;
import java.util.Arrays;

/**
 * The KV blocks of one sequence, in position order: position p lives in block {@code block(p /
 * blockSize)} at offset {@code p % blockSize}. The first {@link #registered()} blocks are full and
 * content-addressed in the prefix cache; {@link #keyId(int)} names their content for the next
 * block's key.
 */
@Internal
public final class BlockTable {
    private int[] blocks = new int[8];
    private long[] keyIds = new long[8];
    private int size;
    private int registered;

    public int size() {
        return size;
    }

    public int block(int i) {
        return blocks[i];
    }

    /** Blocks at the front whose content is in the prefix cache. */
    public int registered() {
        return registered;
    }

    /**
     * Content id of registered block {@code i}; 0 before the first block (the root of every chain).
     */
    public long keyId(int i) {
        return i < 0 ? 0 : keyIds[i];
    }

    void add(int block) {
        if (size == blocks.length) {
            blocks = Arrays.copyOf(blocks, size * 2);
            keyIds = Arrays.copyOf(keyIds, size * 2);
        }
        blocks[size++] = block;
    }

    void markRegistered(int i, long keyId) {
        if (i != registered) {
            throw new IllegalStateException(
                    "block " + i + " registered out of order (next is " + registered + ")");
        }
        keyIds[i] = keyId;
        registered++;
    }

    void clear() {
        size = 0;
        registered = 0;
    }

    @Override
    public String toString() {
        return "BlockTable" + Arrays.toString(Arrays.copyOf(blocks, size));
    }
}
