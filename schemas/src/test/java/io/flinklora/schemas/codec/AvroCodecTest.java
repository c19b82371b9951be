package io.flinklora.schemas.codec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Instant;
import java.util.Arrays;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.junit.jupiter.api.Test;

class AvroCodecTest {

    /**
     * What this version writes (its outputs, and the requests state v5 embeds) must be readable by
     * the next one, which knows only released schemas: so the current schema of every contract is
     * its last released file, and a change to a contract comes with its next released version.
     */
    @Test
    void theCurrentSchemaOfEveryContractIsItsLastReleasedVersion() {
        for (Schema current :
                new Schema[] {
                    GenerationRequest.getClassSchema(),
                    TokenEvent.getClassSchema(),
                    Completion.getClassSchema(),
                    GenerationError.getClassSchema()
                }) {
            java.util.List<Schema> released = AvroCodec.released(current.getName());
            assertEquals(
                    SchemaNormalization.parsingFingerprint64(current),
                    SchemaNormalization.parsingFingerprint64(released.get(released.size() - 1)),
                    current.getName()
                            + " changed since its last released version: add released/"
                            + current.getName()
                            + "-v"
                            + (released.size() + 1)
                            + ".avsc (scripts/release-schemas.sh writes it)");
        }
    }

    @Test
    void tokenEventSurvivesSingleObjectRoundTrip() throws DecodeException {
        TokenEvent e = Records.tokenEvent();
        assertEquals(e, AvroCodec.fromBytes(AvroCodec.toBytes(e), TokenEvent.class));
    }

    @Test
    void completionSurvivesSingleObjectRoundTrip() throws DecodeException {
        Completion c = Records.completion();
        assertEquals(c, AvroCodec.fromBytes(AvroCodec.toBytes(c), Completion.class));
    }

    @Test
    void generationErrorSurvivesSingleObjectRoundTrip() throws DecodeException {
        GenerationError err = Records.error();
        GenerationError back = AvroCodec.fromBytes(AvroCodec.toBytes(err), GenerationError.class);
        assertEquals(err, back);
        assertEquals(err.getRawPayload(), back.getRawPayload());
    }

    @Test
    void generationRequestSurvivesSingleObjectRoundTrip() throws DecodeException {
        for (GenerationRequest r :
                new GenerationRequest[] {Records.fullRequest(), Records.idsRequest()}) {
            assertEquals(r, AvroCodec.fromBytes(AvroCodec.toBytes(r), GenerationRequest.class));
        }
    }

