package io.flinklora.job;

import io.flinklora.annotation.Internal;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Byte-array Kafka clients for the demo, tools and benchmarks: what they produce and read is
 * decoded by the codecs.
 */
@Internal
public final class KafkaClients {
    private KafkaClients() {}

    public static KafkaProducer<byte[], byte[]> producer(String bootstrapServers) {
        return producer(bootstrap(bootstrapServers));
    }

    /**
     * A producer with {@code connection} settings (bootstrap.servers and any security settings)
     * added.
     */
    public static KafkaProducer<byte[], byte[]> producer(Properties connection) {
        Properties p = new Properties();
        p.putAll(connection);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.putIfAbsent("linger.ms", "0");
        return new KafkaProducer<>(p);
    }

    /** A consumer of {@code topic} from its beginning that sees committed transactions only. */
    public static KafkaConsumer<byte[], byte[]> readCommitted(
            String bootstrapServers, String topic) {
        return readCommitted(bootstrap(bootstrapServers), topic);
    }

    /**
     * As {@link #readCommitted(String, String)}, with {@code connection} settings
     * (bootstrap.servers, security).
     */
    public static KafkaConsumer<byte[], byte[]> readCommitted(Properties connection, String topic) {
        Properties p = new Properties();
        p.putAll(connection);
        p.put("group.id", "reader-" + UUID.randomUUID());
        p.put("auto.offset.reset", "earliest");
        p.put("isolation.level", "read_committed");
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p);
        c.subscribe(List.of(topic));
        return c;
    }

    private static Properties bootstrap(String bootstrapServers) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrapServers);
        return p;
    }
}
