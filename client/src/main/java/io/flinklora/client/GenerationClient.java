package io.flinklora.client;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.registry.RegistryDecoder;
import io.flinklora.registry.RegistryEncoder;
import io.flinklora.registry.RegistrySettings;
import io.flinklora.registry.RegistryUnavailableException;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import io.flinklora.schemas.codec.AvroCodec;
import io.flinklora.schemas.codec.RegistryFraming;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A service's client of the generation job: sends requests to the job's request topic naming this
 * client's own reply topic, reads only that topic (read_committed, so with the job's exactly-once
 * delivery it sees each token once, and only committed ones), and hands back each request's token
 * stream and completion through a {@link GenerationHandle}. One reply topic and one consumer per
 * client instance; requests are correlated by request_id. The job must allow the reply topic
 * ({@code --reply-topic-pattern}). With {@link Builder#schemaRegistry(String)} requests are written
 * in the registry's framing (their schema registered there) and framed replies are read; otherwise
 * requests are Avro single-object encoded.
 *
 * <pre>{@code
 * try (GenerationClient client = GenerationClient.builder().bootstrapServers("broker:9092")
 *         .replyTopic("replies.checkout-service").build()) {
 *     GenerationHandle h = client.generate(request, token -> System.out.print(token.getText()));
 *     Completion c = h.completion().get();
 * }
 * }</pre>
 */
@PublicEvolving
public final class GenerationClient implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(GenerationClient.class);

    private final String requestTopic;
    private final String replyTopic;
    private final Duration defaultTimeout;
    private final KafkaProducer<byte[], byte[]> producer;
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final Map<String, GenerationHandle> pending = new ConcurrentHashMap<>();

    /**
     * At close: requests cancelled in the job whose last record (completion or error) has not been
     * read yet.
     */
    private final Set<String> endingInJob = ConcurrentHashMap.newKeySet();

    private final ScheduledExecutorService timers;
    private final Thread reader;
    private final Properties admin;
    private final boolean deleteReplyTopic;

    /** Registry framing of requests and replies; both null without a schema registry. */
    private final RegistryEncoder registryEncoder;

    private final RegistryDecoder registryDecoder;
    private volatile boolean warnedFramed;
    private volatile boolean closed;

    private GenerationClient(Builder b) {
        this.requestTopic = b.requestTopic;
        this.replyTopic =
                b.replyTopic != null ? b.replyTopic : b.replyTopicPrefix + UUID.randomUUID();
        this.defaultTimeout = b.timeout;
        this.registryEncoder =
                b.schemaRegistry == null ? null : new RegistryEncoder(b.schemaRegistry);
        this.registryDecoder =
                b.schemaRegistry == null ? null : new RegistryDecoder(b.schemaRegistry);
        this.admin = new Properties();
        admin.putAll(b.kafka);
        admin.put("bootstrap.servers", b.bootstrapServers);
        boolean created = b.createReplyTopic && createTopic(b.replyPartitions, b.replyReplication);
        this.deleteReplyTopic = created && b.deleteReplyTopicOnClose;

        Properties p = new Properties();
        p.putAll(admin);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("acks", "all");
        p.put("enable.idempotence", "true");
        this.producer = new KafkaProducer<>(p);

        Properties c = new Properties();
        c.putAll(admin);
        c.put("key.deserializer", ByteArrayDeserializer.class.getName());
        c.put("value.deserializer", ByteArrayDeserializer.class.getName());
        // Only what the job's transactions committed: each (request, index) once under exactly-once
        // delivery.
        c.put("isolation.level", "read_committed");
        c.put("enable.auto.commit", "false");
        this.consumer = new KafkaConsumer<>(c);
        List<TopicPartition> parts = new ArrayList<>();
        // A topic just created reaches the client's metadata a moment later.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (parts.isEmpty() && System.nanoTime() < deadline) {
            for (PartitionInfo pi : consumer.partitionsFor(replyTopic, Duration.ofSeconds(30))) {
                parts.add(new TopicPartition(replyTopic, pi.partition()));
            }
            if (parts.isEmpty()) {
                sleep(100);
            }
        }
        if (parts.isEmpty()) {
            consumer.close();
            producer.close();
            throw new IllegalStateException(
                    "reply topic " + replyTopic + " does not exist (createReplyTopic is off?)");
        }
        consumer.assign(parts);
        consumer.seekToEnd(parts);
        // Resolve the end offsets now, before any request is sent, so no reply can be skipped.
        parts.forEach(consumer::position);

        this.timers =
                Executors.newSingleThreadScheduledExecutor(
                        r -> daemon(r, "generation-client-timeouts"));
        this.reader = daemon(this::readReplies, "generation-client-replies-" + replyTopic);
        reader.start();
        LOG.info("Generation client: requests to {}, replies on {}", requestTopic, replyTopic);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The topic this client reads; every request it sends names it as reply_topic. */
    public String replyTopic() {
        return replyTopic;
    }

    /**
     * Sends a request with the client's default timeout; tokens only through {@link
     * GenerationHandle#tokens()}.
     */
    public GenerationHandle generate(GenerationRequest request) {
        return generate(request, t -> {}, defaultTimeout);
    }

    public GenerationHandle generate(GenerationRequest request, TokenListener listener) {
        return generate(request, listener, defaultTimeout);
    }

    /**
     * Sends {@code request} (its reply_topic set to this client's) and returns its handle; the
     * listener gets its token events in index order. After {@code timeout} without a completion the
     * handle fails with a TimeoutException and the generation is cancelled in the job.
     */
    public GenerationHandle generate(
            GenerationRequest request, TokenListener listener, Duration timeout) {
        if (closed) {
            throw new IllegalStateException("client is closed");
        }
        String id = request.getRequestId();
        GenerationRequest routed =
                GenerationRequest.newBuilder(request).setReplyTopic(replyTopic).build();
        // Before the request is pending: a registry that refuses the schema or cannot be reached
        // throws here.
        byte[] value = encode(routed);
        GenerationHandle h =
                new GenerationHandle(id, Objects.requireNonNull(listener), this::cancelInJob);
        if (pending.putIfAbsent(id, h) != null) {
            throw new IllegalArgumentException(
                    "request " + id + " is already in flight on this client");
        }
        ScheduledFuture<?> timer =
                timers.schedule(
                        () -> {
                            if (h.timedOut(timeout)) {
                                cancelInJob(id);
                            }
                        },
                        timeout.toMillis(),
                        TimeUnit.MILLISECONDS);
        h.completion()
                .whenComplete(
                        (c, t) -> {
                            timer.cancel(false);
                            pending.remove(id, h);
                        });
        producer.send(
                record(id, value),
                (md, e) -> {
                    if (e != null) {
                        h.failed(e);
                    }
                });
        return h;
    }

    /**
     * A cancel record for {@code requestId}: keyed like the request, so the subtask that runs it
     * reads it next.
     */
    private void cancelInJob(String requestId) {
        if (closed) {
            return;
        }
        GenerationRequest cancel =
                GenerationRequest.newBuilder()
                        .setRequestId(requestId)
                        .setCancel(true)
                        .setReplyTopic(replyTopic)
                        .build();
        byte[] value;
        try {
            value = encode(cancel);
        } catch (RuntimeException e) {
            LOG.warn("Could not encode the cancel of {}", requestId, e);
            return;
        }
        producer.send(
                record(requestId, value),
                (md, e) -> {
                    if (e != null) {
                        LOG.warn("Could not send the cancel of {}", requestId, e);
                    }
                });
    }

    /**
     * A request's bytes: in the registry's framing when the client has one, else Avro
     * single-object.
     */
    private byte[] encode(GenerationRequest request) {
        return registryEncoder != null
                ? registryEncoder.encode(requestTopic, request)
                : AvroCodec.toBytes(request);
    }

    private ProducerRecord<byte[], byte[]> record(String id, byte[] value) {
        return new ProducerRecord<>(requestTopic, id.getBytes(StandardCharsets.UTF_8), value);
    }

    private void readReplies() {
        try {
            while (!closed) {
                ConsumerRecords<byte[], byte[]> batch = consumer.poll(Duration.ofMillis(200));
                TopicPartition stuck = null;
                for (TopicPartition tp : batch.partitions()) {
                    List<ConsumerRecord<byte[], byte[]>> records = batch.records(tp);
                    if (stuck != null) {
                        consumer.seek(
                                tp,
                                records.get(0).offset()); // not handled yet: read again next poll
                        continue;
                    }
                    for (ConsumerRecord<byte[], byte[]> r : records) {
                        try {
                            handle(r);
                        } catch (RegistryUnavailableException e) {
                            // Dropping the record would lose a token or a completion: read it again
                            // shortly.
                            LOG.warn(
                                    "Schema registry unavailable while reading {}; retrying: {}",
                                    replyTopic,
                                    e.getMessage());
                            consumer.seek(tp, r.offset());
                            stuck = tp;
                            break;
                        }
                    }
                }
                if (stuck != null) {
                    sleep(1000);
                }
            }
        } catch (WakeupException e) {
            // close()
        } catch (RuntimeException e) {
            LOG.error("Reply reader of {} failed; pending requests fail", replyTopic, e);
            pending.values().forEach(h -> h.failed(e));
        } finally {
            consumer.close();
        }
    }

    /** Delivers one reply record to its request's handle. */
    private void handle(ConsumerRecord<byte[], byte[]> r) {
        Object reply = ReplyRecords.decode(r.value(), registryDecoder);
        if (reply == null
                && registryDecoder == null
                && RegistryFraming.isFramed(r.value())
                && !warnedFramed) {
            warnedFramed = true;
            LOG.warn(
                    "{} carries records in a schema registry's framing: build the client with schemaRegistry(url)",
                    replyTopic);
        }
        if (reply instanceof Completion || reply instanceof GenerationError) {
            String id =
                    reply instanceof Completion c
                            ? c.getRequestId()
                            : ((GenerationError) reply).getRequestId();
            if (id != null) {
                endingInJob.remove(id);
            }
        }
        if (reply instanceof TokenEvent t) {
            GenerationHandle h = pending.get(t.getRequestId());
            if (h != null) {
                h.token(t);
            }
        } else if (reply instanceof Completion c) {
            GenerationHandle h = pending.get(c.getRequestId());
            if (h != null) {
                h.completed(c);
            }
        } else if (reply instanceof GenerationError e) {
            GenerationHandle h = e.getRequestId() == null ? null : pending.get(e.getRequestId());
            if (h != null) {
                h.failed(e);
            }
        } else {
            LOG.debug(
                    "Ignoring a record on {} that is no reply record ({})", replyTopic, r.offset());
        }
    }

    private boolean createTopic(int partitions, short replication) {
        try (Admin a = Admin.create(admin)) {
            a.createTopics(List.of(new NewTopic(replyTopic, partitions, replication)))
                    .all()
                    .get(30, TimeUnit.SECONDS);
            return true;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof TopicExistsException) {
                return false;
            }
            throw new IllegalStateException(
                    "cannot create reply topic " + replyTopic + ": " + e.getCause(), e);
        } catch (Exception e) {
            throw new IllegalStateException(
                    "cannot create reply topic " + replyTopic + ": " + e, e);
        }
    }

    /**
     * Cancels the requests still pending (in the job too) and, when this client created its reply
     * topic and is to delete it, waits up to 30 s for the job's last record of each before
     * deleting: a topic deleted under requests in flight would leave the job's sinks writing to a
     * topic that is gone. If they do not all end in time the topic is kept, with a warning.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (deleteReplyTopic) {
            endingInJob.addAll(pending.keySet());
        }
        for (GenerationHandle h : List.copyOf(pending.values())) {
            h.cancel();
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!endingInJob.isEmpty() && System.nanoTime() < deadline && reader.isAlive()) {
            sleep(50);
        }
        closed = true;
        consumer.wakeup();
        try {
            reader.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        timers.shutdownNow();
        pending.values().forEach(h -> h.failed(new IllegalStateException("client closed")));
        producer.close(Duration.ofSeconds(10));
        if (registryEncoder != null) {
            registryEncoder.close();
            registryDecoder.close();
        }
        if (deleteReplyTopic && !endingInJob.isEmpty()) {
            LOG.warn(
                    "Keeping reply topic {}: {} cancelled request(s) may still write to it",
                    replyTopic,
                    endingInJob.size());
        } else if (deleteReplyTopic) {
            try (Admin a = Admin.create(admin)) {
                a.deleteTopics(List.of(replyTopic)).all().get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                LOG.warn("Could not delete reply topic {}", replyTopic, e);
            }
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the reply topic", e);
        }
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    /** Settings of a {@link GenerationClient}; bootstrapServers is required. */
    public static final class Builder {
        private String bootstrapServers;
        private String requestTopic = "requests";
        private String replyTopic;
        private String replyTopicPrefix = "replies.";
        private boolean createReplyTopic = true;
        private Boolean deleteReplyTopicOnClose;
        private int replyPartitions = 1;
        private short replyReplication = 1;
        private Duration timeout = Duration.ofMinutes(5);
        private RegistrySettings schemaRegistry;
        private final Properties kafka = new Properties();

        private Builder() {}

        public Builder bootstrapServers(String servers) {
            this.bootstrapServers = servers;
            return this;
        }

        /** The job's request topic (default "requests"). */
        public Builder requestTopic(String topic) {
            this.requestTopic = topic;
            return this;
        }

        /**
         * This client's reply topic; default: the prefix plus a random UUID, created and deleted
         * with the client.
         */
        public Builder replyTopic(String topic) {
            this.replyTopic = topic;
            return this;
        }

        /**
         * Prefix of a generated reply topic name (default "replies."; the job's pattern must allow
         * it).
         */
        public Builder replyTopicPrefix(String prefix) {
            this.replyTopicPrefix = prefix;
            return this;
        }

        /**
         * Create the reply topic if it does not exist (default true), with this many partitions and
         * replicas.
         */
        public Builder createReplyTopic(boolean create, int partitions, short replication) {
            this.createReplyTopic = create;
            this.replyPartitions = partitions;
            this.replyReplication = replication;
            return this;
        }

        /**
         * Delete the reply topic on close if this client created it (default: only for generated
         * names).
         */
        public Builder deleteReplyTopicOnClose(boolean delete) {
            this.deleteReplyTopicOnClose = delete;
            return this;
        }

        /**
         * How long a request may take before its handle fails and it is cancelled in the job
         * (default 5 min).
         */
        public Builder timeout(Duration timeout) {
            this.timeout = timeout;
            return this;
        }

        /**
         * Writes requests in a schema registry's framing (Confluent's wire format: magic byte 0,
         * 4-byte schema id, Avro binary), registering the request schema in that Apicurio Registry
         * ({@code http://host:8080} or its {@code /apis/registry/v2} URL), and reads framed replies
         * (the job's {@code --format avro-registry}).
         */
        public Builder schemaRegistry(String url) {
            this.schemaRegistry = RegistrySettings.of(url);
            return this;
        }

        /**
         * Any Kafka client setting for the producer, consumer and admin client (security, as for
         * the job).
         */
        public Builder kafkaProperty(String key, String value) {
            kafka.put(key, value);
            return this;
        }

        public GenerationClient build() {
            if (bootstrapServers == null) {
                throw new IllegalArgumentException("bootstrapServers is required");
            }
            if (replyTopic == null && !createReplyTopic) {
                throw new IllegalArgumentException(
                        "a generated reply topic must be created: set replyTopic or createReplyTopic");
            }
            if (deleteReplyTopicOnClose == null) {
                deleteReplyTopicOnClose = replyTopic == null;
            }
            return new GenerationClient(this);
        }
    }
}
