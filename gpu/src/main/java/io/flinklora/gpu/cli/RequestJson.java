package io.flinklora.gpu.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.flinklora.gpu.engine.ErrorCode;
import io.flinklora.gpu.engine.RequestException;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.LogitAdjustments;
import io.flinklora.gpu.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The JSON request format of {@code scripts/generate.sh}, one object per line, strictly typed:
 * a wrong type or an unknown field is a coded error rather than a silently ignored setting.
 */
public record RequestJson(String id, String prompt, int[] promptIds, List<AdapterRef> adapters,
                          SamplingParams params, List<String> choices, boolean routeAuto) {

    private static final Set<String> FIELDS = Set.of("id", "request_id", "prompt", "prompt_ids", "adapters", "max_new_tokens",
            "temperature", "top_k", "top_p", "seed", "stop", "stop_token_ids", "ignore_eos", "choices",
            "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "route");
    static final int DEFAULT_MAX_NEW_TOKENS = 64;

    /** The id of a request object if it has a usable one, else null (for error lines). */
    public static String idOf(JsonNode node) {
        if (node == null || !node.isObject()) {
            return null;
        }
        JsonNode id = node.has("request_id") ? node.get("request_id") : node.get("id");
        return id != null && id.isTextual() ? id.asText() : null;
    }

    /** Parses one request object; throws a coded {@link RequestException} on any bad field. */
    public static RequestJson parse(JsonNode node) {
        if (node == null || !node.isObject()) {
            throw invalid("a request must be a JSON object");
        }
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!FIELDS.contains(f)) {
                throw invalid("unknown field '" + f + "' (known: " + String.join(", ", FIELDS.stream().sorted().toList()) + ")");
            }
        }
        // The job's name for it is request_id (id is its alias there): both are accepted, not both at once.
        if (node.has("id") && node.has("request_id")) {
            throw invalid("give one of 'request_id' and 'id', not both");
        }
        JsonNode idNode = node.has("request_id") ? node.get("request_id") : node.get("id");
        if (idNode == null || !idNode.isTextual() || idNode.asText().isEmpty()) {
            throw invalid("'request_id' (or 'id') must be a non-empty string");
        }
        String prompt = null;
        int[] ids = null;
        boolean hasPrompt = present(node, "prompt");
        boolean hasIds = present(node, "prompt_ids");
        if (hasPrompt == hasIds) {
            throw invalid("give exactly one of 'prompt' (text) and 'prompt_ids' (token ids)");
        }
        if (hasPrompt) {
            if (!node.get("prompt").isTextual()) {
                throw invalid("'prompt' must be a string");
            }
            prompt = node.get("prompt").asText();
        } else {
            ids = intArray(node.get("prompt_ids"), "prompt_ids");
        }
        List<AdapterRef> adapters = new ArrayList<>();
        if (present(node, "adapters")) {
            JsonNode a = node.get("adapters");
            if (!a.isArray()) {
                throw invalid("'adapters' must be a list of {\"name\": ..., \"weight\": ...}");
            }
            for (JsonNode e : a) {
                if (!e.isObject() || !e.path("name").isTextual()) {
                    throw invalid("each adapter needs a string 'name'");
                }
                double w = 1.0;
                if (present(e, "weight")) {
                    if (!e.get("weight").isNumber() || !Double.isFinite(e.get("weight").asDouble())) {
                        throw invalid("adapter 'weight' must be a finite number");
                    }
                    w = e.get("weight").asDouble();
                }
                adapters.add(new AdapterRef(e.get("name").asText(), w));
            }
        }
        int maxNew = intField(node, "max_new_tokens", DEFAULT_MAX_NEW_TOKENS);
        double temperature = number(node, "temperature", 0.0);
        int topK = intField(node, "top_k", 0);
        double topP = number(node, "top_p", 1.0);
        Long seed = null;
        if (present(node, "seed")) {
            if (!node.get("seed").isIntegralNumber() || !node.get("seed").canConvertToLong()) {
                throw invalid("'seed' must be an integer");
            }
            seed = node.get("seed").asLong();
        }
        List<String> stop = new ArrayList<>();
        if (present(node, "stop")) {
            JsonNode s = node.get("stop");
            if (s.isTextual()) {
                stop.add(s.asText());
            } else if (s.isArray()) {
                for (JsonNode e : s) {
                    if (!e.isTextual()) {
                        throw invalid("'stop' must be a string or a list of strings");
                    }
                    stop.add(e.asText());
                }
            } else {
                throw invalid("'stop' must be a string or a list of strings");
            }
        }
        List<Integer> stopIds = new ArrayList<>();
        if (present(node, "stop_token_ids")) {
            for (int id : intArray(node.get("stop_token_ids"), "stop_token_ids")) {
                stopIds.add(id);
            }
        }
        boolean ignoreEos = false;
        if (present(node, "ignore_eos")) {
            if (!node.get("ignore_eos").isBoolean()) {
                throw invalid("'ignore_eos' must be true or false");
            }
            ignoreEos = node.get("ignore_eos").asBoolean();
        }
        List<String> choices = new ArrayList<>();
        if (present(node, "choices")) {
            JsonNode c = node.get("choices");
            if (!c.isArray()) {
                throw invalid("'choices' must be a list of strings");
            }
            for (JsonNode e : c) {
                if (!e.isTextual()) {
                    throw invalid("'choices' must be a list of strings; found " + e);
                }
                choices.add(e.asText());
            }
        }
        Map<Integer, Double> bias = new LinkedHashMap<>();
        if (present(node, "logit_bias")) {
            JsonNode b = node.get("logit_bias");
            if (!b.isObject()) {
                throw invalid("'logit_bias' must be an object of token id -> number");
            }
            for (Iterator<String> it = b.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!k.matches("0|[1-9][0-9]{0,8}") || !b.get(k).isNumber()) {
                    throw invalid("'logit_bias' must map token ids to numbers; found \"" + k + "\": " + b.get(k));
                }
                bias.put(Integer.parseInt(k), b.get(k).asDouble());
            }
        }
        LogitAdjustments adjustments = new LogitAdjustments(number(node, "min_p", 0.0), number(node, "repetition_penalty", 1.0),
                number(node, "presence_penalty", 0.0), number(node, "frequency_penalty", 0.0), bias);
        Integer logprobs = present(node, "logprobs") ? intField(node, "logprobs", 0) : null;
        SamplingParams params = new SamplingParams(temperature, topK, topP, seed, maxNew, stop, stopIds, ignoreEos,
                adjustments, logprobs);
        boolean route = false;
        if (present(node, "route")) {
            if (!node.get("route").isTextual() || !node.get("route").asText().equals("auto")) {
                throw invalid("'route' must be \"auto\" (the router picks the adapters)");
            }
            if (!adapters.isEmpty()) {
                throw invalid("give 'adapters' or \"route\": \"auto\", not both");
            }
            route = true;
        }
        return new RequestJson(idNode.asText(), prompt, ids, adapters, params, choices, route);
    }

    private static boolean present(JsonNode node, String field) {
        return node.has(field) && !node.get(field).isNull();
    }

    private static int[] intArray(JsonNode n, String field) {
        if (!n.isArray()) {
            throw invalid("'" + field + "' must be a list of integers");
        }
        int[] out = new int[n.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode e = n.get(i);
            if (!e.isIntegralNumber() || !e.canConvertToInt()) {
                throw invalid("'" + field + "' must be a list of integers; element " + i + " is " + e);
            }
            out[i] = e.asInt();
        }
        return out;
    }

    private static int intField(JsonNode node, String field, int dflt) {
        if (!present(node, field)) {
            return dflt;
        }
        JsonNode n = node.get(field);
        if (!n.isIntegralNumber()) {
            throw invalid("'" + field + "' must be an integer, got " + n);
        }
        if (!n.canConvertToInt()) {
            throw new RequestException(ErrorCode.INVALID_PARAMETER, "'" + field + "' = " + n + " is out of range");
        }
        return n.asInt();
    }

    private static double number(JsonNode node, String field, double dflt) {
        if (!present(node, field)) {
            return dflt;
        }
        JsonNode n = node.get(field);
        if (!n.isNumber()) {
            throw invalid("'" + field + "' must be a number, got " + n);
        }
        return n.asDouble();
    }

    private static RequestException invalid(String message) {
        return new RequestException(ErrorCode.INVALID_REQUEST, message);
    }
}
