package io.flinklora.gpu.kv;

/** One sequence's place in the {@link KvCache}: its slot index (which moves on compaction) and cached length. */
public final class KvSlot {
    private int index;
    private int length;

    KvSlot(int index) {
        this.index = index;
    }

    /** Current slot index, or -1 once released. */
    public int index() {
        return index;
    }

    /** Number of positions whose keys and values are in the cache. */
    public int length() {
        return length;
    }

    public void setLength(int length) {
        this.length = length;
    }

    void moveTo(int newIndex) {
        this.index = newIndex;
    }
}
