package io.flinklora.gpu.engine;

import io.flinklora.annotation.Internal;
import io.flinklora.gpu.kv.BlockManager;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Continuous batching over a paged KV cache: admits waiting sequences by priority (lower values
 * first; first come, first served within a priority) while KV blocks and the running limit allow
 * (reusing cached blocks of their longest cached prefix), gives every running sequence room for its
 * next token - preempting the running sequence of the highest priority value, newest first, when
 * blocks run out - and splits each step's token budget between decoding sequences (one token each,
 * always) and prefilling ones (the rest, by priority then age, in chunks). A waiting sequence that
 * cannot start because the batch or the pool is full takes the place of running sequences of higher
 * priority values (vLLM's priority policy; with every priority equal none is preempted this way and
 * the order is plain FCFS).
 */
@Internal
public final class Scheduler {
    private final BlockManager blocks;
    private final int maxRunning;
    private final int maxTokensPerStep;
    private final BlockContent content;

    /**
     * In admission order: by priority, then as added (a preempted sequence first of its priority).
     */
    private final List<Sequence> waiting = new ArrayList<>();

    /** Running sequences in the order prefills share a step's tokens: priority, then age. */
    private static final Comparator<Sequence> SERVE_ORDER =
            Comparator.comparingInt(Sequence::priority).thenComparingLong(Sequence::arrivalNanos);

    private final List<Sequence> running = new ArrayList<>();
    private long preemptions;
    private long promptTokens;
    private long cachedPromptTokens;

    /**
     * What addresses a sequence's KV blocks in the prefix cache, besides their position in the
     * chain.
     */
    interface BlockContent {
        /**
         * The content of block {@code block}: everything that decides its keys and values, given
         * the prefix.
         */
        int[] of(Sequence s, int block);
    }

    Scheduler(BlockManager blocks, int maxRunning, int maxTokensPerStep, BlockContent content) {
        if (maxTokensPerStep < maxRunning) {
            throw new IllegalArgumentException(
                    "maxTokensPerStep "
                            + maxTokensPerStep
                            + " must be at least maxRunning "
                            + maxRunning
                            + " so every running sequence can decode");
        }
        this.blocks = blocks;
        this.maxRunning = maxRunning;
        this.maxTokensPerStep = maxTokensPerStep;
        this.content = content;
    }

    void add(Sequence s) {
        int at = waiting.size();
        while (at > 0 && waiting.get(at - 1).priority() > s.priority()) {
            at--;
        }
        waiting.add(at, s); // last of its priority
    }

    /** Back to the queue after a preemption: first of its priority, ahead of later arrivals. */
    private void requeue(Sequence s) {
        int at = 0;
        while (at < waiting.size() && waiting.get(at).priority() < s.priority()) {
            at++;
        }
        waiting.add(at, s);
    }

    /** Whether a waiting sequence may start now; the engine answers from its adapters' state. */
    interface Admission {
        /** What a waiting sequence's adapters allow. */
        enum Verdict {
            /** Start it. */
            READY,
            /** Its adapter is loading from disk: skip it, the others go ahead. */
            LOADING,
            /**
             * No device room for its adapter until running sequences end: later adapter requests
             * queue behind it.
             */
            NO_CAPACITY,
            /** It cannot run (its adapter failed to load): drop it and report. */
            FAIL
        }

        Verdict check(Sequence s);

        /**
         * The prefix-cache salt of a sequence about to start: what besides its tokens decides its
         * keys and values.
         */
        String cacheSalt(Sequence s);

        void admitted(Sequence s);

        /**
         * A running sequence gave its KV blocks back and waits again; it is admitted anew later.
         */
        void preempted(Sequence s);
    }

    /**
     * Positions a sequence's blocks must hold before its next step: every token it has, and for a
     * constrained request the prompt plus its whole candidate tree (reserved at once, so it never
     * grows).
     */
    private static int reserved(Sequence s) {
        return s.choices() == null ? s.length() : s.promptLength() + s.choices().treeLength();
    }

