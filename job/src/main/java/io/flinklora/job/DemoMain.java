package io.flinklora.job;

import io.flinklora.annotation.Internal;
import io.flinklora.client.GenerationClient;
import io.flinklora.client.GenerationHandle;
import io.flinklora.gpu.lora.PeftWriter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.schemas.AdapterWeight;
import io.flinklora.schemas.GenerationRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * The embedded demo ({@code ./scripts/demo.sh}): an in-process Kafka broker, the streaming job on a
 * local Flink environment with the bundled model and demo adapters, sample prompts across adapters
 * and the base model sent through the service client ({@link GenerationClient}: its own reply
 * topic), and each request's text printed as its completion arrives.
 */
@Internal
public final class DemoMain {
    /**
     * id, adapters ("+" mixes them half and half), prompt. Mood requests ask the labeller for one
     * line.
     */
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

    private DemoMain() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        Path root = Path.of(args.length > 0 ? args[0] : ".").toAbsolutePath();
        Path work = Files.createDirectories(root.resolve("target/demo"));
        Path model = root.resolve("models/stories260k");
        Path adapters = demoAdapters(root, model, work);
        System.out.println(
                "starting an in-process Kafka broker and the job on a local Flink environment...");
        int done;
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            JobOptions o = new JobOptions();
            o.bootstrapServers = kafka.bootstrapServers();
            o.engine.model = model.toString();
            o.engine.adapters = adapters.toString();
            o.engine.device = "cpu";
            o.engine.maxBatch = 8;
            o.checkpointInterval = 250;
            o.groupId = "demo";
            o.replyTopicPattern = "replies\\..*";
            kafka.createTopics(o.topics(), 2);
            Configuration conf = StreamingJob.recommendedClusterConfig();
            conf.set(RestOptions.PORT, 0);
            StreamExecutionEnvironment env =
                    StreamExecutionEnvironment.createLocalEnvironment(2, conf);
            StreamingJob.build(env, o);
            JobClient job = env.executeAsync("flink-lora demo");
            done = generate(o, Duration.ofMinutes(3));
            job.cancel().get();
        }
        System.out.printf("completed %d/%d requests%n", done, PROMPTS.length);
        System.exit(done == PROMPTS.length ? 0 : 1);
    }

    /**
     * Trained adapters from models/adapters when present; otherwise random PEFT adapters made here.
     */
    public static Path demoAdapters(Path root, Path model, Path work) throws Exception {
        Path shipped = root.resolve("models/adapters");
        if (Files.isDirectory(shipped.resolve("happy"))
                && Files.isDirectory(shipped.resolve("max"))
                && Files.isDirectory(shipped.resolve("mood"))) {
            return shipped;
        }
        Path dir = work.resolve("adapters");
        ModelConfig c = ModelConfig.read(model);
        String[] names = {"happy", "max", "mood"};
        for (int i = 0; i < names.length; i++) {
            if (!Files.exists(dir.resolve(names[i]).resolve("adapter_model.safetensors"))) {
                new PeftWriter(c)
                        .rank(4 + 4 * i)
                        .alpha(4 + 4 * i)
                        .targets(
                                EnumSet.of(
                                        Projection.Q, Projection.V, Projection.O, Projection.DOWN))
                        .write(dir.resolve(names[i]), 7 + i, 0.12, 0.12);
            }
        }
        return dir;
    }

    /**
     * Sends the prompts through the service client (its own reply topic, read_committed) and prints
     * each request's text as its completion arrives; returns how many completed.
     */
    private static int generate(JobOptions o, Duration timeout) throws InterruptedException {
        try (GenerationClient client =
                GenerationClient.builder()
                        .bootstrapServers(o.bootstrapServers)
                        .requestTopic(o.requestTopics().get(0))
                        .replyTopic("replies.demo")
                        .timeout(timeout)
                        .build()) {
            List<GenerationHandle> handles = new ArrayList<>();
            for (String[] r : PROMPTS) {
                List<AdapterWeight> adapters = new ArrayList<>();
                for (String a : r[1].isEmpty() ? new String[0] : r[1].split("\\+")) {
                    adapters.add(new AdapterWeight(a, r[1].contains("+") ? 0.5 : 1.0));
                }
                // The labeller answers with one line; stories get room to reach their ending.
                boolean label = r[1].equals("mood");
                GenerationRequest.Builder b =
                        GenerationRequest.newBuilder()
                                .setRequestId(r[0])
                                .setPrompt(r[2])
                                .setAdapters(adapters)
                                .setMaxNewTokens(label ? 8 : 72);
                if (label) {
                    b.setStop(List.of("\n"));
                }
                System.out.printf(
                        "[%s adapter=%s] prompt: %s%n",
                        r[0], r[1].isEmpty() ? "base" : r[1], r[2].replace("\n", "\\n"));
                GenerationHandle h = client.generate(b.build());
                h.completion()
                        .thenAccept(
                                c ->
                                        System.out.printf(
                                                "[%s adapter=%s] %s  <%s, %d tokens, first token after %d ms>%n",
                                                c.getRequestId(),
                                                c.getAdapters().isEmpty()
                                                        ? "base"
                                                        : c.getAdapters(),
                                                c.getText().replace("\n", "\\n"),
                                                c.getFinishReason(),
                                                c.getCompletionTokens(),
                                                c.getTimeToFirstTokenMs()));
                handles.add(h);
            }
            int done = 0;
            for (GenerationHandle h : handles) {
                try {
                    h.completion().get();
                    done++;
                } catch (java.util.concurrent.ExecutionException e) {
                    System.out.printf("[%s] failed: %s%n", h.requestId(), e.getCause());
                }
            }
            return done;
        }
    }
}
