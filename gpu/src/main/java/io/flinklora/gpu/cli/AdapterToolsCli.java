package io.flinklora.gpu.cli;

import io.flinklora.gpu.lora.AdapterExtractor;
import io.flinklora.gpu.lora.AdapterMerger;
import io.flinklora.gpu.model.Projection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * {@code scripts/merge-adapter.sh} and {@code scripts/extract-adapter.sh}: fold adapters into a model
 * folder, or turn a fine-tuned model into a PEFT adapter of its base.
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

    private static void merge(String[] args) throws Exception {
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
                    int colon = v.lastIndexOf(':');
                    double w = 1.0;
                    String dir = v;
                    if (colon > 0 && v.substring(colon + 1).matches("-?[0-9.eE+-]+")) {
                        w = Double.parseDouble(v.substring(colon + 1));
                        dir = v.substring(0, colon);
                    }
                    adapters.add(new AdapterMerger.Weighted(Path.of(dir), w));
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i - 1]
                        + "\nusage: scripts/merge-adapter.sh --model DIR --adapter DIR[:WEIGHT] [--adapter ...] --out DIR");
            }
        }
        if (model == null || out == null || adapters.isEmpty()) {
            throw new IllegalArgumentException("usage: scripts/merge-adapter.sh --model DIR --adapter DIR[:WEIGHT] --out DIR");
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
