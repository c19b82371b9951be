package io.flinklora.registry;

import io.apicurio.registry.serde.ParsedSchema;
import io.apicurio.registry.serde.avro.AvroKafkaDeserializer;
import io.flinklora.schemas.codec.AvroCodec;
import io.flinklora.schemas.codec.DecodeException;
import java.nio.ByteBuffer;
import java.util.Set;
import org.apache.avro.Schema;

/**
 * Apicurio's Avro deserializer with two checks between the registry's lookup of the writer schema
 * and the decoding: the schema is one of the expected record types, and the body's declared lengths
 * fit its bytes (Avro's decoder would allocate by them first: a few hostile bytes could ask for
 * gigabytes).
 */
final class BoundedAvroDeserializer extends AvroKafkaDeserializer<Object> {

    /**
     * A check failed inside the serde's call chain, which only lets unchecked exceptions through.
     */
    static final class Refused extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final DecodeException reason;

        Refused(DecodeException reason) {
            super(reason.getMessage(), null, false, false);
            this.reason = reason;
        }
    }

    /**
     * Full names of the record types the current call accepts; set by the (synchronized) caller.
     */
    private Set<String> expected = Set.of();

    void expect(Set<String> fullNames) {
        this.expected = fullNames;
    }

    @Override
    protected Object readData(
            ParsedSchema<Schema> schema, ByteBuffer buffer, int start, int length) {
        Schema writer = schema.getParsedSchema();
        if (!expected.contains(writer.getFullName())) {
            throw new Refused(
                    new DecodeException(
                            DecodeException.MALFORMED_INPUT,
                            "the writer schema is "
                                    + writer.getFullName()
                                    + ", not "
                                    + String.join(" or ", expected),
                            null));
        }
        try {
            // The serde reads the rest of the array as the body: start + length == array length.
            AvroCodec.checkBody(buffer.array(), start, writer);
        } catch (DecodeException e) {
            throw new Refused(e);
        }
        return super.readData(schema, buffer, start, length);
    }
}
