package io.flinklora.operators.kafka;

import io.flinklora.annotation.PublicEvolving;

/** How output records are encoded on Kafka. */
@PublicEvolving
public enum OutputFormat {
    /** Avro single-object encoding (schema fingerprint + binary): the contract for services. */
    AVRO,
    /** JSON with the Avro field names: for people and tools at a terminal. */
    JSON
}
