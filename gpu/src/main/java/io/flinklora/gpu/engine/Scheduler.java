package io.flinklora.gpu.engine;

import io.flinklora.gpu.kv.KvCache;
import io.flinklora.gpu.kv.KvSlot;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.function.Predicate;

/**
 * Continuous batching: admits waiting sequences first come, first served while a KV slot and the
 * running limit allow, and splits each step's token budget between decoding sequences (one token
 * each, always) and prefilling ones (the rest, oldest first, in chunks).
 */
public final class Scheduler {
    private final KvCache cache;
    private final int maxRunning;
    private final int maxTokensPerStep;
    private final Deque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();

    public Scheduler(KvCache cache, int maxRunning, int maxTokensPerStep) {
        if (maxTokensPerStep < maxRunning) {
            throw new IllegalArgumentException("maxTokensPerStep " + maxTokensPerStep
                    + " must be at least maxRunning " + maxRunning + " so every running sequence can decode");
        }
        this.cache = cache;
        this.maxRunning = Math.min(maxRunning, cache.capacity());
        this.maxTokensPerStep = maxTokensPerStep;
    }

    void add(Sequence s) {
        waiting.addLast(s);
    }

    /**
     * Admits what fits and plans the step. {@code ready} says whether a waiting sequence may start now
     * (its adapters are resident); one that is not ready keeps its place without blocking those behind it.
     */
    Batch schedule(Predicate<Sequence> ready) {
        for (var it = waiting.iterator(); it.hasNext() && running.size() < maxRunning; ) {
            Sequence s = it.next();
            if (!ready.test(s)) {
                continue;
            }
            KvSlot slot = cache.allocate();
            if (slot == null) {
                break;
            }
            it.remove();
            s.assign(slot);
            running.add(s);
        }
        if (running.isEmpty()) {
            return new Batch(List.of());
        }
        // Rows follow slot order: attention reads slots 0..n-1 as one view of the cache.
        Sequence[] bySlot = new Sequence[running.size()];
        for (Sequence s : running) {
            bySlot[s.slot().index()] = s;
        }
        int budget = maxTokensPerStep;
        for (Sequence s : running) {
            if (s.pending() == 1) {
                budget--;
            }
        }
        int[] chunk = new int[bySlot.length];
        // Prefills share what is left, oldest request first.
        List<Sequence> prefilling = new ArrayList<>();
        for (Sequence s : running) {
            if (s.pending() > 1) {
                prefilling.add(s);
            }
        }
        prefilling.sort(Comparator.comparingLong(Sequence::arrivalNanos));
        for (Sequence s : prefilling) {
            int n = Math.min(s.pending(), budget);
            chunk[s.slot().index()] = n;
            budget -= n;
        }
        List<Batch.Chunk> chunks = new ArrayList<>(bySlot.length);
        for (int i = 0; i < bySlot.length; i++) {
            Sequence s = bySlot[i];
            int n = s.pending() == 1 ? 1 : chunk[i];
            chunks.add(new Batch.Chunk(s, s.computed(), n));
        }
        return new Batch(chunks);
    }

    /** Removes a finished or aborted sequence, freeing its cache slot at once. */
    void remove(Sequence s) {
        if (running.remove(s)) {
            cache.release(s.slot());
        } else {
            waiting.remove(s);
        }
    }

    public int runningCount() {
        return running.size();
    }

    public int waitingCount() {
        return waiting.size();
    }

    List<Sequence> waitingSequences() {
        return List.copyOf(waiting);
    }

    boolean isIdle() {
        return running.isEmpty() && waiting.isEmpty();
    }

    @Override
    public String toString() {
        return "Scheduler[running=" + running.size() + ", waiting=" + waiting.size() + ", slots="
                + Arrays.toString(new int[] {cache.used(), cache.capacity()}) + "]";
    }
}
