package io.flinklora.gpu.lora;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.safetensors.DType;
import io.flinklora.gpu.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Combines PEFT LoRA adapters into one new adapter as PEFT 0.21's {@code
 * LoraModel.add_weighted_adapter} does (same combination types, ranks, scaling and config), and
 * writes it as a PEFT adapter folder. What PEFT refuses, or would combine into something other than
 * the inputs' sum, is refused by name.
 */
@Internal
public final class AdapterCombiner {

    private AdapterCombiner() {}

    /** One adapter folder and its weight (negative weights subtract). */
    public record Input(Path dir, double weight) {}

    /**
     * The options of add_weighted_adapter; null means not given.
     *
     * @param density fraction of entries kept (ties, dare_*, magnitude_prune*)
     * @param svdRank {@code svd_rank}: the new rank for *svd methods (default: the largest input
     *     rank)
     * @param svdClamp {@code svd_clamp}: quantile the SVD factors are clamped at
     * @param majoritySign {@code majority_sign_method}: total (default) or frequency, for ties and
     *     dare_ties
     * @param seed seeds DARE's random drops (torch's random stream cannot be reproduced)
     */
    public record Options(
            CombineMethod method,
            Double density,
            Integer svdRank,
            Double svdClamp,
            String majoritySign,
            Long seed) {
        public Options {
            Objects.requireNonNull(method, "method");
        }

        public static Options of(CombineMethod method) {
            return new Options(method, null, null, null, null, null);
        }

        public Options density(double d) {
            return new Options(method, d, svdRank, svdClamp, majoritySign, seed);
        }

        public Options svdRank(int r) {
            return new Options(method, density, r, svdClamp, majoritySign, seed);
        }

        public Options svdClamp(double q) {
            return new Options(method, density, svdRank, q, majoritySign, seed);
        }

        public Options majoritySign(String m) {
            return new Options(method, density, svdRank, svdClamp, m, seed);
        }

        public Options seed(long s) {
            return new Options(method, density, svdRank, svdClamp, majoritySign, s);
        }
    }

    /**
     * What was written: the method used (linear for a single adapter, as PEFT), rank, module count,
     * and whether the first adapter's {@code use_rslora} carried over (scale sqrt(r) instead of 1,
     * as in PEFT).
     */
    public record Report(CombineMethod method, int rank, int modules, boolean rsLora) {}

    public static Report combine(List<Input> inputs, Options options, Path out) throws IOException {
        if (inputs.isEmpty()) {
            throw new IllegalArgumentException("no adapters to combine");
        }
        checkOptions(options);
        List<CombineInput> sources = new ArrayList<>();
        for (Input in : inputs) {
            sources.add(CombineInput.read(in.dir(), in.weight()));
        }
        checkCombinable(sources);
        // PEFT: "if there is only one adapter, we can only use linear merging".
        CombineMethod method = sources.size() == 1 ? CombineMethod.LINEAR : options.method();
        int rank = newRank(method, sources, options);
        ObjectNode json = sources.get(0).json().deepCopy();
        json.put("r", rank);
        json.put("lora_alpha", rank);
        json.set("target_modules", targetModules(sources));
        json.putObject("alpha_pattern");
        json.putObject("rank_pattern");
        AdapterConfig combined = AdapterConfig.parse(json, "combined adapter");

        TreeMap<String, List<CombineInput>> byModule = new TreeMap<>();
        for (CombineInput s : sources) {
            for (String path : s.modules().keySet()) {
                byModule.computeIfAbsent(path, k -> new ArrayList<>()).add(s);
            }
        }
        TaskMerge.Settings settings =
                new TaskMerge.Settings(
                        options.density() == null ? 1.0 : options.density(),
                        TaskMerge.SignMethod.byName(
                                options.majoritySign() == null ? "total" : options.majoritySign()),
                        new SplittableRandom(options.seed() == null ? 0L : options.seed()));
        SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
        int written = 0;
        for (var e : byModule.entrySet()) {
            String path = e.getKey();
            if (!combined.matches(path)) {
                continue; // PEFT injects the new adapter only where its config matches
            }
            CombineInput.Factors f =
                    combineModule(method, path, e.getValue(), rank, options, settings);
            boolean embedding = e.getValue().get(0).modules().get(path).embedding();
            writer.add(
                    CombineInput.PREFIX
                            + path
                            + (embedding ? ".lora_embedding_A" : ".lora_A.weight"),
                    DType.F32,
                    new long[] {rank, f.in()},
                    f.a());
            writer.add(
                    CombineInput.PREFIX
                            + path
                            + (embedding ? ".lora_embedding_B" : ".lora_B.weight"),
                    DType.F32,
                    new long[] {f.out(), rank},
                    f.b());
            CombineInput.Saved base = savedBase(path, e.getValue());
            if (base != null) {
                // PEFT saves the base embedding beside an embedding LoRA
                // (save_embedding_layers="auto").
                writer.add(
                        CombineInput.PREFIX + path + ".base_layer.weight",
                        DType.F32,
                        base.shape(),
                        base.values());
            }
            written++;
        }
        Files.createDirectories(out);
        writer.write(out.resolve("adapter_model.safetensors"));
        Files.writeString(
                out.resolve("adapter_config.json"),
                new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(json)
                        + "\n");
        return new Report(method, rank, written, combined.rsLora());
    }

