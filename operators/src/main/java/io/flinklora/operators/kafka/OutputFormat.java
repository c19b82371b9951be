package io.flinklora.operators.kafka;

import io.flinklora.annotation.PublicEvolving;

/** How output records are encoded on Kafka. */
@PublicEvolving
public enum OutputFormat {
    /** Avro single-object encoding (schema fingerprint + binary): the contract for services. */
    AVRO,
    /** JSON with the Avro field names: for people and tools at a terminal. */
    JSON,
    /**
     * A schema registry's wire format (magic byte 0, 4-byte schema id, Avro binary), the schemas
     * registered in the registry the job is given: for Kafka shops whose consumers resolve schemas
     * there.
     */
    AVRO_REGISTRY
}
