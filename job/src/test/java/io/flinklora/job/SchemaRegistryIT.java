package io.flinklora.job;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.client.GenerationClient;
import io.flinklora.client.GenerationHandle;
import io.flinklora.gpu.lora.PeftWriter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.operators.kafka.OutputFormat;
import io.flinklora.registry.RegistryDecoder;
import io.flinklora.registry.RegistryEncoder;
import io.flinklora.registry.RegistrySettings;
import io.flinklora.registry.SchemaRefusedException;
import io.flinklora.schemas.AdapterWeight;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.io.ByteArrayOutputStream;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Schema-registry framing against a real Apicurio Registry process (registry-server/): a client and
 * the job both in {@code avro-registry} format round-trip requests with the ids the registry
 * assigned on the wire, a producer on a newer compatible request schema is read by the job,
 * undecodable framed records become coded error records, and the registry's compatibility rule
 * refuses an incompatible change of the request schema.
 */
class SchemaRegistryIT {
    @RegisterExtension
    static final MiniClusterExtension FLINK =
            new MiniClusterExtension(
                    new MiniClusterResourceConfiguration.Builder()
                            .setNumberTaskManagers(1)
                            .setNumberSlotsPerTaskManager(1)
                            .setConfiguration(StreamingJob.recommendedClusterConfig())
                            .build());

    /**
     * Subjects are the records' full names (Confluent's RecordNameStrategy): a reply topic carries
     * three types.
     */
    static final String REQUEST_SUBJECT = GenerationRequest.getClassSchema().getFullName();

    @TempDir static Path tmp;
    static EmbeddedKafka kafka;
    static TestRegistry registry;
    static Path adapterRoot;

    @BeforeAll
    static void start() throws Exception {
        kafka = EmbeddedKafka.start();
        registry = TestRegistry.start();
        adapterRoot = tmp.resolve("adapters");
        new PeftWriter(ModelConfig.read(TestPaths.stories260k()))
                .rank(4)
                .alpha(8)
                .targets(EnumSet.of(Projection.Q, Projection.V))
                .write(adapterRoot.resolve("happy"), 71, 0.3, 0.3);
    }

    @AfterAll
    static void stop() throws Exception {
        if (registry != null) {
            registry.close();
        }
        if (kafka != null) {
            kafka.close();
        }
    }