    @Test
    void bytesStartWithMarkerAndLittleEndianSchemaFingerprint() {
        byte[] bytes = AvroCodec.toBytes(Records.tokenEvent());
        assertEquals((byte) 0xC3, bytes[0]);
        assertEquals((byte) 0x01, bytes[1]);
        long fp = ByteBuffer.wrap(bytes, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(SchemaNormalization.parsingFingerprint64(TokenEvent.getClassSchema()), fp);
    }

    @Test
    void recordOfAnotherTypeIsMalformedInput() {
        DecodeException e =
                assertThrows(
                        DecodeException.class,
                        () ->
                                AvroCodec.fromBytes(
                                        AvroCodec.toBytes(Records.completion()), TokenEvent.class));
        assertEquals(DecodeException.MALFORMED_INPUT, e.code());
        assertTrue(e.getMessage().contains("unknown schema fingerprint"), e.getMessage());
    }

    @Test
    void truncatedBodyIsMalformedInput() {
        byte[] bytes = AvroCodec.toBytes(Records.completion());
        for (int len = 0; len < bytes.length; len++) {
            byte[] cut = Arrays.copyOf(bytes, len);
            DecodeException e =
                    assertThrows(
                            DecodeException.class,
                            () -> AvroCodec.fromBytes(cut, Completion.class));
            assertEquals(DecodeException.MALFORMED_INPUT, e.code());
        }
    }

    @Test
    void trailingBytesAfterBodyAreMalformedInput() {
        byte[] bytes = AvroCodec.toBytes(Records.tokenEvent());
        byte[] longer = Arrays.copyOf(bytes, bytes.length + 3);
        DecodeException e =
                assertThrows(
                        DecodeException.class, () -> AvroCodec.fromBytes(longer, TokenEvent.class));
        assertEquals(DecodeException.MALFORMED_INPUT, e.code());
    }

    @Test
    void olderWriterSchemaDecodesWithDefaultsOnceRegistered() throws IOException, DecodeException {
        // A TokenEvent schema from before "adapters" was added.
        Schema old =
                new Schema.Parser()
                        .parse(
                                "{\"type\":\"record\",\"name\":\"TokenEvent\","
                                        + "\"namespace\":\"io.flinklora.schemas\",\"fields\":["
                                        + "{\"name\":\"request_id\",\"type\":\"string\"},{\"name\":\"index\",\"type\":\"int\"},"
                                        + "{\"name\":\"token_id\",\"type\":\"int\"},{\"name\":\"text\",\"type\":\"string\"},"
                                        + "{\"name\":\"finished\",\"type\":\"boolean\"},"
                                        + "{\"name\":\"finish_reason\",\"type\":[\"null\",\"string\"],\"default\":null},"
                                        + "{\"name\":\"emitted_at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}]}");
        GenericRecord rec = new GenericData.Record(old);
        rec.put("request_id", "old-1");
        rec.put("index", 0);
        rec.put("token_id", 42);
        rec.put("text", "hi");
        rec.put("finished", false);
        rec.put("emitted_at", 1_700_000_000_000L);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new BinaryMessageEncoder<GenericRecord>(GenericData.get(), old).encode(rec, out);
        byte[] bytes = out.toByteArray();

        DecodeException unknown =
                assertThrows(
                        DecodeException.class, () -> AvroCodec.fromBytes(bytes, TokenEvent.class));
        assertEquals(DecodeException.MALFORMED_INPUT, unknown.code());

        AvroCodec.addWriterSchema(TokenEvent.class, old);
        TokenEvent e = AvroCodec.fromBytes(bytes, TokenEvent.class);
        assertEquals("old-1", e.getRequestId());
        assertEquals("", e.getAdapters());
        assertEquals(Instant.ofEpochMilli(1_700_000_000_000L), e.getEmittedAt());
        assertEquals(null, e.getRequestCreatedAt());
    }

    @Test
    void writerSchemaTheCurrentOneCannotReadIsRefused() {
        Schema bad =
                new Schema.Parser()
                        .parse(
                                "{\"type\":\"record\",\"name\":\"Completion\","
                                        + "\"namespace\":\"io.flinklora.schemas\",\"fields\":[{\"name\":\"request_id\",\"type\":\"int\"}]}");
        assertThrows(
                IllegalArgumentException.class,
                () -> AvroCodec.addWriterSchema(Completion.class, bad));
    }

    @Test
    void encodingIsDeterministic() {
        assertArrayEquals(
                AvroCodec.toBytes(Records.fullRequest()), AvroCodec.toBytes(Records.fullRequest()));
    }

    @Test
    void requestsWrittenWithTheReleasedSchemaBeforeChoicesStillDecode() throws Exception {
        Schema v1 = AvroCodec.released("GenerationRequest").get(0);
        assertEquals(null, v1.getField("choices"), "v1 is the schema before choices");
        GenericRecord rec = new GenericData.Record(v1);
        rec.put("request_id", "v1-req");
        rec.put("adapters", java.util.List.of());
        rec.put("prompt", "Hello");
        rec.put("prompt_ids", null);
        rec.put("max_new_tokens", 8);
        rec.put("temperature", 0.0);
        rec.put("top_k", 0);
        rec.put("top_p", 1.0);
        rec.put("seed", null);
        rec.put("stop", java.util.List.of());
        rec.put("stop_token_ids", java.util.List.of());
        rec.put("ignore_eos", false);
        rec.put("priority", 0);
        rec.put("metadata", java.util.Map.of());
        rec.put("created_at", null);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v1).encode(rec, out);
        GenerationRequest r = AvroCodec.fromBytes(out.toByteArray(), GenerationRequest.class);
        assertEquals("v1-req", r.getRequestId());
        assertEquals(java.util.List.of(), r.getChoices());
    }

