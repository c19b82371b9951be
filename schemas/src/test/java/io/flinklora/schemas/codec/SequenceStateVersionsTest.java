package io.flinklora.schemas.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.schemas.SequenceState;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.message.SchemaStore;
import org.junit.jupiter.api.Test;

/**
 * The generation operator's keyed state across job versions: state written by every released version
 * restores in this one, and state written by this version restores in a later one that adds a field.
 */
class SequenceStateVersionsTest {

    /** Written by this version (the generator is {@link #main}); committed so later versions must read it. */
    static final String COMMITTED_V2 = "/state/sequence-state-v2.bin";

    static SequenceState sample() {
        return SequenceState.newBuilder().setRequest(Records.fullRequest()).setPromptIds(List.of(1, 450, 2217, 29889))
                .setGeneratedIds(List.of(13, 7, 99)).setText("Once upon").setSeed(42L).setAcceptedAt(1_700_000_000_000L)
                .setFirstTokenAt(1_700_000_000_250L).build();
    }

    /** Writes the committed state blob; run once per released state schema. */
    public static void main(String[] args) throws IOException {
        java.nio.file.Files.write(java.nio.file.Path.of(args[0]), AvroCodec.toBytes(sample()));
    }

    static byte[] committed() throws IOException {
        try (InputStream in = SequenceStateVersionsTest.class.getResourceAsStream(COMMITTED_V2)) {
            return in.readAllBytes();
        }
    }

    @Test
    void everyReleasedStateSchemaIsReadableByTheCurrentOne() {
        List<Schema> released = AvroCodec.released("SequenceState");
        assertEquals(2, released.size());
        for (Schema writer : released) {
            assertEquals(SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE,
                    SchemaCompatibility.checkReaderWriterCompatibility(SequenceState.getClassSchema(), writer).getType(),
                    "current SequenceState reads " + writer);
        }
        assertEquals(SequenceState.getClassSchema(), released.get(1),
                "the current state schema is released as v2: a change needs a new released version");
    }

    @Test
    void stateCommittedByThisVersionRestoresWithEveryToken() throws Exception {
        SequenceState s = AvroCodec.fromBytes(committed(), SequenceState.class);
        assertEquals(sample(), s);
    }

    @Test
    void stateWrittenBeforeRequestsHadChoicesRestores() throws Exception {
        // A job version before GenerationRequest gained `choices` wrote SequenceState v1.
        Schema v1 = AvroCodec.released("SequenceState").get(0);
        Schema requestV1 = v1.getField("request").schema();
        GenericRecord request = new GenericRecordBuilder(requestV1).set("request_id", "old-1")
                .set("prompt_ids", List.of(1, 2, 3)).set("max_new_tokens", 16).build();
        GenericRecord state = new GenericRecordBuilder(v1).set("request", request).set("prompt_ids", List.of(1, 2, 3))
                .set("generated_ids", List.of(5, 6)).set("text", "ab").set("seed", 7L).set("accepted_at", 1L).build();
        ByteBuffer bytes = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v1).encode(state);
        byte[] array = new byte[bytes.remaining()];
        bytes.get(array);
        // What the operator used before: the generated decoder knows only the current schema.
        assertThrows(Exception.class, () -> SequenceState.fromByteBuffer(ByteBuffer.wrap(array)));
        SequenceState restored = AvroCodec.fromBytes(array, SequenceState.class);
        assertEquals("old-1", restored.getRequest().getRequestId());
        assertEquals(List.of(5, 6), restored.getGeneratedIds());
        assertEquals(16, restored.getRequest().getMaxNewTokens());
        assertEquals(List.of(), restored.getRequest().getChoices(), "the field added later takes its default");
    }

    @Test
    void stateOfThisVersionRestoresAfterAFieldIsAddedToRequests() throws Exception {
        // The next version adds a sampling option to requests (so to the state): build that reader schema,
        // with this version's released schemas in its store, and restore the committed blob with it.
        String json = SequenceState.getClassSchema().toString();
        String evolved = json.replaceFirst("\\{\"name\":\"request_id\"",
                "{\"name\":\"min_p\",\"type\":\"float\",\"default\":0.0},{\"name\":\"request_id\"");
        Schema reader = new Schema.Parser().parse(evolved);
        assertTrue(reader.getField("request").schema().getField("min_p") != null);
        SchemaStore.Cache store = new SchemaStore.Cache();
        AvroCodec.released("SequenceState").forEach(store::addSchema);
        GenericRecord restored = new BinaryMessageDecoder<GenericRecord>(GenericData.get(), reader, store)
                .decode(committed());
        GenericRecord request = (GenericRecord) restored.get("request");
        assertEquals(0.0f, request.get("min_p"));
        assertEquals("req-1", request.get("request_id").toString());
        assertEquals(List.of(13, 7, 99), restored.get("generated_ids"));
        // Without the released schemas the same bytes are unreadable: the store is what keeps them.
        assertThrows(Exception.class, () -> new BinaryMessageDecoder<GenericRecord>(GenericData.get(), reader)
                .decode(committed()));
    }

    @Test
    void stateOfAnUnknownVersionIsRefusedNotGuessed() {
        byte[] bytes = AvroCodec.toBytes(sample());
        bytes[5] ^= 0x5A; // another fingerprint
        assertThrows(DecodeException.class, () -> AvroCodec.fromBytes(bytes, SequenceState.class));
    }
}
