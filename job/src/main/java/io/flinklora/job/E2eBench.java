package io.flinklora.job;

import io.flinklora.annotation.Internal;
import io.flinklora.gpu.bench.RandomLlama;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.engine.EngineRequest;
import io.flinklora.gpu.sampling.SamplingParams;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import io.flinklora.schemas.codec.AvroCodec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * {@code scripts/bench.sh e2e}: the same 64 requests through the engine alone and through Kafka and
 * the Flink job (one generation subtask, exactly-once delivery), measured in one run: generated
 * tokens/s of each, their ratio, and time to first token p50/p99 through the job.
 */
@Internal
public final class E2eBench {
    private static final int REQUESTS = 64;
    private static final int PROMPT = 16;

    private E2eBench() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        Path out = Path.of(args.length > 0 ? args[0] : "bench-out");
        boolean quick = List.of(args).contains("--quick");
        RandomLlama.Spec spec = quick ? RandomLlama.Spec.quick() : RandomLlama.Spec.benchmark();
        Path model = RandomLlama.benchmarkModel(out, quick);
        int newTokens = quick ? 24 : 64;
        int batch = 32;
        List<int[]> prompts = new ArrayList<>();
        Random r = new Random(64);
        for (int i = 0; i < REQUESTS; i++) {
            int[] ids = new int[PROMPT];
            ids[0] = 1;
            for (int j = 1; j < PROMPT; j++) {
                ids[j] = 3 + r.nextInt(spec.vocab() - 3);
            }
            prompts.add(ids);
        }
        System.out.printf(
                "model: random Llama hidden %d, %d layers; %d requests x %d new tokens; max batch %d%n%n",
                spec.hidden(), spec.layers(), REQUESTS, newTokens, batch);
        double engineTps = engineAlone(model, prompts, newTokens, batch);
        System.out.printf("engine alone:            %8.1f tokens/s%n", engineTps);
        double[] e2e = throughJob(model, prompts, newTokens, batch);
        System.out.printf("through Kafka and Flink: %8.1f tokens/s%n", e2e[0]);
        System.out.printf("ratio job/engine = %.2f (target >= 0.85)%n", e2e[0] / engineTps);
        System.out.printf(
                "time to first token through the job: p50 %.0f ms, p99 %.0f ms (from request creation to the"
                        + " token's emission; read_committed consumers see it at the next checkpoint)%n",
                e2e[1], e2e[2]);
        Files.writeString(
                out.resolve("e2e-bench.json"),
                String.format(
                        "{\"requests\": %d, \"new_tokens\": %d, \"engine_tokens_per_s\": %.2f, \"job_tokens_per_s\": %.2f,"
                                + " \"ratio\": %.4f, \"ttft_p50_ms\": %.1f, \"ttft_p99_ms\": %.1f}%n",
                        REQUESTS,
                        newTokens,
                        engineTps,
                        e2e[0],
                        e2e[0] / engineTps,
                        e2e[1],
                        e2e[2]));
        System.out.println("\nwrote " + out.resolve("e2e-bench.json"));
        System.exit(0);
    }

    static double engineAlone(Path model, List<int[]> prompts, int newTokens, int batch) {
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(model)
                                .maxRunning(batch)
                                .maxSequenceLength(PROMPT + newTokens + 8)
                                .build())) {
            for (int warm = 0; warm < 2; warm++) {
                long t0 = System.nanoTime();
                long tokens = 0;
                for (int i = 0; i < prompts.size(); i++) {
                    e.submit(
                            new EngineRequest(
                                    "w" + warm + "-" + i,
                                    prompts.get(i),
                                    List.of(),
                                    SamplingParams.greedy(warm == 0 ? 4 : newTokens)
                                            .withIgnoreEos(true)));
                }
                tokens += e.runToCompletion(step -> {});
                if (warm == 1) {
                    return tokens / ((System.nanoTime() - t0) / 1e9);
                }
            }
            throw new IllegalStateException();
        }
    }

    /** {tokens/s, ttft p50 ms, ttft p99 ms} through the job. */
    static double[] throughJob(Path model, List<int[]> prompts, int newTokens, int batch)
            throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            JobOptions o = new JobOptions();
            o.bootstrapServers = kafka.bootstrapServers();
            o.engine.model = model.toString();
            o.engine.device = "cpu";
            o.engine.maxBatch = batch;
            o.maxQueued = REQUESTS;
            o.engine.maxSeqLen = PROMPT + newTokens + 8;
            o.checkpointInterval = 1000;
            o.groupId = "e2e";
            kafka.createTopics(o.topics(), 1);
            Configuration conf = StreamingJob.recommendedClusterConfig();
            conf.set(RestOptions.PORT, 0);
            StreamExecutionEnvironment env =
                    StreamExecutionEnvironment.createLocalEnvironment(1, conf);
            StreamingJob.build(env, o);
            JobClient job = env.executeAsync("e2e bench");
            try (KafkaConsumer<byte[], byte[]> consumer =
                            KafkaClients.readCommitted(o.bootstrapServers, o.tokenTopic());
                    KafkaProducer<byte[], byte[]> producer =
                            KafkaClients.producer(o.bootstrapServers)) {
                // Warm-up: the job starts, loads the model and runs one short round; the producer
                // learns the topic.
                send(producer, o, prompts, "warm", 4);
                collect(consumer, o, "warm", prompts.size());
                Map<String, Long> created = send(producer, o, prompts, "run", newTokens);
                Map<String, List<TokenEvent>> events = collect(consumer, o, "run", prompts.size());
                long first =
                        created.values().stream().mapToLong(Long::longValue).min().orElseThrow();
                long last = 0;
                long tokens = 0;
                List<Long> ttft = new ArrayList<>();
                for (var e : events.entrySet()) {
                    long firstToken = Long.MAX_VALUE;
                    for (TokenEvent t : e.getValue()) {
                        long at = t.getEmittedAt().toEpochMilli();
                        last = Math.max(last, at);
                        firstToken = Math.min(firstToken, at);
                        tokens++;
                    }
                    ttft.add(firstToken - created.get(e.getKey()));
                }
                ttft.sort(null);
                System.out.printf(
                        "first token after creation: min %d ms, max %d ms; last token at %d ms%n",
                        ttft.get(0), ttft.get(ttft.size() - 1), last - first);
                return new double[] {
                    tokens / ((last - first) / 1000.0),
                    ttft.get(ttft.size() / 2),
                    ttft.get(Math.min(ttft.size() - 1, (int) Math.ceil(ttft.size() * 0.99) - 1))
                };
            } finally {
                job.cancel().get();
            }
        }
    }

    private static Map<String, Long> send(
            KafkaProducer<byte[], byte[]> producer,
            JobOptions o,
            List<int[]> prompts,
            String prefix,
            int newTokens) {
        Map<String, Long> created = new HashMap<>();
        {
            for (int i = 0; i < prompts.size(); i++) {
                List<Integer> ids = new ArrayList<>();
                for (int id : prompts.get(i)) {
                    ids.add(id);
                }
                long now = System.currentTimeMillis();
                GenerationRequest r =
                        GenerationRequest.newBuilder()
                                .setRequestId(prefix + i)
                                .setPromptIds(ids)
                                .setMaxNewTokens(newTokens)
                                .setIgnoreEos(true)
                                .setCreatedAt(Instant.ofEpochMilli(now))
                                .build();
                created.put(prefix + i, now);
                producer.send(new ProducerRecord<>(o.requestTopics().get(0), AvroCodec.toBytes(r)));
            }
            producer.flush();
        }
        return created;
    }

    private static Map<String, List<TokenEvent>> collect(
            KafkaConsumer<byte[], byte[]> consumer, JobOptions o, String prefix, int requests)
            throws Exception {
        Map<String, List<TokenEvent>> events = new HashMap<>();
        int finished = 0;
        long deadline = System.nanoTime() + Duration.ofMinutes(10).toNanos();
        while (finished < requests && System.nanoTime() < deadline) {
            for (ConsumerRecord<byte[], byte[]> rec : consumer.poll(Duration.ofMillis(200))) {
                TokenEvent t = AvroCodec.fromBytes(rec.value(), TokenEvent.class);
                if (!t.getRequestId().startsWith(prefix)) {
                    continue;
                }
                events.computeIfAbsent(t.getRequestId(), k -> new ArrayList<>()).add(t);
                finished += t.getFinished() ? 1 : 0;
            }
        }
        if (finished < requests) {
            throw new IllegalStateException(
                    "only " + finished + " of " + requests + " requests finished");
        }
        return events;
    }
}
