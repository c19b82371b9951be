package io.flinklora.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.lora.PeftWriter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.job.StreamingJobIT.Req;
import io.flinklora.job.tools.CreateTopics;
import io.flinklora.job.tools.Produce;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.TokenEvent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.flink.client.program.ClusterClient;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectClusterClient;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.TimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The streaming job against an in-process broker that requires SASL (PLAIN or SCRAM-SHA-512) on
 * every listener: the password comes from the environment (Kafka's EnvVarConfigProvider) or the
 * command line, and never shows in logs, metrics, the REST API or output records.
 */
class KafkaSaslIT {
    /**
     * Set by Failsafe (job/pom.xml), so the password is in the environment and nowhere in the job's
     * arguments.
     */
    static final String PASSWORD_ENV = "FLINK_LORA_IT_KAFKA_PASSWORD";

    static final String USER = "flink-job";

    @RegisterExtension
    static final MiniClusterExtension FLINK =
            new MiniClusterExtension(
                    new MiniClusterResourceConfiguration.Builder()
                            .setNumberTaskManagers(1)
                            .setNumberSlotsPerTaskManager(1)
                            .setConfiguration(StreamingJob.recommendedClusterConfig())
                            .build());

    @TempDir static Path tmp;
    static String password;
    static LogCapture logs;
    static EmbeddedKafka kafka;
    static Path model;
    static Path adapterRoot;

    @BeforeAll
    static void start() throws Exception {
        password = System.getenv(PASSWORD_ENV);
        assertTrue(
                password != null && password.length() >= 12,
                PASSWORD_ENV + " must be set (Failsafe sets it; run through mvn verify)");
        // From before the broker starts, so its logs are checked too.
        logs =
                LogCapture.start(
                        "io.flinklora",
                        "org.apache.kafka.common.security",
                        "org.apache.kafka.common.config",
                        "org.apache.flink.connector.kafka");
        kafka = EmbeddedKafka.startSasl(USER, password);
        model = TestPaths.stories260k();
        adapterRoot = tmp.resolve("adapters");
        new PeftWriter(ModelConfig.read(model))
                .rank(4)
                .alpha(8)
                .targets(EnumSet.of(Projection.Q, Projection.V))
                .write(adapterRoot.resolve("happy"), 7, 0.3, 0.3);
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (kafka != null) {
                kafka.close();
            }
        } finally {
            if (logs != null) {
                logs.close();
            }
        }
    }

    @Test
    void clientsWithoutTheRightCredentialsCanNeitherProduceNorConsume() throws Exception {
        // The command-line tools (scripts/produce.sh, e2e-cluster.sh) take the same
        // --kafka.<property> settings.
        List<String> security = new ArrayList<>();
        kafka.clientProperties()
                .forEach(
                        (k, v) -> {
                            if (!k.equals("bootstrap.servers")) {
                                security.addAll(List.of("--kafka." + k, (String) v));
                            }
                        });
        List<String> create = new ArrayList<>(List.of(kafka.bootstrapServers(), "1", "guarded"));
        create.addAll(security);
        CreateTopics.main(create.toArray(String[]::new));
        List<String> produce =
                new ArrayList<>(
                        List.of(
                                "--bootstrap-servers",
                                kafka.bootstrapServers(),
                                "--topic",
                                "guarded",
                                "--prompt",
                                "only for authenticated clients"));
        produce.addAll(security);
        Produce.main(produce.toArray(String[]::new));
        assertEquals(
                1,
                recordsReadWithin(kafka.clientProperties(), "guarded", Duration.ofSeconds(20)),
                "a client with the credentials reads the record");
        assertEquals(
                1,
                recordsReadWithin(
                        kafka.clientProperties("SCRAM-SHA-512"), "guarded", Duration.ofSeconds(20)),
                "so does one authenticating by SCRAM");

        Properties anonymous = new Properties();
        anonymous.put("bootstrap.servers", kafka.bootstrapServers());
        anonymous.put("max.block.ms", "2000");
        ExecutionException noAuth = assertThrows(ExecutionException.class, () -> send(anonymous));
        assertInstanceOf(
                TimeoutException.class,
                noAuth.getCause(),
                "a client without SASL never gets metadata");
        assertEquals(
                0,
                recordsReadWithin(anonymous, "guarded", Duration.ofSeconds(3)),
                "a client without SASL reads nothing");

        Properties wrong = kafka.clientProperties();
        String wrongPassword = "not-the-" + password;
        wrong.put("sasl.jaas.config", EmbeddedKafka.plainJaas(USER, wrongPassword));
        wrong.put("max.block.ms", "10000");
        ExecutionException badAuth = assertThrows(ExecutionException.class, () -> send(wrong));
        assertInstanceOf(
                SaslAuthenticationException.class,
                badAuth.getCause(),
                "a wrong password is refused");
        assertFalse(
                badAuth.getCause().getMessage().contains(wrongPassword),
                badAuth.getCause().getMessage());
        assertEquals(
                0,
                recordsReadWithin(wrong, "guarded", Duration.ofSeconds(3)),
                "a wrong password reads nothing");
    }

    @Test
    void theJobAuthenticatesByPlainWithThePasswordFromTheEnvironmentAndNeverShowsIt(
            @InjectClusterClient ClusterClient<?> client) throws Exception {
        runAndCheck(
                client,
                "env",
                List.of(
                        "--kafka.sasl.mechanism",
                        "PLAIN",
                        "--kafka.config.providers",
                        "env",
                        "--kafka.config.providers.env.class",
                        "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
                        "--kafka.sasl.jaas.config",
                        EmbeddedKafka.plainJaas(USER, "${env:" + PASSWORD_ENV + "}")));
    }

    @Test
    void theJobAuthenticatesByScramWithThePasswordOnTheCommandLineAndNeverShowsIt(
            @InjectClusterClient ClusterClient<?> client) throws Exception {
        runAndCheck(
                client,
                "cli",
                List.of(
                        "--kafka.sasl.mechanism",
                        "SCRAM-SHA-512",
                        "--kafka.sasl.jaas.config=" + EmbeddedKafka.scramJaas(USER, password)));
    }

    /**
     * Runs the job (options parsed from a command line, SASL settings among them) over five
     * requests on the base model and an adapter plus two bad records, and checks outputs, logs,
     * metrics and records.
     */
    private void runAndCheck(ClusterClient<?> client, String name, List<String> credentials)
            throws Exception {
        List<String> args =
                new ArrayList<>(
                        List.of(
                                "--bootstrap-servers",
                                kafka.bootstrapServers(),
                                "--request-topics",
                                name + "-requests",
                                "--token-topic",
                                name + "-tokens",
                                "--completion-topic",
                                name + "-completions",
                                "--error-topic",
                                name + "-errors",
                                "--group-id",
                                name,
                                "--transactional-id-prefix",
                                name,
                                "--model",
                                model.toString(),
                                "--adapters",
                                adapterRoot.toString(),
                                "--device",
                                "cpu",
                                "--checkpoint-interval",
                                "300",
                                "--kafka.security.protocol",
                                "SASL_PLAINTEXT"));
        args.addAll(credentials);
        JobOptions o = JobOptions.parse(args.toArray(String[]::new));
        kafka.createTopics(o.topics(), 1);

        List<Req> reqs = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            reqs.add(
                    new Req(
                            name + i,
                            StreamingJobIT.PROMPTS[i],
                            i % 2 == 0 ? null : "happy",
                            4 + i));
        }
        List<byte[]> values =
                new ArrayList<>(reqs.stream().map(r -> KafkaIO.utf8(r.json())).toList());
        values.add(KafkaIO.utf8("this is not a request"));
        values.add(
                KafkaIO.utf8(
                        "{\"request_id\": \""
                                + name
                                + "-x\", \"prompt\": \"x\", \"adapters\": [{\"name\": \"nope\"}]}"));
        Properties secured = kafka.clientProperties();
        KafkaIO.produce(secured, o.requestTopics().get(0), values);

        Configuration conf = new Configuration();
        conf.set(
                RestartStrategyOptions.RESTART_STRATEGY,
                "none"); // an authentication failure fails the test
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(1);
        StreamingJob.build(env, o);
        JobClient job = env.executeAsync("sasl " + name);
        try {
            // Reading stops early if the job fails (an authentication failure, with restarts off).
            Duration wait = Duration.ofSeconds(90);
            List<TokenEvent> tokens =
                    KafkaIO.readUntil(
                            secured,
                            o.tokenTopic(),
                            TokenEvent.class,
                            l ->
                                    l.stream().filter(TokenEvent::getFinished).count()
                                                    >= reqs.size()
                                            || ended(job),
                            wait);
            List<Completion> done =
                    KafkaIO.readUntil(
                            secured,
                            o.completionTopic(),
                            Completion.class,
                            l -> l.size() >= reqs.size() || ended(job),
                            wait);
            List<GenerationError> errors =
                    KafkaIO.readUntil(
                            secured,
                            o.errorTopic(),
                            GenerationError.class,
                            l -> l.size() >= 2 || ended(job),
                            wait);
            assertRunning(job);
            StreamingJobIT.checkExactlyOnce(tokens, reqs);
            assertEquals(reqs.size(), done.size(), "every request completes");
            assertEquals(
                    List.of("MALFORMED_INPUT", "UNKNOWN_ADAPTER"),
                    errors.stream().map(GenerationError::getCode).sorted().toList());

            String records = tokens + "\n" + done + "\n" + errors;
            assertFalse(records.contains(password), "no output or error record holds the password");

            RestMetrics.generationMetricIds(client, job.getJobID());
            String rest = RestMetrics.everythingShown(client, job.getJobID());
            assertTrue(
                    rest.contains("tokensPerSecond") && rest.contains("KafkaProducer"),
                    "the REST API shows the job's and the Kafka clients' metrics: "
                            + rest.length()
                            + " chars");
            assertFalse(
                    rest.contains(password),
                    "no metric name or value, nor the job's REST view, holds the password");

            String log = logs.text();
            assertTrue(
                    log.contains("flink-lora streaming job: ")
                            && log.contains("sasl.jaas.config=[hidden]"),
                    "the job logs its options with the JAAS configuration hidden");
            assertTrue(
                    log.contains("sasl.jaas.config = [hidden]"),
                    "the Kafka clients' configuration dumps were captured");
            assertFalse(
                    log.contains(password),
                    "no log line holds the password (" + logs.events() + " events checked)");
        } finally {
            if (!ended(job)) {
                job.cancel().get(30, TimeUnit.SECONDS);
            }
        }
    }

    private static boolean ended(JobClient job) {
        try {
            return job.getJobStatus().get(10, TimeUnit.SECONDS).isGloballyTerminalState();
        } catch (Exception e) {
            return true;
        }
    }

    private static void assertRunning(JobClient job) throws Exception {
        if (ended(job)) {
            try {
                job.getJobExecutionResult().get(10, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                throw new AssertionError("the job failed", e.getCause());
            }
            throw new AssertionError("the job ended: " + job.getJobStatus().get());
        }
    }

    private static void send(Properties connection) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(connection)) {
            p.send(new ProducerRecord<>("guarded", KafkaIO.utf8("should not be written")))
                    .get(20, TimeUnit.SECONDS);
        }
    }

    /**
     * Records of {@code topic} a fresh read_committed consumer with {@code connection} gets within
     * {@code time}.
     */
    private static int recordsReadWithin(Properties connection, String topic, Duration time) {
        int n = 0;
        long deadline = System.nanoTime() + time.toNanos();
        try (KafkaConsumer<byte[], byte[]> c = KafkaClients.readCommitted(connection, topic)) {
            while (System.nanoTime() < deadline && n == 0) {
                try {
                    ConsumerRecords<byte[], byte[]> got = c.poll(Duration.ofMillis(200));
                    n += got.count();
                } catch (SaslAuthenticationException e) {
                    return n; // refused outright: nothing read
                }
            }
        }
        return n;
    }
}
