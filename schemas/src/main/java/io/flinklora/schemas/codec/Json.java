package io.flinklora.schemas.codec;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.PublicEvolving;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.Base64;
import java.util.Collection;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.IndexedRecord;

/**
 * JSON encodings of the contract records (Avro field names, epoch-millis timestamps, base64 bytes).
 */
@PublicEvolving
public final class Json {

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private Json() {}

    public static byte[] encode(TokenEvent event) {
        return write(event);
    }

    public static byte[] encode(Completion completion) {
        return write(completion);
    }

    public static byte[] encode(GenerationError error) {
        return write(error);
    }

    /** The JSON request format that {@link RequestCodec#decode} reads back to an equal record. */
    public static byte[] encode(GenerationRequest request) {
        return write(request);
    }

    private static byte[] write(IndexedRecord record) {
        try {
            return MAPPER.writeValueAsBytes(record(record));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(
                    "cannot write " + record.getSchema().getName() + " as JSON", e);
        }
    }

    // Walks the schema's fields, so that fields added to the contracts show up in JSON without code
    // changes.
    private static ObjectNode record(IndexedRecord record) {
        ObjectNode out = NODES.objectNode();
        for (Schema.Field f : record.getSchema().getFields()) {
            out.set(f.name(), value(record.get(f.pos())));
        }
        return out;
    }

    private static JsonNode value(Object v) {
        if (v == null) {
            return NODES.nullNode();
        } else if (v instanceof IndexedRecord) {
            return record((IndexedRecord) v);
        } else if (v instanceof CharSequence) {
            return NODES.textNode(v.toString());
        } else if (v instanceof Integer) {
            return NODES.numberNode((Integer) v);
        } else if (v instanceof Long) {
            return NODES.numberNode((Long) v);
        } else if (v instanceof Double) {
            return NODES.numberNode((Double) v);
        } else if (v instanceof Float) {
            return NODES.numberNode((Float) v);
        } else if (v instanceof Boolean) {
            return NODES.booleanNode((Boolean) v);
        } else if (v instanceof Instant) {
            return NODES.numberNode(((Instant) v).toEpochMilli());
        } else if (v instanceof ByteBuffer) {
            ByteBuffer b = ((ByteBuffer) v).duplicate(); // leave the record's buffer position alone
            byte[] bytes = new byte[b.remaining()];
            b.get(bytes);
            return NODES.textNode(Base64.getEncoder().encodeToString(bytes));
        } else if (v instanceof Collection) {
            ArrayNode out = NODES.arrayNode();
            for (Object item : (Collection<?>) v) {
                out.add(value(item));
            }
            return out;
        } else if (v instanceof Map) {
            ObjectNode out = NODES.objectNode();
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                out.set(e.getKey().toString(), value(e.getValue()));
            }
            return out;
        }
        throw new IllegalArgumentException("no JSON form for " + v.getClass().getName());
    }
}