    private static void checkOptions(Options o) {
        CombineMethod m = o.method();
        String name = m.peftName();
        if (m.task().prunes() && o.density() == null) {
            throw new IllegalArgumentException(
                    "--density is required for " + name + " (PEFT fails without it)");
        }
        if (!m.task().prunes() && o.density() != null) {
            throw new IllegalArgumentException(
                    "--density applies to ties, dare_* and magnitude_prune*, not " + name);
        }
        if (o.density() != null && !(o.density() >= 0)) {
            throw new IllegalArgumentException("--density must be >= 0 (got " + o.density() + ")");
        }
        if (m.task().random() && o.density() != null && o.density() == 0) {
            throw new IllegalArgumentException(
                    "--density 0 with "
                            + name
                            + " divides the kept entries by 0"
                            + " (PEFT writes NaN); use a density in (0, 1]");
        }
        if (m.shape() != CombineMethod.Shape.DELTA
                && (o.svdRank() != null || o.svdClamp() != null)) {
            throw new IllegalArgumentException(
                    "--rank and --svd-clamp apply to svd and *_svd methods, not " + name);
        }
        if (o.svdRank() != null && o.svdRank() < 1) {
            throw new IllegalArgumentException("--rank must be at least 1");
        }
        if (o.svdClamp() != null && !(o.svdClamp() >= 0 && o.svdClamp() <= 1)) {
            throw new IllegalArgumentException(
                    "--svd-clamp is a quantile in [0, 1] (got " + o.svdClamp() + ")");
        }
        if (!m.task().electsSign() && o.majoritySign() != null) {
            throw new IllegalArgumentException(
                    "--majority-sign-method applies to ties, ties_svd, dare_ties and"
                            + " dare_ties_svd, not "
                            + name);
        }
        if (o.majoritySign() != null) {
            TaskMerge.SignMethod.byName(o.majoritySign());
        }
        if (!m.task().random() && o.seed() != null) {
            throw new IllegalArgumentException(
                    "--seed applies to dare_* methods only, not " + name);
        }
    }

    /**
     * The new config is the first adapter's with the union of target modules, so PEFT would apply
     * the first adapter's layer selection and exclusions to every input: refused unless they all
     * agree.
     */
    private static void checkCombinable(List<CombineInput> sources) {
        AdapterConfig first = sources.get(0).config();
        for (CombineInput s : sources) {
            AdapterConfig c = s.config();
            if ((first.targetRegex() == null) != (c.targetRegex() == null)) {
                throw new IllegalArgumentException(
                        "all adapter configs should follow the same target modules type"
                                + " (PEFT refuses mixing a list with a regex string): "
                                + sources.get(0).dir()
                                + " and "
                                + s.dir());
            }
            if (!Objects.equals(first.layers(), c.layers())
                    || !first.layersPattern().equals(c.layersPattern())
                    || !Objects.equals(regex(first.excludeRegex()), regex(c.excludeRegex()))
                    || !first.excludeNames().equals(c.excludeNames())) {
                throw new IllegalArgumentException(
                        s.dir()
                                + " differs from "
                                + sources.get(0).dir()
                                + " in layers_to_transform, layers_pattern or exclude_modules; PEFT would apply the first"
                                + " adapter's to all of them, so this is refused");
            }
            for (var e : s.modules().entrySet()) {
                for (CombineInput other : sources) {
                    CombineInput.Factors f = other.modules().get(e.getKey());
                    if (f != null
                            && (f.in() != e.getValue().in() || f.out() != e.getValue().out())) {
                        throw new IllegalArgumentException(
                                "'"
                                        + e.getKey()
                                        + "' has different shapes in "
                                        + s.dir()
                                        + " and "
                                        + other.dir()
                                        + " (adapters of different base models)");
                    }
                }
            }
        }
    }

