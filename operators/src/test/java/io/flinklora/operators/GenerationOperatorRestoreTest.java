package io.flinklora.operators;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The generation operator in Flink's keyed operator test harness: a snapshot taken mid-generation
 * and restored into 1, 2 or 3 subtasks (from 1 and from 2) continues every request to exactly the
 * tokens of an uninterrupted run - greedy and seeded sampling alike - with each index emitted once.
 */
class GenerationOperatorRestoreTest {
    private static final int MAX_PARALLELISM = 128;
    private static final int NEW_TOKENS = 20;
    private static List<GenerationRequest> requests;
    private static Map<String, List<Integer>> uninterrupted;

    static Path model() {
        String root = System.getProperty("project.root");
        Path dir = root != null ? Path.of(root) : Path.of("").toAbsolutePath().getParent();
        Path m = dir.resolve("models/stories260k");
        if (!Files.isDirectory(m)) {
            throw new IllegalStateException("models/stories260k not found under " + dir);
        }
        return m;
    }

    static GenerationSettings settings() {
        return GenerationSettings.builder(
                        io.flinklora.gpu.engine.EngineConfig.builder(model()).maxRunning(8))
                .device("cpu")
                .build();
    }

    static KeyedOneInputStreamOperatorTestHarness<String, GenerationRequest, TokenEvent> harness(
            int parallelism, int subtask) throws Exception {
        return harness(settings(), parallelism, subtask);
    }

    static KeyedOneInputStreamOperatorTestHarness<String, GenerationRequest, TokenEvent> harness(
            GenerationSettings settings, int parallelism, int subtask) throws Exception {
        return new KeyedOneInputStreamOperatorTestHarness<>(
                new GenerationOperatorFactory(settings),
                r -> r.getRequestId().toString(),
                Types.STRING,
                MAX_PARALLELISM,
                parallelism,
                subtask);
    }

    @BeforeAll
    static void uninterruptedRun() throws Exception {
        String[] prompts = {
            "Once upon a time",
            "Tom had a big red ball.",
            "The sun was hot and the dog was",
            "Lily and Ben went to the park to",
            "One day, a little bird",
            "Sam was sad because"
        };
        requests = new ArrayList<>();
        for (int i = 0; i < prompts.length; i++) {
            GenerationRequest.Builder b =
                    GenerationRequest.newBuilder()
                            .setRequestId("r" + i)
                            .setPrompt(prompts[i])
                            .setMaxNewTokens(NEW_TOKENS)
                            .setIgnoreEos(true);
            if (i % 2 == 1) {
                b.setTemperature(0.9).setTopP(0.95).setSeed(1000L + i); // seeded sampling
            } else {
                b.setTemperature(0.0);
            }
            requests.add(b.build());
        }
        try (var h = harness(1, 0)) {
            h.open();
            feed(h);
            runToCompletion(h, requests.size());
            uninterrupted = tokens(h.extractOutputValues());
        }
        assertEquals(requests.size(), uninterrupted.size());
        uninterrupted.values().forEach(t -> assertEquals(NEW_TOKENS, t.size()));
    }

    private static long time;

    static void feed(
            KeyedOneInputStreamOperatorTestHarness<String, GenerationRequest, TokenEvent> h)
            throws Exception {
        for (GenerationRequest r : requests) {
            h.processElement(new StreamRecord<>(r));
        }
    }

    static void feed(
            KeyedOneInputStreamOperatorTestHarness<String, GenerationRequest, TokenEvent> h,
            int parallelism,
            int subtask)
            throws Exception {
        for (GenerationRequest r : requests) {
            int keyGroup =
                    org.apache.flink.runtime.state.KeyGroupRangeAssignment.assignToKeyGroup(
                            r.getRequestId().toString(), MAX_PARALLELISM);
            int owner =
                    org.apache.flink.runtime.state.KeyGroupRangeAssignment
                            .computeOperatorIndexForKeyGroup(
                                    MAX_PARALLELISM, parallelism, keyGroup);
            if (owner == subtask) {
                h.processElement(new StreamRecord<>(r));
            }
        }
    }

    /**
     * Advances processing time (each advance runs the pending engine step) until {@code n}
     * completions.
     */
    static void runToCompletion(
            KeyedOneInputStreamOperatorTestHarness<String, GenerationRequest, TokenEvent> h, int n)
            throws Exception {
        for (int i = 0; i < 5_000 && completions(h) < n; i++) {
            h.setProcessingTime(++time);
        }
        assertEquals(n, completions(h), "every request of this subtask completed");
    }