    /**
     * v6 made the sampling fields nullable (null: the model's default): a v5 record, whose fields
     * always held a value, decodes with the values it was written with, so a request produced
     * before the upgrade samples as it would have.
     */
    @Test
    void aV5RequestKeepsTheSamplingValuesItWasWrittenWith() throws Exception {
        Schema v5 = AvroCodec.released("GenerationRequest").get(4);
        assertEquals(Schema.Type.INT, v5.getField("max_new_tokens").schema().getType());
        GenericRecord rec =
                new org.apache.avro.generic.GenericRecordBuilder(v5)
                        .set("request_id", "v5-req")
                        .set("prompt", "Hello")
                        .set("repetition_penalty", 1.25)
                        .build();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v5).encode(rec, out);
        GenerationRequest r = AvroCodec.fromBytes(out.toByteArray(), GenerationRequest.class);
        assertEquals(64, r.getMaxNewTokens(), "v5's default, written into the record");
        assertEquals(0.0, r.getTemperature());
        assertEquals(0, r.getTopK());
        assertEquals(1.0, r.getTopP());
        assertEquals(1.25, r.getRepetitionPenalty());
        assertEquals(0, r.getNoRepeatNgramSize());
    }

    /**
     * Routes (request route, completion route) came with v4 of the wire schemas: records written
     * with the released v3 schemas decode with no route, and readers of v3 can still read what v4
     * and v5 requests and this version's completions hold. (Requests of v6 made the sampling fields
     * nullable, which no earlier reader can read: rule 3 allows it, since every reader from v6 on
     * reads every older record, and rule 4 deploys readers first.)
     */
    @Test
    void recordsOfTheReleasedVersionBeforeRoutesDecodeWithoutOneAndV3ReadersReadLaterRecords()
            throws Exception {
        Schema requestV3 = AvroCodec.released("GenerationRequest").get(2);
        Schema completionV3 = AvroCodec.released("Completion").get(2);
        assertEquals(null, requestV3.getField("route"), "v3 is the request schema before route");
        assertEquals(
                null, completionV3.getField("route"), "v3 is the completion schema before route");
        GenericRecord rec =
                new org.apache.avro.generic.GenericRecordBuilder(requestV3)
                        .set("request_id", "v3-req")
                        .set("prompt", "Hello")
                        .build();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new BinaryMessageEncoder<GenericRecord>(GenericData.get(), requestV3).encode(rec, out);
        GenerationRequest r = AvroCodec.fromBytes(out.toByteArray(), GenerationRequest.class);
        assertEquals("v3-req", r.getRequestId());
        assertEquals(null, r.getRoute());
        for (Schema[] pair :
                new Schema[][] {
                    {requestV3, AvroCodec.released("GenerationRequest").get(4)},
                    {completionV3, Completion.getClassSchema()}
                }) {
            assertEquals(
                    org.apache.avro.SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE,
                    org.apache.avro.SchemaCompatibility.checkReaderWriterCompatibility(
                                    pair[0], pair[1])
                            .getType(),
                    "a " + pair[0].getName() + " v3 reader reads the later records");
        }
    }

    @Test
    void aRoutedCompletionSurvivesSingleObjectRoundTrip() throws DecodeException {
        java.util.Map<String, Double> similarity = new java.util.LinkedHashMap<>();
        similarity.put("max", 0.9);
        similarity.put("happy", 0.4);
        Completion c =
                Completion.newBuilder(Records.completion())
                        .setRoute(
                                new io.flinklora.schemas.Route(
                                        "max",
                                        java.util.List.of(
                                                new io.flinklora.schemas.AdapterWeight("max", 1.0)),
                                        similarity))
                        .build();
        Completion back = AvroCodec.fromBytes(AvroCodec.toBytes(c), Completion.class);
        assertEquals(c, back);
        assertEquals("max", back.getRoute().getTask());
        assertEquals(0.4, back.getRoute().getSimilarity().get("happy"));
    }
}
