package io.flinklora.schemas.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.flinklora.schemas.state.AdapterShare;
import io.flinklora.schemas.state.RouteState;
import io.flinklora.schemas.state.SamplingState;
import io.flinklora.schemas.state.SequenceState;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.message.SchemaStore;
import org.junit.jupiter.api.Test;

/**
 * The generation operator's keyed state across job versions: state written by every released
 * version restores in this one (the first two, which embedded the wire request, upgraded field by
 * field), and state written by this version restores in a later one that adds a field.
 */
class SequenceStateVersionsTest {

    /** Written by the job version whose state embedded the wire request (v2); committed. */
    static final String COMMITTED_V2 = "/state/sequence-state-v2.bin";

    /** Written by the version of state v3 (before routes); committed. */
    static final String COMMITTED_V3 = "/state/sequence-state-v3.bin";

    /**
     * Written by this version (the generator is {@link #main}); committed so later versions must
     * read it.
     */
    static final String COMMITTED_V4 = "/state/sequence-state-v4.bin";

    /**
     * The state of the same in-flight request as the committed v2 blob, in this version's record.
     */
    static SequenceState sample() {
        return SequenceState.newBuilder()
                .setRequestId("req-1")
                .setAdapters(
                        List.of(new AdapterShare("sql", 0.75), new AdapterShare("poems", 0.25)))
                .setPromptIds(List.of(1, 450, 2217, 29889))
                .setChoices(List.of())
                .setSampling(
                        SamplingState.newBuilder()
                                .setTemperature(0.7)
                                .setTopK(40)
                                .setTopP(0.9)
                                .setSeed(42L)
                                .setMaxNewTokens(32)
                                .setStop(List.of("\n\n", "END"))
                                .setStopTokenIds(List.of(2, 13))
                                .setIgnoreEos(true)
                                .build())
                .setMetadata(Map.of("user", "alice", "trace", "t-9"))
                .setCreatedAt(Instant.ofEpochMilli(1_700_000_000_123L))
                .setGeneratedIds(List.of(13, 7, 99))
                .setText("Once upon")
                .setAcceptedAt(1_700_000_000_000L)
                .setFirstTokenAt(1_700_000_000_250L)
                .build();
    }

    /**
     * The state of a request with route auto, in this version's record: the routed mix and the
     * route (v4 on).
     */
    static SequenceState routedSample() {
        Map<String, Double> similarity = new java.util.LinkedHashMap<>();
        similarity.put("max", 0.875);
        similarity.put("happy", 0.5);
        similarity.put("mood", -0.25);
        return SequenceState.newBuilder(sample())
                .setRequestId("req-2")
                .setAdapters(List.of(new AdapterShare("max", 1.0)))
                .setRoute(new RouteState("max", similarity))
                .build();
    }

    /** Writes the committed state blob of this version; run once per released state schema. */
    public static void main(String[] args) throws IOException {
        java.nio.file.Files.write(
                java.nio.file.Path.of(args[0]), StateCodec.toBytes(routedSample()));
    }

    static byte[] committed(String resource) throws IOException {
        try (InputStream in = SequenceStateVersionsTest.class.getResourceAsStream(resource)) {
            return in.readAllBytes();
        }
    }

    @Test
    void theCurrentStateSchemaIsReleasedAndReadsEveryReleasedVersionOfItsOwnRecord() {
        List<Schema> released = AvroCodec.load(StateCodec.RELEASED);
        for (Schema writer : released) {
            assertEquals(
                    SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE,
                    SchemaCompatibility.checkReaderWriterCompatibility(
                                    SequenceState.getClassSchema(), writer)
                            .getType(),
                    "current SequenceState reads " + writer);
        }
        assertEquals(
                SchemaNormalization.parsingFingerprint64(SequenceState.getClassSchema()),
                SchemaNormalization.parsingFingerprint64(released.get(released.size() - 1)),
                "the current state schema must be the last released one: a change needs a new released version");
    }

    @Test
    void stateCommittedByThisVersionRestoresWithEveryTokenAndItsRoute() throws Exception {
        SequenceState s = StateCodec.fromBytes(committed(COMMITTED_V4));
        assertEquals(routedSample(), s);
        assertEquals("max", s.getRoute().getTask());
        assertEquals(0.875, s.getRoute().getSimilarity().get("max"));
    }