    /**
     * Plans the next step: room for every running sequence's next token (preempting the lowest
     * priority, newest first, when blocks run out), then admission of what fits by priority (a
     * sequence that finds the batch or the pool full preempts running ones of higher priority
     * values). A sequence waiting for device room for its adapter holds back later sequences that
     * need adapters (so a stream of requests for resident adapters cannot starve a cold one);
     * base-model sequences and sequences whose adapter is still loading from disk do not hold
     * anyone back.
     */
    Batch schedule(Admission admission) {
        running.sort(SERVE_ORDER);
        java.util.Set<Sequence> grown =
                java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (int i = 0; i < running.size(); i++) {
            Sequence s = running.get(i);
            if (grown.contains(s)) {
                continue;
            }
            boolean preempted = false;
            while (!blocks.grow(s.blocks(), reserved(s))) {
                Sequence victim = preemptible(Long.MIN_VALUE); // any priority, MIN_VALUE too
                if (victim == null) {
                    throw new IllegalStateException(
                            "KV blocks ran out with only constrained requests running");
                }
                preempt(victim, admission);
                preempted = true;
                if (victim == s) {
                    break;
                }
            }
            if (running.contains(s)) {
                grown.add(s);
            }
            if (preempted) {
                i = -1; // a victim may have sat before s: scan again, skipping the grown
            }
        }
        List<Sequence> failed = new ArrayList<>();
        boolean adapterLine = false;
        // A snapshot: preemptions below requeue sequences, which wait for the next step.
        for (Sequence s : new ArrayList<>(waiting)) {
            if (running.size() >= maxRunning && preemptible(s.priority()) == null) {
                break; // a full batch of equal or higher priorities
            }
            boolean usesAdapters = !s.adapters().isEmpty();
            if (usesAdapters && adapterLine) {
                continue;
            }
            Admission.Verdict v = admission.check(s);
            if (v == Admission.Verdict.FAIL) {
                waiting.remove(s);
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
            if (running.size() >= maxRunning) {
                preemptFor(s, admission); // there is a victim: checked above, nothing ran since
            }
            Start started = start(s, admission);
            while (started == Start.NO_ROOM && preemptFor(s, admission)) {
                started = start(s, admission);
            }
            if (started == Start.NO_ROOM) {
                break;
            }
            if (started == Start.DEFERRED) {
                continue;
            }
            waiting.remove(s);
            running.add(s);
            admission.admitted(s);
        }
        if (running.isEmpty()) {
            return new Batch(List.of(), failed);
        }
        int budget = maxTokensPerStep;
        for (Sequence s : running) {
            if (s.pending() == 1) {
                budget--;
            }
        }
        // Prefills share what is left: by priority, then oldest request first.
        List<Sequence> prefilling = new ArrayList<>();
        for (Sequence s : running) {
            if (s.pending() > 1) {
                prefilling.add(s);
            }
        }
        prefilling.sort(SERVE_ORDER);
        java.util.IdentityHashMap<Sequence, Integer> chunk = new java.util.IdentityHashMap<>();
        for (Sequence s : prefilling) {
            int n = Math.min(s.pending(), budget);
            chunk.put(s, n);
            budget -= n;
        }
        List<Batch.Chunk> chunks = new ArrayList<>(running.size());
        for (Sequence s : running) {
            int n = s.pending() == 1 ? 1 : chunk.getOrDefault(s, 0);
            chunks.add(new Batch.Chunk(s, s.computed(), n));
        }
        return new Batch(chunks, failed);
    }

    private enum Start {
        STARTED,
        NO_ROOM,
        DEFERRED
    }

    /**
     * Gives a sequence its blocks: the cached blocks of its longest cached prefix (at least one
     * token is always computed, for the logits of the next one), then fresh blocks for the rest.
     * NO_ROOM when the pool cannot hold it now; DEFERRED when its next block is being computed by a
     * running sequence right now (a burst of requests behind one instruction then prefills it once,
     * not once per request).
     */
    private Start start(Sequence s, Admission admission) {
        String salt = admission.cacheSalt(s);
        s.setCacheSalt(salt);
        int bs = blocks.blockSize();
        int cacheable = cacheablePrompt(s) - 1;
        int hit = blocks.matchPrefix(s.blocks(), salt, b -> content.of(s, b), cacheable / bs);
        if (blocks.prefixCaching()
                && hit < cacheable / bs
                && computingNow(s, salt, (hit + 1) * bs)) {
            blocks.free(s.blocks());
            return Start.DEFERRED;
        }
        // The block the cached prefix ends in: copy the positions a cached sibling shares instead
        // of computing them.
        BlockManager.PartialHit partial = null;
        if (blocks.prefixCaching() && cacheable > hit * bs) {
            int[] next = content.of(s, hit);
            partial =
                    blocks.matchPartial(
                            s.blocks(),
                            salt,
                            next,
                            next.length / bs,
                            Math.min(cacheable - hit * bs, bs));
        }
        if (!blocks.grow(s.blocks(), reserved(s))) {
            if (partial != null) {
                blocks.release(partial);
            }
            blocks.free(s.blocks());
            return Start.NO_ROOM;
        }
        int copied = 0;
        if (partial != null) {
            blocks.copyInto(partial, s.blocks().block(hit));
            copied = partial.positions();
        }
        s.resetComputed(hit * bs + copied);
        promptTokens += s.length();
        cachedPromptTokens += (long) hit * bs + copied;
        return Start.STARTED;
    }

    /** Positions of a sequence whose keys and values are a causal prefix others can share. */
    private static int cacheablePrompt(Sequence s) {
        return s.choices() == null ? s.length() : s.promptLength();
    }

    /**
     * Whether a running sequence with the same salt is still to compute the first {@code positions}
     * positions, which it shares with {@code s}: they will be in the cache within a few steps.
     */
    private boolean computingNow(Sequence s, String salt, int positions) {
        for (Sequence r : running) {
            if (r.computed() < positions
                    && cacheablePrompt(r) >= positions
                    && salt.equals(r.cacheSalt())
                    && samePrefix(r, s, positions)) {
                return true;
            }
        }
        return false;
    }

    private static boolean samePrefix(Sequence a, Sequence b, int positions) {
        for (int p = 0; p < positions; p++) {
            if (a.token(p) != b.token(p)) {
                return false;
            }
        }
        return true;
    }

    /**
     * The running sequence to give its blocks back first, among those of priority values above
     * {@code than}: the highest value, newest among equals (vLLM: the max of priority and arrival);
     * never a constrained request (reserved whole). Null when there is none.
     */
    private Sequence preemptible(long than) {
        Sequence victim = null;
        for (Sequence r : running) {
            if (r.choices() == null
                    && r.priority() > than
                    && (victim == null || SERVE_ORDER.compare(r, victim) >= 0)) {
                victim = r;
            }
        }
        return victim;
    }

    /**
     * Makes room for waiting {@code s} by preempting a running sequence of a higher priority value;
     * false when there is none (equal priorities never preempt each other).
     */
    private boolean preemptFor(Sequence s, Admission admission) {
        Sequence victim = preemptible(s.priority());
        if (victim == null) {
            return false;
        }
        preempt(victim, admission);
        return true;
    }

    private void preempt(Sequence s, Admission admission) {
        blocks.free(s.blocks());
        s.resetComputed(0);
        running.remove(s);
        requeue(s);
        preemptions++;
        admission.preempted(s);
    }

    /**
     * Drops a running sequence's cached tokens so that it prefills them all again, from the front
     * of the queue (as a preemption, but not counted as one: nothing ran out).
     */
    void recompute(Sequence s, Admission admission) {
        preempt(s, admission);
        preemptions--;
    }

    /** After a step computed tokens of {@code s}: its newly full blocks enter the prefix cache. */
    void computed(Sequence s) {
        if (!blocks.prefixCaching()) {
            return;
        }
        // Candidate tokens of a choice tree see only their own branch: not a causal prefix anyone
        // shares.
        int causal = Math.min(s.computed(), cacheablePrompt(s));
        blocks.commit(
                s.blocks(), causal / blocks.blockSize(), s.cacheSalt(), b -> content.of(s, b));
    }

    /** Removes a finished or aborted sequence, giving its blocks back at once. */
    void remove(Sequence s) {
        if (running.remove(s)) {
            blocks.free(s.blocks());
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

    long preemptions() {
        return preemptions;
    }

    /**
     * Tokens sequences brought when they started (prompt, and generated tokens after a restore or
     * preemption).
     */
    long promptTokens() {
        return promptTokens;
    }

    /** Of those, the tokens found in the prefix cache instead of computed. */
    long cachedPromptTokens() {
        return cachedPromptTokens;
    }

    @Override
    public String toString() {
        return "Scheduler[running="
                + running.size()
                + ", waiting="
                + waiting.size()
                + ", blocks="
                + blocks.used()
                + "/"
                + blocks.total()
                + "]";
    }
}
