package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Requests' {@code priority} on the real model: lower values start first, take the place of running
 * requests of higher values when the batch or the KV cache is full, and every request still ends
 * with exactly the tokens it has alone.
 */
class PrioritySchedulingTest {

    /** Each request's tokens, and the step of each request's first and last event. */
    private record Trace(
            Map<String, List<Integer>> ids,
            Map<String, Integer> first,
            Map<String, Integer> last) {}

    private static Engine engine(int maxRunning, int kvSlots) {
        return Engine.open(
                EngineConfig.builder(TestModels.stories260k())
                        .maxRunning(maxRunning)
                        .kvSlots(kvSlots)
                        .maxSequenceLength(64)
                        .prefixCaching(false)
                        .build());
    }

    private static EngineRequest req(Engine e, String id, int newTokens, int priority) {
        return EngineHarness.request(
                        id,
                        e.tokenizer().encode("Once upon a time " + id),
                        SamplingParams.greedy(newTokens).withIgnoreEos(true))
                .withPriority(priority);
    }

    /** Steps until idle, submitting {@code later} before step {@code at}; records every event. */
    private static Trace run(Engine e, List<EngineRequest> now, int at, List<EngineRequest> later) {
        now.forEach(e::submit);
        Map<String, List<Integer>> ids = new HashMap<>();
        Map<String, Integer> first = new HashMap<>();
        Map<String, Integer> last = new HashMap<>();
        for (int step = 0; e.hasWork() || step <= at; step++) {
            if (step == at) {
                later.forEach(e::submit);
            }
            StepResult s = e.step();
            assertTrue(s.failures().isEmpty(), () -> "failures " + s.failures());
            for (TokenEvent ev : s.events()) {
                ids.computeIfAbsent(ev.requestId(), k -> new ArrayList<>()).add(ev.tokenId());
                first.putIfAbsent(ev.requestId(), step);
                last.put(ev.requestId(), step);
            }
        }
        return new Trace(ids, first, last);
    }

    /** The request's tokens run alone on a fresh engine. */
    private static int[] alone(EngineRequest r) {
        try (Engine e = engine(1, 4)) {
            return EngineHarness.runAll(e, List.of(r.withPriority(0))).get(r.id()).idArray();
        }
    }

    /** Every request ended with the tokens it has alone, whatever waiting or preemption it met. */
    private static void assertEachAsAlone(Trace t, List<EngineRequest> reqs) {
        for (EngineRequest r : reqs) {
            assertArrayEquals(alone(r), tokens(t, r.id()), r.id() + " as alone");
        }
    }

    private static int[] tokens(Trace t, String id) {
        return t.ids().get(id).stream().mapToInt(Integer::intValue).toArray();
    }

    @Test
    void waitingRequestsStartByPriorityThenByArrival() {
        try (Engine e = engine(1, 4)) {
            List<EngineRequest> reqs =
                    List.of(
                            req(e, "a", 3, 1),
                            req(e, "b", 3, 0),
                            req(e, "c", 3, 1),
                            req(e, "d", 3, 0));
            Trace t = run(e, reqs, -1, List.of());
            List<String> order = new ArrayList<>(t.first().keySet());
            order.sort((x, y) -> Integer.compare(t.first().get(x), t.first().get(y)));
            assertEquals(List.of("b", "d", "a", "c"), order);
            assertEquals(0, e.stats().preemptions(), "one request at a time, each to its end");
        }
    }

    @Test
    void equalPrioritiesAreFirstComeFirstServedWithoutPreemption() {
        try (Engine e = engine(2, 8)) {
            Trace t =
                    run(
                            e,
                            List.of(req(e, "old1", 20, 3), req(e, "old2", 20, 3)),
                            2,
                            List.of(req(e, "new", 5, 3)));
            assertEquals(0, e.stats().preemptions());
            assertTrue(
                    t.first().get("new") > Math.min(t.last().get("old1"), t.last().get("old2")),
                    "the newcomer waited for a place in the batch");
        }
    }

    @Test
    void aHigherPriorityRequestTakesTheNewestLowerOnesPlaceInAFullBatch() {
        try (Engine e = engine(2, 8)) {
            EngineRequest low1 = req(e, "low1", 30, 5);
            EngineRequest low2 = req(e, "low2", 30, 5);
            EngineRequest urgent = req(e, "urgent", 6, 0);
            Trace t = run(e, List.of(low1, low2), 3, List.of(urgent));
            assertEquals(3, t.first().get("urgent"), "started in the step it arrived for");
            assertEquals(1, e.stats().preemptions());
            // low2, the newer of the two, gave its place: it emits nothing while urgent runs.
            assertTrue(
                    t.ids().get("low2").size() == 30
                            && t.last().get("low2") > t.last().get("urgent"));
            assertTrue(t.last().get("low1") >= 3, "low1 kept running beside urgent");
            assertEachAsAlone(t, List.of(low1, low2, urgent));
        }
    }

    @Test
    void whenKvBlocksRunOutTheHighestPriorityValueIsPreemptedNotTheNewest() {
        // 8 blocks of 16 positions; three sequences growing to about 50 positions need 12.
        try (Engine e = engine(3, 2)) {
            EngineRequest a = req(e, "a", 44, 0);
            EngineRequest background = req(e, "background", 44, 9);
            EngineRequest c = req(e, "c", 44, 0);
            Trace t = run(e, List.of(a, background, c), -1, List.of());
            // Once: background. Preempting c instead would cost two (c, then background for c).
            assertEquals(1, e.stats().preemptions(), "the pool ran out once, for background only");
            assertTrue(
                    t.first().get("background") < t.last().get("c"), "all three started together");
            // c is the newest but outranks background: it runs to its end without a pause.
            assertEquals(44 - 1, t.last().get("c") - t.first().get("c"), "c never paused");
            assertTrue(t.last().get("background") > Math.max(t.last().get("a"), t.last().get("c")));
            assertEachAsAlone(t, List.of(a, background, c));
        }
    }

    @Test
    void theLowestPossiblePriorityValueIsStillPreemptedWhenBlocksRunOut() {
        try (Engine e = engine(3, 2)) {
            List<EngineRequest> reqs = new ArrayList<>();
            for (String id : List.of("x", "y", "z")) {
                reqs.add(req(e, id, 44, Integer.MIN_VALUE));
            }
            Trace t = run(e, reqs, -1, List.of());
            assertTrue(e.stats().preemptions() >= 1, "the pool ran out");
            assertEachAsAlone(t, reqs);
        }
    }

    @Test
    void aHigherPriorityRequestThatFindsTheKvCacheFullPreemptsLowerOnes() {
        // Room in the batch (8) but not in the pool (8 blocks), which two long sequences fill.
        try (Engine e = engine(8, 2)) {
            EngineRequest low1 = req(e, "low1", 56, 2);
            EngineRequest low2 = req(e, "low2", 56, 2);
            EngineRequest urgent = req(e, "urgent", 8, 1);
            Trace t = run(e, List.of(low1, low2), 45, List.of(urgent));
            assertEquals(45, t.first().get("urgent"), "started at once");
            assertTrue(e.stats().preemptions() >= 1);
            assertEachAsAlone(t, List.of(low1, low2, urgent));
        }
    }
}