    /**
     * The base embedding saved beside an embedding LoRA: every input that saved one must hold the
     * same.
     */
    private static CombineInput.Saved savedBase(String path, List<CombineInput> sources) {
        CombineInput.Saved first = null;
        Path from = null;
        for (CombineInput s : sources) {
            CombineInput.Saved x = s.savedBase().get(path);
            if (x == null) {
                continue;
            }
            if (first == null) {
                first = x;
                from = s.dir();
            } else if (!Arrays.equals(first.values(), x.values())) {
                throw new IllegalArgumentException(
                        "the base embedding saved in "
                                + s.dir()
                                + " differs from the one in "
                                + from
                                + " (adapters of different base models)");
            }
        }
        return first;
    }

    private static String regex(java.util.regex.Pattern p) {
        return p == null ? null : p.pattern();
    }

    private static int newRank(CombineMethod method, List<CombineInput> sources, Options options) {
        List<Integer> ranks = sources.stream().map(CombineInput::peftRank).toList();
        switch (method.shape()) {
            case FACTORS -> {
                if (new TreeSet<>(ranks).size() != 1) {
                    throw new IllegalArgumentException(
                            "All adapters must have the same r value when using"
                                    + " combination_type "
                                    + method.peftName()
                                    + " (ranks "
                                    + ranks
                                    + "); use cat or svd");
                }
                int r = ranks.get(0);
                for (CombineInput s : sources) {
                    for (var e : s.modules().entrySet()) {
                        if (e.getValue().rank() != r) {
                            throw new IllegalArgumentException(
                                    method.peftName()
                                            + " needs every module at rank "
                                            + r
                                            + ", but '"
                                            + e.getKey()
                                            + "' of "
                                            + s.dir()
                                            + " has rank "
                                            + e.getValue().rank()
                                            + " (rank_pattern); PEFT cannot combine it either. Use cat or svd");
                        }
                    }
                }
                return r;
            }
            case CONCAT -> {
                return ranks.stream().mapToInt(Integer::intValue).sum();
            }
            default -> {
                return options.svdRank() != null
                        ? options.svdRank()
                        : ranks.stream().mapToInt(Integer::intValue).max().orElseThrow();
            }
        }
    }

    /**
     * A list: the union (PEFT merges sets); regex strings: {@code (t1)|(t2)|...} in input order.
     */
    private static com.fasterxml.jackson.databind.JsonNode targetModules(
            List<CombineInput> sources) {
        ObjectMapper om = new ObjectMapper();
        if (sources.get(0).config().targetRegex() != null) {
            List<String> parts = new ArrayList<>();
            for (CombineInput s : sources) {
                parts.add("(" + s.config().targetRegex().pattern() + ")");
            }
            return om.getNodeFactory().textNode(String.join("|", parts));
        }
        TreeSet<String> names = new TreeSet<>();
        sources.forEach(s -> names.addAll(s.config().targetNames()));
        ArrayNode out = om.createArrayNode();
        names.forEach(out::add);
        return out;
    }

