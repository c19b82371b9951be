package io.flinklora.job;

import io.flinklora.annotation.Internal;
import io.flinklora.gpu.lora.PeftWriter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.TokenEvent;
import io.flinklora.schemas.codec.AvroCodec;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * {@code scripts/soak.sh}: a burst of requests across more adapters than device slots through the
 * streaming job on an in-process broker and a local Flink environment. Samples heap and process
 * memory against a bound and the requests still waiting in Kafka (back pressure), and checks that
 * every request completes.
 */
@Internal
public final class SoakMain {
    private SoakMain() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            a.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        Path root = Path.of(a.getOrDefault("root", ".")).toAbsolutePath();
        int requests = Integer.parseInt(a.getOrDefault("requests", "10000"));
        int adapters = Integer.parseInt(a.getOrDefault("adapters", "20"));
        int onDevice = Integer.parseInt(a.getOrDefault("adapters-on-device", "8"));
        long boundMb = Long.parseLong(a.getOrDefault("max-rss-mb", "4096"));
        Path model = root.resolve("models/stories260k");
        Path adapterRoot = root.resolve("target/soak/adapters");
        ModelConfig c = ModelConfig.read(model);
        for (int i = 0; i < adapters; i++) {
            if (!Files.exists(
                    adapterRoot.resolve("task" + i).resolve("adapter_model.safetensors"))) {
                new PeftWriter(c)
                        .rank(2 + (i % 4) * 2)
                        .alpha(4)
                        .targets(EnumSet.of(Projection.Q, Projection.V))
                        .write(adapterRoot.resolve("task" + i), 500 + i, 0.1, 0.1);
            }
        }
        System.out.printf(
                "soak: %d requests across %d adapters (%d device slots per subtask), memory bound %d MiB%n",
                requests, adapters, onDevice, boundMb);
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            JobOptions o = new JobOptions();
            o.bootstrapServers = kafka.bootstrapServers();
            o.engine.model = model.toString();
            o.engine.adapters = adapterRoot.toString();
            o.engine.device = "cpu";
            o.engine.maxBatch = 32;
            o.maxQueued = 64;
            o.engine.adaptersOnDevice = onDevice;
            o.engine.adaptersInMemory = onDevice * 2;
            o.checkpointInterval = 1000;
            o.groupId = "soak";
            kafka.createTopics(o.topics(), 2);
            Configuration conf = StreamingJob.recommendedClusterConfig();
            conf.set(RestOptions.PORT, 0);
            StreamExecutionEnvironment env =
                    StreamExecutionEnvironment.createLocalEnvironment(2, conf);
            StreamingJob.build(env, o);
            JobClient job = env.executeAsync("soak");
            Map<String, Long> created = burst(o, requests, adapters);
            Result r = watch(o, kafka, created, boundMb, Duration.ofMinutes(30));
            job.cancel().get();
            r.print(requests, boundMb);
            System.exit(r.completed == requests && r.peakRssMb <= boundMb ? 0 : 1);
        }
    }

    /** Produces every request at once (the burst); returns each request's creation time. */
    private static Map<String, Long> burst(JobOptions o, int n, int adapters) {
        Random random = new Random(10_000);
        String[] prompts = {
            "Once upon a time",
            "Tom had a big red ball.",
            "The sun was hot and the dog was",
            "Lily and Ben went to the park to",
            "One day, a little bird"
        };
        Map<String, Long> created = new HashMap<>();
        try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(o.bootstrapServers)) {
            for (int i = 0; i < n; i++) {
                String id = "s" + i;
                String adapter =
                        i % 7 == 0 ? "" : "{\"name\": \"task" + random.nextInt(adapters) + "\"}";
                long now = System.currentTimeMillis();
                String json =
                        "{\"request_id\": \""
                                + id
                                + "\", \"prompt\": \""
                                + prompts[i % prompts.length]
                                + "\", \"max_new_tokens\": "
                                + (8 + random.nextInt(25))
                                + ", \"ignore_eos\": true, \"created_at\": "
                                + now
                                + ", \"adapters\": ["
                                + adapter
                                + "]}";
                created.put(id, now);
                p.send(
                        new ProducerRecord<>(
                                o.requestTopics().get(0),
                                id.getBytes(StandardCharsets.UTF_8),
                                json.getBytes(StandardCharsets.UTF_8)));
            }
        }
        return created;
    }

    private static final class Result {
        int completed;
        long tokens;
        long peakRssMb;
        long peakHeapMb;
        long maxLag;
        double seconds;
        final List<Long> ttft = new ArrayList<>();

        void print(int requests, long boundMb) {
            ttft.sort(null);
            System.out.printf(
                    "%nsoak: %d/%d requests completed, %d tokens in %.1f s (%.0f tokens/s)%n",
                    completed, requests, tokens, seconds, tokens / seconds);
            System.out.printf(
                    "soak: peak process RSS %d MiB (bound %d MiB), peak heap used %d MiB%n",
                    peakRssMb, boundMb, peakHeapMb);
            System.out.printf(
                    "soak: largest backlog in Kafka (requests produced but not yet committed by the job's consumer group, which commits at checkpoints): %d%n",
                    maxLag);
            if (!ttft.isEmpty()) {
                System.out.printf(
                        "soak: time to first token p50 %d ms, p99 %d ms (from creation, burst of %d)%n",
                        ttft.get(ttft.size() / 2),
                        ttft.get((int) Math.ceil(ttft.size() * 0.99) - 1),
                        requests);
            }
            System.out.println(
                    completed == requests && peakRssMb <= boundMb ? "soak: PASS" : "soak: FAIL");
        }
    }

    /** Reads completions until all arrive, sampling memory and the Kafka backlog every second. */
    private static Result watch(
            JobOptions o,
            EmbeddedKafka kafka,
            Map<String, Long> created,
            long boundMb,
            Duration timeout)
            throws Exception {
        Result r = new Result();
        long t0 = System.nanoTime();
        long nextSample = 0;
        long deadline = t0 + timeout.toNanos();
        Properties ap = new Properties();
        ap.put("bootstrap.servers", o.bootstrapServers);
        try (KafkaConsumer<byte[], byte[]> completions =
                        KafkaClients.readCommitted(o.bootstrapServers, o.completionTopic());
                KafkaConsumer<byte[], byte[]> tokens =
                        KafkaClients.readCommitted(o.bootstrapServers, o.tokenTopic());
                Admin admin = Admin.create(ap)) {
            Map<String, Boolean> firstSeen = new HashMap<>();
            while (r.completed < created.size() && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> rec :
                        completions.poll(Duration.ofMillis(100))) {
                    Completion c = AvroCodec.fromBytes(rec.value(), Completion.class);
                    r.completed++;
                    r.tokens += c.getCompletionTokens();
                }
                for (ConsumerRecord<byte[], byte[]> rec : tokens.poll(Duration.ofMillis(100))) {
                    TokenEvent t = AvroCodec.fromBytes(rec.value(), TokenEvent.class);
                    if (t.getIndex() == 0
                            && firstSeen.putIfAbsent(t.getRequestId(), true) == null) {
                        r.ttft.add(t.getEmittedAt().toEpochMilli() - created.get(t.getRequestId()));
                    }
                }
                if (System.nanoTime() >= nextSample) {
                    nextSample = System.nanoTime() + 1_000_000_000L;
                    long rss = rssMb();
                    Runtime rt = Runtime.getRuntime();
                    long heap = (rt.totalMemory() - rt.freeMemory()) >> 20;
                    long lag = backlog(admin, o);
                    r.peakRssMb = Math.max(r.peakRssMb, rss);
                    r.peakHeapMb = Math.max(r.peakHeapMb, heap);
                    r.maxLag = Math.max(r.maxLag, lag);
                    System.out.printf(
                            "t=%5.1fs completed %5d/%d  rss %5d MiB  heap %5d MiB  not yet committed by the job %5d%s%n",
                            (System.nanoTime() - t0) / 1e9,
                            r.completed,
                            created.size(),
                            rss,
                            heap,
                            lag,
                            rss > boundMb ? "  OVER BOUND" : "");
                }
            }
        }
        r.seconds = (System.nanoTime() - t0) / 1e9;
        return r;
    }

    /** Requests produced but not yet consumed by the job's consumer group. */
    private static long backlog(Admin admin, JobOptions o) {
        try {
            Map<TopicPartition, OffsetAndMetadata> committed =
                    admin.listConsumerGroupOffsets(o.groupId).partitionsToOffsetAndMetadata().get();
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (int p = 0; p < 2; p++) {
                latest.put(new TopicPartition(o.requestTopics().get(0), p), OffsetSpec.latest());
            }
            long lag = 0;
            for (var e : admin.listOffsets(latest).all().get().entrySet()) {
                OffsetAndMetadata c = committed.get(e.getKey());
                lag += e.getValue().offset() - (c == null ? 0 : c.offset());
            }
            return lag;
        } catch (Exception e) {
            return -1;
        }
    }

    private static long rssMb() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
            }
        }
        return -1;
    }
}
