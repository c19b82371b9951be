package io.flinklora.gpu.route;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.lora.AdapterRef;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A router file: tasks, each an adapter mix with a handful of example prompts, and how requests
 * with {@code "route": "auto"} pick among them ({@code top_k} 1: the nearest task's mix; more: a
 * softmax-weighted ({@code temperature}) sum of the top-k tasks' mixes), and which base-model
 * hidden state embeds prompts ({@code layer}: after that many layers; absent: the last, after the
 * final norm).
 *
 * <pre>{"top_k": 1, "temperature": 0.05, "layer": 4,
 *  "tasks": [{"name": "max", "adapters": [{"name": "max", "weight": 1.0}], "examples": ["...", "..."]}]}
 * </pre>
 */
@Internal
public record RouterFile(List<Task> tasks, int topK, double temperature, Integer layer) {
    /** One task: its name, the adapter mix its requests get, and example prompts of its kind. */
    public record Task(String name, List<AdapterRef> adapters, List<String> examples) {
        public Task {
            adapters = List.copyOf(adapters);
            examples = List.copyOf(examples);
        }
    }

    public RouterFile {
        tasks = List.copyOf(tasks);
        if (tasks.size() < 1) {
            throw new IllegalArgumentException("a router needs at least one task");
        }
        if (topK < 1 || topK > tasks.size()) {
            throw new IllegalArgumentException(
                    "top_k must be within 1.." + tasks.size() + " (got " + topK + ")");
        }
        if (!(temperature > 0)) {
            throw new IllegalArgumentException("temperature must be > 0 (got " + temperature + ")");
        }
    }

    public static RouterFile read(Path file) throws IOException {
        JsonNode n = new ObjectMapper().readTree(file.toFile());
        String where = file.toString();
        if (n == null || !n.isObject() || !n.path("tasks").isArray()) {
            throw new IllegalArgumentException(
                    where + ": expected {\"tasks\": [...], \"top_k\": .., \"temperature\": ..}");
        }
        for (var it = n.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!Set.of("tasks", "top_k", "temperature", "layer").contains(f)) {
                throw new IllegalArgumentException(where + ": unknown field '" + f + "'");
            }
        }
        List<Task> tasks = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (JsonNode t : n.get("tasks")) {
            if (!t.path("name").isTextual()
                    || !t.path("adapters").isArray()
                    || !t.path("examples").isArray()) {
                throw new IllegalArgumentException(
                        where + ": each task needs \"name\", \"adapters\" and \"examples\"");
            }
            String name = t.get("name").asText();
            if (!names.add(name)) {
                throw new IllegalArgumentException(where + ": task '" + name + "' is listed twice");
            }
            List<AdapterRef> refs = new ArrayList<>();
            for (JsonNode a : t.get("adapters")) {
                if (!a.path("name").isTextual()
                        || (a.has("weight") && !a.get("weight").isNumber())) {
                    throw new IllegalArgumentException(
                            where + ": task '" + name + "': adapters are {\"name\", \"weight\"}");
                }
                refs.add(new AdapterRef(a.get("name").asText(), a.path("weight").asDouble(1.0)));
            }
            List<String> examples = new ArrayList<>();
            for (JsonNode e : t.get("examples")) {
                if (!e.isTextual() || e.asText().isEmpty()) {
                    throw new IllegalArgumentException(
                            where + ": task '" + name + "': examples are non-empty strings");
                }
                examples.add(e.asText());
            }
            if (examples.isEmpty()) {
                throw new IllegalArgumentException(
                        where + ": task '" + name + "' has no example prompts");
            }
            tasks.add(new Task(name, refs, examples));
        }
        if (n.has("layer") && !n.get("layer").isInt()) {
            throw new IllegalArgumentException(where + ": layer must be an integer");
        }
        return new RouterFile(
                tasks,
                n.path("top_k").asInt(1),
                n.path("temperature").asDouble(0.05),
                n.has("layer") ? n.get("layer").asInt() : null);
    }
}
