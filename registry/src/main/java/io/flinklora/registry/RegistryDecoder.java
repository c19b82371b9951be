package io.flinklora.registry;

import io.flinklora.annotation.Internal;
import io.flinklora.schemas.codec.DecodeException;
import io.flinklora.schemas.codec.RegistryFraming;
import java.nio.ByteBuffer;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apache.avro.specific.SpecificData;

/**
 * Reads contract records in the schema registry's framing with Apicurio's deserializer: the writer
 * schema is fetched from the registry by the id in the value (and cached), and resolved to the
 * generated class's schema, so records written with any compatible version decode. Bytes that
 * cannot be such a record are MALFORMED_INPUT, like every other undecodable value. Safe to share
 * between threads.
 */
@Internal
public final class RegistryDecoder implements RegistryFraming, AutoCloseable {
    private final RegistrySettings settings;
    private final BoundedAvroDeserializer deserializer = new BoundedAvroDeserializer();

    public RegistryDecoder(RegistrySettings settings) {
        this.settings = settings;
        deserializer.configure(settings.serdeConfig(), false);
    }

    @Override
    public <T> T decode(byte[] value, Class<T> type) throws DecodeException {
        return type.cast(decodeAny(value, List.of(type)));
    }

    /**
     * Decodes a value holding any one of {@code types} (generated Avro classes), e.g. the three
     * record types of a reply topic; throws as {@link #decode}.
     */
    public synchronized Object decodeAny(byte[] value, List<Class<?>> types)
            throws DecodeException {
        if (value == null || value.length < HEADER_LENGTH || value[0] != MAGIC_BYTE) {
            throw malformed(
                    "not in the schema registry's framing: needs magic byte 0 and a 4-byte schema id");
        }
        int id = ByteBuffer.wrap(value, 1, 4).getInt();
        Set<String> names = new LinkedHashSet<>();
        for (Class<?> t : types) {
            names.add(SpecificData.get().getSchema(t).getFullName());
        }
        deserializer.expect(names);
        Object record;
        try {
            record = deserializer.deserialize("", value);
        } catch (BoundedAvroDeserializer.Refused e) {
            throw new DecodeException(
                    e.reason.code(),
                    "schema id " + id + ": " + e.reason.getMessage(),
                    null,
                    e.reason);
        } catch (RuntimeException e) {
            if (!RegistryErrors.fromRegistry(e)) {
                throw new DecodeException(
                        DecodeException.MALFORMED_INPUT,
                        "corrupt Avro body (schema id " + id + "): " + e,
                        null,
                        e);
            }
            if (RegistryErrors.isClientError(e)) {
                throw new DecodeException(
                        DecodeException.MALFORMED_INPUT,
                        "schema id "
                                + id
                                + " is not in the schema "
                                + "registry: "
                                + RegistryErrors.message(e),
                        null,
                        e);
            }
            throw new RegistryUnavailableException(
                    "schema registry "
                            + settings
                            + " could not be asked for schema id "
                            + id
                            + ": "
                            + RegistryErrors.message(e),
                    e);
        }
        for (Class<?> t : types) {
            if (t.isInstance(record)) {
                return record;
            }
        }
        // The names matched but the class did not: another class loader's copy of the generated
        // class.
        throw malformed(
                "schema id "
                        + id
                        + " decoded to "
                        + (record == null ? "null" : record.getClass().getName()));
    }

    @Override
    public void close() {
        deserializer.close();
    }

    private static DecodeException malformed(String message) {
        return new DecodeException(DecodeException.MALFORMED_INPUT, message, null);
    }
}
