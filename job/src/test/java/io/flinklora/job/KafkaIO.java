package io.flinklora.job;

import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.TokenEvent;
import io.flinklora.schemas.codec.AvroCodec;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/** Produces requests and reads the job's outputs back (read_committed), for integration tests. */
final class KafkaIO {
    private KafkaIO() {}

    static void produce(String bootstrap, String topic, List<byte[]> values) {
        produce(connection(bootstrap), topic, values);
    }

    /** Produces with {@code connection} settings: bootstrap.servers and any security settings. */
    static void produce(Properties connection, String topic, List<byte[]> values) {
        try (KafkaProducer<byte[], byte[]> producer = KafkaClients.producer(connection)) {
            for (byte[] v : values) {
                producer.send(new ProducerRecord<>(topic, v));
            }
            producer.flush();
        }
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Reads a topic from the start until {@code done} holds for what was read, or the timeout
     * passes.
     */
    static <T> List<T> readUntil(
            String bootstrap,
            String topic,
            Class<T> type,
            Predicate<List<T>> done,
            Duration timeout)
            throws Exception {
        return readUntil(connection(bootstrap), topic, type, done, timeout);
    }

    /**
     * With {@code onlyType}, records of other types on the topic (a reply topic carries three) are
     * skipped.
     */
    static <T> List<T> readUntil(
            String bootstrap,
            String topic,
            Class<T> type,
            Predicate<List<T>> done,
            Duration timeout,
            boolean onlyType)
            throws Exception {
        List<T> out = new ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        try (KafkaConsumer<byte[], byte[]> consumer =
                KafkaClients.readCommitted(connection(bootstrap), topic)) {
            while (System.nanoTime() < deadline && !done.test(out)) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    try {
                        out.add(AvroCodec.fromBytes(r.value(), type));
                    } catch (io.flinklora.schemas.codec.DecodeException e) {
                        if (!onlyType) {
                            throw e;
                        }
                    }
                }
            }
        }
        return out;
    }

    static <T> List<T> readUntil(
            Properties connection,
            String topic,
            Class<T> type,
            Predicate<List<T>> done,
            Duration timeout)
            throws Exception {
        List<T> out = new ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        try (KafkaConsumer<byte[], byte[]> consumer =
                KafkaClients.readCommitted(connection, topic)) {
            while (System.nanoTime() < deadline && !done.test(out)) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    out.add(AvroCodec.fromBytes(r.value(), type));
                }
            }
        }
        return out;
    }

    private static Properties connection(String bootstrap) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        return p;
    }

    static List<TokenEvent> tokens(
            String bootstrap, String topic, int finishedWanted, Duration timeout) throws Exception {
        return readUntil(
                bootstrap,
                topic,
                TokenEvent.class,
                l -> l.stream().filter(TokenEvent::getFinished).count() >= finishedWanted,
                timeout);
    }

    static List<Completion> completions(
            String bootstrap, String topic, int wanted, Duration timeout) throws Exception {
        return readUntil(bootstrap, topic, Completion.class, l -> l.size() >= wanted, timeout);
    }

    static List<GenerationError> errors(
            String bootstrap, String topic, int wanted, Duration timeout) throws Exception {
        return readUntil(bootstrap, topic, GenerationError.class, l -> l.size() >= wanted, timeout);
    }
}
