package io.flinklora.gpu.cli;

import io.flinklora.annotation.Internal;
import io.flinklora.gpu.lora.AdapterCombiner;
import io.flinklora.gpu.lora.AdapterExtractor;
import io.flinklora.gpu.lora.AdapterFormatException;
import io.flinklora.gpu.lora.AdapterMerger;
import io.flinklora.gpu.lora.CombineMethod;
import io.flinklora.gpu.model.Projection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code scripts/merge-adapter.sh} and {@code scripts/extract-adapter.sh}: fold adapters into a
 * model folder, combine adapters into a new adapter ({@code --method}), or turn a fine-tuned model
 * into a PEFT adapter of its base.
 */
@Internal
public final class AdapterToolsCli {
    private AdapterToolsCli() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        if (args.length == 0 || !(args[0].equals("merge") || args[0].equals("extract"))) {
            System.err.println("usage: AdapterToolsCli merge|extract ...");
            System.exit(2);
        }
        try {
            if (args[0].equals("merge")) {
                merge(args);
            } else {
                extract(args);
            }
        } catch (IllegalArgumentException e) {
            System.err.println(args[0] + "-adapter: " + e.getMessage());
            System.exit(2);
        } catch (RuntimeException e) {
            System.err.println(args[0] + "-adapter: " + e.getMessage());
            System.exit(1);
        }
    }

    static final String MERGE_USAGE =
            String.join(
                    "\n",
                    "usage:",
                    "  scripts/merge-adapter.sh --model DIR --adapter DIR[:WEIGHT] [--adapter DIR[:WEIGHT] ...] --out DIR",
                    "      folds the adapters into the model: writes base + sum of weight * scale * B A as a model folder",
                    "  scripts/merge-adapter.sh --method METHOD --adapters DIR[:WEIGHT],DIR[:WEIGHT],... --out DIR",
                    "        [--density D] [--rank R] [--svd-clamp Q] [--majority-sign-method total|frequency] [--seed S]",
                    "      combines the adapters into one new PEFT adapter as PEFT's add_weighted_adapter does",
                    "      (--adapter DIR[:WEIGHT] may be repeated instead of --adapters)",
                    "      METHOD: " + CombineMethod.names(),
                    "      --density: fraction kept (required by ties*, dare_*, magnitude_prune*)",
                    "      --rank / --svd-clamp: svd_rank / svd_clamp of svd and *_svd methods",
                    "      --majority-sign-method: ties*, dare_ties* (default total); --seed: dare_* random drops (default 0)");

    /** True for {@code --method M} or {@code --method=M}: the combining mode. */
    private static boolean combining(String[] args) {
        return Arrays.stream(args).anyMatch(a -> a.equals("--method") || a.startsWith("--method="));
    }

    /** Options of merging adapters into the model. */
    @Command(name = "merge-adapter")
    static final class MergeOptions {
        @Option(names = "--model", paramLabel = "DIR")
        Path model;

        @Option(names = "--out", paramLabel = "DIR")
        Path out;

        List<AdapterMerger.Weighted> adapters = new ArrayList<>();

        @Option(
                names = {"-h", "--help"},
                usageHelp = true)
        boolean help;

        // DIR or DIR:WEIGHT; several --adapter options merge a weighted mix.
        @Option(names = "--adapter", paramLabel = "DIR[:WEIGHT]")
        void adapter(String v) {
            AdapterCombiner.Input in = weighted(v);
            adapters.add(new AdapterMerger.Weighted(in.dir(), in.weight()));
        }
    }

    /** Options of combining adapters into a new adapter ({@code --method}). */
    @Command(name = "merge-adapter")
    static final class CombineOptions {
        CombineMethod method;

        @Option(names = "--out", paramLabel = "DIR")
        Path out;

        List<AdapterCombiner.Input> adapters = new ArrayList<>();

        @Option(names = "--density", paramLabel = "D")
        Double density;

        @Option(names = "--rank", paramLabel = "R")
        Integer rank;

        @Option(names = "--svd-clamp", paramLabel = "Q")
        Double clamp;

        @Option(names = "--majority-sign-method", paramLabel = "total|frequency")
        String sign;

        @Option(names = "--seed", paramLabel = "S")
        Long seed;

        @Option(
                names = {"-h", "--help"},
                usageHelp = true)
        boolean help;

        @Option(names = "--method", paramLabel = "METHOD")
        void method(String v) {
            method = CombineMethod.byName(v);
        }

        @Option(names = "--adapters", paramLabel = "DIR[:WEIGHT],...")
        void adapters(String v) {
            for (String a : v.split(",")) {
                adapters.add(weighted(a.trim()));
            }
        }

        @Option(names = "--adapter", paramLabel = "DIR[:WEIGHT]")
        void adapter(String v) {
            adapters.add(weighted(v));
        }
    }

    /** Options of extracting an adapter from a fine-tuned model. */
    @Command(name = "extract-adapter")
    static final class ExtractOptions {
        static final String USAGE =
                "usage: scripts/extract-adapter.sh --base DIR --tuned DIR --rank R --out DIR [--targets q_proj,v_proj]";

        @Option(names = "--base", paramLabel = "DIR")
        Path base;

        @Option(names = "--tuned", paramLabel = "DIR")
        Path tuned;

        @Option(names = "--out", paramLabel = "DIR")
        Path out;

        @Option(names = "--rank", paramLabel = "R")
        int rank;

        Set<Projection> targets;

        @Option(
                names = {"-h", "--help"},
                usageHelp = true)
        boolean help;

        @Option(names = "--targets", paramLabel = "q_proj,v_proj")
        void targets(String v) {
            targets = EnumSet.noneOf(Projection.class);
            for (String t : v.split(",")) {
                Projection p = Projection.byModuleName(t.trim());
                if (p == null) {
                    throw new IllegalArgumentException("unknown target module " + t);
                }
                targets.add(p);
            }
        }
    }

    /**
     * Parses {@code options} from the arguments after the tool's name; false when help was asked
     * for.
     */
    static boolean parse(Object options, String[] args, String usage) {
        try {
            return CliOptions.parse(options, Arrays.copyOfRange(args, 1, args.length));
        } catch (IllegalArgumentException e) {
            throw e.getMessage().startsWith("unknown option")
                    ? new IllegalArgumentException(e.getMessage() + "\n" + usage)
                    : e;
        }
    }

    private static void merge(String[] args) throws Exception {
        if (combining(args)) {
            combine(args);
            return;
        }
        MergeOptions o = new MergeOptions();
        if (!parse(o, args, MERGE_USAGE)) {
            System.out.println(MERGE_USAGE);
            return;
        }
        Path model = o.model;
        Path out = o.out;
        List<AdapterMerger.Weighted> adapters = o.adapters;
        if (model == null || out == null || adapters.isEmpty()) {
            throw new IllegalArgumentException(
                    "--model, --adapter and --out are required\n" + MERGE_USAGE);
        }
        for (AdapterMerger.Weighted a : adapters) {
            if (!Files.isDirectory(a.dir())) {
                throw new IllegalArgumentException("--adapter " + a.dir() + " is not a folder");
            }
        }
        long t0 = System.nanoTime();
        AdapterMerger.merge(model, adapters, out);
        System.err.printf(
                "merged %d adapter(s) into %s in %.1f s%n",
                adapters.size(), out, (System.nanoTime() - t0) / 1e9);
    }

    /** DIR or DIR:WEIGHT (weight 1 when absent). */
    private static AdapterCombiner.Input weighted(String v) {
        int colon = v.lastIndexOf(':');
        if (colon > 0 && v.substring(colon + 1).matches("-?[0-9.eE+-]+")) {
            try {
                return new AdapterCombiner.Input(
                        Path.of(v.substring(0, colon)), Double.parseDouble(v.substring(colon + 1)));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad weight in '" + v + "'");
            }
        }
        return new AdapterCombiner.Input(Path.of(v), 1.0);
    }

    private static void combine(String[] args) throws Exception {
        CombineOptions o = new CombineOptions();
        if (!parse(o, args, MERGE_USAGE)) {
            System.out.println(MERGE_USAGE);
            return;
        }
        CombineMethod method = o.method;
        Path out = o.out;
        List<AdapterCombiner.Input> adapters = o.adapters;
        if (out == null || adapters.isEmpty()) {
            throw new IllegalArgumentException(
                    "--adapters and --out are required with --method\n" + MERGE_USAGE);
        }
        AdapterCombiner.Options options =
                new AdapterCombiner.Options(method, o.density, o.rank, o.clamp, o.sign, o.seed);
        long t0 = System.nanoTime();
        AdapterCombiner.Report r;
        try {
            r = AdapterCombiner.combine(adapters, options, out);
        } catch (AdapterFormatException e) {
            throw new IllegalArgumentException(
                    e.getMessage(), e); // an input this tool refuses: exit 2
        }
        System.err.printf(
                "combined %d adapter(s) with %s into %s: rank %d, %d module(s), %.1f s%n",
                adapters.size(),
                r.method().peftName(),
                out,
                r.rank(),
                r.modules(),
                (System.nanoTime() - t0) / 1e9);
        if (r.rsLora()) {
            System.err.println(
                    "note: the first adapter uses rsLoRA, so the combined one does too (as in PEFT):"
                            + " it is scaled by lora_alpha / sqrt(r) = sqrt("
                            + r.rank()
                            + "), not 1");
        }
    }

    private static void extract(String[] args) throws Exception {
        ExtractOptions o = new ExtractOptions();
        if (!parse(o, args, ExtractOptions.USAGE)) {
            System.out.println(ExtractOptions.USAGE);
            return;
        }
        Path base = o.base;
        Path tuned = o.tuned;
        Path out = o.out;
        int rank = o.rank;
        Set<Projection> targets = o.targets;
        if (base == null || tuned == null || out == null || rank < 1) {
            throw new IllegalArgumentException(ExtractOptions.USAGE);
        }
        long t0 = System.nanoTime();
        AdapterExtractor.Report r = AdapterExtractor.extract(base, tuned, rank, targets, out);
        System.err.printf(
                "extracted a rank-%d adapter for %s into %s in %.1f s; worst module keeps %.4f%% of its"
                        + " difference's energy%n",
                rank, r.targets(), out, (System.nanoTime() - t0) / 1e9, 100 * r.worstEnergyKept());
    }
}
