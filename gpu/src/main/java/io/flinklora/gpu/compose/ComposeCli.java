package io.flinklora.gpu.compose;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.cli.CliOptions;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Option;

/**
 * {@code scripts/compose-adapters.sh}: learns mix weights of existing adapters for a new task from
 * a few examples ({@link MixSearch}) and writes them as a request's {@code adapters} list and as a
 * fused adapter.
 */
@Internal
public final class ComposeCli {
    static final String USAGE =
            String.join(
                    "\n",
                    "usage: scripts/compose-adapters.sh --model DIR --adapters ROOT --use a,b,c --examples task.jsonl --out DIR",
                    "         [--steps 100] [--l1 0.05] [--seed 1] [--population N] [--sigma 0.5] [--bound 1.5]",
                    "         [--max-batch 1024] [--max-tokens-per-step 8192]",
                    "  --examples: JSON lines {\"input\": ..., \"output\": ...}; the loss is the outputs' mean token",
                    "      cross-entropy given the inputs (teacher forcing), plus l1 * sum |w|",
                    "  --steps: CMA-ES generations at most; each generation's candidates x examples are one mixed batch",
                    "  writes OUT/weights.json ([{\"name\", \"weight\"}], a request's adapters list), OUT/fused/ (one PEFT",
                    "  adapter serving the same as the mix) and OUT/search.json (settings and per-generation progress)");