    static int completions(
            KeyedOneInputStreamOperatorTestHarness<String, GenerationRequest, TokenEvent> h) {
        var out = h.getSideOutput(Outputs.COMPLETIONS);
        return out == null ? 0 : out.size();
    }

    /** Tokens per request in index order; fails on a repeated or skipped index. */
    static Map<String, List<Integer>> tokens(List<TokenEvent> events) {
        Map<String, List<Integer>> out = new TreeMap<>();
        for (TokenEvent e : events) {
            List<Integer> ids =
                    out.computeIfAbsent(e.getRequestId().toString(), k -> new ArrayList<>());
            assertEquals(
                    ids.size(),
                    e.getIndex(),
                    "index of " + e.getRequestId() + " in order, each once");
            ids.add(e.getTokenId());
        }
        return out;
    }

    /**
     * Runs {@code from} subtasks and snapshots each right after its first engine step (prefill and
     * one token per request). The harness fires a step's follow-up timer within the same time
     * advance, so the snapshot is a timer placed between the first step's time and the later steps'
     * time.
     */
    /**
     * Runs the step due now, then snapshots mid-generation (later steps are not run): the snapshot,
     * and in {@code seen} the events emitted up to it, which its checkpoint commits.
     */
    static OperatorSubtaskState snapshotAfterFirstStep(
            KeyedOneInputStreamOperatorTestHarness<String, GenerationRequest, TokenEvent> h,
            List<TokenEvent> seen)
            throws Exception {
        long t0 = h.getProcessingTime();
        OperatorSubtaskState[] snapshot = new OperatorSubtaskState[1];
        h.getProcessingTimeService()
                .registerTimer(
                        t0,
                        ts -> {
                            snapshot[0] = h.snapshot(1L, ts);
                            seen.addAll(h.extractOutputValues());
                        });
        h.setProcessingTime(t0 + 2);
        return snapshot[0];
    }

    static Map<String, List<Integer>> interrupted(int from, List<OperatorSubtaskState> snapshots)
            throws Exception {
        Map<String, List<Integer>> before = new TreeMap<>();
        for (int s = 0; s < from; s++) {
            try (var h = harness(from, s)) {
                h.open();
                feed(h, from, s); // the first step is due at time - 1
                long t0 = time;
                List<TokenEvent> seen = new ArrayList<>();
                OperatorSubtaskState[] snapshot = new OperatorSubtaskState[1];
                h.getProcessingTimeService()
                        .registerTimer(
                                t0,
                                ts -> {
                                    snapshot[0] = h.snapshot(1L, ts);
                                    // Events up to the snapshot are the ones its checkpoint
                                    // commits; later ones roll back.
                                    seen.addAll(h.extractOutputValues());
                                });
                time = t0 + 2; // later steps are due at time - 1 = t0 + 1, after the snapshot
                h.setProcessingTime(time);
                snapshots.add(snapshot[0]);
                before.putAll(tokens(seen));
            }
        }
        assertEquals(
                requests.size(),
                before.size(),
                "every request had emitted tokens before the snapshot");
        assertTrue(
                before.values().stream().allMatch(t -> t.size() < NEW_TOKENS),
                "the snapshot is mid-generation");
        return before;
    }

    private static void restoreAndCheck(int from, int to) throws Exception {
        List<OperatorSubtaskState> snapshots = new ArrayList<>();
        Map<String, List<Integer>> combined = interrupted(from, snapshots);
        OperatorSubtaskState merged =
                AbstractStreamOperatorTestHarness.repackageState(
                        snapshots.toArray(new OperatorSubtaskState[0]));
        int restored = 0;
        for (int s = 0; s < to; s++) {
            OperatorSubtaskState state =
                    AbstractStreamOperatorTestHarness.repartitionOperatorState(
                            merged, MAX_PARALLELISM, from, to, s);
            try (var h = harness(to, s)) {
                h.setup();
                h.initializeState(state);
                h.open();
                int mine = 0;
                for (GenerationRequest r : requests) {
                    int keyGroup =
                            org.apache.flink.runtime.state.KeyGroupRangeAssignment.assignToKeyGroup(
                                    r.getRequestId().toString(), MAX_PARALLELISM);
                    mine +=
                            org.apache.flink.runtime.state.KeyGroupRangeAssignment
                                                    .computeOperatorIndexForKeyGroup(
                                                            MAX_PARALLELISM, to, keyGroup)
                                            == s
                                    ? 1
                                    : 0;
                }
                runToCompletion(h, mine);
                restored += mine;
                for (TokenEvent e : h.extractOutputValues()) {
                    List<Integer> ids = combined.get(e.getRequestId().toString());
                    assertEquals(
                            ids.size(),
                            e.getIndex(),
                            "restored " + e.getRequestId() + " continues at the next index");
                    ids.add(e.getTokenId());
                }
            }
        }
        assertEquals(
                requests.size(),
                restored,
                "every in-flight request was restored by exactly one subtask");
        assertEquals(
                uninterrupted,
                combined,
                from + " -> " + to + " subtasks: tokens equal an uninterrupted run");
    }