    @Test
    void requestsRoundTripThroughTheJobInTheRegistrysFramingAndBadFramedBytesBecomeErrorRecords()
            throws Exception {
        JobOptions o =
                JobOptions.parse(
                        new String[] {
                            "--model",
                            TestPaths.stories260k().toString(),
                            "--adapters",
                            adapterRoot.toString(),
                            "--device",
                            "cpu",
                            "--bootstrap-servers",
                            kafka.bootstrapServers(),
                            "--request-topics",
                            "framed-requests",
                            "--token-topic",
                            "framed-tokens",
                            "--completion-topic",
                            "framed-completions",
                            "--error-topic",
                            "framed-errors",
                            "--group-id",
                            "framed",
                            "--transactional-id-prefix",
                            "framed",
                            "--checkpoint-interval",
                            "200",
                            "--reply-topic-pattern",
                            "replies\\.framed\\..*",
                            "--format",
                            "avro-registry",
                            "--schema-registry",
                            registry.url()
                        });
        assertEquals(OutputFormat.AVRO_REGISTRY, o.outputFormat());
        kafka.createTopics(o.topics(), 1);
        String requests = o.requestTopics().get(0);
        String replies = "replies.framed.a";
        JobClient job = submit(o);
        try (RegistryDecoder decoder = new RegistryDecoder(o.schemaRegistry())) {
            // A service's client in the registry's framing: its requests and the job's replies.
            try (GenerationClient client =
                    GenerationClient.builder()
                            .bootstrapServers(o.bootstrapServers)
                            .requestTopic(requests)
                            .replyTopic(replies)
                            .createReplyTopic(true, 1, (short) 1)
                            .timeout(Duration.ofMinutes(3))
                            .schemaRegistry(registry.url())
                            .build()) {
                List<GenerationHandle> handles = new ArrayList<>();
                Map<String, List<TokenEvent>> listened = new TreeMap<>();
                for (int i = 0; i < 3; i++) {
                    GenerationRequest.Builder b =
                            GenerationRequest.newBuilder()
                                    .setRequestId("f" + i)
                                    .setPrompt(
                                            i == 2 ? "Tom had a big red ball." : "Once upon a time")
                                    .setMaxNewTokens(10)
                                    .setIgnoreEos(true);
                    if (i == 1) {
                        b.setAdapters(List.of(new AdapterWeight("happy", 1.0)));
                    }
                    List<TokenEvent> mine = new CopyOnWriteArrayList<>();
                    listened.put("f" + i, mine);
                    handles.add(client.generate(b.build(), mine::add));
                }
                for (GenerationHandle h : handles) {
                    Completion c = h.completion().get(3, TimeUnit.MINUTES);
                    List<TokenEvent> tokens = listened.get(h.requestId());
                    assertEquals(10, tokens.size(), h.requestId());
                    for (int i = 0; i < tokens.size(); i++) {
                        assertEquals(
                                i, tokens.get(i).getIndex(), h.requestId() + " in index order");
                    }
                    assertEquals(
                            c.getTokenIds(),
                            tokens.stream().map(TokenEvent::getTokenId).toList(),
                            h.requestId());
                }
            }

            // On the wire: magic byte 0, then the id the registry gave each record type's schema.
            int requestId = registry.idOf(REQUEST_SUBJECT, GenerationRequest.getClassSchema());
            List<byte[]> sent = read(requests, l -> l.size() >= 3, Duration.ofSeconds(30));
            assertEquals(3, sent.size());
            for (byte[] v : sent) {
                assertEquals(0, v[0], "magic byte");
                assertEquals(requestId, id(v), "the request schema's id in the registry");
            }
            String byId = registry.ccompatGet("/schemas/ids/" + requestId).get("schema").asText();
            assertEquals(
                    REQUEST_SUBJECT,
                    new Schema.Parser().parse(byId).getFullName(),
                    "a Confluent deserializer finds the writer schema under that id");
            int tokenId =
                    registry.idOf(
                            TokenEvent.getClassSchema().getFullName(), TokenEvent.getClassSchema());
            int completionId =
                    registry.idOf(
                            Completion.getClassSchema().getFullName(), Completion.getClassSchema());
            List<byte[]> replied = read(replies, l -> l.size() >= 33, Duration.ofSeconds(30));
            assertEquals(33, replied.size(), "3 x 10 token events and 3 completions");
            Map<Integer, Integer> perId = new TreeMap<>();
            for (byte[] v : replied) {
                assertEquals(0, v[0], "magic byte");
                perId.merge(id(v), 1, Integer::sum);
            }
            assertEquals(Map.of(tokenId, 30, completionId, 3), perId);

            // Framed bytes that are no request: each becomes a coded error record, and the job goes
            // on.
            byte[] tokenEvent =
                    replied.stream().filter(v -> id(v) == tokenId).findFirst().orElseThrow();
            byte[] unknownId =
                    frame(999_999, Arrays.copyOfRange(sent.get(0), 5, sent.get(0).length));
            // The first field (request_id, a string) claims a billion bytes: refused before Avro
            // allocates them.
            byte[] hostile =
                    frame(
                            requestId,
                            zigzagVarint(1_000_000_000L),
                            "ab".getBytes(StandardCharsets.US_ASCII));
            byte[] shortHeader = {0, 0, 0};
            KafkaIO.produce(
                    o.bootstrapServers,
                    requests,
                    List.of(shortHeader, unknownId, tokenEvent, hostile));
            List<byte[]> errorBytes =
                    read(o.errorTopic(), l -> l.size() >= 4, Duration.ofMinutes(1));
            assertEquals(4, errorBytes.size());
            List<GenerationError> errors = new ArrayList<>();
            for (byte[] v : errorBytes) {
                errors.add(decoder.decode(v, GenerationError.class));
            }
            List<byte[]> bad = List.of(shortHeader, unknownId, tokenEvent, hostile);
            List<String> expectedWords =
                    List.of(
                            "framing",
                            "999999",
                            TokenEvent.getClassSchema().getFullName(),
                            "1000000000 bytes");
            for (int i = 0; i < bad.size(); i++) {
                GenerationError e = errors.get(i);
                assertEquals("MALFORMED_INPUT", e.getCode(), e.getMessage());
                assertTrue(e.getMessage().contains(expectedWords.get(i)), e.getMessage());
                assertArrayEquals(
                        bad.get(i), bytes(e.getRawPayload()), "the error carries the bytes read");
                assertTrue(e.getSource().startsWith(requests + "/0/"), e.getSource());
            }

            // A producer on a newer, compatible version of the request schema (one more field, with
            // a default):
            // the registry takes it as a new version, and the job reads it through the registry.
            Schema evolved =
                    withField(
                            GenerationRequest.getClassSchema(),
                            new Schema.Field(
                                    "tenant",
                                    Schema.create(Schema.Type.STRING),
                                    "who sent it",
                                    "none"));
            byte[] newer;
            try (RegistryEncoder encoder = new RegistryEncoder(o.schemaRegistry())) {
                newer =
                        encoder.encode(
                                requests,
                                new GenericRecordBuilder(evolved)
                                        .set("request_id", "evolved")
                                        .set("prompt", "Once upon a time")
                                        .set("max_new_tokens", 6)
                                        .set("ignore_eos", true)
                                        .set("tenant", "acme")
                                        .build());
            }
            assertNotEquals(requestId, id(newer), "a new schema version, a new id");
            assertEquals(registry.idOf(REQUEST_SUBJECT, evolved), id(newer));
            KafkaIO.produce(o.bootstrapServers, requests, List.of(newer));
            Completion evolvedDone = null;
            for (byte[] v : read(o.completionTopic(), l -> !l.isEmpty(), Duration.ofMinutes(2))) {
                evolvedDone = decoder.decode(v, Completion.class);
            }
            assertEquals("evolved", evolvedDone.getRequestId());
            assertEquals(6, evolvedDone.getCompletionTokens());
            assertEquals(
                    JobStatus.RUNNING, job.getJobStatus().get(), "bad input never failed the job");
        } finally {
            job.cancel().get();
        }
    }