    @Test
    void stateOfTheVersionBeforeRoutesRestoresUnrouted() throws Exception {
        SequenceState s = StateCodec.fromBytes(committed(COMMITTED_V3));
        assertEquals(sample(), s);
        assertNull(s.getRoute(), "the field added in v4 takes its default");
    }

    @Test
    void stateOfTheVersionThatEmbeddedTheRequestIsUpgradedFieldByField() throws Exception {
        // The v2 blob holds fullRequest() (seed 1234567890123 on the wire) with the resolved seed
        // 42.
        SequenceState s = StateCodec.fromBytes(committed(COMMITTED_V2));
        assertEquals(sample(), s);
    }

    @Test
    void stateWrittenBeforeRequestsHadChoicesRestores() throws Exception {
        // A job version before GenerationRequest gained `choices` wrote SequenceState v1.
        Schema v1 = AvroCodec.load(StateCodec.EMBEDDED_REQUEST).get(0);
        Schema requestV1 = v1.getField("request").schema();
        GenericRecord request =
                new GenericRecordBuilder(requestV1)
                        .set("request_id", "old-1")
                        .set("prompt_ids", List.of(1, 2, 3))
                        .set("max_new_tokens", 16)
                        .build();
        GenericRecord state =
                new GenericRecordBuilder(v1)
                        .set("request", request)
                        .set("prompt_ids", List.of(1, 2, 3))
                        .set("generated_ids", List.of(5, 6))
                        .set("text", "ab")
                        .set("seed", 7L)
                        .set("accepted_at", 1L)
                        .build();
        ByteBuffer bytes =
                new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v1).encode(state);
        byte[] array = new byte[bytes.remaining()];
        bytes.get(array);
        SequenceState restored = StateCodec.fromBytes(array);
        assertEquals("old-1", restored.getRequestId());
        assertEquals(List.of(1, 2, 3), restored.getPromptIds());
        assertEquals(List.of(5, 6), restored.getGeneratedIds());
        assertEquals(16, restored.getSampling().getMaxNewTokens());
        assertEquals(7L, restored.getSampling().getSeed());
        assertEquals(List.of(), restored.getChoices(), "the field added later takes its default");
        assertNull(restored.getFirstTokenAt());
    }

    @Test
    void stateOfThisVersionRestoresAfterASamplingOptionIsAdded() throws Exception {
        // The next version adds a sampling option (so a state field with a default): build that
        // reader
        // schema, with this version's released schema in its store, and restore the committed blob
        // with it.
        String json = SequenceState.getClassSchema().toString();
        String evolved =
                json.replaceFirst(
                        "\\{\"name\":\"temperature\"",
                        "{\"name\":\"typical_p\",\"type\":\"double\",\"default\":1.0},{\"name\":\"temperature\"");
        Schema reader = new Schema.Parser().parse(evolved);
        SchemaStore.Cache store = new SchemaStore.Cache();
        AvroCodec.load(StateCodec.RELEASED).forEach(store::addSchema);
        GenericRecord restored =
                new BinaryMessageDecoder<GenericRecord>(GenericData.get(), reader, store)
                        .decode(committed(COMMITTED_V4));
        GenericRecord sampling = (GenericRecord) restored.get("sampling");
        assertEquals(1.0, sampling.get("typical_p"));
        assertEquals(0.7, sampling.get("temperature"));
        assertEquals("req-2", restored.get("request_id").toString());
        assertEquals("max", ((GenericRecord) restored.get("route")).get("task").toString());
        assertEquals(List.of(13, 7, 99), restored.get("generated_ids"));
        // Without the released schemas the same bytes are unreadable: the store is what keeps them.
        assertThrows(
                Exception.class,
                () ->
                        new BinaryMessageDecoder<GenericRecord>(GenericData.get(), reader)
                                .decode(committed(COMMITTED_V4)));
    }

    @Test
    void stateOfAnUnknownVersionIsRefusedNotGuessed() {
        byte[] bytes = StateCodec.toBytes(sample());
        bytes[5] ^= 0x5A; // another fingerprint
        DecodeException e = assertThrows(DecodeException.class, () -> StateCodec.fromBytes(bytes));
        assertEquals(DecodeException.MALFORMED_INPUT, e.code());
    }

    @Test
    void truncatedStateIsRefused() {
        byte[] bytes = StateCodec.toBytes(sample());
        byte[] cut = java.util.Arrays.copyOf(bytes, bytes.length - 3);
        assertThrows(DecodeException.class, () -> StateCodec.fromBytes(cut));
    }
}
