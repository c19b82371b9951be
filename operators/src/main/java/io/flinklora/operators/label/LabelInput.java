package io.flinklora.operators.label;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.annotation.Internal;
import io.flinklora.schemas.AdapterWeight;
import io.flinklora.schemas.GenerationRequest;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One input line of a bulk labelling run: {@code {"id", "text", "task" | "template" (+ "labels"),
 * "adapter" | "adapters" | "route", "max_new_tokens"}}, turned into a generation request (greedy;
 * with the task's labels as choices), or a {@link LabelError} with a code. A record's own adapters
 * or {@code "route": "auto"} replace its task's.
 *
 * <p>Every line gets a record key that names it across runs: its id; for a later line with the same
 * id, the id plus the occurrence number; for a line whose id cannot be read, a hash of the line
 * plus the occurrence number. A re-run skips the keys already committed.
 */
@Internal
public final class LabelInput {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> FIELDS =
            Set.of(
                    "id",
                    "text",
                    "task",
                    "template",
                    "labels",
                    "adapter",
                    "adapters",
                    "route",
                    "max_new_tokens");

    /** Separates an id from the suffix of a later occurrence; not expected inside ids. */
    static final String SEP = "\u001f";

    static final String LINE_KEY = SEP + "line:";

    private LabelInput() {}

    /** Groups lines: the id when the line has a readable one, else a hash of the whole line. */
    public static String keyOf(String line, int maxBytes) {
        if (line.length() <= maxBytes) {
            try {
                JsonNode n = JSON.readTree(line);
                if (n != null
                        && n.isObject()
                        && n.path("id").isTextual()
                        && !n.get("id").asText().isEmpty()) {
                    return n.get("id").asText();
                }
            } catch (Exception e) {
                // not JSON: keyed by its hash below
            }
        }
        return LINE_KEY + sha256(line);
    }

    /** The record key of the {@code occurrence}-th line (0-based) with group key {@code key}. */
    public static String recordKey(String key, int occurrence) {
        return occurrence == 0 && !key.startsWith(LINE_KEY) ? key : key + SEP + occurrence;
    }

    public static boolean hasId(String key) {
        return !key.startsWith(LINE_KEY);
    }

    /** The id part of a record key (the key itself for first occurrences). */
    public static String idOf(String recordKey) {
        int i = recordKey.indexOf(SEP);
        return i < 0 ? recordKey : recordKey.substring(0, i);
    }

    /** Parses a line into a request; throws a {@link LabelError} with a code for anything wrong. */
    public static GenerationRequest parse(String line, LabelTasks tasks, int maxBytes) {
        if (line.getBytes(StandardCharsets.UTF_8).length > maxBytes) {
            throw new LabelError(
                    "LIMIT_EXCEEDED", "the line is longer than " + maxBytes + " bytes");
        }
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (Exception e) {
            throw new LabelError("MALFORMED_INPUT", "not JSON: " + firstLine(e.getMessage()));
        }
        if (n == null || !n.isObject()) {
            throw new LabelError("MALFORMED_INPUT", "a record must be a JSON object");
        }
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!FIELDS.contains(f)) {
                throw new LabelError(
                        "INVALID_REQUEST",
                        "unknown field '"
                                + f
                                + "' (known: "
                                + String.join(", ", FIELDS.stream().sorted().toList())
                                + ")");
            }
        }
        String id = LabelTasks.textField(n, "id");
        if (id == null || id.isEmpty()) {
            throw new LabelError("INVALID_REQUEST", "'id' must be a non-empty string");
        }
        if (id.contains(SEP)) {
            throw new LabelError(
                    "INVALID_REQUEST", "'id' must not contain the control character U+001F");
        }
        String text = LabelTasks.textField(n, "text");
        if (text == null) {
            throw new LabelError("INVALID_REQUEST", "'text' (a string) is required");
        }
        String taskName = LabelTasks.textField(n, "task");
        String template = LabelTasks.textField(n, "template");
        LabelTasks.Task task;
        if (taskName != null && template != null) {
            throw new LabelError("INVALID_REQUEST", "give 'task' or 'template', not both");
        } else if (taskName != null) {
            task = tasks.get(taskName);
            if (task == null) {
                throw new LabelError(
                        "UNKNOWN_TASK",
                        "task '"
                                + taskName
                                + "' is not in the task file (tasks: "
                                + String.join(", ", tasks.names())
                                + ")");
            }
            if (n.has("labels")) {
                throw new LabelError(
                        "INVALID_REQUEST",
                        "'labels' goes with 'template'; task '" + taskName + "' defines its own");
            }
        } else if (template != null) {
            if (!template.contains("{text}")) {
                throw new LabelError("INVALID_REQUEST", "'template' must contain {text}");
            }
            int maxNew =
                    n.has("max_new_tokens")
                            ? LabelTasks.positiveInt(n.get("max_new_tokens"), "max_new_tokens")
                            : LabelTasks.DEFAULT_MAX_NEW_TOKENS;
            task =
                    new LabelTasks.Task(
                            "", template, LabelTasks.labels(n.get("labels")), List.of(), maxNew);
        } else {
            task = tasks.single();
            if (task == null) {
                throw new LabelError(
                        "UNKNOWN_TASK",
                        "the record names no 'task' or 'template' and the task file "
                                + (tasks.names().isEmpty() ? "is not given" : "has several tasks"));
            }
        }
        List<LabelTasks.Adapter> adapters = LabelTasks.adapters(n);
        String route = LabelTasks.route(n);
        if (route != null && adapters != null) {
            throw new LabelError(
                    "INVALID_REQUEST",
                    "give 'adapter'/'adapters' or \"route\": \"auto\", not both");
        }
        if (adapters == null && route == null) {
            adapters = task.adapters();
            route = task.route();
        }
        if (adapters == null) {
            adapters = List.of();
        }
        List<AdapterWeight> weights = new ArrayList<>();
        for (LabelTasks.Adapter a : adapters) {
            weights.add(new AdapterWeight(a.name(), a.weight()));
        }
        int maxNew =
                n.has("max_new_tokens")
                        ? LabelTasks.positiveInt(n.get("max_new_tokens"), "max_new_tokens")
                        : task.maxNewTokens();
        return GenerationRequest.newBuilder()
                .setRequestId(id)
                .setPrompt(task.prompt(text))
                .setAdapters(weights)
                .setChoices(task.labels())
                .setMaxNewTokens(maxNew)
                .setTemperature(0.0)
                .setRoute(route)
                .setMetadata(Map.of("task", task.name()))
                .build();
    }

    static String sha256(String line) {
        try {
            byte[] d =
                    MessageDigest.getInstance("SHA-256")
                            .digest(line.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int i = s.indexOf('\n');
        return i < 0 ? s : s.substring(0, i);
    }
}
