package io.flinklora.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.client.GenerationClient;
import io.flinklora.client.GenerationHandle;
import io.flinklora.gpu.lora.PeftWriter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.schemas.AdapterWeight;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.flink.client.program.ClusterClient;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MetricOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.JobClient;
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

/**
 * Services calling the job through {@link GenerationClient}: each client's reply topic carries its
 * own requests' events only; reply topics outside the job's allow-list, or missing, are refused;
 * handles complete across a failure drill; a client timeout cancels the generation in the job.
 */
class ReplyTopicsIT {
    @RegisterExtension
    static final MiniClusterExtension FLINK =
            new MiniClusterExtension(
                    new MiniClusterResourceConfiguration.Builder()
                            .setNumberTaskManagers(1)
                            .setNumberSlotsPerTaskManager(2)
                            .setConfiguration(fastMetrics())
                            .build());

    static Configuration fastMetrics() {
        Configuration c = StreamingJob.recommendedClusterConfig();
        c.set(MetricOptions.METRIC_FETCHER_UPDATE_INTERVAL, Duration.ofMillis(300));
        return c;
    }

    static final String[] ADAPTERS = {"happy", "max"};
    static final String[] PROMPTS = {
        "Once upon a time",
        "Tom had a big red ball.",
        "One day, a little bird",
        "Lily and Ben went to the park to"
    };

    @TempDir static Path tmp;
    static EmbeddedKafka kafka;
    static Path adapterRoot;

    @BeforeAll
    static void start() throws Exception {
        kafka = EmbeddedKafka.start();
        ModelConfig c = ModelConfig.read(TestPaths.stories260k());
        adapterRoot = tmp.resolve("adapters");
        for (int i = 0; i < ADAPTERS.length; i++) {
            new PeftWriter(c)
                    .rank(4)
                    .alpha(8)
                    .targets(EnumSet.of(Projection.Q, Projection.V))
                    .write(adapterRoot.resolve(ADAPTERS[i]), 70 + i, 0.3, 0.3);
        }
    }

    @AfterAll
    static void stop() throws Exception {
        kafka.close();
    }

    static JobOptions options(String name) throws Exception {
        JobOptions o = new JobOptions();
        o.bootstrapServers = kafka.bootstrapServers();
        o.requestTopics = List.of(name + "-requests");
        o.tokenTopic = name + "-tokens";
        o.completionTopic = name + "-completions";
        o.errorTopic = name + "-errors";
        o.groupId = name;
        o.engine.model = TestPaths.stories260k().toString();
        o.engine.adapters = adapterRoot.toString();
        o.engine.device = "cpu";
        o.engine.maxBatch = 8;
        o.checkpointInterval = 200;
        o.transactionalIdPrefix = name;
        o.replyTopicPattern = "replies\\." + name + "\\..*";
        kafka.createTopics(o.topics(), 2);
        return o;
    }