    private static CombineInput.Factors combineModule(
            CombineMethod method,
            String path,
            List<CombineInput> sources,
            int rank,
            Options options,
            TaskMerge.Settings settings) {
        CombineInput.Factors shape = sources.get(0).modules().get(path);
        int in = shape.in();
        int out = shape.out();
        switch (method.shape()) {
            case CONCAT -> {
                // torch: A * weight * scaling, two float32 products; B unchanged; zero rows/columns
                // pad the rank.
                float[] a = new float[rank * in];
                float[] b = new float[out * rank];
                int offset = 0;
                for (CombineInput s : sources) {
                    CombineInput.Factors f = s.modules().get(path);
                    float w = (float) s.weight();
                    float scale = (float) s.config().scaleOf(path);
                    for (int i = 0; i < f.rank() * in; i++) {
                        a[offset * in + i] = (f.a()[i] * w) * scale;
                    }
                    for (int o = 0; o < out; o++) {
                        System.arraycopy(f.b(), o * f.rank(), b, o * rank + offset, f.rank());
                    }
                    offset += f.rank();
                }
                return new CombineInput.Factors(rank, in, out, a, b, shape.embedding());
            }
            case FACTORS -> {
                List<float[]> as = new ArrayList<>();
                List<float[]> bs = new ArrayList<>();
                float[] wa = new float[sources.size()];
                float[] wb = new float[sources.size()];
                for (int i = 0; i < sources.size(); i++) {
                    CombineInput s = sources.get(i);
                    CombineInput.Factors f = s.modules().get(path);
                    // sqrt(|weight * scaling|) on each factor, the sign on A only (so B A gets it
                    // once).
                    double ws = s.weight() * s.config().scaleOf(path);
                    double root = Math.sqrt(Math.abs(ws));
                    wa[i] = (float) (ws >= 0 ? root : -root);
                    wb[i] = (float) root;
                    as.add(f.a());
                    bs.add(f.b());
                }
                float[] a = TaskMerge.merge(method.task(), as, wa, settings);
                float[] b = TaskMerge.merge(method.task(), bs, wb, settings);
                return new CombineInput.Factors(rank, in, out, a, b, shape.embedding());
            }
            default -> {
                int inner = sources.stream().mapToInt(s -> s.modules().get(path).rank()).sum();
                if (method.task() == CombineMethod.Task.ARITHMETIC && inner < Math.min(in, out)) {
                    return svdOfSum(path, sources, rank, options);
                }
                List<float[]> deltas = new ArrayList<>();
                float[] w = new float[sources.size()];
                for (int i = 0; i < sources.size(); i++) {
                    CombineInput s = sources.get(i);
                    deltas.add(delta(s.modules().get(path), (float) s.config().scaleOf(path)));
                    w[i] = (float) s.weight();
                }
                float[] merged = TaskMerge.merge(method.task(), deltas, w, settings);
                LowRankFactors f;
                try {
                    f = LowRankFactors.of(merged, out, in, rank, options.svdClamp());
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("'" + path + "': " + e.getMessage(), e);
                }
                return new CombineInput.Factors(rank, in, out, f.a(), f.b(), shape.embedding());
            }
        }
    }

    /**
     * svd of a plain weighted sum: the delta is {@code [w_1 s_1 B_1 | ...] [A_1; ...]}, a product
     * of thin factors, decomposed through them (the same truncated SVD without forming the [out,
     * in] matrix).
     */
    private static CombineInput.Factors svdOfSum(
            String path, List<CombineInput> sources, int rank, Options options) {
        CombineInput.Factors first = sources.get(0).modules().get(path);
        int in = first.in();
        int out = first.out();
        int inner = sources.stream().mapToInt(s -> s.modules().get(path).rank()).sum();
        double[] p = new double[out * inner];
        double[] q = new double[inner * in];
        int offset = 0;
        for (CombineInput s : sources) {
            CombineInput.Factors f = s.modules().get(path);
            double ws = s.weight() * s.config().scaleOf(path);
            for (int o = 0; o < out; o++) {
                for (int k = 0; k < f.rank(); k++) {
                    p[o * inner + offset + k] = ws * f.b()[o * f.rank() + k];
                }
            }
            for (int i = 0; i < f.rank() * in; i++) {
                q[offset * in + i] = f.a()[i];
            }
            offset += f.rank();
        }
        LowRankFactors lr;
        try {
            lr = LowRankFactors.ofProduct(p, q, out, inner, in, rank, options.svdClamp());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + path + "': " + e.getMessage(), e);
        }
        return new CombineInput.Factors(rank, in, out, lr.a(), lr.b(), first.embedding());
    }

    /** get_delta_weight: {@code (B @ A) * scaling} rounded to float32 as torch holds it. */
    private static float[] delta(CombineInput.Factors f, float scale) {
        float[] d = new float[f.out() * f.in()];
        for (int o = 0; o < f.out(); o++) {
            for (int c = 0; c < f.in(); c++) {
                double acc = 0;
                for (int k = 0; k < f.rank(); k++) {
                    acc += (double) f.b()[o * f.rank() + k] * f.a()[k * f.in() + c];
                }
                d[o * f.in() + c] = (float) acc * scale;
            }
        }
        return d;
    }
}
