package io.flinklora.gpu.engine;

import io.flinklora.gpu.kv.KvCache;
import io.flinklora.gpu.kv.KvSlot;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;

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

    /** Whether a waiting sequence may start now; the engine answers from its adapters' state. */
    interface Admission {
        /** What a waiting sequence's adapters allow. */
        enum Verdict {
            /** Start it. */
            READY,
            /** Its adapter is loading from disk: skip it, the others go ahead. */
            LOADING,
            /** No device room for its adapter until running sequences end: later adapter requests queue behind it. */
            NO_CAPACITY,
            /** It cannot run (its adapter failed to load): drop it and report. */
            FAIL
        }

        Verdict check(Sequence s);

        void admitted(Sequence s);
    }

    /**
     * Admits what fits, first come first served, and plans the step. A sequence waiting for device
     * room for its adapter holds back later sequences that need adapters (so a stream of requests
     * for resident adapters cannot starve a cold one); base-model sequences and sequences whose
     * adapter is still loading from disk do not hold anyone back.
     */
    Batch schedule(Admission admission) {
        List<Sequence> failed = new ArrayList<>();
        boolean adapterLine = false;
        for (var it = waiting.iterator(); it.hasNext() && running.size() < maxRunning; ) {
            Sequence s = it.next();
            boolean usesAdapters = !s.adapters().isEmpty();
            if (usesAdapters && adapterLine) {
                continue;
            }
            Admission.Verdict v = admission.check(s);
            if (v == Admission.Verdict.FAIL) {
                it.remove();
                failed.add(s);
                continue;
            }
            if (v == Admission.Verdict.NO_CAPACITY) {
                adapterLine = true;
                continue;
            }
            if (v == Admission.Verdict.LOADING) {
                continue;
            }
            KvSlot slot = cache.allocate();
            if (slot == null) {
                break;
            }
            it.remove();
            s.assign(slot);
            running.add(s);
            admission.admitted(s);
        }
        if (running.isEmpty()) {
            return new Batch(List.of(), failed);
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
        return new Batch(chunks, failed);
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

    List<Sequence> runningSequences() {
        return List.copyOf(running);
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