    @Test
    void oneSubtaskRestoresIntoOneTwoAndThree() throws Exception {
        for (int to = 1; to <= 3; to++) {
            restoreAndCheck(1, to);
        }
    }

    @Test
    void twoSubtasksRestoreIntoOneAndThree() throws Exception {
        restoreAndCheck(2, 1);
        restoreAndCheck(2, 3);
    }

    /**
     * The state version this job writes (StateCodec.RELEASED's last); names the committed
     * snapshots.
     */
    static final String STATE_VERSION = "v5";

    /**
     * An operator snapshot taken mid-generation by this job version, committed (rewrite: see
     * below).
     */
    static final String COMMITTED_SNAPSHOT =
            "/state/generation-operator-" + STATE_VERSION + ".snapshot";

    /** Written by the job version of state v3 (before routes), with this test's requests. */
    static final String COMMITTED_V3_SNAPSHOT = "/state/generation-operator-v3.snapshot";

    /**
     * Written by the job version of state v4 (sampling options in the state's own record), with
     * this test's requests.
     */
    static final String COMMITTED_V4_SNAPSHOT = "/state/generation-operator-v4.snapshot";

    /**
     * Writes {@link #COMMITTED_SNAPSHOT} (and {@link RouteOperatorTest}'s snapshot of routed
     * requests) when run with {@code -Doperator.snapshot.write=DIR}; done once per released state
     * version, so that every later version must restore what this one wrote. The files are named by
     * {@link #STATE_VERSION}: the snapshots of earlier versions stay.
     */
    @Test
    @org.junit.jupiter.api.condition.EnabledIfSystemProperty(
            named = "operator.snapshot.write",
            matches = ".+")
    void writeTheCommittedSnapshot() throws Exception {
        List<OperatorSubtaskState> snapshots = new ArrayList<>();
        interrupted(1, snapshots);
        Path dir = Path.of(System.getProperty("operator.snapshot.write"));
        Path out = dir.resolve("generation-operator-" + STATE_VERSION + ".snapshot");
        org.apache.flink.streaming.util.OperatorSnapshotUtil.writeStateHandle(
                snapshots.get(0), out.toString());
        RouteOperatorTest.writeCommittedSnapshot(
                dir.resolve("generation-operator-" + STATE_VERSION + "-routed.snapshot"));
    }

    /**
     * Restores a committed snapshot into one subtask and runs it out: per request, (first resumed
     * index, tokens).
     */
    static Map<String, Map.Entry<Integer, List<Integer>>> restoreCommitted(String resource)
            throws Exception {
        java.net.URL url = GenerationOperatorRestoreTest.class.getResource(resource);
        OperatorSubtaskState state =
                org.apache.flink.streaming.util.OperatorSnapshotUtil.readStateHandle(
                        Path.of(url.toURI()).toString());
        try (var h = harness(1, 0)) {
            h.setup();
            h.initializeState(state);
            h.open();
            runToCompletion(h, requests.size());
            Map<String, List<Integer>> resumed = new TreeMap<>();
            Map<String, Integer> firstIndex = new TreeMap<>();
            for (TokenEvent e : h.extractOutputValues()) {
                String id = e.getRequestId().toString();
                firstIndex.putIfAbsent(id, e.getIndex());
                List<Integer> ids = resumed.computeIfAbsent(id, k -> new ArrayList<>());
                assertEquals(
                        firstIndex.get(id) + ids.size(),
                        e.getIndex(),
                        id + ": indices continue in order, each once");
                ids.add(e.getTokenId());
            }
            assertEquals(
                    uninterrupted.keySet(),
                    resumed.keySet(),
                    "every request in the snapshot resumed");
            Map<String, Map.Entry<Integer, List<Integer>>> out = new TreeMap<>();
            for (var e : resumed.entrySet()) {
                int from = firstIndex.get(e.getKey());
                assertTrue(
                        from > 0 && from < NEW_TOKENS,
                        e.getKey() + " was mid-generation in the snapshot");
                assertEquals(
                        NEW_TOKENS, from + e.getValue().size(), e.getKey() + " ran to its length");
                out.put(e.getKey(), Map.entry(from, e.getValue()));
            }
            return out;
        }
    }

