package io.flinklora.gpu.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.train.JointTrainer;
import io.flinklora.gpu.train.LoraSpec;
import io.flinklora.gpu.train.TrainingExample;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * {@code scripts/bench.sh train}: training three LoRA adapters jointly, one batch holding all
 * three, against training them one after another, with the same steps and the same per-adapter
 * batch. Both run side by side (interleaved rounds, medians) on the bundled stories260k base model,
 * the model the demo adapters are trained on, with rank-8 adapters on every projection.
 */
@Internal
public final class TrainBench {
    private static final int ADAPTERS = 3;

    private TrainBench() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        Path out = Path.of(args.length > 0 ? args[0] : "bench-out");
        boolean quick = Arrays.asList(args).contains("--quick");
        Path root = Path.of(System.getProperty("project.root", "."));
        Path modelDir = root.resolve("models/stories260k");
        int steps = quick ? 4 : 20;
        int rounds = quick ? 1 : 3;
        int len = intArg(args, "--len", 64);
        int[] batches = quick ? new int[] {2} : new int[] {1, 2, 4, 8};
        int maxBatch = Arrays.stream(batches).max().orElse(8);
        Files.createDirectories(out);
        List<List<TrainingExample>> data = new ArrayList<>();
        Random random = new Random(42);
        for (int a = 0; a < ADAPTERS; a++) {
            List<TrainingExample> ex = new ArrayList<>();
            for (int i = 0; i < 8 * maxBatch; i++) {
                int[] ids = new int[len];
                ids[0] = 1;
                for (int k = 1; k < len; k++) {
                    ids[k] = 3 + random.nextInt(509);
                }
                ex.add(new TrainingExample(ids, 8));
            }
            data.add(ex);
        }
        System.out.printf(
                "base: stories260k; %d adapters (rank 8, all projections); %d steps each; sequences of %d"
                        + " tokens; %d rounds per case, interleaved; medians%n%n",
                ADAPTERS, steps, len, rounds);
        ObjectMapper json = new ObjectMapper();
        ObjectNode report = json.createObjectNode();
        report.put("adapters", ADAPTERS).put("steps", steps).put("seq_len", len);
        StringBuilder table =
                new StringBuilder(
                        String.format(
                                Locale.ROOT,
                                "| sequences per adapter per step | jointly, tokens/s | one after another, tokens/s | ratio |%n"
                                        + "| ---: | ---: | ---: | ---: |%n"));
        try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                LlamaModel model =
                        LlamaModel.load(modelDir, manager, Device.cpu(), DataType.FLOAT32, 512)) {
            run(model, data, 2, 2, true);
            run(model, data, 2, 2, false);
            for (int batch : batches) {
                List<Double> joint = new ArrayList<>();
                List<Double> sequential = new ArrayList<>();
                for (int r = 0; r < rounds; r++) {
                    joint.add(run(model, data, steps, batch, true));
                    sequential.add(run(model, data, steps, batch, false));
                }
                double j = EngineBench.median(joint);
                double s = EngineBench.median(sequential);
                System.out.printf(
                        Locale.ROOT,
                        "batch %d per adapter: joint %.0f tokens/s %s, one after another %.0f"
                                + " tokens/s %s: %.2fx%n",
                        batch,
                        j,
                        joint,
                        s,
                        sequential,
                        j / s);
                table.append(
                        String.format(
                                Locale.ROOT, "| %d | %.0f | %.0f | %.2fx |%n", batch, j, s, j / s));
                ObjectNode c = report.putObject("batch_" + batch);
                c.put("joint_tokens_per_s", j)
                        .put("sequential_tokens_per_s", s)
                        .put("ratio", j / s);
                c.putPOJO("joint_rounds", joint);
                c.putPOJO("sequential_rounds", sequential);
            }
        }
        System.out.printf(
                "%n%s%nratio = joint / one after another, same steps and per-adapter batch (target >= 1.5x)%n",
                table);
        Files.writeString(
                out.resolve("train-bench.json"),
                json.writerWithDefaultPrettyPrinter().writeValueAsString(report));
    }

    /**
     * Tokens per second of training every adapter for {@code steps} updates, jointly or one adapter
     * at a time.
     */
    static double run(
            LlamaModel model,
            List<List<TrainingExample>> data,
            int steps,
            int batch,
            boolean jointly) {
        JointTrainer.Options o = JointTrainer.Options.defaults(steps, 1).withBatch(batch);
        long tokens = 0;
        long t0 = System.nanoTime();
        if (jointly) {
            try (JointTrainer t = new JointTrainer(model, o)) {
                for (int a = 0; a < data.size(); a++) {
                    t.add(spec(a), data.get(a));
                }
                for (int s = 0; s < steps; s++) {
                    tokens += t.step().tokens();
                }
            }
        } else {
            for (int a = 0; a < data.size(); a++) {
                try (JointTrainer t = new JointTrainer(model, o)) {
                    t.add(spec(a), data.get(a));
                    for (int s = 0; s < steps; s++) {
                        tokens += t.step().tokens();
                    }
                }
            }
        }
        return tokens / ((System.nanoTime() - t0) / 1e9);
    }

    private static LoraSpec spec(int a) {
        return new LoraSpec("task" + a, 8, 16, EnumSet.allOf(Projection.class));
    }

    private static int intArg(String[] args, String name, int def) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals(name)) {
                return Integer.parseInt(args[i + 1]);
            }
        }
        return def;
    }
}
