package io.flinklora.gpu.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.compose.BatchedCmaes;
import io.flinklora.gpu.compose.ComposeExample;
import io.flinklora.gpu.compose.MixScorer;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * {@code scripts/bench.sh compose}: one adapter-mix search generation (CMA-ES's default population
 * of seeded candidate weightings of the shipped adapters, every example of the Max-happy task)
 * scored as one mixed batch against candidate by candidate (one batch of the examples per
 * candidate), on the same engine; the losses must agree.
 */
@Internal
public final class ComposeBench {
    private ComposeBench() {}

    /**
     * CPU time of the whole process (PyTorch's threads included): less disturbed by other load than
     * wall time.
     */
    private static long cpuNanos() {
        var os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        return os instanceof com.sun.management.OperatingSystemMXBean b ? b.getProcessCpuTime() : 0;
    }

    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        Path out = Path.of(args.length > 0 ? args[0] : "bench-out");
        Path root = Path.of(System.getProperty("project.root", "."));
        Path model = root.resolve("models/stories260k");
        Path adapters = root.resolve("models/adapters");
        Path examplesFile = root.resolve("models/compose/max-happy/examples.jsonl");
        int repeats = 3;
        for (int i = 1; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> repeats = 1;
                case "--model" -> model = Path.of(args[++i]);
                case "--adapters" -> adapters = Path.of(args[++i]);
                case "--examples" -> examplesFile = Path.of(args[++i]);
                case "--repeats" -> repeats = Integer.parseInt(args[++i]);
                default ->
                        throw new IllegalArgumentException(
                                "unknown option "
                                        + args[i]
                                        + " (--quick, --model DIR, --adapters DIR, --examples FILE, --repeats N)");
            }
        }
        List<String> use = List.of("max", "happy", "mood");
        List<ComposeExample> examples = ComposeExample.read(examplesFile);
        int population = BatchedCmaes.defaultPopulation(use.size());
        Random random = new Random(1);
        List<double[]> candidates = new ArrayList<>();
        for (int c = 0; c < population; c++) {
            candidates.add(random.doubles(use.size(), -1, 1).toArray());
        }
        double batched = Double.MAX_VALUE;
        double oneByOne = Double.MAX_VALUE;
        double batchedCpu = Double.MAX_VALUE;
        double oneByOneCpu = Double.MAX_VALUE;
        long batchedSteps = 0;
        long oneByOneSteps = 0;
        double worstDiff = 0;
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(model)
                                .maxRunning(population * examples.size())
                                .maxTokensPerStep(8192)
                                .maxSequenceLength(256)
                                .adapterRoot(adapters)
                                .build())) {
            MixScorer scorer = new MixScorer(e, use, examples);
            scorer.losses(
                    candidates.subList(
                            0, 1)); // warm-up: adapters loaded, native code paths compiled
            for (int r = 0; r < repeats; r++) {
                long t0 = System.nanoTime();
                long c0 = cpuNanos();
                long s0 = e.stats().steps();
                double[] all = scorer.losses(candidates);
                batched = Math.min(batched, (System.nanoTime() - t0) / 1e9);
                batchedCpu = Math.min(batchedCpu, (cpuNanos() - c0) / 1e9);
                batchedSteps = e.stats().steps() - s0;
                t0 = System.nanoTime();
                c0 = cpuNanos();
                s0 = e.stats().steps();
                double[] each = new double[population];
                for (int c = 0; c < population; c++) {
                    each[c] = scorer.losses(candidates.subList(c, c + 1))[0];
                }
                oneByOne = Math.min(oneByOne, (System.nanoTime() - t0) / 1e9);
                oneByOneCpu = Math.min(oneByOneCpu, (cpuNanos() - c0) / 1e9);
                oneByOneSteps = e.stats().steps() - s0;
                for (int c = 0; c < population; c++) {
                    worstDiff = Math.max(worstDiff, Math.abs(all[c] - each[c]));
                }
                System.err.printf(
                        Locale.ROOT,
                        "repeat %d: one batch %.2f s, candidate by candidate %.2f s, losses %s%n",
                        r + 1,
                        batched,
                        oneByOne,
                        Arrays.toString(all));
            }
            double ratio = oneByOne / batched;
            System.out.printf(
                    Locale.ROOT,
                    "compose: one generation (%d candidates x %d examples, %d rows, %d tokens)"
                            + " as one mixed batch %.2f s (%d steps, %.2f s CPU), candidate by candidate %.2f s (%d steps,"
                            + " %.2f s CPU): %.2fx wall, %.2fx CPU; worst loss difference %.2e%n",
                    population,
                    examples.size(),
                    population * examples.size(),
                    population * scorer.tokensPerCandidate(),
                    batched,
                    batchedSteps,
                    batchedCpu,
                    oneByOne,
                    oneByOneSteps,
                    oneByOneCpu,
                    ratio,
                    oneByOneCpu / batchedCpu,
                    worstDiff);
            ObjectMapper om = new ObjectMapper();
            ObjectNode json =
                    om.createObjectNode()
                            .put("candidates", population)
                            .put("examples", examples.size())
                            .put("tokens_per_candidate", scorer.tokensPerCandidate())
                            .put("batched_s", batched)
                            .put("one_by_one_s", oneByOne)
                            .put("speedup", ratio)
                            .put("batched_cpu_s", batchedCpu)
                            .put("one_by_one_cpu_s", oneByOneCpu)
                            .put("batched_steps", batchedSteps)
                            .put("one_by_one_steps", oneByOneSteps)
                            .put("worst_loss_difference", worstDiff)
                            .put("repeats_best_of", repeats)
                            .put(
                                    "threads",
                                    System.getProperty("ai.djl.pytorch.num_threads", "default"));
            Files.createDirectories(out);
            Files.writeString(
                    out.resolve("compose.json"),
                    om.writerWithDefaultPrettyPrinter().writeValueAsString(json) + "\n");
        }
    }
}
