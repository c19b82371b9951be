package io.flinklora.client;

import io.flinklora.registry.RegistryDecoder;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.TokenEvent;
import io.flinklora.schemas.codec.AvroCodec;
import io.flinklora.schemas.codec.DecodeException;
import io.flinklora.schemas.codec.RegistryFraming;
import java.util.List;

/**
 * What a reply topic carries: token events, completions and errors, told apart by their schema
 * fingerprint (single-object encoding) or by the registry schema their id names (the job's {@code
 * --format avro-registry}).
 */
final class ReplyRecords {
    private static final List<Class<?>> TYPES =
            List.of(TokenEvent.class, Completion.class, GenerationError.class);

    private ReplyRecords() {}

    /**
     * The record, or null if the value is none of the three (another writer on the topic), or is
     * framed for a registry and {@code registry} is null. A registry that cannot be asked throws
     * RegistryUnavailableException.
     */
    static Object decode(byte[] value, RegistryDecoder registry) {
        if (RegistryFraming.isFramed(value)) {
            if (registry == null) {
                return null;
            }
            try {
                return registry.decodeAny(value, TYPES);
            } catch (DecodeException e) {
                return null;
            }
        }
        for (Class<?> type : TYPES) {
            try {
                return AvroCodec.fromBytes(value, type);
            } catch (DecodeException e) {
                // not this type: try the next
            }
        }
        return null;
    }
}
