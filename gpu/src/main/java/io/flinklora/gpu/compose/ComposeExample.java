package io.flinklora.gpu.compose;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.annotation.Internal;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** One example of a task to compose adapters for: an input and the completion expected after it. */
@Internal
public record ComposeExample(String input, String output) {
    public ComposeExample {
        if (input == null || output == null || output.isEmpty()) {
            throw new IllegalArgumentException(
                    "an example needs an \"input\" and a non-empty \"output\"");
        }
    }

    /** Reads JSON lines {@code {"input": "...", "output": "..."}}; blank lines are skipped. */
    public static List<ComposeExample> read(Path file) throws IOException {
        ObjectMapper om = new ObjectMapper();
        List<ComposeExample> out = new ArrayList<>();
        List<String> lines = Files.readAllLines(file);
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) {
                continue;
            }
            try {
                JsonNode n = om.readTree(line);
                if (!n.isObject()
                        || !n.path("input").isTextual()
                        || !n.path("output").isTextual()) {
                    throw new IllegalArgumentException(
                            "expected {\"input\": string, \"output\": string}");
                }
                out.add(new ComposeExample(n.get("input").asText(), n.get("output").asText()));
            } catch (IOException | IllegalArgumentException e) {
                throw new IllegalArgumentException(
                        file + " line " + (i + 1) + ": " + e.getMessage(), e);
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(file + " holds no examples");
        }
        return out;
    }
}
