package io.flinklora.gpu.cli;

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

/**
 * {@code scripts/merge-adapter.sh} and {@code scripts/extract-adapter.sh}: fold adapters into a model
 * folder, combine adapters into a new adapter ({@code --method}), or turn a fine-tuned model into a PEFT
 * adapter of its base.
 */
public final class AdapterToolsCli {
    private AdapterToolsCli() {
    }

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

    static final String MERGE_USAGE = String.join("\n",
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

    private static void merge(String[] args) throws Exception {
        if (Arrays.asList(args).contains("--help") || Arrays.asList(args).contains("-h")) {
            System.out.println(MERGE_USAGE);
            return;
        }
        if (Arrays.asList(args).contains("--method")) {
            combine(args);
            return;
        }
        Path model = null;
        Path out = null;
        List<AdapterMerger.Weighted> adapters = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            String v = value(args, i++);
            switch (args[i - 1]) {
                case "--model" -> model = Path.of(v);
                case "--out" -> out = Path.of(v);
                case "--adapter" -> {
                    // DIR or DIR:WEIGHT; several --adapter options merge a weighted mix.
                    AdapterCombiner.Input in = weighted(v);
                    adapters.add(new AdapterMerger.Weighted(in.dir(), in.weight()));
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i - 1] + "\n" + MERGE_USAGE);
            }
        }
        if (model == null || out == null || adapters.isEmpty()) {
            throw new IllegalArgumentException("--model, --adapter and --out are required\n" + MERGE_USAGE);
        }
        for (AdapterMerger.Weighted a : adapters) {
            if (!Files.isDirectory(a.dir())) {
                throw new IllegalArgumentException("--adapter " + a.dir() + " is not a folder");
            }
        }
        long t0 = System.nanoTime();
        AdapterMerger.merge(model, adapters, out);
        System.err.printf("merged %d adapter(s) into %s in %.1f s%n", adapters.size(), out, (System.nanoTime() - t0) / 1e9);
    }

    /** DIR or DIR:WEIGHT (weight 1 when absent). */
    private static AdapterCombiner.Input weighted(String v) {
        int colon = v.lastIndexOf(':');
        if (colon > 0 && v.substring(colon + 1).matches("-?[0-9.eE+-]+")) {
            try {
                return new AdapterCombiner.Input(Path.of(v.substring(0, colon)), Double.parseDouble(v.substring(colon + 1)));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad weight in '" + v + "'");
            }
        }
        return new AdapterCombiner.Input(Path.of(v), 1.0);
    }

    private static void combine(String[] args) throws Exception {
        CombineMethod method = null;
        Path out = null;
        List<AdapterCombiner.Input> adapters = new ArrayList<>();
        Double density = null;
        Integer rank = null;
        Double clamp = null;
        String sign = null;
        Long seed = null;
        for (int i = 1; i < args.length; i++) {
            String v = value(args, i++);
            try {
                switch (args[i - 1]) {
                    case "--method" -> method = CombineMethod.byName(v);
                    case "--out" -> out = Path.of(v);
                    case "--adapters" -> {
                        for (String a : v.split(",")) {
                            adapters.add(weighted(a.trim()));
                        }
                    }
                    case "--adapter" -> adapters.add(weighted(v));
                    case "--density" -> density = Double.parseDouble(v);
                    case "--rank" -> rank = Integer.parseInt(v);
                    case "--svd-clamp" -> clamp = Double.parseDouble(v);
                    case "--majority-sign-method" -> sign = v;
                    case "--seed" -> seed = Long.parseLong(v);
                    default -> throw new IllegalArgumentException("unknown option " + args[i - 1] + " with --method\n"
                            + MERGE_USAGE);
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("option " + args[i - 1] + ": '" + v + "' is not a number");
            }
        }
        if (out == null || adapters.isEmpty()) {
            throw new IllegalArgumentException("--adapters and --out are required with --method\n" + MERGE_USAGE);
        }
        if (method == null) {
            throw new IllegalArgumentException("--method needs a value\n" + MERGE_USAGE);
        }
        AdapterCombiner.Options options = new AdapterCombiner.Options(method, density, rank, clamp, sign, seed);
        long t0 = System.nanoTime();
        AdapterCombiner.Report r;
        try {
            r = AdapterCombiner.combine(adapters, options, out);
        } catch (AdapterFormatException e) {
            throw new IllegalArgumentException(e.getMessage(), e); // an input this tool refuses: exit 2
        }
        System.err.printf("combined %d adapter(s) with %s into %s: rank %d, %d module(s), %.1f s%n", adapters.size(),
                r.method().peftName(), out, r.rank(), r.modules(), (System.nanoTime() - t0) / 1e9);
        if (r.rsLora()) {
            System.err.println("note: the first adapter uses rsLoRA, so the combined one does too (as in PEFT):"
                    + " it is scaled by lora_alpha / sqrt(r) = sqrt(" + r.rank() + "), not 1");
        }
    }

    private static void extract(String[] args) throws Exception {
        Path base = null;
        Path tuned = null;
        Path out = null;
        int rank = 0;
        Set<Projection> targets = null;
        for (int i = 1; i < args.length; i++) {
            String v = value(args, i++);
            switch (args[i - 1]) {
                case "--base" -> base = Path.of(v);
                case "--tuned" -> tuned = Path.of(v);
                case "--out" -> out = Path.of(v);
                case "--rank" -> rank = Integer.parseInt(v);
                case "--targets" -> {
                    targets = EnumSet.noneOf(Projection.class);
                    for (String t : v.split(",")) {
                        Projection p = Projection.byModuleName(t.trim());
                        if (p == null) {
                            throw new IllegalArgumentException("unknown target module " + t);
                        }
                        targets.add(p);
                    }
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i - 1]
                        + "\nusage: scripts/extract-adapter.sh --base DIR --tuned DIR --rank R --out DIR [--targets q_proj,v_proj]");
            }
        }
        if (base == null || tuned == null || out == null || rank < 1) {
            throw new IllegalArgumentException(
                    "usage: scripts/extract-adapter.sh --base DIR --tuned DIR --rank R --out DIR [--targets q_proj,v_proj]");
        }
        long t0 = System.nanoTime();
        AdapterExtractor.Report r = AdapterExtractor.extract(base, tuned, rank, targets, out);
        System.err.printf("extracted a rank-%d adapter for %s into %s in %.1f s; worst module keeps %.4f%% of its"
                + " difference's energy%n", rank, r.targets(), out, (System.nanoTime() - t0) / 1e9, 100 * r.worstEnergyKept());
    }

    private static String value(String[] args, int i) {
        if (i + 1 >= args.length) {
            throw new IllegalArgumentException("option " + args[i] + " needs a value");
        }
        return args[i + 1];
    }
}