    @Test
    void anIncompatibleChangeOfTheRequestSchemaIsRefusedByTheRegistrysCompatibilityRule()
            throws Exception {
        try (RegistryEncoder encoder = new RegistryEncoder(RegistrySettings.of(registry.url()))) {
            // Registered as the client and the job do on first use.
            encoder.encode(
                    "compat",
                    GenerationRequest.newBuilder().setRequestId("c").setPrompt("x").build());
            String before = registry.versions(REQUEST_SUBJECT);
            HttpResponse<String> rule =
                    registry.ccompat(
                            "PUT",
                            "/config/" + REQUEST_SUBJECT,
                            "{\"compatibility\": \"BACKWARD\"}");
            assertEquals(200, rule.statusCode(), rule.body());

            // A new required field without a default: a reader on it cannot read the records
            // already written.
            Schema incompatible =
                    withField(
                            GenerationRequest.getClassSchema(),
                            new Schema.Field(
                                    "tenant",
                                    Schema.create(Schema.Type.STRING),
                                    "who sent it",
                                    (Object) null));
            SchemaRefusedException refused =
                    assertThrows(
                            SchemaRefusedException.class,
                            () ->
                                    encoder.encode(
                                            "compat",
                                            new GenericRecordBuilder(incompatible)
                                                    .set("request_id", "c2")
                                                    .set("prompt", "x")
                                                    .set("tenant", "acme")
                                                    .build()));
            assertTrue(refused.getMessage().contains("Incompatible"), refused.getMessage());
            // The same change offered by a Confluent client, through the Confluent-compatible API.
            HttpResponse<String> post =
                    registry.ccompat(
                            "POST",
                            "/subjects/" + REQUEST_SUBJECT + "/versions",
                            "{\"schema\": " + quote(incompatible.toString()) + "}");
            assertEquals(409, post.statusCode(), post.body());
            assertTrue(post.body().contains("Incompatible"), post.body());
            assertEquals(before, registry.versions(REQUEST_SUBJECT), "no version was added");

            // The same rule lets a compatible change (a new field with a default) through.
            Schema compatible =
                    withField(
                            GenerationRequest.getClassSchema(),
                            new Schema.Field(
                                    "priority_class",
                                    Schema.create(Schema.Type.STRING),
                                    "scheduling class",
                                    "standard"));
            byte[] ok =
                    encoder.encode(
                            "compat",
                            new GenericRecordBuilder(compatible)
                                    .set("request_id", "c3")
                                    .set("prompt", "x")
                                    .build());
            assertEquals(registry.idOf(REQUEST_SUBJECT, compatible), id(ok));
            assertNotEquals(
                    registry.idOf(REQUEST_SUBJECT, GenerationRequest.getClassSchema()), id(ok));
            assertNotEquals(before, registry.versions(REQUEST_SUBJECT), "a version was added");
        }
    }