    static JobClient submit(JobOptions o, int parallelism) throws Exception {
        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 3);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(200));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(parallelism);
        StreamingJob.build(env, o);
        return env.executeAsync("reply topics " + o.groupId);
    }

    static GenerationClient client(JobOptions o, String replyTopic, Duration timeout) {
        return GenerationClient.builder()
                .bootstrapServers(o.bootstrapServers)
                .requestTopic(o.requestTopics.get(0))
                .replyTopic(replyTopic)
                .createReplyTopic(true, 2, (short) 1)
                .timeout(timeout)
                .build();
    }

    static GenerationRequest request(String id, int i, int tokens) {
        GenerationRequest.Builder b =
                GenerationRequest.newBuilder()
                        .setRequestId(id)
                        .setPrompt(PROMPTS[i % PROMPTS.length])
                        .setMaxNewTokens(tokens)
                        .setIgnoreEos(true);
        if (i % 3 != 0) {
            b.setAdapters(List.of(new AdapterWeight(ADAPTERS[i % 3 - 1], 1.0)));
        }
        return b.build();
    }

    /**
     * What a request's handle delivered, checked: indices 0..n-1 in order, equal to its completion.
     */
    static void checkDelivered(
            GenerationHandle h, List<TokenEvent> listened, Completion c, int tokens) {
        assertEquals(tokens, listened.size(), h.requestId());
        for (int i = 0; i < listened.size(); i++) {
            assertEquals(
                    i, listened.get(i).getIndex(), h.requestId() + " in index order, each once");
            assertEquals(h.requestId(), listened.get(i).getRequestId());
        }
        assertEquals(
                c.getTokenIds(),
                listened.stream().map(TokenEvent::getTokenId).toList(),
                h.requestId());
    }

    @Test
    void threeClientsEachReceiveExactlyTheirOwnEventsAndForbiddenOrMissingReplyTopicsAreRefused()
            throws Exception {
        JobOptions o = options("three");
        kafka.createTopics(List.of("secret-topic"), 1);
        JobClient job = submit(o, 2);
        String[] names = {"a", "b", "c"};
        List<GenerationClient> clients = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            for (String n : names) {
                clients.add(client(o, "replies.three." + n, Duration.ofMinutes(3)));
            }
            // A producer naming a topic outside the allow-list: refused, nothing written there.
            // And one naming an allowed name that does not exist: a sink writing there would fail
            // the job.
            KafkaIO.produce(
                    o.bootstrapServers,
                    o.requestTopics.get(0),
                    List.of(
                            KafkaIO.utf8(
                                    "{\"request_id\": \"intruder\", \"prompt\": \"x\", \"reply_topic\": \"secret-topic\"}"),
                            KafkaIO.utf8(
                                    "{\"request_id\": \"ghost\", \"prompt\": \"x\", \"reply_topic\": \"replies.three.ghost\"}")));
            Map<String, List<TokenEvent>> listened = new ConcurrentHashMap<>();
            List<Future<List<GenerationHandle>>> sent = new ArrayList<>();
            for (int k = 0; k < 3; k++) {
                GenerationClient client = clients.get(k);
                String n = names[k];
                sent.add(
                        pool.submit(
                                () -> {
                                    List<GenerationHandle> hs = new ArrayList<>();
                                    for (int i = 0; i < 10; i++) {
                                        String id = n + i;
                                        List<TokenEvent> mine = new CopyOnWriteArrayList<>();
                                        listened.put(id, mine);
                                        hs.add(client.generate(request(id, i, 12 + i), mine::add));
                                    }
                                    return hs;
                                }));
            }
            for (int k = 0; k < 3; k++) {
                for (GenerationHandle h : sent.get(k).get()) {
                    Completion c = h.completion().get(3, TimeUnit.MINUTES);
                    int i = Integer.parseInt(h.requestId().substring(1));
                    checkDelivered(h, listened.get(h.requestId()), c, 12 + i);
                    assertEquals("replies.three." + names[k], c.getReplyTopic());
                }
            }
            // Read each reply topic as a whole: only its own client's request ids are there.
            for (String n : names) {
                Set<String> ids = new TreeSet<>();
                for (TokenEvent t :
                        KafkaIO.readUntil(
                                o.bootstrapServers,
                                "replies.three." + n,
                                TokenEvent.class,
                                l -> false,
                                Duration.ofSeconds(2),
                                true)) {
                    ids.add(t.getRequestId());
                }
                Set<String> expected = new TreeSet<>();
                for (int i = 0; i < 10; i++) {
                    expected.add(n + i);
                }
                assertEquals(
                        expected,
                        ids,
                        "reply topic of client " + n + " holds its own requests' events only");
            }
            Map<String, String> codes = new java.util.TreeMap<>();
            KafkaIO.errors(o.bootstrapServers, o.errorTopic, 2, Duration.ofMinutes(1))
                    .forEach(e -> codes.put(e.getRequestId(), e.getCode()));
            assertEquals(
                    Map.of("intruder", "REPLY_TOPIC_NOT_ALLOWED", "ghost", "REPLY_TOPIC_NOT_FOUND"),
                    codes);
            assertEquals(
                    List.of(),
                    KafkaIO.readUntil(
                            o.bootstrapServers,
                            "secret-topic",
                            TokenEvent.class,
                            l -> false,
                            Duration.ofSeconds(2),
                            true),
                    "nothing was written to the forbidden topic");
            assertEquals(
                    List.of(),
                    KafkaIO.readUntil(
                            o.bootstrapServers,
                            o.tokenTopic,
                            TokenEvent.class,
                            l -> false,
                            Duration.ofSeconds(1),
                            true),
                    "routed requests leave the default token topic alone");
            assertEquals(
                    org.apache.flink.api.common.JobStatus.RUNNING,
                    job.getJobStatus().get(),
                    "the job never failed");
        } finally {
            pool.shutdownNow();
            clients.forEach(GenerationClient::close);
            job.cancel().get();
        }
    }

    @Test
    void handlesCompleteWithEveryTokenOnceAcrossAFailureDrill(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        JobOptions o = options("drill");
        o.failOnceAfterTokens = 30;
        o.engine.maxBatch = 4;
        JobClient job = submit(o, 2);
        try (GenerationClient client = client(o, "replies.drill.x", Duration.ofMinutes(3))) {
            List<GenerationHandle> hs = new ArrayList<>();
            Map<String, List<TokenEvent>> listened = new ConcurrentHashMap<>();
            for (int i = 0; i < 12; i++) {
                List<TokenEvent> mine = new CopyOnWriteArrayList<>();
                listened.put("d" + i, mine);
                hs.add(client.generate(request("d" + i, i, 60 + 5 * i), mine::add));
            }
            for (GenerationHandle h : hs) {
                Completion c = h.completion().get(3, TimeUnit.MINUTES);
                int i = Integer.parseInt(h.requestId().substring(1));
                checkDelivered(h, listened.get(h.requestId()), c, 60 + 5 * i);
            }
            assertTrue(FailureCount.restarts(cluster, job) >= 1, "the drill made the job restart");
        } finally {
            job.cancel().get();
        }
    }

    @Test
    void aClientTimeoutCancelsTheGenerationInTheJob(@InjectClusterClient ClusterClient<?> rest)
            throws Exception {
        JobOptions o = options("timeout");
        o.engine.maxBatch =
                1; // one sequence at a time: a request left running would hold up the next one
        JobClient job = submit(o, 1);
        // 480 tokens take seconds here; the client gives up after half a second, whatever the
        // machine's pace.
        try (GenerationClient client = client(o, "replies.timeout.x", Duration.ofMillis(500))) {
            GenerationHandle slow = client.generate(request("long", 0, 480));
            ExecutionException e =
                    assertThrows(
                            ExecutionException.class,
                            () -> slow.completion().get(1, TimeUnit.MINUTES));
            assertInstanceOf(TimeoutException.class, e.getCause());
            double cancelled =
                    RestMetrics.generationMetricSum(
                            rest, job.getJobID(), "cancelledRequests", v -> v >= 1);
            assertEquals(1.0, cancelled, "the job cancelled the generation");
            double running =
                    RestMetrics.generationMetricSum(
                            rest, job.getJobID(), "runningSequences", v -> v == 0);
            assertEquals(0.0, running, "its batch room is free again");
            // The cancelled request no longer occupies the single batch slot: a short one completes
            // at once.
            GenerationHandle next =
                    client.generate(request("short", 1, 5), t -> {}, Duration.ofMinutes(1));
            assertEquals(5, next.completion().get(1, TimeUnit.MINUTES).getCompletionTokens());
            List<TokenEvent> longTokens =
                    KafkaIO.readUntil(
                                    o.bootstrapServers,
                                    "replies.timeout.x",
                                    TokenEvent.class,
                                    l -> false,
                                    Duration.ofSeconds(1),
                                    true)
                            .stream()
                            .filter(t -> t.getRequestId().equals("long"))
                            .toList();
            assertTrue(
                    longTokens.size() < 480,
                    "the long request stopped early: " + longTokens.size() + " tokens");
        } finally {
            job.cancel().get();
        }
    }

    @Test
    void closingAClientWithAGeneratedTopicCancelsItsRequestsInTheJobBeforeDeletingTheTopic(
            @InjectClusterClient ClusterClient<?> rest) throws Exception {
        JobOptions o = options("gen");
        o.engine.maxBatch = 1;
        JobClient job = submit(o, 1);
        try {
            GenerationClient client =
                    GenerationClient.builder()
                            .bootstrapServers(o.bootstrapServers)
                            .requestTopic(o.requestTopics.get(0))
                            .replyTopicPrefix("replies.gen.")
                            .build();
            String topic = client.replyTopic();
            java.util.concurrent.CountDownLatch started =
                    new java.util.concurrent.CountDownLatch(1);
            GenerationHandle h =
                    client.generate(request("pending", 0, 480), t -> started.countDown());
            assertTrue(started.await(2, TimeUnit.MINUTES), "the request is generating");
            client.close();
            assertTrue(
                    h.completion().isCompletedExceptionally(), "the handle ended with the client");
            assertEquals(
                    1.0,
                    RestMetrics.generationMetricSum(
                            rest, job.getJobID(), "cancelledRequests", v -> v >= 1),
                    "the job cancelled it before the topic went");
            java.util.Properties p = new java.util.Properties();
            p.put("bootstrap.servers", o.bootstrapServers);
            try (org.apache.kafka.clients.admin.Admin admin =
                    org.apache.kafka.clients.admin.Admin.create(p)) {
                assertTrue(
                        !admin.listTopics().names().get().contains(topic), topic + " was deleted");
            }
            assertEquals(org.apache.flink.api.common.JobStatus.RUNNING, job.getJobStatus().get());
        } finally {
            job.cancel().get();
        }
    }
}
