package io.flinklora.operators;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.route.Router;
import io.flinklora.gpu.route.RouterFile;
import io.flinklora.schemas.AdapterWeight;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.Route;
import io.flinklora.schemas.TokenEvent;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.OperatorSnapshotUtil;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code "route": "auto"} in the keyed operator harness, with models/stories260k, the shipped
 * adapters and models/adapters/router.json: a routed request gets exactly the adapters {@link
 * Router#route} chooses for its prompt (tokens equal to a request naming them), its completion
 * reports the route, the route survives a snapshot (restored even into a job without a router), and
 * the refusals are coded errors.
 */
class RouteOperatorTest {
    private static final int NEW_TOKENS = 16;

    /** One prompt of each shipped adapter's kind (none is among the router's examples). */
    static final Map<String, String> PROMPTS = prompts();

    /**
     * The seeded request's prompt, of max's kind. Not one of PROMPTS: a request with the same
     * prompt and adapters as one being prefilled waits for that prefill (prefix caching), so it
     * would have no token yet at the snapshot after the first step.
     */
    static final String SEEDED = "Max the puppy ran after a red ball in the park.";

    /** What the router itself chooses for each prompt, computed outside the operator. */
    private static Map<String, Router.Route> expected;

    private static Map<String, String> prompts() {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("max", "Max the dog went to the lake with his boat.");
        p.put("happy", "Once upon a time, there was a little girl named Sue who had a red hat.");
        p.put("mood", "Ben dropped his ice cream on the ground. Ben cried.\nMood:");
        return p;
    }

    static Path adapters() {
        return GenerationOperatorRestoreTest.model().resolveSibling("adapters");
    }

    static GenerationSettings settings(boolean withRouter) {
        GenerationSettings.Builder b =
                GenerationSettings.builder(
                                io.flinklora.gpu.engine.EngineConfig.builder(
                                                GenerationOperatorRestoreTest.model())
                                        .maxRunning(8)
                                        .adapterRoot(adapters()))
                        .device("cpu");
        if (withRouter) {
            b.router(adapters().resolve("router.json").toString());
        }
        return b.build();
    }

    static KeyedOneInputStreamOperatorTestHarness<String, GenerationRequest, TokenEvent> harness(
            boolean withRouter) throws Exception {
        return GenerationOperatorRestoreTest.harness(settings(withRouter), 1, 0);
    }

    @BeforeAll
    static void routeDirectly() throws Exception {
        expected = new LinkedHashMap<>();
        try (Engine engine =
                Engine.open(EngineConfig.builder(GenerationOperatorRestoreTest.model()).build())) {
            Router router = Router.open(RouterFile.read(adapters().resolve("router.json")), engine);
            for (var e : PROMPTS.entrySet()) {
                expected.put(e.getKey(), router.route(engine.tokenizer().encode(e.getValue())));
            }
            expected.put("seeded", router.route(engine.tokenizer().encode(SEEDED)));
        }
        // The prompts are of three kinds, so the test covers three different routes.
        for (String kind : PROMPTS.keySet()) {
            assertEquals(
                    kind,
                    expected.get(kind).task(),
                    "the router sends the " + kind + " prompt to its task");
        }
        assertEquals("max", expected.get("seeded").task());
    }

    static GenerationRequest.Builder request(String id, String prompt) {
        return GenerationRequest.newBuilder()
                .setRequestId(id)
                .setPrompt(prompt)
                .setMaxNewTokens(NEW_TOKENS)
                .setIgnoreEos(true)
                .setTemperature(0.0);
    }

    /**
     * The routed requests: one per kind, greedy, and one seeded (the route does not change the
     * sampling).
     */
    static List<GenerationRequest> routedRequests() {
        List<GenerationRequest> out = new ArrayList<>();
        for (var e : PROMPTS.entrySet()) {
            out.add(request("auto-" + e.getKey(), e.getValue()).setRoute("auto").build());
        }
        out.add(
                request("auto-seeded", SEEDED)
                        .setRoute("auto")
                        .setTemperature(0.8)
                        .setSeed(7L)
                        .build());
        return out;
    }

    private static List<AdapterWeight> weights(List<AdapterRef> refs) {
        return refs.stream().map(a -> new AdapterWeight(a.name(), a.weight())).toList();
    }

    /**
     * Feeds the requests and runs them to their completions; returns the token events by request.
     */
    static Map<String, List<Integer>> run(
            KeyedOneInputStreamOperatorTestHarness<String, GenerationRequest, TokenEvent> h,
            List<GenerationRequest> requests,
            int completions)
            throws Exception {
        for (GenerationRequest r : requests) {
            h.processElement(new StreamRecord<>(r));
        }
        GenerationOperatorRestoreTest.runToCompletion(h, completions);
        return GenerationOperatorRestoreTest.tokens(h.extractOutputValues());
    }

    static Map<String, Completion> completions(
            KeyedOneInputStreamOperatorTestHarness<String, GenerationRequest, TokenEvent> h) {
        return h.getSideOutput(Outputs.COMPLETIONS).stream()
                .map(StreamRecord::getValue)
                .collect(Collectors.toMap(Completion::getRequestId, c -> c));
    }

    /** The completion reports exactly the router's decision for the prompt. */
    static void assertRoute(Router.Route want, Completion c) {
        Route got = c.getRoute();
        assertTrue(got != null, c.getRequestId() + " reports its route");
        assertEquals(want.task(), got.getTask(), c.getRequestId());
        assertEquals(
                weights(want.adapters()),
                got.getAdapters(),
                c.getRequestId() + ": the adapters used");
        assertEquals(
                want.scores().size(),
                got.getSimilarity().size(),
                c.getRequestId() + ": a similarity per task");
        for (Router.Score s : want.scores()) {
            // Cosines of float32 embeddings: a committed snapshot keeps what the version that
            // routed it computed,
            // which may differ from today's forward pass in the last float bits.
            assertEquals(
                    s.similarity(),
                    got.getSimilarity().get(s.task()),
                    1e-6,
                    c.getRequestId() + " similarity " + s.task());
        }
        assertEquals(
                want.adapters().stream().map(AdapterRef::name).collect(Collectors.joining("+")),
                c.getAdapters());
    }

    private static Router.Route expectedFor(String requestId) {
        return expected.get(requestId.substring("auto-".length()));
    }

    @Test
    void aRoutedRequestGetsTheRoutersAdaptersAndItsCompletionReportsTheRoute() throws Exception {
        List<GenerationRequest> requests = new ArrayList<>(routedRequests());
        for (var e : PROMPTS.entrySet()) {
            // The same prompt naming the router's adapters directly, and on the base model.
            requests.add(
                    request("named-" + e.getKey(), e.getValue())
                            .setAdapters(weights(expected.get(e.getKey()).adapters()))
                            .build());
            requests.add(request("base-" + e.getKey(), e.getValue()).build());
        }
        requests.add(
                request("named-seeded", SEEDED)
                        .setAdapters(weights(expected.get("seeded").adapters()))
                        .setTemperature(0.8)
                        .setSeed(7L)
                        .build());
        try (var h = harness(true)) {
            h.open();
            Map<String, List<Integer>> tokens = run(h, requests, requests.size());
            Map<String, Completion> done = completions(h);
            int differFromBase = 0;
            for (GenerationRequest r : routedRequests()) {
                String id = r.getRequestId();
                String named = "named-" + id.substring("auto-".length());
                assertEquals(NEW_TOKENS, tokens.get(id).size(), id);
                assertEquals(
                        tokens.get(named),
                        tokens.get(id),
                        id + ": the tokens of a request naming the routed adapters");
                assertRoute(expectedFor(id), done.get(id));
                assertNull(
                        done.get(named).getRoute(), "a request naming its adapters has no route");
                if (!id.equals("auto-seeded")
                        && !tokens.get(id).equals(tokens.get("base-" + id.substring(5)))) {
                    differFromBase++;
                }
            }
            assertTrue(
                    differFromBase >= 2,
                    "the routed adapters change the output (not the base model): "
                            + differFromBase);
            assertTrue(
                    h.getSideOutput(Outputs.ERRORS) == null
                            || h.getSideOutput(Outputs.ERRORS).isEmpty());
        }
    }

    @Test
    void routeRefusalsAreCodedErrorsAndTheOtherRequestsRun() throws Exception {
        String prompt = PROMPTS.get("max");
        try (var h = harness(true)) {
            h.open();
            run(
                    h,
                    List.of(
                            request("bad-value", prompt).setRoute("nearest").build(),
                            request("both", prompt)
                                    .setRoute("auto")
                                    .setAdapters(List.of(new AdapterWeight("max", 1.0)))
                                    .build(),
                            request("ok", prompt).setRoute("auto").build(),
                            // Longer than the model's positions: the routing pass cannot embed it.
                            GenerationRequest.newBuilder()
                                    .setRequestId("too-long")
                                    .setRoute("auto")
                                    .setMaxNewTokens(4)
                                    .setPromptIds(java.util.Collections.nCopies(5000, 300))
                                    .build()),
                    1);
            Map<String, GenerationError> errors = errors(h);
            assertEquals("LIMIT_EXCEEDED", errors.get("too-long").getCode());
            assertTrue(
                    errors.get("too-long").getMessage().startsWith("cannot route"),
                    errors.get("too-long").getMessage());
            assertEquals("INVALID_PARAMETER", errors.get("bad-value").getCode());
            assertTrue(
                    errors.get("bad-value").getMessage().contains("nearest"),
                    errors.get("bad-value").getMessage());
            assertEquals("INVALID_REQUEST", errors.get("both").getCode());
            assertEquals(3, errors.size());
            assertEquals(List.of("ok"), List.copyOf(completions(h).keySet()));
        }
        try (var h = harness(false)) {
            h.open();
            run(
                    h,
                    List.of(
                            request("no-router", prompt).setRoute("auto").build(),
                            request("plain", prompt).build()),
                    1);
            GenerationError e = errors(h).get("no-router");
            assertEquals("INVALID_REQUEST", e.getCode());
            assertTrue(e.getMessage().contains("--router"), e.getMessage());
            assertEquals(List.of("plain"), List.copyOf(completions(h).keySet()));
        }
    }

    private static Map<String, GenerationError> errors(
            KeyedOneInputStreamOperatorTestHarness<String, GenerationRequest, TokenEvent> h) {
        var out = h.getSideOutput(Outputs.ERRORS);
        return out == null
                ? Map.of()
                : out.stream()
                        .map(StreamRecord::getValue)
                        .collect(Collectors.toMap(GenerationError::getRequestId, e -> e));
    }

    /**
     * Runs the routed requests and snapshots after the first engine step (as
     * GenerationOperatorRestoreTest does). Adapters load in the background, so a request whose
     * adapter is still loading would not run in that step: a request using all of them runs first,
     * so that every routed request has a token at the snapshot.
     */
    static OperatorSubtaskState snapshotMidGeneration(Map<String, List<Integer>> before)
            throws Exception {
        try (var h = harness(true)) {
            h.open();
            h.processElement(
                    new StreamRecord<>(
                            request("warm-up", "Once")
                                    .setMaxNewTokens(1)
                                    .setAdapters(
                                            List.of(
                                                    new AdapterWeight("max", 1.0),
                                                    new AdapterWeight("happy", 1.0),
                                                    new AdapterWeight("mood", 1.0)))
                                    .build()));
            GenerationOperatorRestoreTest.runToCompletion(h, 1);
            for (GenerationRequest r : routedRequests()) {
                h.processElement(new StreamRecord<>(r));
            }
            List<TokenEvent> seen = new ArrayList<>();
            OperatorSubtaskState snapshot =
                    GenerationOperatorRestoreTest.snapshotAfterFirstStep(h, seen);
            before.putAll(GenerationOperatorRestoreTest.tokens(seen));
            before.remove("warm-up");
            return snapshot;
        }
    }

    /**
     * Writes the committed snapshot of routed requests (see
     * GenerationOperatorRestoreTest#writeTheCommittedSnapshot).
     */
    static void writeCommittedSnapshot(Path file) throws Exception {
        OperatorSnapshotUtil.writeStateHandle(
                snapshotMidGeneration(new TreeMap<>()), file.toString());
    }

    /**
     * Restores into a job started without a router: the adapters and route come from the state, not
     * from routing again. Per request: the tokens after the restore and the completion.
     */
    static Map<String, Map.Entry<List<Integer>, Completion>> restoreWithoutRouter(
            OperatorSubtaskState state) throws Exception {
        try (var h = harness(false)) {
            h.setup();
            h.initializeState(state);
            h.open();
            GenerationOperatorRestoreTest.runToCompletion(h, routedRequests().size());
            Map<String, List<Integer>> after = new TreeMap<>();
            h.extractOutputValues()
                    .forEach(
                            e ->
                                    after.computeIfAbsent(e.getRequestId(), k -> new ArrayList<>())
                                            .add(e.getTokenId()));
            Map<String, Map.Entry<List<Integer>, Completion>> out = new TreeMap<>();
            completions(h).forEach((id, c) -> out.put(id, Map.entry(after.get(id), c)));
            return out;
        }
    }

    private static void assertResumedAsUninterrupted(
            Map<String, Map.Entry<List<Integer>, Completion>> resumed,
            Map<String, List<Integer>> before)
            throws Exception {
        Map<String, List<Integer>> uninterrupted;
        try (var h = harness(true)) {
            h.open();
            uninterrupted = run(h, routedRequests(), routedRequests().size());
        }
        assertEquals(uninterrupted.keySet(), resumed.keySet(), "every routed request resumed");
        for (var e : resumed.entrySet()) {
            String id = e.getKey();
            Completion c = e.getValue().getValue();
            List<Integer> want = uninterrupted.get(id);
            int from = NEW_TOKENS - e.getValue().getKey().size();
            assertTrue(
                    from > 0 && from < NEW_TOKENS,
                    id + " was mid-generation in the snapshot (resumed at " + from + ")");
            assertEquals(
                    want.subList(from, NEW_TOKENS),
                    e.getValue().getKey(),
                    id + ": resumed with the routed adapters");
            if (before != null) {
                assertEquals(
                        want.subList(0, from), before.get(id), id + ": tokens before the snapshot");
            }
            assertEquals(want, c.getTokenIds(), id + ": the completion has every token");
            assertRoute(expectedFor(id), c);
        }
    }

    @Test
    void theRouteSurvivesASnapshotAndRestoresWithoutARouter() throws Exception {
        Map<String, List<Integer>> before = new TreeMap<>();
        OperatorSubtaskState snapshot = snapshotMidGeneration(before);
        assertResumedAsUninterrupted(restoreWithoutRouter(snapshot), before);
    }

    /**
     * Snapshots of routed requests written by this version (state v5) and by the version of state
     * v4, committed: later versions must restore them.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(
            strings = {GenerationOperatorRestoreTest.STATE_VERSION, "v4"})
    void aCommittedSnapshotOfRoutedRequestsRestoresWithTheirRoutes(String version)
            throws Exception {
        java.net.URL url =
                RouteOperatorTest.class.getResource(
                        "/state/generation-operator-" + version + "-routed.snapshot");
        OperatorSubtaskState state =
                OperatorSnapshotUtil.readStateHandle(Path.of(url.toURI()).toString());
        assertResumedAsUninterrupted(restoreWithoutRouter(state), null);
    }

    @Test
    void unroutedRequestsAreUnchangedByARouter() throws Exception {
        // The router is consulted only for route "auto": a job with one serves other requests as
        // before.
        GenerationRequest r =
                request("plain", PROMPTS.get("happy"))
                        .setAdapters(List.of(new AdapterWeight("mood", 1.0)))
                        .build();
        List<Integer> with;
        try (var h = harness(true)) {
            h.open();
            with = run(h, List.of(r), 1).get("plain");
            assertNull(completions(h).get("plain").getRoute());
        }
        try (var h = harness(false)) {
            h.open();
            assertEquals(with, run(h, List.of(r), 1).get("plain"));
        }
        assertNotEquals(null, with);
    }
}
