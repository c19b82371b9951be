package io.flinklora.gpu.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.lora.PeftWriter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Drives generate.sh --adapters, merge-adapter.sh (folding and --method combining) and
 * extract-adapter.sh as a user would.
 */
class AdapterScriptsIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    static String run(Path dir, String input, String... command) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(command));
        cmd.set(0, TestModels.projectRoot().resolve("scripts").resolve(cmd.get(0)).toString());
        Path in = Files.writeString(dir.resolve("in.jsonl"), input);
        Path out = dir.resolve("out.txt");
        Path err = dir.resolve("err.txt");
        Process p =
                new ProcessBuilder(cmd)
                        .redirectInput(in.toFile())
                        .redirectOutput(out.toFile())
                        .redirectError(err.toFile())
                        .start();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES));
        assertEquals(0, p.exitValue(), String.join(" ", command) + ": " + Files.readString(err));
        return Files.readString(out);
    }

    static Map<String, JsonNode> byId(String out) throws Exception {
        Map<String, JsonNode> m = new HashMap<>();
        for (String line : out.split("\n")) {
            if (!line.isBlank()) {
                JsonNode n = JSON.readTree(line);
                m.put(n.get("id").asText(), n);
            }
        }
        return m;
    }

    @Test
    void servingMergingAndExtractingAdaptersAgreeThroughTheScripts(@TempDir Path dir)
            throws Exception {
        ModelConfig c = ModelConfig.read(TestModels.stories260k());
        Path root = dir.resolve("adapters");
        new PeftWriter(c)
                .rank(4)
                .alpha(8)
                .targets(EnumSet.of(Projection.Q, Projection.V, Projection.O))
                .write(root.resolve("happy"), 1, 0.3, 0.3);
        new PeftWriter(c)
                .rank(8)
                .alpha(8)
                .targets(EnumSet.of(Projection.GATE, Projection.DOWN))
                .write(root.resolve("max"), 2, 0.2, 0.2);
        String model = TestModels.stories260k().toString();
        String req =
                "{\"id\": \"%s\", \"prompt\": \"Tom had a big red ball.\", \"max_new_tokens\": 24, \"ignore_eos\": true%s}\n";
        String input =
                String.format(req, "base", "")
                        + String.format(req, "happy", ", \"adapters\": [{\"name\": \"happy\"}]")
                        + String.format(
                                req,
                                "max",
                                ", \"adapters\": [{\"name\": \"max\", \"weight\": 1.0}]")
                        + String.format(req, "bad", ", \"adapters\": [{\"name\": \"../max\"}]");
        Map<String, JsonNode> served =
                byId(
                        run(
                                dir,
                                input,
                                "generate.sh",
                                "--model",
                                model,
                                "--adapters",
                                root.toString()));
        assertEquals("UNKNOWN_ADAPTER", served.get("bad").get("error").get("code").asText());
        assertNotEquals(served.get("base").get("token_ids"), served.get("happy").get("token_ids"));

        Path merged = dir.resolve("merged-happy");
        run(
                dir,
                "",
                "merge-adapter.sh",
                "--model",
                model,
                "--adapter",
                root.resolve("happy").toString(),
                "--out",
                merged.toString());
        Map<String, JsonNode> fromMerged =
                byId(
                        run(
                                dir,
                                String.format(req, "happy", ""),
                                "generate.sh",
                                "--model",
                                merged.toString()));
        assertEquals(
                served.get("happy").get("token_ids"),
                fromMerged.get("happy").get("token_ids"),
                "merge then generate equals the adapter served in a mixed batch");

        Path extractedRoot = dir.resolve("extracted");
        run(
                dir,
                "",
                "extract-adapter.sh",
                "--base",
                model,
                "--tuned",
                merged.toString(),
                "--rank",
                "4",
                "--out",
                extractedRoot.resolve("happy2").toString());
        Map<String, JsonNode> fromExtracted =
                byId(
                        run(
                                dir,
                                String.format(
                                        req, "happy", ", \"adapters\": [{\"name\": \"happy2\"}]"),
                                "generate.sh",
                                "--model",
                                model,
                                "--adapters",
                                extractedRoot.toString()));
        assertEquals(
                served.get("happy").get("token_ids"),
                fromExtracted.get("happy").get("token_ids"),
                "the extracted adapter reproduces the fine-tune");
    }

    @Test
    void aCatCombinationServesLikeTheWeightedMixAndRefusalsExitWith2(@TempDir Path dir)
            throws Exception {
        Path shipped = TestModels.projectRoot().resolve("models/adapters");
        Path combined = dir.resolve("combined");
        // cat keeps every rank: its B A is exactly sum w * scale * B_i A_i, the mix the engine
        // serves.
        run(
                dir,
                "",
                "merge-adapter.sh",
                "--method",
                "cat",
                "--adapters",
                shipped.resolve("happy") + ":0.7," + shipped.resolve("max") + ":0.5",
                "--out",
                combined.resolve("happymax").toString());
        String model = TestModels.stories260k().toString();
        String req =
                "{\"id\": \"%s\", \"prompt\": \"Tom had a big red ball.\", \"max_new_tokens\": 24, \"ignore_eos\": true,"
                        + " \"adapters\": %s}\n";
        Map<String, JsonNode> mixed =
                byId(
                        run(
                                dir,
                                String.format(
                                        req,
                                        "mix",
                                        "[{\"name\": \"happy\", \"weight\": 0.7}, {\"name\": \"max\", \"weight\": 0.5}]"),
                                "generate.sh",
                                "--model",
                                model,
                                "--adapters",
                                shipped.toString()));
        Map<String, JsonNode> fromCombined =
                byId(
                        run(
                                dir,
                                String.format(req, "mix", "[{\"name\": \"happymax\"}]"),
                                "generate.sh",
                                "--model",
                                model,
                                "--adapters",
                                combined.toString()));
        assertEquals(
                mixed.get("mix").get("token_ids"),
                fromCombined.get("mix").get("token_ids"),
                "the cat-combined adapter generates what the weighted mix of its inputs generates");

        Process p =
                new ProcessBuilder(
                                TestModels.projectRoot()
                                        .resolve("scripts/merge-adapter.sh")
                                        .toString(),
                                "--method",
                                "ties",
                                "--adapters",
                                shipped.resolve("happy") + "," + shipped.resolve("max"),
                                "--out",
                                dir.resolve("refused").toString())
                        .redirectErrorStream(true)
                        .start();
        String said = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(5, TimeUnit.MINUTES));
        assertEquals(2, p.exitValue(), said);
        assertTrue(said.contains("--density is required"), said);
        assertTrue(!Files.exists(dir.resolve("refused")));
    }
}
