package io.flinklora.schemas.codec;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.flinklora.annotation.PublicEvolving;
import io.flinklora.schemas.GenerationRequest;
import java.io.IOException;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.generic.IndexedRecord;
import org.apache.avro.specific.SpecificData;

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

        // Every other field is read by its type in the request's Avro schema, so a field added to
        // GenerationRequest.avsc is read here (and refused when mistyped) with no change to this
        // class. JSON null is "not given" only where the schema allows null.
        GenerationRequest r = GenerationRequest.newBuilder().setRequestId(id).build();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("request_id") || name.equals("id")) {
                continue;
            }
            Schema.Field f = GenerationRequest.getClassSchema().getField(name);
            if (f == null) {
                throw invalid("unknown field \"" + name + "\"", id);
            }
            // OpenAI's API takes a single stop string as well as a list.
            Object given =
                    name.equals("stop") && v.isTextual()
                            ? List.of(v.textValue())
                            : value(f.schema(), v, name, id);
            r.put(f.pos(), given);
        }
        return checkAvro(r);
    }

    /** The JSON value {@code v} of field {@code field} as the Java value of Avro type {@code s}. */
    private static Object value(Schema s, JsonNode v, String field, String id)
            throws DecodeException {
        switch (s.getType()) {
            case UNION:
                if (v.isNull() && s.getIndexNamed(Schema.Type.NULL.getName()) != null) {
                    return null;
                }
                for (Schema branch : s.getTypes()) {
                    if (branch.getType() != Schema.Type.NULL) {
                        return value(branch, v, field, id); // the schemas use [null, T] only
                    }
                }
                throw invalid(field + " must be null, got " + kind(v), id);
            case BOOLEAN:
                if (!v.isBoolean()) {
                    throw invalid(field + " must be a boolean, got " + kind(v), id);
                }
                return v.booleanValue();
            case INT:
                return int32(v, field, id);
            case LONG:
                long n = int64(v, field, id);
                return s.getLogicalType() instanceof LogicalTypes.TimestampMillis
                        ? Instant.ofEpochMilli(n)
                        : n;
            case DOUBLE:
                return number(v, field, id);
            case FLOAT:
                return (float) number(v, field, id);
            case STRING:
                return string(v, field, id);
            case ARRAY:
                if (!v.isArray()) {
                    throw invalid(field + " must be a list, got " + kind(v), id);
                }
                List<Object> list = new ArrayList<>(v.size());
                for (int i = 0; i < v.size(); i++) {
                    list.add(value(s.getElementType(), v.get(i), field + "[" + i + "]", id));
                }
                return list;
            case MAP:
                if (!v.isObject()) {
                    throw invalid(field + " must be an object, got " + kind(v), id);
                }
                Map<String, Object> map = new LinkedHashMap<>();
                for (Map.Entry<String, JsonNode> e : v.properties()) {
                    map.put(
                            e.getKey(),
                            value(s.getValueType(), e.getValue(), field + "." + e.getKey(), id));
                }
                return map;
            case RECORD:
                return record(s, v, field, id);
            default:
                // No request field has such a type today; should one be added, a request naming
                // it gets an error record rather than failing the job.
                throw invalid(
                        field + " (Avro " + s.getType() + ") cannot be given in JSON; use Avro",
                        id);
        }
    }

    /** A nested record (an adapter): every field without a default is required. */
    private static Object record(Schema s, JsonNode v, String field, String id)
            throws DecodeException {
        if (!v.isObject()) {
            throw invalid(field + " must be an object, got " + kind(v), id);
        }
        for (Map.Entry<String, JsonNode> e : v.properties()) {
            if (s.getField(e.getKey()) == null) {
                throw invalid("unknown field \"" + field + "." + e.getKey() + "\"", id);
            }
        }
        IndexedRecord out = (IndexedRecord) SpecificData.get().newRecord(null, s);
        for (Schema.Field f : s.getFields()) {
            JsonNode given = v.get(f.name());
            if (given != null) {
                out.put(f.pos(), value(f.schema(), given, field + "." + f.name(), id));
            } else if (f.hasDefaultValue()) {
                out.put(f.pos(), SpecificData.get().getDefaultValue(f));
            } else {
                throw invalid(field + "." + f.name() + " is required", id);
            }
        }
        return out;
    }

    private static String string(JsonNode v, String field, String id) throws DecodeException {
        if (!v.isTextual()) {
            throw invalid(field + " must be a string, got " + kind(v), id);
        }
        return v.textValue();
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
