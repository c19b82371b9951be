package io.flinklora.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.engine.EngineRequest;
import io.flinklora.gpu.engine.StepResult;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.lora.PeftWriter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.sampling.SamplingParams;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.TokenEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.client.program.ClusterClient;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectClusterClient;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The streaming job end to end on a real in-process Kafka broker and a Flink MiniCluster. */
class StreamingJobIT {
    @RegisterExtension
    static final MiniClusterExtension FLINK =
            new MiniClusterExtension(
                    new MiniClusterResourceConfiguration.Builder()
                            .setNumberTaskManagers(1)
                            .setNumberSlotsPerTaskManager(2)
                            .setConfiguration(smallNetworkBuffers())
                            .build());

    /**
     * The job's recommended cluster settings (buffer debloating), with small network buffers as on
     * a loaded cluster.
     */
    static Configuration smallNetworkBuffers() {
        Configuration c = StreamingJob.recommendedClusterConfig();
        c.setString("taskmanager.memory.segment-size", "4kb");
        return c;
    }

    static final String[] ADAPTERS = {"happy", "max", "mood", "sad"};
    static final String[] PROMPTS = {
        "Once upon a time",
        "Tom had a big red ball.",
        "The sun was hot and the dog was",
        "Lily and Ben went to the park to",
        "One day, a little bird",
        "Sam was sad because"
    };

    @TempDir static Path tmp;
    static EmbeddedKafka kafka;
    static Path adapterRoot;
    static Path model;

    @BeforeAll
    static void start() throws Exception {
        kafka = EmbeddedKafka.start();
        model = TestPaths.stories260k();
        ModelConfig c = ModelConfig.read(model);
        adapterRoot = tmp.resolve("adapters");
        for (int i = 0; i < ADAPTERS.length; i++) {
            new PeftWriter(c)
                    .rank(4 + 2 * i)
                    .alpha(8)
                    .targets(EnumSet.of(Projection.Q, Projection.V, Projection.O))
                    .write(adapterRoot.resolve(ADAPTERS[i]), 50 + i, 0.3, 0.3);
        }
        // Weights for q and v, a config naming q only: the v tensors would be silently unused.
        Path mismatched =
                new PeftWriter(c)
                        .rank(4)
                        .alpha(8)
                        .targets(EnumSet.of(Projection.Q, Projection.V))
                        .write(adapterRoot.resolve("unused_tensors"), 60, 0.3, 0.3);
        Path cfg = mismatched.resolve("adapter_config.json");
        Files.writeString(
                cfg,
                Files.readString(cfg)
                        .replaceAll("\\[[^\\]]*\"v_proj\"[^\\]]*\\]", "[ \"q_proj\" ]"));
    }

    @AfterAll
    static void stop() throws Exception {
        kafka.close();
    }

    /**
     * A request of the test set: id, prompt, adapter (or null), length, and a sampling seed (null:
     * greedy).
     */
    record Req(String id, String prompt, String adapter, int maxNewTokens, Long seed) {
        Req(String id, String prompt, String adapter, int maxNewTokens) {
            this(id, prompt, adapter, maxNewTokens, null);
        }

        String json() {
            return "{\"request_id\": \""
                    + id
                    + "\", \"prompt\": \""
                    + prompt
                    + "\", \"max_new_tokens\": "
                    + maxNewTokens
                    + ", \"ignore_eos\": true"
                    + (adapter == null ? "" : ", \"adapters\": [{\"name\": \"" + adapter + "\"}]")
                    + (seed == null
                            ? ""
                            : ", \"temperature\": 0.9, \"top_p\": 0.95, \"seed\": " + seed)
                    + "}";
        }

        SamplingParams sampling() {
            return seed == null
                    ? SamplingParams.greedy(maxNewTokens).withIgnoreEos(true)
                    : new SamplingParams(
                            0.9, 0, 0.95, seed, maxNewTokens, List.of(), List.of(), true);
        }
    }

    /** Greedy requests over the base model and the four adapters. */
    static List<Req> requests(String prefix, int n, int minTokens, int maxTokens) {
        return requests(prefix, n, minTokens, maxTokens, false);
    }

