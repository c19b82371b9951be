package io.flinklora.operators.label;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.schemas.ChoiceScore;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * The lines of committed part files: {@code {"key": record key, "row": output row, "error": error
 * row}}. The output row of a routed record has {@code "route": {"task", "adapters", "similarity"}}.
 * Every input line gets exactly one: an output row for each distinct id ({@code status} "ok" or an
 * error code), an error row for every line that failed (with the input for lines the job could not
 * parse). Duplicate ids and lines without an id have an error row only.
 */
@Internal
public final class LabelRows {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_INPUT_IN_ERROR = 4096;

    private LabelRows() {}

    /**
     * A completed record: the chosen label with every label's probability, or the generated text.
     */
    public static String ok(Completion c) {
        ObjectNode row = JSON.createObjectNode();
        row.put("id", c.getRequestId());
        row.put("status", "ok");
        row.put("task", c.getMetadata().getOrDefault("task", ""));
        row.put("adapters", c.getAdapters());
        if (c.getRoute() != null) {
            ObjectNode route = row.putObject("route");
            route.put("task", c.getRoute().getTask());
            var used = route.putArray("adapters");
            c.getRoute()
                    .getAdapters()
                    .forEach(
                            a ->
                                    used.addObject()
                                            .put("name", a.getName())
                                            .put("weight", a.getWeight()));
            ObjectNode sims = route.putObject("similarity");
            c.getRoute().getSimilarity().entrySet().stream()
                    .sorted(
                            (a, b) ->
                                    Double.compare(
                                            b.getValue(),
                                            a.getValue())) // best first, as generate.sh
                    .forEach(e -> sims.put(e.getKey(), e.getValue()));
        }
        if (!c.getChoices().isEmpty()) {
            row.put("label", c.getText());
            ObjectNode p = row.putObject("probabilities");
            ObjectNode lp = row.putObject("logprobs");
            for (ChoiceScore s : c.getChoices()) {
                p.put(s.getLabel(), s.getProbability());
                lp.put(s.getLabel(), s.getLogprob());
            }
        } else {
            row.put("completion", c.getText());
            row.put("finish_reason", c.getFinishReason());
        }
        row.put("prompt_tokens", c.getPromptTokens());
        row.put("completion_tokens", c.getCompletionTokens());
        return line(c.getRequestId(), row, null);
    }

    /** A record the engine refused or could not finish (unknown adapter, too long, ...). */
    public static String engineError(GenerationError e) {
        String id = e.getRequestId();
        return line(id, status(id, e.getCode()), error(id, e.getCode(), e.getMessage(), null));
    }

    /**
     * A line refused before it reached the engine; it has an output row only when it is its id's
     * first line.
     */
    public static String inputError(String recordKey, String code, String message, String input) {
        boolean idKnown = LabelInput.hasId(recordKey);
        String id = idKnown ? LabelInput.idOf(recordKey) : null;
        boolean first = idKnown && recordKey.equals(id);
        String capped =
                input.length() > MAX_INPUT_IN_ERROR
                        ? input.substring(0, MAX_INPUT_IN_ERROR)
                        : input;
        return line(recordKey, first ? status(id, code) : null, error(id, code, message, capped));
    }

    private static ObjectNode status(String id, String code) {
        ObjectNode row = JSON.createObjectNode();
        row.put("id", id);
        row.put("status", code);
        return row;
    }

    private static ObjectNode error(String id, String code, String message, String input) {
        ObjectNode err = JSON.createObjectNode();
        if (id == null) {
            err.putNull("id");
        } else {
            err.put("id", id);
        }
        err.put("code", code);
        err.put("message", message);
        if (input != null) {
            err.put("input", input);
        }
        return err;
    }

    private static String line(String key, ObjectNode row, ObjectNode error) {
        ObjectNode n = JSON.createObjectNode();
        n.put("key", key);
        if (row != null) {
            n.set("row", row);
        }
        if (error != null) {
            n.set("error", error);
        }
        try {
            return JSON.writeValueAsString(n);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A part line read back. */
    public record Parsed(String key, JsonNode row, JsonNode error) {
        public String status() {
            return row != null ? row.path("status").asText() : error.path("code").asText();
        }

        public long tokens() {
            return row == null
                    ? 0
                    : row.path("prompt_tokens").asLong() + row.path("completion_tokens").asLong();
        }
    }

    public static Parsed parse(String line) {
        try {
            JsonNode n = JSON.readTree(line);
            return new Parsed(n.get("key").asText(), n.get("row"), n.get("error"));
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException(
                    "a committed part line is not what the job writes: " + line, e);
        }
    }
}
