package io.flinklora.operators.label;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.annotation.Internal;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The labelling tasks of a bulk run, read from a task file: each has a name, a prompt template with
 * {@code {text}}, optionally the labels allowed (then the answer is always one of them) and a
 * default adapter, or {@code "route": "auto"} instead: each record gets the adapters the job's
 * router ({@code --router}) chooses for its prompt. Without labels a task generates free text up to
 * {@code max_new_tokens}.
 *
 * <pre>{"tasks": [{"name": "sentiment", "template": "Review: {text}\nSentiment:",
 *   "labels": ["positive", "negative"], "adapter": "sentiment", "max_new_tokens": 16},
 *  {"name": "story", "template": "{text}", "route": "auto"}]}</pre>
 */
@Internal
public final class LabelTasks implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> TASK_FIELDS =
            Set.of("name", "template", "labels", "adapter", "adapters", "route", "max_new_tokens");

    /** The only route there is: the router picks the adapters from the prompt. */
    public static final String ROUTE_AUTO = "auto";

    public static final int DEFAULT_MAX_NEW_TOKENS = 32;

    /** One adapter of a mix, by name under the adapter root. */
    public record Adapter(String name, double weight) implements Serializable {}

    /**
     * One task: how a record's text becomes a prompt, and what may answer it; {@code route} "auto"
     * or null.
     */
    public record Task(
            String name,
            String template,
            List<String> labels,
            List<Adapter> adapters,
            String route,
            int maxNewTokens)
            implements Serializable {
        public Task {
            labels = List.copyOf(labels);
            adapters = List.copyOf(adapters);
        }

        public Task(
                String name,
                String template,
                List<String> labels,
                List<Adapter> adapters,
                int maxNewTokens) {
            this(name, template, labels, adapters, null, maxNewTokens);
        }

        public String prompt(String text) {
            return template.replace("{text}", text);
        }
    }

    private final Map<String, Task> tasks;

    private LabelTasks(Map<String, Task> tasks) {
        this.tasks = tasks;
    }

    public static LabelTasks none() {
        return new LabelTasks(new LinkedHashMap<>());
    }

    /**
     * Reads and checks a task file; a mistake in it is an IllegalArgumentException naming the task
     * and field.
     */
    public static LabelTasks read(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readAllBytes(file));
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    "cannot read task file " + file + ": " + e.getMessage(), e);
        }
        JsonNode list = root != null && root.isObject() ? root.get("tasks") : root;
        if (list == null || !list.isArray() || list.isEmpty()) {
            throw new IllegalArgumentException(
                    "task file " + file + " must be {\"tasks\": [...]} with at least one task");
        }
        Map<String, Task> tasks = new LinkedHashMap<>();
        for (JsonNode t : list) {
            Task task = parseTask(t, file);
            if (tasks.put(task.name(), task) != null) {
                throw new IllegalArgumentException(
                        "task file " + file + ": task '" + task.name() + "' is defined twice");
            }
        }
        return new LabelTasks(tasks);
    }

    private static Task parseTask(JsonNode t, Path file) {
        if (!t.isObject()) {
            throw new IllegalArgumentException(
                    "task file " + file + ": each task must be an object, got " + t);
        }
        String where = "task file " + file + ", task " + t.path("name");
        for (Iterator<String> it = t.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!TASK_FIELDS.contains(f)) {
                throw new IllegalArgumentException(
                        where + ": unknown field '" + f + "' (known: " + TASK_FIELDS + ")");
            }
        }
        if (!t.path("name").isTextual() || t.path("name").asText().isEmpty()) {
            throw new IllegalArgumentException(where + ": 'name' must be a non-empty string");
        }
        try {
            String template = textField(t, "template");
            if (template == null || !template.contains("{text}")) {
                throw new LabelError(
                        "INVALID_REQUEST", "'template' must be a string containing {text}");
            }
            List<String> labels = labels(t.get("labels"));
            List<Adapter> adapters = adapters(t);
            String route = route(t);
            if (route != null && adapters != null) {
                throw new LabelError(
                        "INVALID_REQUEST",
                        "give 'adapter'/'adapters' or \"route\": \"auto\", not both");
            }
            adapters = adapters == null ? List.of() : adapters;
            int maxNew =
                    t.has("max_new_tokens")
                            ? positiveInt(t.get("max_new_tokens"), "max_new_tokens")
                            : DEFAULT_MAX_NEW_TOKENS;
            return new Task(t.get("name").asText(), template, labels, adapters, route, maxNew);
        } catch (LabelError e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage());
        }
    }

    public Task get(String name) {
        return tasks.get(name);
    }

    /** The task records without a task name use: the only task of the file, else none. */
    public Task single() {
        return tasks.size() == 1 ? tasks.values().iterator().next() : null;
    }

    public Set<String> names() {
        return tasks.keySet();
    }

    /** The tasks whose records are routed ({@code "route": "auto"}): they need the job's router. */
    public List<String> routed() {
        return tasks.values().stream().filter(t -> t.route() != null).map(Task::name).toList();
    }

    // ------------------------------------------------------------ field readers shared with record
    // parsing

    static String textField(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw new LabelError(
                    "INVALID_REQUEST", "'" + field + "' must be a string, got " + v.getNodeType());
        }
        return v.asText();
    }

    static List<String> labels(JsonNode v) {
        List<String> out = new ArrayList<>();
        if (v == null || v.isNull()) {
            return out;
        }
        if (!v.isArray()) {
            throw new LabelError("INVALID_REQUEST", "'labels' must be a list of strings");
        }
        for (JsonNode e : v) {
            if (!e.isTextual()) {
                throw new LabelError(
                        "INVALID_REQUEST", "'labels' must be a list of strings; found " + e);
            }
            out.add(e.asText());
        }
        return out;
    }

    /**
     * "adapter": "name", or "adapters": ["a", {"name": "b", "weight": 0.5}]; null when neither is
     * given.
     */
    static List<Adapter> adapters(JsonNode n) {
        if (n.has("adapter") && n.has("adapters")) {
            throw new LabelError("INVALID_REQUEST", "give 'adapter' or 'adapters', not both");
        }
        List<Adapter> out = new ArrayList<>();
        if (n.hasNonNull("adapter")) {
            out.add(new Adapter(textField(n, "adapter"), 1.0));
            return out;
        }
        JsonNode list = n.get("adapters");
        if (list == null || list.isNull()) {
            return null;
        }
        if (!list.isArray()) {
            throw new LabelError(
                    "INVALID_REQUEST",
                    "'adapters' must be a list of names or {\"name\", \"weight\"}");
        }
        for (JsonNode a : list) {
            if (a.isTextual()) {
                out.add(new Adapter(a.asText(), 1.0));
            } else if (a.isObject()
                    && a.path("name").isTextual()
                    && (!a.has("weight") || a.get("weight").isNumber())
                    && a.size() <= 2) {
                out.add(new Adapter(a.get("name").asText(), a.path("weight").asDouble(1.0)));
            } else {
                throw new LabelError(
                        "INVALID_REQUEST",
                        "'adapters' entries must be names or {\"name\", \"weight\"}; found " + a);
            }
        }
        return out;
    }

    /**
     * {@code "route": "auto"}, or null when absent (or null); any other value is INVALID_PARAMETER.
     */
    static String route(JsonNode n) {
        JsonNode v = n.get("route");
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual() || !v.asText().equals(ROUTE_AUTO)) {
            throw new LabelError(
                    "INVALID_PARAMETER",
                    "'route' must be \"auto\" (the router picks the adapters), got " + v);
        }
        return ROUTE_AUTO;
    }

    static int positiveInt(JsonNode v, String field) {
        if (v == null || !v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 1) {
            throw new LabelError(
                    "INVALID_PARAMETER", "'" + field + "' must be a positive integer, got " + v);
        }
        return v.asInt();
    }
}
