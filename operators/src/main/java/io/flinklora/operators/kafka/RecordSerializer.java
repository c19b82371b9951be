package io.flinklora.operators.kafka;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.registry.RegistryEncoder;
import io.flinklora.registry.RegistrySettings;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.TokenEvent;
import io.flinklora.schemas.codec.AvroCodec;
import io.flinklora.schemas.codec.Json;
import java.nio.charset.StandardCharsets;
import org.apache.avro.generic.IndexedRecord;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Serializes the job's outputs for a KafkaSink: key = request id (so one request's events stay in
 * one partition, in order), value in the configured {@link OutputFormat}, to the request's reply
 * topic when it named one (already checked against the job's allow-list) or else the default topic.
 */
@PublicEvolving
public final class RecordSerializer<T> implements KafkaRecordSerializationSchema<T> {
    private static final long serialVersionUID = 1L;
    private final String topic;
    private final OutputFormat format;
    private final RegistrySettings registry;

    /** Made where the sink runs: it holds the registry's client and its schema cache. */
    private transient RegistryEncoder encoder;

    public RecordSerializer(String topic, OutputFormat format) {
        this(topic, format, null);
    }

    /**
     * {@code registry}: where AVRO_REGISTRY registers and finds the schemas (required for that
     * format).
     */
    public RecordSerializer(String topic, OutputFormat format, RegistrySettings registry) {
        if (format == OutputFormat.AVRO_REGISTRY && registry == null) {
            throw new IllegalArgumentException("the avro-registry format needs a schema registry");
        }
        this.topic = topic;
        this.format = format;
        this.registry = registry;
    }

    @Override
    public void open(
            SerializationSchema.InitializationContext context, KafkaSinkContext sinkContext) {
        if (format == OutputFormat.AVRO_REGISTRY) {
            encoder = new RegistryEncoder(registry);
        }
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(
            T element, KafkaSinkContext context, Long timestamp) {
        String key;
        String replyTopic;
        if (element instanceof TokenEvent t) {
            key = t.getRequestId();
            replyTopic = t.getReplyTopic();
        } else if (element instanceof Completion c) {
            key = c.getRequestId();
            replyTopic = c.getReplyTopic();
        } else if (element instanceof GenerationError e) {
            key = e.getRequestId();
            replyTopic = e.getReplyTopic();
        } else {
            throw new IllegalArgumentException("cannot serialize " + element.getClass());
        }
        String target = replyTopic != null ? replyTopic : topic;
        byte[] value =
                switch (format) {
                    case AVRO -> avro(element);
                    case JSON -> json(element);
                    // A registry that refuses the schema, or cannot be reached, fails the sink: the
                    // job restarts and
                    // writes the same records again later rather than dropping them.
                    case AVRO_REGISTRY -> encoder.encode(target, (IndexedRecord) element);
                };
        return new ProducerRecord<>(
                target,
                null,
                timestamp,
                key == null ? null : key.getBytes(StandardCharsets.UTF_8),
                value);
    }

    private static byte[] avro(Object record) {
        if (record instanceof TokenEvent t) {
            return AvroCodec.toBytes(t);
        }
        return record instanceof Completion c
                ? AvroCodec.toBytes(c)
                : AvroCodec.toBytes((GenerationError) record);
    }

    private static byte[] json(Object record) {
        if (record instanceof TokenEvent t) {
            return Json.encode(t);
        }
        return record instanceof Completion c
                ? Json.encode(c)
                : Json.encode((GenerationError) record);
    }
}