    @Test
    void aSnapshotCommittedByThisVersionRestoresItsInFlightGenerations() throws Exception {
        assertResumedAsUninterrupted(COMMITTED_SNAPSHOT);
    }

    /**
     * The version before the state kept sampling as a request (state v4) wrote the same requests;
     * they resume as an uninterrupted run.
     */
    @Test
    void aSnapshotOfTheVersionBeforeSamplingRequestsRestoresItsInFlightGenerations()
            throws Exception {
        assertResumedAsUninterrupted(COMMITTED_V4_SNAPSHOT);
    }

    /**
     * The version before routes (state v3) wrote the same requests; they resume as an uninterrupted
     * run.
     */
    @Test
    void aSnapshotOfTheVersionBeforeRoutesRestoresItsInFlightGenerations() throws Exception {
        assertResumedAsUninterrupted(COMMITTED_V3_SNAPSHOT);
    }

    private static void assertResumedAsUninterrupted(String snapshot) throws Exception {
        for (var e : restoreCommitted(snapshot).entrySet()) {
            List<Integer> expected = uninterrupted.get(e.getKey());
            int from = e.getValue().getKey();
            assertEquals(
                    expected.subList(from, expected.size()),
                    e.getValue().getValue(),
                    e.getKey() + ": the resumed tokens equal an uninterrupted run's");
        }
    }

    /**
     * What an upgrade from the last released version meets: its operator snapshot (state v2, which
     * embedded the wire request), written by that version's own code at commit e271a83 with this
     * test's requests. Greedy requests continue exactly as an uninterrupted run; seeded ones
     * continue as the engine resumes that request (its prompt, seed and sampling, read back from
     * the old state) from the token the old version emitted. (They do not equal this version's
     * uninterrupted run: this version walks the top-p nucleus in token-id order, so a seed's draws
     * map to other tokens than before.)
     */
    @Test
    void aSnapshotOfTheLastReleasedVersionRestoresItsInFlightGenerations() throws Exception {
        Map<String, Map.Entry<Integer, List<Integer>>> resumed =
                restoreCommitted("/state/generation-operator-v2.snapshot");
        try (io.flinklora.gpu.engine.Engine engine =
                io.flinklora.gpu.engine.Engine.open(
                        io.flinklora.gpu.engine.EngineConfig.builder(model()).build())) {
            for (GenerationRequest r : requests) {
                String id = r.getRequestId().toString();
                int from = resumed.get(id).getKey();
                if (r.getTemperature() == 0.0) {
                    List<Integer> expected = uninterrupted.get(id);
                    assertEquals(
                            expected.subList(from, expected.size()),
                            resumed.get(id).getValue(),
                            id + " (greedy)");
                    continue;
                }
                // The old version emitted `from` tokens; they are the first of its own
                // uninterrupted run.
                int[] prefix =
                        OLD_VERSION_FIRST_TOKENS.get(id).stream()
                                .limit(from)
                                .mapToInt(Integer::intValue)
                                .toArray();
                engine.submit(
                        new io.flinklora.gpu.engine.EngineRequest(
                                id,
                                engine.tokenizer().encode(r.getPrompt().toString()),
                                List.of(),
                                new io.flinklora.gpu.sampling.SamplingParams(
                                        r.getTemperature(),
                                        // unset: the engine's default (stories260k sets none)
                                        io.flinklora.gpu.frontend.RequestSampling.of(r).topK(),
                                        r.getTopP(),
                                        r.getSeed(),
                                        NEW_TOKENS,
                                        List.of(),
                                        List.of(),
                                        true),
                                prefix));
                List<Integer> expected = new ArrayList<>();
                while (engine.hasWork()) {
                    engine.step().events().forEach(ev -> expected.add(ev.tokenId()));
                }
                assertEquals(
                        expected,
                        resumed.get(id).getValue(),
                        id + " (seeded) continues as the engine resumes it");
            }
        }
    }

    /**
     * The tokens the released version (e271a83) had emitted per request when it wrote its snapshot.
     */
    private static final Map<String, List<Integer>> OLD_VERSION_FIRST_TOKENS =
            Map.of(
                    "r0",
                    List.of(432),
                    "r1",
                    List.of(346),
                    "r2",
                    List.of(399),
                    "r3",
                    List.of(337),
                    "r4",
                    List.of(395),
                    "r5",
                    List.of(281));
}
