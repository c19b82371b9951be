package io.flinklora.schemas.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.schemas.GenerationRequest;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.apache.avro.SchemaNormalization;
import org.junit.jupiter.api.Test;

class RequestCodecAvroTest {

    private static final int MAX = 1 << 20;

    /**
     * Just under Avro's own default limit (Integer.MAX_VALUE - 8), so only our bounds check stands
     * in the way.
     */
    private static final long UNDER_AVRO_LIMIT = Integer.MAX_VALUE - 15;

    private static DecodeException failure(byte[] value) {
        return assertThrows(DecodeException.class, () -> RequestCodec.decode(value, MAX));
    }

    @Test
    void decodesAvroSingleObjectRequest() throws DecodeException {
        for (GenerationRequest r :
                new GenerationRequest[] {Records.fullRequest(), Records.idsRequest()}) {
            assertEquals(r, RequestCodec.decode(AvroCodec.toBytes(r), MAX));
        }
    }

    @Test
    void truncatedAvroIsMalformedInput() {
        byte[] bytes = AvroCodec.toBytes(Records.fullRequest());
        for (int len = 2; len < bytes.length; len++) {
            assertEquals(
                    DecodeException.MALFORMED_INPUT, failure(Arrays.copyOf(bytes, len)).code());
        }
    }

    @Test
    void tokenEventBytesAreMalformedInputAsRequest() {
        DecodeException e = failure(AvroCodec.toBytes(Records.tokenEvent()));
        assertEquals(DecodeException.MALFORMED_INPUT, e.code());
        assertTrue(e.getMessage().contains("fingerprint"), e.getMessage());
    }

    @Test
    void registryFramedValuesNeedARegistryAndAreSizeCheckedFirst() {
        byte[] framed = {0, 0, 0, 0, 1, 2, 'r', 1};
        DecodeException e = failure(framed);
        assertEquals(DecodeException.MALFORMED_INPUT, e.code());
        assertTrue(e.getMessage().contains("--schema-registry"), e.getMessage());
        // The record size limit holds before any registry could be asked.
        assertEquals(
                DecodeException.LIMIT_EXCEEDED,
                assertThrows(
                                DecodeException.class,
                                () -> RequestCodec.decode(framed, framed.length - 1, null))
                        .code());
    }

    @Test
    void oversizedAvroIsLimitExceeded() {
        byte[] bytes = AvroCodec.toBytes(Records.fullRequest());
        assertEquals(
                DecodeException.LIMIT_EXCEEDED,
                assertThrows(
                                DecodeException.class,
                                () -> RequestCodec.decode(bytes, bytes.length - 1))
                        .code());
    }

    @Test
    void avroWithBothPromptsIsInvalidRequestCarryingId() {
        GenerationRequest both =
                GenerationRequest.newBuilder(Records.fullRequest())
                        .setPromptIds(List.of(1))
                        .build();
        DecodeException e = failure(AvroCodec.toBytes(both));
        assertEquals(DecodeException.INVALID_REQUEST, e.code());
        assertEquals("req-1", e.requestId());
    }

    @Test
    void avroWithNeitherPromptIsInvalidRequestCarryingId() {
        GenerationRequest neither = GenerationRequest.newBuilder().setRequestId("n").build();
        DecodeException e = failure(AvroCodec.toBytes(neither));
        assertEquals(DecodeException.INVALID_REQUEST, e.code());
        assertEquals("n", e.requestId());
    }

    @Test
    void avroWithEmptyRequestIdIsInvalidRequest() {
        GenerationRequest empty =
                GenerationRequest.newBuilder().setRequestId("").setPrompt("x").build();
        assertEquals(DecodeException.INVALID_REQUEST, failure(AvroCodec.toBytes(empty)).code());
    }

    // Hostile bodies, written by hand after the 10-byte header. Each would make Avro's decoder
    // allocate by the
    // declared length (gigabytes) if nothing stood in the way.

    @Test
    void stringDeclaring2Pow31BytesFailsFastWithoutAllocating() {
        hostile(new Body().varint(1L << 31).raw("abc"));
    }

    @Test
    void stringDeclaringJustUnderAvroLimitFailsFastWithoutAllocating() {
        hostile(new Body().varint(UNDER_AVRO_LIMIT).raw("abc"));
    }

    @Test
    void adaptersArrayDeclaring2Pow31ItemsFailsFastWithoutAllocating() {
        hostile(new Body().string("r").varint(1L << 31).string("a"));
        hostile(new Body().string("r").varint(UNDER_AVRO_LIMIT).string("a"));
    }

    @Test
    void promptIdsArrayDeclaringHugeCountFailsFastWithoutAllocating() {
        // request_id, adapters [], prompt null (branch 0), prompt_ids array (branch 1), count
        hostile(
                new Body()
                        .string("r")
                        .varint(0)
                        .varint(0)
                        .varint(1)
                        .varint(UNDER_AVRO_LIMIT)
                        .varint(5));
        // negative count means "count, then block byte size": a huge size must not be trusted
        // either
        hostile(
                new Body()
                        .string("r")
                        .varint(0)
                        .varint(0)
                        .varint(1)
                        .varint(-UNDER_AVRO_LIMIT)
                        .varint(1L << 40));
    }

    @Test
    void promptDeclaringHugeLengthFailsFastWithoutAllocating() {
        hostile(new Body().string("r").varint(0).varint(1).varint(UNDER_AVRO_LIMIT).raw("x"));
    }

    @Test
    void unionBranchOutOfRangeIsMalformedInput() {
        hostile(new Body().string("r").varint(0).varint(7).string("x"));
    }

    private static void hostile(Body body) {
        byte[] value = body.bytes();
        DecodeException e = assertTimeoutPreemptively(Duration.ofSeconds(2), () -> failure(value));
        assertEquals(DecodeException.MALFORMED_INPUT, e.code(), e.getMessage());
        // Refused by the bounds check before Avro's decoder ran (its failures read "corrupt Avro
        // <Type> body").
        assertTrue(e.getMessage().startsWith("corrupt Avro body:"), e.getMessage());
    }

    /** GenerationRequest single-object header, then whatever the test writes. */
    private static final class Body {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Body() {
            out.write(0xC3);
            out.write(0x01);
            long fp = SchemaNormalization.parsingFingerprint64(GenerationRequest.getClassSchema());
            for (int i = 0; i < 8; i++) {
                out.write((int) (fp >>> (8 * i)) & 0xFF);
            }
        }

        Body varint(long v) {
            long z = (v << 1) ^ (v >> 63);
            while ((z & ~0x7FL) != 0) {
                out.write((int) ((z & 0x7F) | 0x80));
                z >>>= 7;
            }
            out.write((int) z);
            return this;
        }

        Body string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            varint(b.length);
            out.writeBytes(b);
            return this;
        }

        Body raw(String s) {
            out.writeBytes(s.getBytes(StandardCharsets.UTF_8));
            return this;
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }
}
