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
     * Written by the version of state v4 (routes; sampling options in SamplingState); committed.
     */
    static final String COMMITTED_V4 = "/state/sequence-state-v4.bin";

    /**
     * Written by this version (the generator is {@link #main}); committed so later versions must
     * read it.
     */
    static final String COMMITTED_V5 = "/state/sequence-state-v5.bin";

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

    /** The request whose sampling options {@link #v5Sample} keeps, every option set. */
    static io.flinklora.schemas.GenerationRequest sampledRequest() {
        return io.flinklora.schemas.GenerationRequest.newBuilder()
                .setRequestId("req-3")
                .setPrompt("Once upon a time")
                .setTemperature(0.7)
                .setTopK(40)
                .setTopP(0.9)
                .setMaxNewTokens(32)
                .setStop(List.of("\n\n", "END"))
                .setStopTokenIds(List.of(2, 13))
                .setIgnoreEos(true)
                .setMinP(0.05)
                .setRepetitionPenalty(1.3)
                .setPresencePenalty(0.5)
                .setFrequencyPenalty(-0.25)
                .setLogitBias(Map.of("7", -2.5, "99", 1.0))
                .setLogprobs(3)
                .setMetadata(Map.of("user", "alice"))
                .build();
    }

    /** A routed request's state in this version's record (v5): its sampling as the request's. */
    static SequenceState v5Sample() {
        return SequenceState.newBuilder(routedSample())
                .setRequestId("req-3")
                .setSampling(null)
                .setSamplingRequest(StateCodec.samplingRequest(sampledRequest(), 42L))
                .build();
    }

    /** Writes the committed state blob of this version; run once per released state schema. */
    public static void main(String[] args) throws IOException {
        java.nio.file.Files.write(java.nio.file.Path.of(args[0]), StateCodec.toBytes(v5Sample()));
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
    void stateCommittedByThisVersionRestoresWithEveryTokenItsRouteAndItsSamplingOptions()
            throws Exception {
        SequenceState s = StateCodec.fromBytes(committed(COMMITTED_V5));
        // The kept request bytes name the request schema they were written with (the blob's, not
        // necessarily today's): compare everything else as records, and the sampling as read back.
        assertEquals(
                SequenceState.newBuilder(v5Sample())
                        .setSamplingRequest(s.getSamplingRequest())
                        .build(),
                s);
        assertEquals(StateCodec.samplingRequest(v5Sample()), StateCodec.samplingRequest(s));
        assertEquals("max", s.getRoute().getTask());
        io.flinklora.schemas.GenerationRequest sampling = StateCodec.samplingRequest(s);
        assertNull(
                sampling.getNoRepeatNgramSize(),
                "an option added after the blob was written is unset: the model's default applies");
        io.flinklora.schemas.GenerationRequest expected = sampledRequest();
        assertEquals(42L, sampling.getSeed(), "the resolved seed");
        assertEquals(expected.getMinP(), sampling.getMinP());
        assertEquals(expected.getRepetitionPenalty(), sampling.getRepetitionPenalty());
        assertEquals(expected.getPresencePenalty(), sampling.getPresencePenalty());
        assertEquals(expected.getFrequencyPenalty(), sampling.getFrequencyPenalty());
        assertEquals(expected.getLogitBias(), sampling.getLogitBias());
        assertEquals(expected.getLogprobs(), sampling.getLogprobs());
        assertEquals(expected.getStop(), sampling.getStop());
        assertNull(sampling.getPrompt(), "the prompt is kept as ids, once");
        assertEquals(Map.of(), sampling.getMetadata(), "metadata is kept once, in the state");
    }

    @Test
    void stateOfTheVersionBeforeSamplingRequestsRestoresWithItsSamplingOptions() throws Exception {
        SequenceState s = StateCodec.fromBytes(committed(COMMITTED_V4));
        assertEquals(routedSample(), s);
        assertEquals(0.875, s.getRoute().getSimilarity().get("max"));
        assertNull(s.getSamplingRequest(), "the field added in v5 takes its default");
        // Its SamplingState reads as the request fields of the same names.
        io.flinklora.schemas.GenerationRequest sampling = StateCodec.samplingRequest(s);
        assertEquals(0.7, sampling.getTemperature());
        assertEquals(40, sampling.getTopK());
        assertEquals(42L, sampling.getSeed());
        assertEquals(List.of("\n\n", "END"), sampling.getStop());
        assertEquals(true, sampling.getIgnoreEos());
        assertEquals(1.0, sampling.getRepetitionPenalty(), "v4 default");
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
    void aSamplingOptionAddedToRequestsLaterRestoresFromThisVersionsStateWithItsDefault()
            throws Exception {
        // The next version adds a sampling option: a request field with a default, and no change
        // to the state schema. Its request reader, with the released request schemas in its store,
        // reads the sampling this version's state keeps.
        String json = io.flinklora.schemas.GenerationRequest.getClassSchema().toString();
        String evolved =
                json.replaceFirst(
                        "\\{\"name\":\"temperature\"",
                        "{\"name\":\"typical_p\",\"type\":\"double\",\"default\":1.0},{\"name\":\"temperature\"");
        Schema reader = new Schema.Parser().parse(evolved);
        SchemaStore.Cache store = new SchemaStore.Cache();
        AvroCodec.released("GenerationRequest").forEach(store::addSchema);
        ByteBuffer kept = StateCodec.fromBytes(committed(COMMITTED_V5)).getSamplingRequest();
        byte[] bytes = new byte[kept.remaining()];
        kept.duplicate().get(bytes);
        GenericRecord sampling =
                new BinaryMessageDecoder<GenericRecord>(GenericData.get(), reader, store)
                        .decode(bytes);
        assertEquals(1.0, sampling.get("typical_p"));
        assertEquals(0.7, sampling.get("temperature"));
        assertEquals(1.3, sampling.get("repetition_penalty"));
        assertEquals(42L, sampling.get("seed"));
        // Without the released schemas the same bytes are unreadable: the store is what keeps them.
        assertThrows(
                Exception.class,
                () ->
                        new BinaryMessageDecoder<GenericRecord>(GenericData.get(), reader)
                                .decode(bytes));
    }

    @Test
    void stateOfThisVersionRestoresAfterAStateFieldIsAdded() throws Exception {
        String json = SequenceState.getClassSchema().toString();
        String evolved =
                json.replaceFirst(
                        "\\{\"name\":\"text\"",
                        "{\"name\":\"priority\",\"type\":\"int\",\"default\":0},{\"name\":\"text\"");
        Schema reader = new Schema.Parser().parse(evolved);
        SchemaStore.Cache store = new SchemaStore.Cache();
        AvroCodec.load(StateCodec.RELEASED).forEach(store::addSchema);
        GenericRecord restored =
                new BinaryMessageDecoder<GenericRecord>(GenericData.get(), reader, store)
                        .decode(committed(COMMITTED_V5));
        assertEquals(0, restored.get("priority"));
        assertEquals("req-3", restored.get("request_id").toString());
        assertEquals("max", ((GenericRecord) restored.get("route")).get("task").toString());
        assertEquals(List.of(13, 7, 99), restored.get("generated_ids"));
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
