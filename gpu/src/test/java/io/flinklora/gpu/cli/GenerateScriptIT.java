package io.flinklora.gpu.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.TestModels.ReferenceRow;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs the real {@code scripts/generate.sh} as a user would, against the packaged jar. */
class GenerateScriptIT {

    @Test
    void generateScriptReproducesTheGreedyReferenceThroughContinuousBatching(@TempDir Path dir)
            throws Exception {
        List<ReferenceRow> rows = TestModels.greedyReference();
        ObjectMapper json = new ObjectMapper();
        StringBuilder in = new StringBuilder();
        for (int i = 0; i < rows.size(); i++) {
            // Half by text (tokenized by the script), half by ids.
            var n = json.createObjectNode().put("id", "r" + i);
            if (i % 2 == 0) {
                n.put("prompt", rows.get(i).prompt());
            } else {
                var ids = n.putArray("prompt_ids");
                for (int id : rows.get(i).promptIds()) {
                    ids.add(id);
                }
            }
            n.put("max_new_tokens", rows.get(i).maxNewTokens())
                    .put("temperature", 0)
                    .put("ignore_eos", true);
            in.append(json.writeValueAsString(n)).append('\n');
        }
        in.append("not json\n");
        Path input = dir.resolve("requests.jsonl");
        Files.writeString(input, in);
        for (String batch : new String[] {"8", "1"}) {
            Path out = dir.resolve("out-" + batch + ".jsonl");
            Process p =
                    new ProcessBuilder(
                                    TestModels.projectRoot()
                                            .resolve("scripts/generate.sh")
                                            .toString(),
                                    "--model",
                                    TestModels.stories260k().toString(),
                                    "--max-batch",
                                    batch)
                            .redirectInput(input.toFile())
                            .redirectOutput(out.toFile())
                            .redirectError(dir.resolve("err.log").toFile())
                            .start();
            assertTrue(p.waitFor(5, TimeUnit.MINUTES), "generate.sh finished");
            assertEquals(0, p.exitValue(), Files.readString(dir.resolve("err.log")));
            Map<String, JsonNode> byId = new HashMap<>();
            int errors = 0;
            for (String line : Files.readAllLines(out, StandardCharsets.UTF_8)) {
                JsonNode n = json.readTree(line);
                if (n.has("error")) {
                    errors++;
                    assertEquals("MALFORMED_INPUT", n.get("error").get("code").asText());
                } else {
                    byId.put(n.get("id").asText(), n);
                }
            }
            assertEquals(1, errors);
            for (int i = 0; i < rows.size(); i++) {
                JsonNode r = byId.get("r" + i);
                assertArrayEquals(
                        rows.get(i).greedyIds(),
                        TestModels.ints(r.get("token_ids")),
                        "row " + i + " batch " + batch);
                assertEquals(rows.get(i).greedyText(), r.get("text").asText());
                assertEquals("length", r.get("finish_reason").asText());
                assertEquals(rows.get(i).promptIds().length, r.get("prompt_tokens").asInt());
            }
        }
    }

    @Test
    void generateScriptExitsNonZeroNamingAConfigFieldItDoesNotImplement(@TempDir Path dir)
            throws Exception {
        Path model = dir.resolve("model");
        Files.createDirectories(model);
        try (var files = Files.list(TestModels.stories260k())) {
            for (Path f : files.toList()) {
                Files.copy(f, model.resolve(f.getFileName()));
            }
        }
        String config = Files.readString(model.resolve("config.json"));
        Files.writeString(
                model.resolve("config.json"),
                config.replaceFirst("\\{", "{\"use_qk_norm\": true,"));
        Process p =
                new ProcessBuilder(
                                TestModels.projectRoot().resolve("scripts/generate.sh").toString(),
                                "--model",
                                model.toString())
                        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                        .redirectOutput(dir.resolve("out.jsonl").toFile())
                        .redirectError(dir.resolve("err.log").toFile())
                        .start();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "generate.sh finished");
        String err = Files.readString(dir.resolve("err.log"));
        assertTrue(p.exitValue() != 0, "exit code " + p.exitValue());
        assertTrue(err.contains("use_qk_norm"), err);
    }
}
