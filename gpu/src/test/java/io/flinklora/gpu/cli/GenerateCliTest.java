package io.flinklora.gpu.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class GenerateCliTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static List<JsonNode> run(String input, int maxBatch) throws Exception {
        try (Engine engine =
                Engine.open(
                        EngineConfig.builder(TestModels.stories260k())
                                .maxRunning(maxBatch)
                                .build())) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
            GenerateCli.run(engine, new BufferedReader(new StringReader(input)), out, maxBatch);
            return bytes.toString(StandardCharsets.UTF_8)
                    .lines()
                    .map(
                            l -> {
                                try {
                                    return JSON.readTree(l);
                                } catch (Exception e) {
                                    throw new AssertionError("stdout line is not JSON: " + l, e);
                                }
                            })
                    .toList();
        }
    }

    @Test
    void everyBadRequestKindGetsACodedErrorLineWhileTheOthersComplete() throws Exception {
        String input =
                String.join(
                        "\n",
                        "{\"id\": \"ok1\", \"prompt\": \"Once upon a time\", \"max_new_tokens\": 8}",
                        "this is not json",
                        "[1, 2, 3]",
                        "{\"id\": 5, \"prompt\": \"x\"}",
                        "{\"id\": \"wrongtype\", \"prompt\": 12}",
                        "{\"id\": \"both\", \"prompt\": \"x\", \"prompt_ids\": [1, 2]}",
                        "{\"id\": \"typo\", \"prompt\": \"x\", \"max_tokens\": 3}",
                        "{\"id\": \"temp\", \"prompt\": \"x\", \"temperature\": -1}",
                        "{\"id\": \"topp\", \"prompt\": \"x\", \"top_p\": 0}",
                        "{\"id\": \"topk\", \"prompt\": \"x\", \"top_k\": -3}",
                        "{\"id\": \"zero\", \"prompt\": \"x\", \"max_new_tokens\": 0}",
                        "{\"id\": \"huge\", \"prompt\": \"x\", \"max_new_tokens\": 1000000000}",
                        "{\"id\": \"overflow\", \"prompt\": \"x\", \"max_new_tokens\": 99999999999}",
                        "{\"id\": \"long\", \"prompt\": \"" + "the dog ran. ".repeat(200) + "\"}",
                        "{\"id\": \"badtok\", \"prompt_ids\": [1, 99999]}",
                        "{\"id\": \"empty\", \"prompt_ids\": []}",
                        "{\"id\": \"adapter\", \"prompt\": \"x\", \"adapters\": [{\"name\": \"nope\", \"weight\": 1.0}]}",
                        "{\"id\": \"stopid\", \"prompt\": \"x\", \"stop_token_ids\": [-1]}",
                        "{\"id\": \"ok1\", \"prompt\": \"duplicate of a request in flight\"}",
                        "{\"id\": \"ok2\", \"prompt_ids\": [1, 274, 287], \"max_new_tokens\": 5, \"ignore_eos\": true}",
                        "");
        List<JsonNode> lines = run(input, 4);
        Map<String, String> codes = new HashMap<>();
        int nullIds = 0;
        Map<String, JsonNode> results = new HashMap<>();
        for (JsonNode n : lines) {
            if (n.has("error")) {
                assertTrue(n.get("error").get("message").asText().length() > 5, n.toString());
                if (n.get("id").isNull()) {
                    nullIds++;
                    codes.put("null" + nullIds, n.get("error").get("code").asText());
                } else {
                    codes.merge(
                            n.get("id").asText(),
                            n.get("error").get("code").asText(),
                            (a, b) -> a + "," + b);
                }
            } else {
                results.put(n.get("id").asText(), n);
            }
        }
        assertEquals("MALFORMED_INPUT", codes.get("null1"));
        assertEquals("INVALID_REQUEST", codes.get("null2"), "a JSON array is not a request");
        assertEquals("INVALID_REQUEST", codes.get("null3"), "a numeric id is refused");
        assertEquals(3, nullIds);
        assertEquals("INVALID_REQUEST", codes.get("wrongtype"));
        assertEquals("INVALID_REQUEST", codes.get("both"));
        assertEquals("INVALID_REQUEST", codes.get("typo"));
        assertEquals("INVALID_PARAMETER", codes.get("temp"));
        assertEquals("INVALID_PARAMETER", codes.get("topp"));
        assertEquals("INVALID_PARAMETER", codes.get("topk"));
        assertEquals("INVALID_PARAMETER", codes.get("zero"));
        assertEquals("LIMIT_EXCEEDED", codes.get("huge"));
        assertEquals("INVALID_PARAMETER", codes.get("overflow"));
        assertEquals("CONTEXT_LENGTH_EXCEEDED", codes.get("long"));
        assertEquals("INVALID_TOKEN", codes.get("badtok"));
        assertEquals("INVALID_REQUEST", codes.get("empty"));
        assertEquals("UNKNOWN_ADAPTER", codes.get("adapter"));
        assertEquals("INVALID_PARAMETER", codes.get("stopid"));
        assertEquals("DUPLICATE_REQUEST", codes.get("ok1"));
        assertEquals(2, results.size(), "the good requests complete: " + results.keySet());
        JsonNode ok2 = results.get("ok2");
        assertEquals(5, ok2.get("token_ids").size());
        assertEquals("length", ok2.get("finish_reason").asText());
        assertEquals(3, ok2.get("prompt_tokens").asInt());
        assertEquals(8, results.get("ok1").get("token_ids").size());
        assertEquals(5, results.get("ok1").get("prompt_tokens").asInt());
    }

    @Test
    void choicesGiveOneOfTheLabelsWithProbabilitiesAndBadChoicesAreCoded() throws Exception {
        String input =
                String.join(
                        "\n",
                        "{\"id\": \"c1\", \"prompt\": \"Lily was very\", \"choices\": [\"happy\", \"sad\", \"a big red ball\"]}",
                        "{\"id\": \"g1\", \"prompt\": \"Lily was very\", \"max_new_tokens\": 4}",
                        "{\"id\": \"dup\", \"prompt\": \"x\", \"choices\": [\"a\", \"a\"]}",
                        "{\"id\": \"type\", \"prompt\": \"x\", \"choices\": \"happy\"}",
                        "{\"id\": \"elem\", \"prompt\": \"x\", \"choices\": [\"happy\", 3]}");
        Map<String, JsonNode> byId = new HashMap<>();
        for (JsonNode n : run(input, 4)) {
            byId.put(n.get("id").asText(), n);
        }
        JsonNode c1 = byId.get("c1");
        assertEquals("choice", c1.get("finish_reason").asText());
        List<String> labels = List.of("happy", "sad", "a big red ball");
        assertTrue(labels.contains(c1.get("text").asText()), c1.toString());
        assertEquals(3, c1.get("choices").size());
        double sum = 0;
        double best = -1;
        String bestLabel = null;
        for (JsonNode s : c1.get("choices")) {
            sum += s.get("probability").asDouble();
            assertTrue(s.get("logprob").asDouble() < 0);
            if (s.get("probability").asDouble() > best) {
                best = s.get("probability").asDouble();
                bestLabel = s.get("label").asText();
            }
        }
        assertEquals(1.0, sum, 1e-9);
        assertEquals(bestLabel, c1.get("text").asText());
        assertEquals(4, byId.get("g1").get("token_ids").size());
        assertEquals("INVALID_PARAMETER", byId.get("dup").get("error").get("code").asText());
        assertEquals("INVALID_REQUEST", byId.get("type").get("error").get("code").asText());
        assertEquals("INVALID_REQUEST", byId.get("elem").get("error").get("code").asText());
    }
}
