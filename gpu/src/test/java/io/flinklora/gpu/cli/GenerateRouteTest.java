package io.flinklora.gpu.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.route.Router;
import io.flinklora.gpu.route.RouterFile;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * generate.sh with a router: "route": "auto" requests get the routed mix, and say which route they
 * took.
 */
class GenerateRouteTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static Map<String, JsonNode> run(String input, boolean withRouter) throws Exception {
        try (Engine engine =
                Engine.open(
                        EngineConfig.builder(TestModels.stories260k())
                                .maxRunning(8)
                                .adapterRoot(TestModels.model("adapters"))
                                .build())) {
            Router router =
                    withRouter
                            ? Router.open(
                                    RouterFile.read(
                                            TestModels.model("adapters").resolve("router.json")),
                                    engine)
                            : null;
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
            GenerateCli.run(engine, new BufferedReader(new StringReader(input)), out, 8, router);
            Map<String, JsonNode> byId = new HashMap<>();
            for (String l : bytes.toString(StandardCharsets.UTF_8).lines().toList()) {
                JsonNode n = JSON.readTree(l);
                byId.put(n.get("id").asText(), n);
            }
            return byId;
        }
    }

    @Test
    void routedRequestsRunTheRoutedAdapterAndReportTheRoute() throws Exception {
        String prompt = "Max the dog went to the lake with his boat.";
        String mood = "Tom had a kite. Tom was very sad.\\nMood:";
        String input =
                String.join(
                        "\n",
                        "{\"id\": \"auto\", \"prompt\": \""
                                + prompt
                                + "\", \"route\": \"auto\", \"max_new_tokens\": 24}",
                        "{\"id\": \"direct\", \"prompt\": \""
                                + prompt
                                + "\", \"adapters\": [{\"name\": \"max\"}], \"max_new_tokens\": 24}",
                        "{\"id\": \"mood\", \"prompt\": \""
                                + mood
                                + "\", \"route\": \"auto\", \"choices\": [\"happy\", \"sad\"]}",
                        "{\"id\": \"both\", \"prompt\": \"x\", \"route\": \"auto\", \"adapters\": [{\"name\": \"max\"}]}",
                        "{\"id\": \"bad\", \"prompt\": \"x\", \"route\": \"manual\"}");
        Map<String, JsonNode> out = run(input, true);
        JsonNode auto = out.get("auto");
        assertEquals("max", auto.get("route").get("task").asText(), auto.toString());
        assertEquals("max", auto.get("route").get("adapters").get(0).get("name").asText());
        assertEquals(3, auto.get("route").get("similarity").size());
        // The routed request ran with the max adapter: the same tokens as asking for it directly.
        assertEquals(out.get("direct").get("token_ids"), auto.get("token_ids"));
        assertTrue(out.get("direct").get("route") == null);
        assertEquals("mood", out.get("mood").get("route").get("task").asText());
        assertEquals("sad", out.get("mood").get("text").asText());
        assertEquals("INVALID_REQUEST", out.get("both").get("error").get("code").asText());
        assertEquals("INVALID_REQUEST", out.get("bad").get("error").get("code").asText());

        Map<String, JsonNode> none = run(List.of(input.split("\n")).get(0), false);
        assertEquals("INVALID_REQUEST", none.get("auto").get("error").get("code").asText());
    }
}
