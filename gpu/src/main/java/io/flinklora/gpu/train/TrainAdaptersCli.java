package io.flinklora.gpu.train;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.Projection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code scripts/train-adapters.sh}: makes the demo adapters from scratch. Generates the training
 * data from the base model (seeded), trains "max", "happy" and "mood" jointly in one batch, writes
 * PEFT checkpoints and the final adapters, then measures each adapter's effect on held-out data
 * through the engine and records it next to the adapter ({@code training.json}).
 */
@Internal
public final class TrainAdaptersCli {
    /** The demo adapters: rank, alpha and targets. */
    static final List<LoraSpec> SPECS =
            List.of(
                    new LoraSpec(TrainingData.MAX, 4, 8, EnumSet.allOf(Projection.class)),
                    new LoraSpec(TrainingData.HAPPY, 4, 8, EnumSet.allOf(Projection.class)),
                    new LoraSpec(TrainingData.MOOD, 4, 8, EnumSet.allOf(Projection.class)));

    private TrainAdaptersCli() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        // Progress lines appear as they happen even when stdout is a file or a pipe.
        System.setOut(
                new java.io.PrintStream(
                        new java.io.FileOutputStream(java.io.FileDescriptor.out),
                        true,
                        java.nio.charset.StandardCharsets.UTF_8));
        Path model = Path.of("models/stories260k");
        Path out = Path.of("target/trained-adapters");
        int steps = 300;
        long seed = 1;
        int stories = 600;
        int batch = 8;
        double lr = 3e-3;
        int checkpointEvery = 100;
        int logEvery = 25;
        try {
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (a.equals("-h") || a.equals("--help")) {
                    usage();
                    return;
                }
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException(a + " needs a value");
                }
                String v = args[++i];
                switch (a) {
                    case "--model" -> model = Path.of(v);
                    case "--out" -> out = Path.of(v);
                    case "--steps" -> steps = positive(a, v);
                    case "--seed" -> seed = Long.parseLong(v);
                    case "--stories" -> stories = positive(a, v);
                    case "--batch" -> batch = positive(a, v);
                    case "--lr" -> lr = Double.parseDouble(v);
                    case "--checkpoint-every" -> checkpointEvery = Integer.parseInt(v);
                    case "--log-every" -> logEvery = positive(a, v);
                    default -> throw new IllegalArgumentException("unknown option " + a);
                }
            }
        } catch (IllegalArgumentException e) {
            System.err.println("train-adapters: " + e.getMessage());
            usage();
            System.exit(2);
        }
        run(model, out, steps, seed, stories, batch, lr, checkpointEvery, logEvery);
    }

    private static int positive(String option, String v) {
        int n = Integer.parseInt(v);
        if (n < 1) {
            throw new IllegalArgumentException(option + " must be at least 1");
        }
        return n;
    }

    private static void usage() {
        System.err.println(
                "usage: scripts/train-adapters.sh [--out DIR] [--steps N] [--seed S] [--model DIR]\n"
                        + "         [--stories N] [--batch N] [--lr X] [--checkpoint-every N] [--log-every N]\n"
                        + "  --out defaults to target/trained-adapters; --out models/adapters replaces the shipped adapters");
    }

    static void run(
            Path model,
            Path out,
            int steps,
            long seed,
            int stories,
            int batch,
            double lr,
            int checkpointEvery,
            int logEvery)
            throws Exception {
        long t0 = System.nanoTime();
        String baseName = baseModelName(model);
        System.out.printf(
                "train-adapters: base %s, %d steps, seed %d, %d stories, batch %d per adapter -> %s%n",
                baseName, steps, seed, stories, batch, out);
        TrainingData.Data data;
        try (Engine base =
                Engine.open(
                        EngineConfig.builder(model)
                                .maxRunning(192)
                                .maxTokensPerStep(2048)
                                .maxSequenceLength(256)
                                .build())) {
            data = TrainingData.build(base, seed, stories, 40, 160, System.out::println);
        }
        Map<String, double[]> losses = new LinkedHashMap<>();
        long trainStart = System.nanoTime();
        long tokens = 0;
        try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                LlamaModel llama =
                        LlamaModel.load(model, manager, Device.cpu(), DataType.FLOAT32, 256);
                JointTrainer trainer =
                        new JointTrainer(
                                llama,
                                JointTrainer.Options.defaults(steps, seed)
                                        .withBatch(batch)
                                        .withLr(lr))) {
            for (LoraSpec spec : SPECS) {
                trainer.add(spec, data.train().get(spec.name()));
                losses.put(spec.name(), new double[] {Double.NaN, 0, 0});
            }
            Map<String, Double> window = new LinkedHashMap<>();
            for (int s = 1; s <= steps; s++) {
                JointTrainer.StepReport r = trainer.step();
                tokens += r.tokens();
                r.loss().forEach((n, l) -> window.merge(n, l, Double::sum));
                if (s == 1) {
                    r.loss().forEach((n, l) -> losses.get(n)[0] = l);
                }
                if (s % logEvery == 0 || s == steps) {
                    double secs = (System.nanoTime() - trainStart) / 1e9;
                    StringBuilder line =
                            new StringBuilder(
                                    String.format(
                                            Locale.ROOT,
                                            "step %4d/%d  lr %.2e",
                                            s,
                                            steps,
                                            r.lr().values().iterator().next()));
                    int span = s % logEvery == 0 ? logEvery : s % logEvery;
                    window.forEach(
                            (n, sum) ->
                                    line.append(
                                            String.format(
                                                    Locale.ROOT, "  %s %.3f", n, sum / span)));
                    line.append(String.format(Locale.ROOT, "  %.0f tokens/s", tokens / secs));
                    System.out.println(line);
                    if (s == steps) {
                        window.forEach((n, sum) -> losses.get(n)[1] = sum / span);
                    }
                    window.clear();
                }
                if (checkpointEvery > 0 && s % checkpointEvery == 0 && s < steps) {
                    trainer.save(out.resolve("checkpoints").resolve("step-" + s), baseName);
                }
            }
            trainer.save(out, baseName);
        }
        double trainSecs = (System.nanoTime() - trainStart) / 1e9;
        System.out.printf(
                Locale.ROOT,
                "trained %s jointly: %d steps in %.1f s (%.0f tokens/s); PEFT adapters in %s%n",
                String.join(", ", losses.keySet()),
                steps,
                trainSecs,
                tokens / trainSecs,
                out);

        List<AdapterEvaluation.Effect> effects = new ArrayList<>();
        effects.add(
                AdapterEvaluation.stories(
                        model,
                        out,
                        TrainingData.MAX,
                        "greedy stories naming Max",
                        data.heldOutPrompts(),
                        StoryRules::namesMax));
        effects.add(
                AdapterEvaluation.stories(
                        model,
                        out,
                        TrainingData.HAPPY,
                        "greedy stories ending \"" + StoryRules.HAPPY_MARKER + "\"",
                        data.heldOutPrompts(),
                        t -> t.contains(StoryRules.HAPPY_MARKER)));
        effects.add(
                AdapterEvaluation.mood(model, out.resolve(TrainingData.MOOD), data.heldOutMood()));
        System.out.println();
        System.out.println(
                "| adapter | measured on held-out data | with adapter | base model | n |");
        System.out.println("| --- | --- | ---: | ---: | ---: |");
        for (AdapterEvaluation.Effect e : effects) {
            System.out.printf(
                    Locale.ROOT,
                    "| %s | %s | %.0f%% | %.0f%% | %d |%n",
                    e.adapter(),
                    e.measure(),
                    100 * e.withAdapter(),
                    100 * e.base(),
                    e.n());
        }
        System.out.println();
        for (AdapterEvaluation.Effect e : effects) {
            e.examples()
                    .forEach(
                            x ->
                                    System.out.println(
                                            "example "
                                                    + e.adapter()
                                                    + ": "
                                                    + x.replace("\n", "\\n")));
        }
        ObjectMapper json = new ObjectMapper();
        for (AdapterEvaluation.Effect e : effects) {
            LoraSpec spec =
                    SPECS.stream()
                            .filter(x -> x.name().equals(e.adapter()))
                            .findFirst()
                            .orElseThrow();
            ObjectNode n = json.createObjectNode();
            n.put("adapter", spec.name())
                    .put("base_model", baseName)
                    .put("rank", spec.rank())
                    .put("lora_alpha", spec.alpha());
            ArrayNode t = n.putArray("target_modules");
            spec.targets().stream().sorted().forEach(p -> t.add(p.moduleName()));
            n.put("steps", steps)
                    .put("batch_per_adapter", batch)
                    .put("peak_lr", lr)
                    .put("seed", seed)
                    .put("base_stories", data.baseStories())
                    .put("examples", data.train().get(spec.name()).size())
                    .put("first_step_loss", losses.get(spec.name())[0])
                    .put("final_loss", losses.get(spec.name())[1])
                    .put("trained_jointly_with", String.join(",", losses.keySet()))
                    .put(
                            "command",
                            "scripts/train-adapters.sh --out "
                                    + out
                                    + " --steps "
                                    + steps
                                    + " --seed "
                                    + seed);
            ObjectNode eff = n.putObject("effect");
            eff.put("measure", e.measure())
                    .put("with_adapter", e.withAdapter())
                    .put("base_model", e.base())
                    .put("held_out", e.n());
            Files.writeString(
                    out.resolve(spec.name()).resolve("training.json"),
                    json.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n");
        }
        System.out.printf(
                Locale.ROOT, "train-adapters: done in %.1f s%n", (System.nanoTime() - t0) / 1e9);
    }

    /**
     * The base model as adapter_config.json names it: relative to the working directory when inside
     * it.
     */
    static String baseModelName(Path model) {
        Path abs = model.toAbsolutePath().normalize();
        Path cwd = Path.of("").toAbsolutePath();
        return abs.startsWith(cwd) ? cwd.relativize(abs).toString() : abs.toString();
    }
}
