package io.flinklora.schemas.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.apache.avro.Schema;
import org.junit.jupiter.api.Test;

class JsonTest {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private static JsonNode parse(byte[] json, Schema schema) throws IOException {
        JsonNode node = MAPPER.readTree(json);
        assertTrue(node.isObject());
        List<String> names = new ArrayList<>();
        node.properties().forEach(e -> names.add(e.getKey()));
        List<String> expected = new ArrayList<>();
        schema.getFields().forEach(f -> expected.add(f.name()));
        assertEquals(expected, names, "JSON field names are the Avro field names, in schema order");
        return node;
    }

    @Test
    void tokenEventJsonUsesAvroFieldNames() throws IOException {
        JsonNode n = parse(Json.encode(Records.tokenEvent()), TokenEvent.getClassSchema());
        assertEquals("req-1", n.get("request_id").textValue());
        assertEquals(4, n.get("index").intValue());
        assertEquals(3186, n.get("token_id").intValue());
        assertEquals(" world", n.get("text").textValue());
        assertTrue(n.get("finished").booleanValue());
        assertEquals("length", n.get("finish_reason").textValue());
        assertEquals("sql+poems", n.get("adapters").textValue());
        assertEquals(1_700_000_000_123L, n.get("request_created_at").longValue());
        assertEquals(1_700_000_000_456L, n.get("emitted_at").longValue());
    }

    @Test
    void completionJsonUsesAvroFieldNames() throws IOException {
        JsonNode n = parse(Json.encode(Records.completion()), Completion.getClassSchema());
        assertEquals("Hello world", n.get("text").textValue());
        assertEquals(15043, n.get("token_ids").get(0).intValue());
        assertEquals(2, n.get("completion_tokens").intValue());
        assertEquals(12, n.get("time_to_first_token_ms").longValue());
        assertEquals("alice", n.get("metadata").get("user").textValue());
        assertTrue(n.get("route").isNull(), "not routed");
    }

    @Test
    void aRoutedCompletionsJsonCarriesTheRouteAsGenerateShDoes() throws IOException {
        java.util.Map<String, Double> similarity = new java.util.LinkedHashMap<>();
        similarity.put("max", 0.95);
        similarity.put("mood", 0.94);
        Completion c =
                Completion.newBuilder(Records.completion())
                        .setRoute(
                                new io.flinklora.schemas.Route(
                                        "max",
                                        List.of(new io.flinklora.schemas.AdapterWeight("max", 1.0)),
                                        similarity))
                        .build();
        JsonNode route = parse(Json.encode(c), Completion.getClassSchema()).get("route");
        assertEquals(
                "{\"task\":\"max\",\"adapters\":[{\"name\":\"max\",\"weight\":1.0}],"
                        + "\"similarity\":{\"max\":0.95,\"mood\":0.94}}",
                route.toString());
    }

    @Test
    void generationErrorJsonHasBase64RawPayloadAndNullRequestId() throws IOException {
        GenerationError err = Records.error();
        JsonNode n = parse(Json.encode(err), GenerationError.getClassSchema());
        assertTrue(n.get("request_id").isNull());
        assertEquals("MALFORMED_INPUT", n.get("code").textValue());
        byte[] raw = Base64.getDecoder().decode(n.get("raw_payload").textValue());
        assertEquals(err.getRawPayload(), java.nio.ByteBuffer.wrap(raw));
        assertEquals(
                0, err.getRawPayload().position(), "encoding leaves the record's buffer untouched");
        assertEquals(1_700_000_000_999L, n.get("occurred_at").longValue());
    }

    @Test
    void requestJsonUsesAvroFieldNames() throws IOException {
        JsonNode n = parse(Json.encode(Records.fullRequest()), GenerationRequest.getClassSchema());
        assertEquals("sql", n.get("adapters").get(0).get("name").textValue());
        assertEquals(0.75, n.get("adapters").get(0).get("weight").doubleValue());
        assertTrue(n.get("prompt_ids").isNull());
        assertEquals(1_700_000_000_123L, n.get("created_at").longValue());
    }

    @Test
    void requestJsonRoundTripsThroughRequestCodec() throws DecodeException {
        for (GenerationRequest r :
                new GenerationRequest[] {Records.fullRequest(), Records.idsRequest()}) {
            assertEquals(r, RequestCodec.decode(Json.encode(r), 1 << 20));
        }
    }
}
