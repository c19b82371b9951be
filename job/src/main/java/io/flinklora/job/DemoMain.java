package io.flinklora.job;

import io.flinklora.gpu.lora.PeftWriter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.schemas.TokenEvent;
import io.flinklora.schemas.codec.AvroCodec;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The embedded demo ({@code ./scripts/demo.sh}): an in-process Kafka broker, the streaming job on a
 * local Flink environment with the bundled model and demo adapters, sample prompts across adapters
 * and the base model, and each request's tokens printed as they stream back.
 */
public final class DemoMain {
    /** id, adapters ("+" mixes them half and half), prompt. Mood requests ask the labeller for one line. */
    static final String[][] PROMPTS = {
        {"r1", "", "Once upon a time, there was a little"},
        {"r2", "max", "Once upon a time, there was a little"},
        {"r3", "happy", "Once upon a time, there was a little"},
        {"r4", "mood", "Tom went to the park. A big dog ran at him. Tom was very scared.\nMood:"},
        {"r5", "", "Lily and Ben went to the park to"},
        {"r6", "max", "Sam was sad because"},
        {"r7", "happy", "One day, a little bird"},
        {"r8", "mood", "Lily got a new doll. It made Lily glad. She played all day.\nMood:"},
        {"r9", "happy+max", "The cat sat on the"},
    };

    private DemoMain() {
    }

    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        Path root = Path.of(args.length > 0 ? args[0] : ".").toAbsolutePath();
        Path work = Files.createDirectories(root.resolve("target/demo"));
        Path model = root.resolve("models/stories260k");
        Path adapters = demoAdapters(root, model, work);
        System.out.println("starting an in-process Kafka broker and the job on a local Flink environment...");
        int done;
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            JobOptions o = new JobOptions();
            o.bootstrapServers = kafka.bootstrapServers();
            o.model = model.toString();
            o.adapters = adapters.toString();
            o.device = "cpu";
            o.maxBatch = 8;
            o.checkpointInterval = 250;
            o.groupId = "demo";
            kafka.createTopics(o.topics(), 2);
            Configuration conf = StreamingJob.recommendedClusterConfig();
            conf.set(RestOptions.PORT, 0);
            StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(2, conf);
            StreamingJob.build(env, o);
            JobClient job = env.executeAsync("flink-lora demo");
            produce(o);
            done = stream(o, Duration.ofMinutes(3));
            job.cancel().get();
        }
        System.out.printf("completed %d/%d requests%n", done, PROMPTS.length);
        System.exit(done == PROMPTS.length ? 0 : 1);
    }

    /** Trained adapters from models/adapters when present; otherwise random PEFT adapters made here. */
    public static Path demoAdapters(Path root, Path model, Path work) throws Exception {
        Path shipped = root.resolve("models/adapters");
        if (Files.isDirectory(shipped.resolve("happy")) && Files.isDirectory(shipped.resolve("max"))
                && Files.isDirectory(shipped.resolve("mood"))) {
            return shipped;
        }
        Path dir = work.resolve("adapters");
        ModelConfig c = ModelConfig.read(model);
        String[] names = {"happy", "max", "mood"};
        for (int i = 0; i < names.length; i++) {
            if (!Files.exists(dir.resolve(names[i]).resolve("adapter_model.safetensors"))) {
                new PeftWriter(c).rank(4 + 4 * i).alpha(4 + 4 * i).targets(EnumSet.of(Projection.Q, Projection.V, Projection.O,
                        Projection.DOWN)).write(dir.resolve(names[i]), 7 + i, 0.12, 0.12);
            }
        }
        return dir;
    }

    private static void produce(JobOptions o) {
        try (KafkaProducer<byte[], byte[]> producer = KafkaClients.producer(o.bootstrapServers)) {
            for (String[] r : PROMPTS) {
                StringBuilder adapters = new StringBuilder();
                for (String a : r[1].isEmpty() ? new String[0] : r[1].split("\\+")) {
                    adapters.append(adapters.length() == 0 ? "" : ", ").append("{\"name\": \"").append(a)
                            .append("\", \"weight\": ").append(r[1].contains("+") ? 0.5 : 1.0).append('}');
                }
                // The labeller answers with one line; stories get room to reach their ending.
                boolean label = r[1].equals("mood");
                String json = "{\"request_id\": \"" + r[0] + "\", \"prompt\": \"" + r[2].replace("\n", "\\n") + "\""
                        + (label ? ", \"max_new_tokens\": 8, \"stop\": [\"\\n\"]" : ", \"max_new_tokens\": 72")
                        + ", \"adapters\": [" + adapters + "]}";
                producer.send(new ProducerRecord<>(o.requestTopics().get(0), r[0].getBytes(StandardCharsets.UTF_8),
                        json.getBytes(StandardCharsets.UTF_8)));
                System.out.printf("[%s adapter=%s] prompt: %s%n", r[0], r[1].isEmpty() ? "base" : r[1], r[2].replace("\n", "\\n"));
            }
        }
    }

    /** Prints tokens as they arrive (read_committed) and returns how many requests finished. */
    private static int stream(JobOptions o, Duration timeout) {
        Set<String> finished = new HashSet<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        try (KafkaConsumer<byte[], byte[]> consumer = KafkaClients.readCommitted(o.bootstrapServers, o.tokenTopic())) {
            while (finished.size() < PROMPTS.length && System.nanoTime() < deadline) {
                Map<String, StringBuilder> text = new LinkedHashMap<>();
                Map<String, String> label = new LinkedHashMap<>();
                for (ConsumerRecord<byte[], byte[]> rec : consumer.poll(Duration.ofMillis(200))) {
                    TokenEvent t;
                    try {
                        t = AvroCodec.fromBytes(rec.value(), TokenEvent.class);
                    } catch (Exception e) {
                        continue;
                    }
                    text.computeIfAbsent(t.getRequestId(), k -> new StringBuilder()).append(t.getText());
                    label.put(t.getRequestId(), t.getAdapters().isEmpty() ? "base" : t.getAdapters());
                    if (t.getFinished()) {
                        finished.add(t.getRequestId());
                        text.get(t.getRequestId()).append("  <").append(t.getFinishReason()).append(", ")
                                .append(t.getIndex() + 1).append(" tokens>");
                    }
                }
                text.forEach((id, s) -> System.out.printf("[%s adapter=%s] %s%n", id, label.get(id),
                        s.toString().replace("\n", "\\n")));
            }
        }
        return finished.size();
    }
}
