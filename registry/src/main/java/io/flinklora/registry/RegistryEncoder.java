package io.flinklora.registry;

import io.apicurio.registry.serde.avro.AvroKafkaSerializer;
import io.flinklora.annotation.Internal;
import org.apache.avro.generic.IndexedRecord;

/**
 * Writes records in the schema registry's framing with Apicurio's serializer, registering each
 * record type's schema on first use (the registry checks it against its compatibility rule then).
 * Safe to share between threads.
 */
@Internal
public final class RegistryEncoder implements AutoCloseable {
    private final RegistrySettings settings;
    private final AvroKafkaSerializer<IndexedRecord> serializer = new AvroKafkaSerializer<>();

    public RegistryEncoder(RegistrySettings settings) {
        this.settings = settings;
        serializer.configure(settings.serdeConfig(), false);
    }

    /**
     * The framed bytes of {@code record} for {@code topic}. Throws SchemaRefusedException when the
     * registry refuses the record's schema, RegistryUnavailableException when it cannot be asked.
     */
    public synchronized byte[] encode(String topic, IndexedRecord record) {
        try {
            return serializer.serialize(topic, record);
        } catch (RuntimeException e) {
            if (!RegistryErrors.fromRegistry(e)) {
                throw e; // the record itself (a null in a required field, ...), as for any Avro
                // writer
            }
            String what = record.getSchema().getFullName();
            if (RegistryErrors.isClientError(e)) {
                throw new SchemaRefusedException(
                        "schema registry "
                                + settings
                                + " refused the schema of "
                                + what
                                + ": "
                                + RegistryErrors.message(e),
                        e);
            }
            throw new RegistryUnavailableException(
                    "schema registry "
                            + settings
                            + " could not register or find the "
                            + "schema of "
                            + what
                            + ": "
                            + RegistryErrors.message(e),
                    e);
        }
    }

    @Override
    public void close() {
        serializer.close();
    }
}
