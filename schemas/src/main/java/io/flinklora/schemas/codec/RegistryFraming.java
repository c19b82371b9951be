package io.flinklora.schemas.codec;

import io.flinklora.annotation.PublicEvolving;

/**
 * Reads values in a schema registry's wire format (Confluent's, which Apicurio also writes): magic
 * byte 0, the 4-byte big-endian id of the writer schema in the registry, then the Avro binary body.
 * Implemented outside this module (flink-lora-registry) because it needs the registry's client;
 * here only the codecs' side of the contract, so that {@link RequestCodec} stays the one parser of
 * requests.
 */
@PublicEvolving
public interface RegistryFraming {

    /** First byte of a framed value; JSON and Avro single-object values never start with it. */
    byte MAGIC_BYTE = 0;

    /** Magic byte plus schema id: where the Avro body starts. */
    int HEADER_LENGTH = 5;

    /** Whether {@code value} is (meant to be) in the registry wire format. */
    static boolean isFramed(byte[] value) {
        return value != null && value.length > 0 && value[0] == MAGIC_BYTE;
    }

    /**
     * Decodes a framed value written with any registered schema that resolves to {@code type}.
     * Bytes that cannot be such a record (short header, unknown id, another record type, corrupt or
     * hostile body) are MALFORMED_INPUT; an unreachable registry is not the record's fault and
     * throws unchecked instead.
     */
    <T> T decode(byte[] value, Class<T> type) throws DecodeException;
}
