package io.flinklora.operators.kafka;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.TokenEvent;
import io.flinklora.schemas.codec.AvroCodec;
import io.flinklora.schemas.codec.Json;
import java.nio.charset.StandardCharsets;
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

    public RecordSerializer(String topic, OutputFormat format) {
        this.topic = topic;
        this.format = format;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(T element, KafkaSinkContext context, Long timestamp) {
        String key;
        byte[] value;
        String replyTopic;
        if (element instanceof TokenEvent t) {
            key = t.getRequestId();
            replyTopic = t.getReplyTopic();
            value = format == OutputFormat.AVRO ? AvroCodec.toBytes(t) : Json.encode(t);
        } else if (element instanceof Completion c) {
            key = c.getRequestId();
            replyTopic = c.getReplyTopic();
            value = format == OutputFormat.AVRO ? AvroCodec.toBytes(c) : Json.encode(c);
        } else if (element instanceof GenerationError e) {
            key = e.getRequestId();
            replyTopic = e.getReplyTopic();
            value = format == OutputFormat.AVRO ? AvroCodec.toBytes(e) : Json.encode(e);
        } else {
            throw new IllegalArgumentException("cannot serialize " + element.getClass());
        }
        return new ProducerRecord<>(replyTopic != null ? replyTopic : topic, null, timestamp, key == null ? null : key.getBytes(StandardCharsets.UTF_8),
                value);
    }
}