    /**
     * With {@code seeded}, every other request samples (temperature 0.9, top-p 0.95) with its own
     * seed.
     */
    static List<Req> requests(String prefix, int n, int minTokens, int maxTokens, boolean seeded) {
        Random r = new Random(n);
        List<Req> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String adapter = i % 5 == 0 ? null : ADAPTERS[i % 5 - 1];
            out.add(
                    new Req(
                            prefix + i,
                            PROMPTS[i % PROMPTS.length],
                            adapter,
                            minTokens + r.nextInt(maxTokens - minTokens + 1),
                            seeded && i % 2 == 1 ? 7000L + i : null));
        }
        return out;
    }

    static JobOptions options(String name) throws Exception {
        JobOptions o = new JobOptions();
        o.bootstrapServers = kafka.bootstrapServers();
        o.requestTopics = List.of(name + "-requests");
        o.tokenTopic = name + "-tokens";
        o.completionTopic = name + "-completions";
        o.errorTopic = name + "-errors";
        o.groupId = name;
        o.engine.model = model.toString();
        o.engine.adapters = adapterRoot.toString();
        o.engine.device = "cpu";
        o.engine.maxBatch = 8;
        o.checkpointInterval = 300;
        o.transactionalIdPrefix = name;
        kafka.createTopics(o.topics(), 2);
        return o;
    }

    static JobClient submit(JobOptions o, int parallelism, Configuration extra) throws Exception {
        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 3);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(200));
        conf.addAll(extra);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(parallelism);
        StreamingJob.build(env, o);
        return env.executeAsync("test " + o.groupId);
    }

    /**
     * The engine's own output for the same requests (greedy or seeded), uninterrupted: what the job
     * must reproduce.
     */
    static Map<String, List<Integer>> engineDirect(List<Req> reqs) {
        Map<String, List<Integer>> out = new HashMap<>();
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(model)
                                .maxRunning(8)
                                .adapterRoot(adapterRoot)
                                .build())) {
            for (Req r : reqs) {
                e.submit(
                        new EngineRequest(
                                r.id(),
                                e.tokenizer().encode(r.prompt()),
                                r.adapter() == null
                                        ? List.of()
                                        : List.of(new AdapterRef(r.adapter(), 1.0)),
                                r.sampling()));
                out.put(r.id(), new ArrayList<>());
            }
            while (e.hasWork()) {
                StepResult s = e.step();
                s.events().forEach(t -> out.get(t.requestId()).add(t.tokenId()));
            }
        }
        return out;
    }

    /**
     * Checks every request completed with indices 0..n-1 exactly once and returns ids per request.
     */
    static Map<String, List<Integer>> checkExactlyOnce(List<TokenEvent> events, List<Req> reqs) {
        Map<String, TreeMap<Integer, Integer>> byReq = new HashMap<>();
        for (TokenEvent t : events) {
            Integer prev =
                    byReq.computeIfAbsent(t.getRequestId(), k -> new TreeMap<>())
                            .put(t.getIndex(), t.getTokenId());
            assertEquals(
                    null,
                    prev,
                    "index " + t.getIndex() + " of " + t.getRequestId() + " delivered twice");
        }
        Map<String, List<Integer>> ids = new HashMap<>();
        for (Req r : reqs) {
            TreeMap<Integer, Integer> m = byReq.get(r.id());
            assertTrue(m != null, r.id() + " produced tokens");
            assertEquals(r.maxNewTokens(), m.size(), r.id() + " token count");
            assertEquals(0, (int) m.firstKey());
            assertEquals(r.maxNewTokens() - 1, (int) m.lastKey(), r.id() + " indices contiguous");
            ids.put(r.id(), new ArrayList<>(m.values()));
        }
        assertEquals(reqs.size(), byReq.size(), "no unexpected requests");
        return ids;
    }

    @Test
    void fiftyRequestsOverFourAdaptersAndTheBaseModelAllCompleteAsTheEngineWouldGenerate(
            @InjectClusterClient ClusterClient<?> client) throws Exception {
        JobOptions o = options("fifty");
        List<Req> reqs = requests("f", 50, 8, 24);
        KafkaIO.produce(
                o.bootstrapServers,
                o.requestTopics.get(0),
                reqs.stream().map(r -> KafkaIO.utf8(r.json())).toList());
        JobClient job = submit(o, 2, new Configuration());
        try {
            List<TokenEvent> tokens =
                    KafkaIO.tokens(o.bootstrapServers, o.tokenTopic, 50, Duration.ofMinutes(3));
            List<Completion> done =
                    KafkaIO.completions(
                            o.bootstrapServers, o.completionTopic, 50, Duration.ofMinutes(1));
            Map<String, List<Integer>> got = checkExactlyOnce(tokens, reqs);
            assertEquals(
                    engineDirect(reqs), got, "the job generates what the engine generates alone");
            assertEquals(50, done.size());
            for (Completion c : done) {
                assertEquals(got.get(c.getRequestId()), c.getTokenIds());
                assertTrue(
                        c.getTimeToFirstTokenMs() >= 0
                                && c.getTotalLatencyMs() >= c.getTimeToFirstTokenMs());
            }
            // f0 (base) and f6 (adapter happy) share a prompt: the adapter's effect shows in the
            // stream.
            int n = Math.min(got.get("f0").size(), got.get("f6").size());
            assertNotEquals(got.get("f0").subList(0, n), got.get("f6").subList(0, n));
            String metrics = RestMetrics.generationMetricIds(client, job.getJobID());
            for (String m :
                    List.of(
                            "tokensPerSecond",
                            "generatedTokens",
                            "runningSequences",
                            "waitingSequences",
                            "batchSize",
                            "kvCacheUtilization",
                            "timeToFirstTokenMs",
                            "adapters.hits",
                            "adapters.loads")) {
                assertTrue(metrics.contains(m), "metric " + m + " is reported: " + metrics);
            }
        } finally {
            job.cancel().get();
        }
    }

    /** Resumed-sequence counts the operator logged on restore, summed over subtasks. */
    static int resumedFromState(LogCapture logs) {
        java.util.regex.Matcher m =
                java.util.regex.Pattern.compile("Resumed (\\d+) in-flight requests from state")
                        .matcher(logs.text());
        int n = 0;
        while (m.find()) {
            n += Integer.parseInt(m.group(1));
        }
        return n;
    }

    /**
     * The drill fails each subtask's first attempt 30 tokens after a completed checkpoint that
     * holds in-flight sequences, so the restart must resume them from keyed state and re-prefill
     * them.
     */
    @Test
    void aFailureAfterACheckpointHoldingInFlightSequencesResumesThemToTheSameTokens(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        JobOptions o = options("failure");
        o.failOnceAfterTokens = 30;
        o.checkpointInterval = 200;
        o.engine.maxBatch = 4;
        List<Req> reqs = requests("x", 24, 60, 120, true);
        KafkaIO.produce(
                o.bootstrapServers,
                o.requestTopics.get(0),
                reqs.stream().map(r -> KafkaIO.utf8(r.json())).toList());
        try (LogCapture logs = LogCapture.start()) {
            JobClient job = submit(o, 2, new Configuration());
            try {
                List<TokenEvent> tokens =
                        KafkaIO.tokens(
                                o.bootstrapServers,
                                o.tokenTopic,
                                reqs.size(),
                                Duration.ofMinutes(3));
                Map<String, List<Integer>> got = checkExactlyOnce(tokens, reqs);
                assertTrue(
                        FailureCount.restarts(cluster, job) >= 1, "the drill made the job restart");
                assertTrue(
                        logs.text().contains("Failure drill armed: checkpoint"),
                        "a checkpoint held in-flight sequences");
                assertTrue(
                        resumedFromState(logs) > 0,
                        "the restart resumed sequences from keyed state: "
                                + resumedFromState(logs));
                assertEquals(
                        engineDirect(reqs),
                        got,
                        "greedy and seeded tokens equal an uninterrupted run's");
                System.err.printf(
                        "failure drill: %d fenced recommits, each of an already committed transaction%n",
                        FencedRecommits.assertAllWereAlreadyCommitted(logs, o.bootstrapServers));
            } finally {
                job.cancel().get();
            }
        }
    }

    /**
     * At-least-once delivery with the same drill: tokens emitted after the checkpoint are written
     * again after the restore, and every replayed (request_id, index) carries the same token.
     */
    @Test
    void atLeastOnceReplaysCarryTheSameTokens(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        JobOptions o = options("atleastonce");
        o.delivery = JobOptions.Delivery.AT_LEAST_ONCE;
        o.failOnceAfterTokens = 30;
        o.checkpointInterval = 200;
        o.engine.maxBatch = 4;
        List<Req> reqs = requests("a", 16, 60, 120, true);
        KafkaIO.produce(
                o.bootstrapServers,
                o.requestTopics.get(0),
                reqs.stream().map(r -> KafkaIO.utf8(r.json())).toList());
        try (LogCapture logs = LogCapture.start()) {
            JobClient job = submit(o, 2, new Configuration());
            try {
                List<TokenEvent> tokens =
                        KafkaIO.readUntil(
                                o.bootstrapServers,
                                o.tokenTopic,
                                TokenEvent.class,
                                l ->
                                        l.stream()
                                                        .filter(TokenEvent::getFinished)
                                                        .map(TokenEvent::getRequestId)
                                                        .distinct()
                                                        .count()
                                                >= reqs.size(),
                                Duration.ofMinutes(3));
                Map<String, Map<Integer, Integer>> seen = new HashMap<>();
                int replayed = 0;
                for (TokenEvent t : tokens) {
                    Integer before =
                            seen.computeIfAbsent(t.getRequestId(), k -> new HashMap<>())
                                    .put(t.getIndex(), t.getTokenId());
                    if (before != null) {
                        replayed++;
                        assertEquals(
                                before,
                                t.getTokenId(),
                                "replayed " + t.getRequestId() + "#" + t.getIndex());
                    }
                }
                System.err.printf(
                        "at-least-once: %d token events, %d replayed%n", tokens.size(), replayed);
                assertTrue(
                        FailureCount.restarts(cluster, job) >= 1, "the drill made the job restart");
                assertTrue(
                        resumedFromState(logs) > 0,
                        "the restart resumed sequences from keyed state");
                assertTrue(replayed > 0, "tokens emitted after the checkpoint were written again");
                Map<String, List<Integer>> got = new HashMap<>();
                seen.forEach(
                        (id, byIndex) ->
                                got.put(id, new ArrayList<>(new TreeMap<>(byIndex).values())));
                assertEquals(engineDirect(reqs), got, "the tokens equal an uninterrupted run's");
            } finally {
                job.cancel().get();
            }
        }
    }

    @Test
    void aSavepointAtParallelismTwoRestoresAtParallelismOneWithTheSameTokens() throws Exception {
        savepointAndRestore("sp21", 2, 1);
    }

    @Test
    void aSavepointAtParallelismOneRestoresAtParallelismTwoWithTheSameTokens() throws Exception {
        savepointAndRestore("sp12", 1, 2);
    }

    /**
     * Stops with a savepoint mid-generation at {@code from} subtasks, resumes at {@code to}:
     * content as uninterrupted.
     */
    private void savepointAndRestore(String name, int from, int to) throws Exception {
        JobOptions o = options(name);
        o.engine.maxBatch = 2;
        List<Req> reqs = requests(name + "-", 24, 60, 100, true);
        KafkaIO.produce(
                o.bootstrapServers,
                o.requestTopics.get(0),
                reqs.stream().map(r -> KafkaIO.utf8(r.json())).toList());
        try (LogCapture logs = LogCapture.start()) {
            JobClient first = submit(o, from, new Configuration());
            // Wait until generation is under way (some tokens committed), then stop with a
            // savepoint.
            List<TokenEvent> early =
                    KafkaIO.readUntil(
                            o.bootstrapServers,
                            o.tokenTopic,
                            TokenEvent.class,
                            l -> l.size() >= 20,
                            Duration.ofMinutes(2));
            assertTrue(early.size() >= 20);
            long t0 = System.nanoTime();
            String savepoint =
                    first.stopWithSavepoint(
                                    false,
                                    tmp.resolve("savepoints").toUri().toString(),
                                    SavepointFormatType.CANONICAL)
                            .get();
            List<TokenEvent> before =
                    KafkaIO.readUntil(
                            o.bootstrapServers,
                            o.tokenTopic,
                            TokenEvent.class,
                            l -> false,
                            Duration.ofSeconds(2));
            System.err.printf(
                    "%s: savepoint after %d committed tokens took %d ms; %d tokens, %d finished at the savepoint%n",
                    name,
                    early.size(),
                    (System.nanoTime() - t0) / 1_000_000,
                    before.size(),
                    before.stream().filter(TokenEvent::getFinished).count());
            assertTrue(
                    before.stream().filter(TokenEvent::getFinished).count() < reqs.size(),
                    "stopped mid-generation");
            assertEquals(0, resumedFromState(logs));
            Configuration restore = new Configuration();
            restore.set(StateRecoveryOptions.SAVEPOINT_PATH, savepoint);
            JobClient second = submit(o, to, restore);
            try {
                List<TokenEvent> all =
                        KafkaIO.tokens(
                                o.bootstrapServers,
                                o.tokenTopic,
                                reqs.size(),
                                Duration.ofMinutes(3));
                Map<String, List<Integer>> got = checkExactlyOnce(all, reqs);
                assertTrue(
                        resumedFromState(logs) > 0,
                        "the resubmitted job resumed sequences from the savepoint");
                assertEquals(
                        engineDirect(reqs),
                        got,
                        from + " -> " + to + ": tokens equal an uninterrupted run's");
                // The savepoint's own transactions were committed when it completed; the restore
                // commits them again.
                int fenced =
                        FencedRecommits.assertAllWereAlreadyCommitted(logs, o.bootstrapServers);
                System.err.printf(
                        "%s: %d fenced recommits, each of an already committed transaction%n",
                        name, fenced);
            } finally {
                second.cancel().get();
            }
        }
    }

    @Test
    void malformedRecordsBecomeCodedErrorsAndTheJobNeverRestarts(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        JobOptions o = options("malformed");
        Random r = new Random(200);
        List<byte[]> values = new ArrayList<>();
        List<Req> good = requests("g", 50, 4, 8);
        String[] shapes = {
            "{\"request_id\": \"b%d\", \"prompt\": 42}",
            "{\"request_id\": \"b%d\", \"prompt\": \"x\", \"max_new_tokens\": \"ten\"}",
            "{\"request_id\": \"b%d\", \"prompt\": \"x\", \"adapters\": [{\"name\": \"no_such_adapter\"}]}",
            "{\"request_id\": \"b%d\", \"prompt\": \"x\", \"max_new_tokens\": 0}",
            "{\"request_id\": \"b%d\", \"prompt\": \"x\", \"max_new_tokens\": 1000000000}",
            "{\"request_id\": \"b%d\", \"prompt\": \"" + "the dog ran. ".repeat(200) + "\"}",
            "[1, 2, %d]",
            "{\"request_id\": \"b%d\", \"prompt\": \"x\", \"adapters\": [{\"name\": \"../happy\"}]}"
        };
        for (int i = 0; i < 200; i++) {
            if (i % 9 == 8) {
                byte[] junk = new byte[1 + r.nextInt(300)];
                r.nextBytes(junk);
                values.add(junk);
            } else if (i % 9 == 7) {
                // A valid Avro record of the wrong schema.
                values.add(
                        io.flinklora.schemas.codec.AvroCodec.toBytes(
                                TokenEvent.newBuilder()
                                        .setRequestId("t" + i)
                                        .setIndex(0)
                                        .setTokenId(1)
                                        .setText("")
                                        .setFinished(false)
                                        .setEmittedAt(java.time.Instant.now())
                                        .build()));
            } else {
                values.add(KafkaIO.utf8(String.format(shapes[i % 9 % shapes.length], i)));
            }
            if (i % 4 == 0) {
                values.add(KafkaIO.utf8(good.get(i / 4).json()));
            }
        }
        for (int i = 0; i < 3; i++) {
            values.add(
                    KafkaIO.utf8(
                            "{\"request_id\": \"u"
                                    + i
                                    + "\", \"prompt\": \"x\", \"adapters\": [{\"name\": \"unused_tensors\"}]}"));
        }
        KafkaIO.produce(o.bootstrapServers, o.requestTopics.get(0), values);
        Configuration noRestart = new Configuration();
        noRestart.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        JobClient job = submit(o, 1, noRestart);
        try {
            List<GenerationError> errors =
                    KafkaIO.errors(o.bootstrapServers, o.errorTopic, 203, Duration.ofMinutes(2));
            List<Completion> done =
                    KafkaIO.completions(
                            o.bootstrapServers, o.completionTopic, 50, Duration.ofMinutes(2));
            assertEquals(203, errors.size(), "one coded error record per malformed record");
            List<GenerationError> unused =
                    errors.stream().filter(e -> "ADAPTER_LOAD_FAILED".equals(e.getCode())).toList();
            assertEquals(
                    3,
                    unused.size(),
                    "an adapter with tensors its config does not use is refused, per request");
            assertTrue(
                    unused.get(0)
                            .getMessage()
                            .contains("model.layers.0.self_attn.v_proj.lora_A.weight"),
                    unused.get(0).getMessage());
            assertEquals(50, done.size(), "every good request completes");
            Map<String, Long> codes = new TreeMap<>();
            errors.forEach(e -> codes.merge(e.getCode(), 1L, Long::sum));
            assertTrue(
                    codes.keySet()
                            .containsAll(
                                    List.of(
                                            "MALFORMED_INPUT",
                                            "INVALID_REQUEST",
                                            "UNKNOWN_ADAPTER",
                                            "INVALID_PARAMETER",
                                            "LIMIT_EXCEEDED",
                                            "CONTEXT_LENGTH_EXCEEDED")),
                    codes.toString());
            assertEquals(
                    JobStatus.RUNNING,
                    job.getJobStatus().get(),
                    "the job is still running, never restarted");
            assertEquals(0, FailureCount.restarts(cluster, job));
        } finally {
            job.cancel().get();
        }
    }

    @Test
    void requestsWithChoicesGetOneOfTheirLabelsAsTheEngineScoresIt() throws Exception {
        JobOptions o = options("choices");
        List<String> labels = List.of("happy", "sad", "a big red ball");
        List<String> json = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            String adapter =
                    i % 3 == 0 ? "" : ", \"adapters\": [{\"name\": \"" + ADAPTERS[i % 3] + "\"}]";
            json.add(
                    "{\"request_id\": \"c"
                            + i
                            + "\", \"prompt\": \""
                            + PROMPTS[i]
                            + "\", \"choices\": "
                            + "[\"happy\", \"sad\", \"a big red ball\"]"
                            + adapter
                            + "}");
        }
        json.add("{\"request_id\": \"cbad\", \"prompt\": \"x\", \"choices\": [\"a\", \"a\"]}");
        KafkaIO.produce(
                o.bootstrapServers,
                o.requestTopics.get(0),
                json.stream().map(KafkaIO::utf8).toList());
        JobClient job = submit(o, 1, new Configuration());
        try {
            List<Completion> done =
                    KafkaIO.completions(
                            o.bootstrapServers, o.completionTopic, 6, Duration.ofMinutes(2));
            List<GenerationError> errors =
                    KafkaIO.errors(o.bootstrapServers, o.errorTopic, 1, Duration.ofMinutes(1));
            assertEquals("INVALID_PARAMETER", errors.get(0).getCode());
            assertEquals(6, done.size());
            try (Engine e =
                    Engine.open(
                            EngineConfig.builder(model)
                                    .maxRunning(1)
                                    .adapterRoot(adapterRoot)
                                    .build())) {
                for (Completion c : done) {
                    int i = Integer.parseInt(c.getRequestId().substring(1));
                    assertEquals("choice", c.getFinishReason());
                    assertTrue(labels.contains(c.getText()), c.getText());
                    assertEquals(3, c.getChoices().size());
                    assertEquals(
                            1.0,
                            c.getChoices().stream().mapToDouble(x -> x.getProbability()).sum(),
                            1e-9);
                    List<AdapterRef> mix =
                            i % 3 == 0 ? List.of() : List.of(new AdapterRef(ADAPTERS[i % 3], 1.0));
                    io.flinklora.gpu.frontend.RequestProcessor.submit(
                            e,
                            new io.flinklora.gpu.frontend.PromptRequest(
                                    "d",
                                    e.tokenizer().encode(PROMPTS[i]),
                                    mix,
                                    SamplingParams.greedy(1),
                                    null,
                                    labels));
                    io.flinklora.gpu.engine.TokenEvent direct = null;
                    while (e.hasWork()) {
                        for (io.flinklora.gpu.engine.TokenEvent ev : e.step().events()) {
                            direct = ev;
                        }
                    }
                    assertEquals(direct.choice().label(), c.getText(), c.getRequestId());
                    for (int k = 0; k < 3; k++) {
                        assertEquals(
                                direct.choice().scores().get(k).probability(),
                                c.getChoices().get(k).getProbability(),
                                1e-4);
                    }
                }
            }
        } finally {
            job.cancel().get();
        }
    }

    /**
     * {@code "route": "auto"} through Kafka: the job started with the shipped router file serves
     * each routed request with the adapters the router chooses for its prompt (tokens as the engine
     * gives with them), and the Avro completion carries the route; a route other than "auto", or
     * with adapters, is a coded error.
     */
    @Test
    void routedRequestsGetTheRoutersAdaptersAndTheirCompletionsReportTheRoute() throws Exception {
        JobOptions o = options("route");
        Path routerFile = TestPaths.root().resolve("models/adapters/router.json");
        o.router = routerFile.toString(); // tasks max, happy, mood: adapters of those names are in
        // adapterRoot
        Map<String, String> prompts = new java.util.LinkedHashMap<>();
        prompts.put("r-max", "Max the dog went to the lake with his boat.");
        prompts.put(
                "r-happy",
                "Once upon a time, there was a little girl named Sue who had a red hat.");
        prompts.put("r-mood", "Ben dropped his ice cream on the ground. Ben cried.\nMood:");
        List<String> json = new ArrayList<>();
        prompts.forEach(
                (id, prompt) ->
                        json.add(
                                "{\"request_id\": \""
                                        + id
                                        + "\", \"prompt\": \""
                                        + prompt.replace("\n", "\\n")
                                        + "\", \"route\": \"auto\", \"max_new_tokens\": 12, \"ignore_eos\": true}"));
        json.add("{\"request_id\": \"r-bad\", \"prompt\": \"x\", \"route\": \"nearest\"}");
        json.add(
                "{\"request_id\": \"r-both\", \"prompt\": \"x\", \"route\": \"auto\", \"adapters\": [{\"name\": \"max\"}]}");
        KafkaIO.produce(
                o.bootstrapServers,
                o.requestTopics.get(0),
                json.stream().map(KafkaIO::utf8).toList());
        JobClient job = submit(o, 1, new Configuration());
        try {
            List<Completion> done =
                    KafkaIO.completions(
                            o.bootstrapServers, o.completionTopic, 3, Duration.ofMinutes(2));
            Map<String, String> codes = new HashMap<>();
            KafkaIO.errors(o.bootstrapServers, o.errorTopic, 2, Duration.ofMinutes(1))
                    .forEach(e -> codes.put(e.getRequestId(), e.getCode()));
            assertEquals(Map.of("r-bad", "INVALID_PARAMETER", "r-both", "INVALID_REQUEST"), codes);
            assertEquals(3, done.size());
            try (Engine e =
                    Engine.open(
                            EngineConfig.builder(model)
                                    .maxRunning(1)
                                    .adapterRoot(adapterRoot)
                                    .build())) {
                io.flinklora.gpu.route.Router router =
                        io.flinklora.gpu.route.Router.open(
                                io.flinklora.gpu.route.RouterFile.read(routerFile), e);
                for (Completion c : done) {
                    int[] ids = e.tokenizer().encode(prompts.get(c.getRequestId()));
                    io.flinklora.gpu.route.Router.Route want = router.route(ids);
                    assertEquals(
                            c.getRequestId().substring(2), want.task(), "the router's own choice");
                    assertEquals(want.task(), c.getRoute().getTask(), c.getRequestId());
                    assertEquals(
                            want.adapters().get(0).name(),
                            c.getRoute().getAdapters().get(0).getName());
                    assertEquals(3, c.getRoute().getSimilarity().size());
                    e.submit(
                            new EngineRequest(
                                    "d",
                                    ids,
                                    want.adapters(),
                                    SamplingParams.greedy(12).withIgnoreEos(true)));
                    List<Integer> direct = new ArrayList<>();
                    while (e.hasWork()) {
                        e.step().events().forEach(ev -> direct.add(ev.tokenId()));
                    }
                    assertEquals(
                            direct,
                            c.getTokenIds(),
                            c.getRequestId() + ": as the engine gives with the routed adapters");
                }
            }
        } finally {
            job.cancel().get();
        }
    }
}
