package io.flinklora.schemas.codec;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.flinklora.annotation.PublicEvolving;
import io.flinklora.schemas.AdapterWeight;
import io.flinklora.schemas.GenerationRequest;
import java.io.IOException;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns a Kafka record value (Avro single-object encoding, JSON, or a schema registry's framing)
 * into a GenerationRequest, or says why not.
 */
@PublicEvolving
public final class RequestCodec {

    // Exact decimals, so that "integral" and "in range" are decided on the value as written, not a
    // rounded double.
    private static final ObjectMapper MAPPER =
            JsonMapper.builder()
                    .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
                    .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                    .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
                    .build();

    private static final BigDecimal INT_MIN = BigDecimal.valueOf(Integer.MIN_VALUE);
    private static final BigDecimal INT_MAX = BigDecimal.valueOf(Integer.MAX_VALUE);
    private static final BigDecimal LONG_MIN = BigDecimal.valueOf(Long.MIN_VALUE);
    private static final BigDecimal LONG_MAX = BigDecimal.valueOf(Long.MAX_VALUE);

    private RequestCodec() {}

    /**
     * Decodes a record value. Values starting with 0xC3 0x01 are Avro single-object encoded;
     * anything else is read as a JSON object whose field names are the Avro field names ("id" is
     * accepted for "request_id"). Values in a schema registry's framing (first byte 0) are refused:
     * see the overload with a registry.
     *
     * @param maxBytes values longer than this are refused (LIMIT_EXCEEDED) without being parsed
     */
    public static GenerationRequest decode(byte[] value, int maxBytes) throws DecodeException {
        return decode(value, maxBytes, null);
    }

    /**
     * As {@link #decode(byte[], int)}, and values starting with byte 0 are read in the schema
     * registry's framing through {@code registry} (null: there is none, and such values are
     * MALFORMED_INPUT).
     */
    public static GenerationRequest decode(byte[] value, int maxBytes, RegistryFraming registry)
            throws DecodeException {
        if (value == null || value.length == 0) {
            throw new DecodeException(DecodeException.MALFORMED_INPUT, "empty record value", null);
        }
        if (value.length > maxBytes) {
            throw new DecodeException(
                    DecodeException.LIMIT_EXCEEDED,
                    "record value is " + value.length + " bytes, over the limit of " + maxBytes,
                    null);
        }
        if (value.length >= 2 && value[0] == (byte) 0xC3 && value[1] == (byte) 0x01) {
            return checkAvro(AvroCodec.fromBytes(value, GenerationRequest.class));
        }
        if (RegistryFraming.isFramed(value)) {
            if (registry == null) {
                throw new DecodeException(
                        DecodeException.MALFORMED_INPUT,
                        "schema-registry framing (magic byte 0), "
                                + "but no schema registry is configured here (the job's --schema-registry)",
                        null);
            }
            return checkAvro(registry.decode(value, GenerationRequest.class));
        }
        return decodeJson(value);
    }

    /** What the Avro schema cannot say by itself. */
    private static GenerationRequest checkAvro(GenerationRequest r) throws DecodeException {
        String id = r.getRequestId();
        if (id == null || id.isEmpty()) {
            throw invalid("request_id must not be empty", null);
        }
        if (!r.getCancel()) {
            checkOnePrompt(r.getPrompt() != null, r.getPromptIds() != null, id);
        }
        for (String key : r.getLogitBias().keySet()) {
            if (!key.matches("0|[1-9][0-9]{0,8}")) {
                throw invalid("logit_bias keys must be token ids, got \"" + key + "\"", id);
            }
        }
        return r;
    }

    private static void checkOnePrompt(boolean hasPrompt, boolean hasIds, String id)
            throws DecodeException {
        if (hasPrompt && hasIds) {
            throw invalid("give exactly one of prompt and prompt_ids, not both", id);
        }
        if (!hasPrompt && !hasIds) {
            throw invalid("give exactly one of prompt and prompt_ids; neither was given", id);
        }
    }

    private static GenerationRequest decodeJson(byte[] value) throws DecodeException {
        JsonNode root;
        try {
            root = MAPPER.readTree(value);
        } catch (IOException | RuntimeException e) {
            throw new DecodeException(
                    DecodeException.MALFORMED_INPUT,
                    "neither Avro single-object encoding nor valid JSON: "
                            + firstLine(e.getMessage()),
                    null,
                    e);
        }
        if (root == null || root.isMissingNode()) {
            throw new DecodeException(
                    DecodeException.MALFORMED_INPUT, "no JSON value in the record", null);
        }
        if (!root.isObject()) {
            throw invalid("a request must be a JSON object, got " + kind(root), null);
        }
        // Read the id first so that every later error can carry it.
        String id = null;
        JsonNode idNode = root.has("request_id") ? root.get("request_id") : root.get("id");
        if (idNode != null && idNode.isTextual() && !idNode.textValue().isEmpty()) {
            id = idNode.textValue();
        }
        if (root.has("request_id") && root.has("id")) {
            throw invalid("give request_id or its alias id, not both", id);
        }
        if (idNode == null || idNode.isNull()) {
            throw invalid("request_id is required", null);
        }
        if (!idNode.isTextual()) {
            throw invalid("request_id must be a string, got " + kind(idNode), null);
        }
        if (id == null) {
            throw invalid("request_id must not be empty", null);
        }

        GenerationRequest.Builder b = GenerationRequest.newBuilder().setRequestId(id);
        boolean hasPrompt = false;
        boolean hasIds = false;
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            String name = e.getKey();
            JsonNode v = e.getValue();
            switch (name) {
                case "request_id":
                case "id":
                    break;
                case "adapters":
                    b.setAdapters(adapters(v, id));
                    break;
                case "prompt":
                    if (!v.isNull()) {
                        b.setPrompt(string(v, name, id));
                        hasPrompt = true;
                    }
                    break;
                case "prompt_ids":
                    if (!v.isNull()) {
                        b.setPromptIds(intList(v, name, id));
                        hasIds = true;
                    }
                    break;
                case "max_new_tokens":
                    b.setMaxNewTokens(int32(v, name, id));
                    break;
                case "temperature":
                    b.setTemperature(number(v, name, id));
                    break;
                case "top_k":
                    b.setTopK(int32(v, name, id));
                    break;
                case "top_p":
                    b.setTopP(number(v, name, id));
                    break;
                case "min_p":
                    b.setMinP(number(v, name, id));
                    break;
                case "repetition_penalty":
                    b.setRepetitionPenalty(number(v, name, id));
                    break;
                case "presence_penalty":
                    b.setPresencePenalty(number(v, name, id));
                    break;
                case "frequency_penalty":
                    b.setFrequencyPenalty(number(v, name, id));
                    break;
                case "logit_bias":
                    b.setLogitBias(logitBias(v, id));
                    break;
                case "logprobs":
                    b.setLogprobs(v.isNull() ? null : int32(v, name, id));
                    break;
                case "seed":
                    b.setSeed(v.isNull() ? null : int64(v, name, id));
                    break;
                case "stop":
                    b.setStop(v.isTextual() ? List.of(v.textValue()) : stringList(v, name, id));
                    break;
                case "stop_token_ids":
                    b.setStopTokenIds(intList(v, name, id));
                    break;
                case "ignore_eos":
                    if (!v.isBoolean()) {
                        throw invalid(name + " must be a boolean, got " + kind(v), id);
                    }
                    b.setIgnoreEos(v.booleanValue());
                    break;
                case "priority":
                    b.setPriority(int32(v, name, id));
                    break;
                case "metadata":
                    b.setMetadata(metadata(v, id));
                    break;
                case "choices":
                    b.setChoices(stringList(v, name, id));
                    break;
                case "reply_topic":
                    b.setReplyTopic(v.isNull() ? null : string(v, name, id));
                    break;
                case "route":
                    // The value ("auto") is checked by the job, as other value ranges are.
                    b.setRoute(v.isNull() ? null : string(v, name, id));
                    break;
                case "cancel":
                    if (!v.isBoolean()) {
                        throw invalid(name + " must be a boolean, got " + kind(v), id);
                    }
                    b.setCancel(v.booleanValue());
                    break;
                case "created_at":
                    b.setCreatedAt(v.isNull() ? null : Instant.ofEpochMilli(int64(v, name, id)));
                    break;
                default:
                    throw invalid("unknown field \"" + name + "\"", id);
            }
        }
        if (!root.path("cancel").asBoolean(false)) {
            checkOnePrompt(hasPrompt, hasIds, id);
        }
        try {
            return b.build();
        } catch (RuntimeException e) {
            throw invalid("cannot build the request: " + e.getMessage(), id);
        }
    }

    private static List<AdapterWeight> adapters(JsonNode v, String id) throws DecodeException {
        if (!v.isArray()) {
            throw invalid(
                    "adapters must be a list of {\"name\": string, \"weight\": number}, got "
                            + kind(v),
                    id);
        }
        List<AdapterWeight> out = new ArrayList<>(v.size());
        for (int i = 0; i < v.size(); i++) {
            JsonNode a = v.get(i);
            String where = "adapters[" + i + "]";
            if (!a.isObject()) {
                throw invalid(
                        where
                                + " must be an object {\"name\": string, \"weight\": number}, got "
                                + kind(a),
                        id);
            }
            AdapterWeight.Builder ab = AdapterWeight.newBuilder();
            boolean named = false;
            for (Map.Entry<String, JsonNode> e : a.properties()) {
                switch (e.getKey()) {
                    case "name":
                        ab.setName(string(e.getValue(), where + ".name", id));
                        named = true;
                        break;
                    case "weight":
                        ab.setWeight(number(e.getValue(), where + ".weight", id));
                        break;
                    default:
                        throw invalid("unknown field \"" + where + "." + e.getKey() + "\"", id);
                }
            }
            if (!named) {
                throw invalid(where + ".name is required", id);
            }
            out.add(ab.build());
        }
        return out;
    }

    /** {"token id": bias}, as OpenAI's logit_bias: keys are token ids written as strings. */
    private static Map<String, Double> logitBias(JsonNode v, String id) throws DecodeException {
        if (!v.isObject()) {
            throw invalid("logit_bias must be an object of token id -> number, got " + kind(v), id);
        }
        Map<String, Double> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : v.properties()) {
            if (!e.getKey().matches("0|[1-9][0-9]{0,8}")) {
                throw invalid("logit_bias keys must be token ids, got \"" + e.getKey() + "\"", id);
            }
            out.put(e.getKey(), number(e.getValue(), "logit_bias." + e.getKey(), id));
        }
        return out;
    }

    private static Map<String, String> metadata(JsonNode v, String id) throws DecodeException {
        if (!v.isObject()) {
            throw invalid("metadata must be an object of string values, got " + kind(v), id);
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : v.properties()) {
            out.put(e.getKey(), string(e.getValue(), "metadata." + e.getKey(), id));
        }
        return out;
    }

    private static String string(JsonNode v, String field, String id) throws DecodeException {
        if (!v.isTextual()) {
            throw invalid(field + " must be a string, got " + kind(v), id);
        }
        return v.textValue();
    }

    private static List<String> stringList(JsonNode v, String field, String id)
            throws DecodeException {
        if (!v.isArray()) {
            throw invalid(field + " must be a string or a list of strings, got " + kind(v), id);
        }
        List<String> out = new ArrayList<>(v.size());
        for (int i = 0; i < v.size(); i++) {
            out.add(string(v.get(i), field + "[" + i + "]", id));
        }
        return out;
    }

    private static List<Integer> intList(JsonNode v, String field, String id)
            throws DecodeException {
        if (!v.isArray()) {
            throw invalid(field + " must be a list of integers, got " + kind(v), id);
        }
        List<Integer> out = new ArrayList<>(v.size());
        for (int i = 0; i < v.size(); i++) {
            out.add(int32(v.get(i), field + "[" + i + "]", id));
        }
        return out;
    }

    private static double number(JsonNode v, String field, String id) throws DecodeException {
        if (!v.isNumber()) {
            throw invalid(field + " must be a number, got " + kind(v), id);
        }
        return v.doubleValue();
    }

    private static int int32(JsonNode v, String field, String id) throws DecodeException {
        return (int) integral(v, field, id, INT_MIN, INT_MAX, "an int");
    }

    private static long int64(JsonNode v, String field, String id) throws DecodeException {
        return integral(v, field, id, LONG_MIN, LONG_MAX, "a long");
    }

    /**
     * An integer-valued number (64 and 64.0 both count); 1.5 is a type error, 2^40 for an int a
     * range error.
     */
    private static long integral(
            JsonNode v, String field, String id, BigDecimal min, BigDecimal max, String type)
            throws DecodeException {
        if (!v.isNumber()) {
            throw invalid(field + " must be an integer, got " + kind(v), id);
        }
        BigDecimal d;
        if (v.isIntegralNumber()) {
            d = new BigDecimal(v.bigIntegerValue());
        } else {
            d = v.decimalValue();
            // signum check first: stripTrailingZeros of 0.0 keeps a positive scale on old JDKs.
            if (d.signum() != 0 && d.stripTrailingZeros().scale() > 0) {
                throw invalid(field + " must be an integer, got " + v.asText(), id);
            }
        }
        // Compared as decimals: converting a huge exponent to BigInteger first could be slow.
        if (d.compareTo(min) < 0 || d.compareTo(max) > 0) {
            throw new DecodeException(
                    DecodeException.INVALID_PARAMETER,
                    field + " is out of range for " + type + ": " + v.asText(),
                    id);
        }
        return d.longValue();
    }

    private static String kind(JsonNode v) {
        switch (v.getNodeType()) {
            case ARRAY:
                return "a list";
            case OBJECT:
                return "an object";
            case STRING:
                return "a string";
            case NUMBER:
                return "a number (" + v.asText() + ")";
            case BOOLEAN:
                return "a boolean";
            case NULL:
                return "null";
            default:
                return v.getNodeType().toString().toLowerCase();
        }
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "unparseable";
        }
        int nl = message.indexOf('\n');
        return nl < 0 ? message : message.substring(0, nl);
    }

    private static DecodeException invalid(String message, String id) {
        return new DecodeException(DecodeException.INVALID_REQUEST, message, id);
    }
}