    private ComposeCli() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        if (Arrays.asList(args).contains("--help") || Arrays.asList(args).contains("-h")) {
            System.out.println(USAGE);
            return;
        }
        try {
            run(args);
        } catch (IllegalArgumentException e) {
            System.err.println("compose-adapters: " + e.getMessage());
            System.exit(2);
        }
    }

    /** The tool's options; MixSearch's settings give the search defaults. */
    static final class Options {
        private static final MixSearch.Settings D = MixSearch.Settings.defaults();

        @Option(names = "--model")
        Path model;

        @Option(names = "--adapters")
        Path root;

        @Option(names = "--examples")
        Path examplesFile;

        @Option(names = "--out")
        Path out;

        List<String> use;

        @Option(names = "--steps")
        int steps = D.generations();

        @Option(names = "--l1")
        double l1 = D.l1();

        @Option(names = "--seed")
        long seed = D.seed();

        @Option(names = "--population")
        int population = D.population();

        @Option(names = "--sigma")
        double sigma = D.sigma();

        @Option(names = "--bound")
        double bound = D.bound();

        // Wider than the serving defaults: one generation's candidates x examples are one mixed
        // batch.
        @Option(names = "--max-batch")
        int maxBatch = 1024;

        @Option(names = "--max-tokens-per-step")
        int tokensPerStep = 8192;

        @Option(names = "--use")
        void use(String v) {
            use = Arrays.stream(v.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList();
        }
    }

    static void run(String[] args) throws Exception {
        Options o = new Options();
        try {
            CliOptions.parse(o, args);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage() + "\n" + USAGE, e);
        }
        Path model = o.model;
        Path root = o.root;
        Path examplesFile = o.examplesFile;
        Path out = o.out;
        List<String> use = o.use;
        int steps = o.steps;
        double l1 = o.l1;
        long seed = o.seed;
        int population = o.population;
        double sigma = o.sigma;
        double bound = o.bound;
        int maxBatch = o.maxBatch;
        int tokensPerStep = o.tokensPerStep;
        if (model == null || root == null || use == null || examplesFile == null || out == null) {
            throw new IllegalArgumentException(
                    "--model, --adapters, --use, --examples and --out are required\n" + USAGE);
        }
        if (use.size() < 2 || use.stream().distinct().count() != use.size()) {
            throw new IllegalArgumentException(
                    "--use needs at least two distinct adapters (got " + use + ")");
        }
        for (String a : use) {
            if (!Files.isRegularFile(root.resolve(a).resolve("adapter_config.json"))) {
                throw new IllegalArgumentException("no adapter '" + a + "' under " + root);
            }
        }
        if (!(l1 >= 0)) {
            throw new IllegalArgumentException("--l1 must be >= 0");
        }
        List<ComposeExample> examples = ComposeExample.read(examplesFile);
        List<String> names = use;
        MixSearch.Settings settings =
                new MixSearch.Settings(steps, l1, population, sigma, bound, seed);
        int lambda = population > 0 ? population : BatchedCmaes.defaultPopulation(use.size());
        int rows = Math.min(maxBatch, lambda * examples.size());
        MixSearch.Result result;
        try (Engine engine =
                Engine.open(
                        EngineConfig.builder(model)
                                .maxRunning(rows)
                                .maxTokensPerStep(tokensPerStep)
                                .maxSequenceLength(longest(model, examples))
                                .adapterRoot(root)
                                .build())) {
            MixScorer scorer = new MixScorer(engine, use, examples);
            System.err.printf(
                    Locale.ROOT,
                    "compose: %d examples (%d completion tokens), adapters %s, %d candidates"
                            + " per generation, %d rows per generation batch, l1 %.3g, seed %d%n",
                    examples.size(),
                    scorer.tokensPerCandidate(),
                    use,
                    lambda,
                    lambda * examples.size(),
                    l1,
                    seed);
            result = MixSearch.run(scorer, settings, p -> System.err.println(line(names, p)));
        }
        Files.createDirectories(out);
        ObjectMapper om = new ObjectMapper();
        ArrayNode weights = om.createArrayNode();
        for (int i = 0; i < use.size(); i++) {
            weights.addObject().put("name", use.get(i)).put("weight", result.weights()[i]);
        }
        Files.writeString(
                out.resolve("weights.json"),
                om.writerWithDefaultPrettyPrinter().writeValueAsString(weights) + "\n");
        int rank = FusedAdapter.write(root, use, result.weights(), out.resolve("fused"));
        ObjectNode search = om.createObjectNode();
        search.put("examples", examples.size())
                .put("l1", l1)
                .put("seed", seed)
                .put("population", lambda)
                .put("max_generations", steps)
                .put("sigma", sigma)
                .put("bound", bound);
        search.set("weights", weights);
        search.put("loss", result.loss())
                .put("objective", result.objective())
                .put("scored_rows", result.scoredRows())
                .put("seconds", result.seconds())
                .put("fused_rank", rank);
        ArrayNode hist = search.putArray("generations");
        for (MixSearch.Progress p : result.history()) {
            ObjectNode g =
                    hist.addObject()
                            .put("generation", p.generation())
                            .put("candidates", p.candidates())
                            .put("best_objective", p.bestObjective())
                            .put("mean_objective", p.meanObjective())
                            .put("best_loss", p.bestLoss())
                            .put("elapsed_s", p.elapsedSeconds());
            ArrayNode w = g.putArray("best_weights");
            Arrays.stream(p.bestWeights()).forEach(w::add);
        }
        Files.writeString(
                out.resolve("search.json"),
                om.writerWithDefaultPrettyPrinter().writeValueAsString(search) + "\n");
        System.out.printf(
                Locale.ROOT,
                "weights %s  loss %.4f  objective %.4f  (%d generations, %d rows scored, %.1f s)%n",
                mixText(use, result.weights()),
                result.loss(),
                result.objective(),
                result.history().size() - 1,
                result.scoredRows(),
                result.seconds());
        System.out.println(
                "wrote "
                        + out.resolve("weights.json")
                        + ", "
                        + out.resolve("fused")
                        + " (rank "
                        + rank
                        + "), "
                        + out.resolve("search.json"));
    }

    /**
     * The longest example as positions: prompt plus completion, so every row fits one cache slot.
     */
    private static int longest(Path model, List<ComposeExample> examples) {
        try (io.flinklora.gpu.tokenizer.Tokenizer tok =
                io.flinklora.gpu.tokenizer.Tokenizer.load(model)) {
            int n = 0;
            for (ComposeExample e : examples) {
                n = Math.max(n, tok.encode(e.input() + e.output()).length + 2);
            }
            return n;
        }
    }

    static String line(List<String> names, MixSearch.Progress p) {
        return String.format(
                Locale.ROOT,
                "generation %3d  best %.4f  mean %.4f  best weights %s  (loss %.4f)  %.1f s",
                p.generation(),
                p.bestObjective(),
                p.meanObjective(),
                mixText(names, p.bestWeights()),
                p.bestLoss(),
                p.elapsedSeconds());
    }

    static String mixText(List<String> names, double[] w) {
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            parts.add(String.format(Locale.ROOT, "%s=%.3f", names.get(i), w[i]));
        }
        return String.join(" ", parts);
    }
}
