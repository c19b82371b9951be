package io.flinklora.schemas.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.schemas.AdapterWeight;
import io.flinklora.schemas.GenerationRequest;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class RequestCodecJsonTest {

    private static final int MAX = 1 << 20;

    private static GenerationRequest decode(String json) throws DecodeException {
        return RequestCodec.decode(json.getBytes(StandardCharsets.UTF_8), MAX);
    }

    private static DecodeException failure(String json) {
        return assertThrows(DecodeException.class, () -> decode(json));
    }

    @Test
    void acceptsRequestWithAllFields() throws DecodeException {
        GenerationRequest r =
                decode(
                        "{\"request_id\": \"req-1\","
                                + " \"adapters\": [{\"name\": \"sql\", \"weight\": 0.75}, {\"name\": \"poems\", \"weight\": 0.25}],"
                                + " \"prompt\": \"Write a haiku about Flink\", \"max_new_tokens\": 32, \"temperature\": 0.7,"
                                + " \"top_k\": 40, \"top_p\": 0.9, \"seed\": 1234567890123, \"stop\": [\"\\n\\n\", \"END\"],"
                                + " \"stop_token_ids\": [2, 13], \"ignore_eos\": true, \"priority\": 3,"
                                + " \"metadata\": {\"user\": \"alice\", \"trace\": \"t-9\"}, \"created_at\": 1700000000123}");
        assertEquals(Records.fullRequest(), r);
    }

    @Test
    void routeIsReadAsGivenAndDefaultsToNull() throws DecodeException {
        assertEquals(
                "auto",
                decode("{\"id\": \"r\", \"prompt\": \"Hi\", \"route\": \"auto\"}").getRoute());
        // Which values are accepted is the job's check (INVALID_PARAMETER there), as for other
        // value ranges.
        assertEquals(
                "nearest",
                decode("{\"id\": \"r\", \"prompt\": \"Hi\", \"route\": \"nearest\"}").getRoute());
        assertEquals(
                null, decode("{\"id\": \"r\", \"prompt\": \"Hi\", \"route\": null}").getRoute());
        assertEquals(null, decode("{\"id\": \"r\", \"prompt\": \"Hi\"}").getRoute());
        assertEquals(
                DecodeException.INVALID_REQUEST,
                failure("{\"id\": \"r\", \"prompt\": \"Hi\", \"route\": 1}").code());
    }

    @Test
    void appliesSchemaDefaultsToMinimalRequest() throws DecodeException {
        GenerationRequest r = decode("{\"request_id\": \"r\", \"prompt\": \"hi\"}");
        assertEquals("r", r.getRequestId());
        assertEquals("hi", r.getPrompt());
        assertEquals(List.of(), r.getAdapters());
        assertNull(r.getPromptIds());
        // Unset sampling fields stay null: the front end gives them the model's defaults.
        assertNull(r.getMaxNewTokens());
        assertNull(r.getTemperature());
        assertNull(r.getTopK());
        assertNull(r.getTopP());
        assertNull(r.getMinP());
        assertNull(r.getRepetitionPenalty());
        assertNull(r.getNoRepeatNgramSize());
        assertNull(r.getSeed());
        assertEquals(List.of(), r.getStop());
        assertEquals(List.of(), r.getStopTokenIds());
        assertEquals(false, r.getIgnoreEos());
        assertEquals(0, r.getPriority());
        assertEquals(Map.of(), r.getMetadata());
        assertNull(r.getCreatedAt());
    }

    @Test
    void acceptsPromptIdsInsteadOfPrompt() throws DecodeException {
        GenerationRequest r =
                decode("{\"request_id\": \"req-ids\", \"prompt_ids\": [1, 15043, 3186]}");
        assertEquals(Records.idsRequest(), r);
    }

    @Test
    void acceptsIdAsAliasOfRequestId() throws DecodeException {
        assertEquals("abc", decode("{\"id\": \"abc\", \"prompt\": \"hi\"}").getRequestId());
    }

    @Test
    void refusesBothIdAndRequestId() {
        assertEquals(
                DecodeException.INVALID_REQUEST,
                failure("{\"id\": \"a\", \"request_id\": \"a\", \"prompt\": \"hi\"}").code());
    }

    @Test
    void acceptsStopAsSingleString() throws DecodeException {
        assertEquals(
                List.of("END"),
                decode("{\"id\": \"a\", \"prompt\": \"x\", \"stop\": \"END\"}").getStop());
    }

    @Test
    void adapterWeightDefaultsToOne() throws DecodeException {
        GenerationRequest r =
                decode("{\"id\": \"a\", \"prompt\": \"x\", \"adapters\": [{\"name\": \"sql\"}]}");
        assertEquals(List.of(new AdapterWeight("sql", 1.0)), r.getAdapters());
    }

    @Test
    void acceptsIntegralNumbersWrittenWithDecimalPoint() throws DecodeException {
        GenerationRequest r =
                decode(
                        "{\"id\": \"a\", \"prompt\": \"x\", \"max_new_tokens\": 16.0, \"seed\": 1e3,"
                                + " \"temperature\": 1}");
        assertEquals(16, r.getMaxNewTokens());
        assertEquals(1000L, r.getSeed());
        assertEquals(1.0, r.getTemperature());
    }

    @Test
    void acceptsNullForNullableFields() throws DecodeException {
        GenerationRequest r =
                decode(
                        "{\"id\": \"a\", \"prompt\": \"x\", \"prompt_ids\": null, \"seed\": null,"
                                + " \"created_at\": null}");
        assertNull(r.getPromptIds());
        assertNull(r.getSeed());
        assertNull(r.getCreatedAt());
    }

    @Test
    void readsCreatedAtAsEpochMillis() throws DecodeException {
        assertEquals(
                Instant.ofEpochMilli(5),
                decode("{\"id\": \"a\", \"prompt\": \"x\", \"created_at\": 5}").getCreatedAt());
    }

    @Test
    void randomBytesAreMalformedInput() {
        Random rnd = new Random(7);
        for (int i = 0; i < 200; i++) {
            byte[] junk = new byte[1 + rnd.nextInt(64)];
            rnd.nextBytes(junk);
            if (junk[0] == '{'
                    || junk[0] == '['
                    || junk[0] == '"'
                    || junk[0] == (byte) 0xC3
                    || Character.isDigit(junk[0])
                    || Character.isWhitespace(junk[0])
                    || junk[0] == '-') {
                junk[0] = '#';
            }
            DecodeException e =
                    assertThrows(DecodeException.class, () -> RequestCodec.decode(junk, MAX));
            assertEquals(DecodeException.MALFORMED_INPUT, e.code());
            assertNull(e.requestId());
        }
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "not json",
                "{\"id\": \"a\"",
                "{\"id\": \"a\", \"prompt\": \"x\"} trailing",
                "   ",
                "{\"id\": \"a\", \"id\": \"b\", \"prompt\": \"x\"}"
            })
    void unparseableJsonIsMalformedInput(String json) {
        assertEquals(DecodeException.MALFORMED_INPUT, failure(json).code());
    }

    @Test
    void nullOrEmptyValueIsMalformedInput() {
        assertEquals(
                DecodeException.MALFORMED_INPUT,
                assertThrows(DecodeException.class, () -> RequestCodec.decode(null, MAX)).code());
        assertEquals(
                DecodeException.MALFORMED_INPUT,
                assertThrows(DecodeException.class, () -> RequestCodec.decode(new byte[0], MAX))
                        .code());
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "[{\"id\": \"a\", \"prompt\": \"x\"}]",
                "\"a string\"",
                "42",
                "null",
                "true"
            })
    void jsonThatIsNotAnObjectIsInvalidRequest(String json) {
        assertEquals(DecodeException.INVALID_REQUEST, failure(json).code());
    }

    @Test
    void unknownFieldIsInvalidRequestNamingTheField() {
        DecodeException e = failure("{\"id\": \"a\", \"prompt\": \"x\", \"max_tokens\": 5}");
        assertEquals(DecodeException.INVALID_REQUEST, e.code());
        assertTrue(e.getMessage().contains("max_tokens"), e.getMessage());
        assertEquals("a", e.requestId());
    }

    @Test
    void unknownAdapterFieldIsInvalidRequestNamingTheField() {
        DecodeException e =
                failure(
                        "{\"id\": \"a\", \"prompt\": \"x\", \"adapters\": [{\"name\": \"s\", \"scale\": 2}]}");
        assertEquals(DecodeException.INVALID_REQUEST, e.code());
        assertTrue(e.getMessage().contains("scale"), e.getMessage());
    }

    @Test
    void bothPromptAndPromptIdsIsInvalidRequest() {
        DecodeException e = failure("{\"id\": \"a\", \"prompt\": \"x\", \"prompt_ids\": [1]}");
        assertEquals(DecodeException.INVALID_REQUEST, e.code());
        assertEquals("a", e.requestId());
    }

    @Test
    void neitherPromptNorPromptIdsIsInvalidRequest() {
        DecodeException e = failure("{\"id\": \"a\", \"max_new_tokens\": 3}");
        assertEquals(DecodeException.INVALID_REQUEST, e.code());
        assertEquals("a", e.requestId());
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "{\"prompt\": \"x\"}",
                "{\"request_id\": \"\", \"prompt\": \"x\"}",
                "{\"request_id\": 7, \"prompt\": \"x\"}",
                "{\"id\": null, \"prompt\": \"x\"}"
            })
    void missingEmptyOrNonStringRequestIdIsInvalidRequest(String json) {
        DecodeException e = failure(json);
        assertEquals(DecodeException.INVALID_REQUEST, e.code());
        assertNull(e.requestId());
    }

    static Stream<Arguments> wrongTypes() {
        return Stream.of(
                Arguments.of("adapters", "\"sql\""),
                Arguments.of("adapters", "[\"sql\"]"),
                Arguments.of("adapters", "[{\"weight\": 1.0}]"),
                Arguments.of("adapters", "[{\"name\": 5}]"),
                Arguments.of("adapters", "[{\"name\": \"s\", \"weight\": \"high\"}]"),
                Arguments.of("prompt", "42"),
                Arguments.of("prompt_ids", "\"1 2 3\""),
                Arguments.of("prompt_ids", "[1, \"2\"]"),
                Arguments.of("prompt_ids", "[1.5]"),
                Arguments.of("max_new_tokens", "\"64\""),
                Arguments.of("max_new_tokens", "1.5"),
                Arguments.of("ignore_eos", "null"),
                Arguments.of("temperature", "\"hot\""),
                Arguments.of("temperature", "true"),
                Arguments.of("top_k", "2.5"),
                Arguments.of("top_p", "[0.9]"),
                Arguments.of("seed", "\"42\""),
                Arguments.of("seed", "0.5"),
                Arguments.of("stop", "5"),
                Arguments.of("stop", "[\"a\", 5]"),
                Arguments.of("stop_token_ids", "2"),
                Arguments.of("stop_token_ids", "[\"2\"]"),
                Arguments.of("ignore_eos", "\"true\""),
                Arguments.of("ignore_eos", "1"),
                Arguments.of("priority", "\"high\""),
                Arguments.of("metadata", "[\"a\"]"),
                Arguments.of("metadata", "{\"n\": 1}"),
                Arguments.of("created_at", "\"2024-01-01T00:00:00Z\""),
                Arguments.of("created_at", "1.5"));
    }

    @ParameterizedTest(name = "{0} = {1}")
    @MethodSource("wrongTypes")
    void wrongTypeIsInvalidRequestNamingTheField(String field, String value) {
        String prompt = field.equals("prompt") ? "" : "\"prompt_ids\": [1], ";
        if (field.equals("prompt_ids")) {
            prompt = "";
        }
        DecodeException e =
                failure(
                        "{\"request_id\": \"req-7\", "
                                + prompt
                                + "\""
                                + field
                                + "\": "
                                + value
                                + "}");
        assertEquals(DecodeException.INVALID_REQUEST, e.code(), e.getMessage());
        assertTrue(e.getMessage().contains(field), e.getMessage());
        assertEquals("req-7", e.requestId());
    }

    static Stream<Arguments> outOfRange() {
        return Stream.of(
                Arguments.of("max_new_tokens", "3000000000"),
                Arguments.of("top_k", "-2147483649"),
                Arguments.of("priority", "1e10"),
                Arguments.of("stop_token_ids", "[1, 99999999999]"),
                Arguments.of("seed", "9223372036854775808"),
                Arguments.of("seed", "1e400"),
                Arguments.of("created_at", "-1e30"));
    }

    @ParameterizedTest(name = "{0} = {1}")
    @MethodSource("outOfRange")
    void integerOutOfItsTypeRangeIsInvalidParameter(String field, String value) {
        DecodeException e =
                failure(
                        "{\"request_id\": \"req-8\", \"prompt\": \"x\", \""
                                + field
                                + "\": "
                                + value
                                + "}");
        assertEquals(DecodeException.INVALID_PARAMETER, e.code(), e.getMessage());
        assertTrue(e.getMessage().contains(field), e.getMessage());
        assertEquals("req-8", e.requestId());
    }

    @Test
    void oversizedValueIsLimitExceededBeforeParsing() {
        byte[] junk = new byte[101];
        DecodeException e =
                assertThrows(DecodeException.class, () -> RequestCodec.decode(junk, 100));
        assertEquals(DecodeException.LIMIT_EXCEEDED, e.code());
        byte[] ok = "{\"id\": \"a\", \"prompt\": \"x\"}".getBytes(StandardCharsets.UTF_8);
        assertEquals(
                DecodeException.LIMIT_EXCEEDED,
                assertThrows(DecodeException.class, () -> RequestCodec.decode(ok, ok.length - 1))
                        .code());
    }

    @Test
    void valueOfExactlyMaxBytesIsAccepted() throws DecodeException {
        byte[] ok = "{\"id\": \"a\", \"prompt\": \"x\"}".getBytes(StandardCharsets.UTF_8);
        assertEquals("a", RequestCodec.decode(ok, ok.length).getRequestId());
    }
}