    static JobClient submit(JobOptions o) throws Exception {
        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 3);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(200));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(1);
        StreamingJob.build(env, o);
        return env.executeAsync("schema registry " + o.groupId);
    }

    /**
     * The raw values of {@code topic} (read_committed, from the start) until {@code done} holds or
     * time is up.
     */
    static List<byte[]> read(String topic, Predicate<List<byte[]>> done, Duration timeout) {
        List<byte[]> out = new ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        try (KafkaConsumer<byte[], byte[]> c =
                KafkaClients.readCommitted(kafka.bootstrapServers(), topic)) {
            while (System.nanoTime() < deadline && !done.test(out)) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    out.add(r.value());
                }
            }
        }
        return out;
    }

    /** The schema id of a framed value (big-endian, after the magic byte). */
    static int id(byte[] framed) {
        return ByteBuffer.wrap(framed, 1, 4).getInt();
    }

    static byte[] frame(int id, byte[]... body) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0);
        out.writeBytes(ByteBuffer.allocate(4).putInt(id).array());
        for (byte[] b : body) {
            out.writeBytes(b);
        }
        return out.toByteArray();
    }

    /** Avro's encoding of a long: zig-zag, then 7 bits a byte. */
    static byte[] zigzagVarint(long n) {
        long z = (n << 1) ^ (n >> 63);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while ((z & ~0x7FL) != 0) {
            out.write((int) ((z & 0x7F) | 0x80));
            z >>>= 7;
        }
        out.write((int) z);
        return out.toByteArray();
    }

    /** {@code base} with one more field at the end. */
    static Schema withField(Schema base, Schema.Field extra) {
        List<Schema.Field> fields = new ArrayList<>();
        for (Schema.Field f : base.getFields()) {
            fields.add(new Schema.Field(f, f.schema()));
        }
        fields.add(extra);
        return Schema.createRecord(
                base.getName(), base.getDoc(), base.getNamespace(), false, fields);
    }

    static byte[] bytes(ByteBuffer b) {
        ByteBuffer d = b.duplicate();
        byte[] out = new byte[d.remaining()];
        d.get(out);
        return out;
    }

    static String quote(String s) throws Exception {
        return new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(s);
    }
}
