package io.flinklora.gpu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Locates the project's bundled models and reference data for tests. */
public final class TestModels {
    private TestModels() {}

    /**
     * The repository root: the {@code project.root} property Surefire sets, else found from the
     * working dir.
     */
    public static Path projectRoot() {
        String root = System.getProperty("project.root");
        if (root != null && Files.isDirectory(Path.of(root, "models"))) {
            return Path.of(root);
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isDirectory(dir.resolve("models"))
                    && Files.isRegularFile(dir.resolve("pom.xml"))) {
                return dir;
            }
        }
        throw new IllegalStateException("project root with models/ not found");
    }

    public static Path model(String name) {
        return projectRoot().resolve("models").resolve(name);
    }

    public static Path stories260k() {
        return model("stories260k");
    }

    /** One row of {@code stories260k-greedy.jsonl}. */
    public record ReferenceRow(
            String prompt, int[] promptIds, int maxNewTokens, int[] greedyIds, String greedyText) {}

    public static List<ReferenceRow> greedyReference() {
        ObjectMapper json = new ObjectMapper();
        List<ReferenceRow> rows = new ArrayList<>();
        try (var in = TestModels.class.getResourceAsStream("/stories260k-greedy.jsonl")) {
            for (String line :
                    new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8)
                            .split("\n")) {
                if (line.isBlank()) {
                    continue;
                }
                JsonNode n = json.readTree(line);
                rows.add(
                        new ReferenceRow(
                                n.get("prompt").asText(),
                                ints(n.get("prompt_ids")),
                                n.get("max_new_tokens").asInt(),
                                ints(n.get("greedy_ids")),
                                n.get("greedy_text").asText()));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return rows;
    }

    public static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }
}
