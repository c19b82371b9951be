package io.flinklora.gpu.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.engine.EngineRequest;
import io.flinklora.gpu.engine.StepResult;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.lora.AdapterSettings;
import io.flinklora.gpu.lora.LoraStrategy;
import io.flinklora.gpu.lora.PeftWriter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.function.IntFunction;

/**
 * The multi-LoRA benchmark of {@code scripts/bench.sh lora}: throughput of 32 requests with no
 * adapter, one, 8 and 32 distinct rank-16 adapters, one at a time, and with a per-row loop; the
 * overhead of merely enabling adapters; a cold adapter load under a running batch; and step latency
 * against batch size for the loop, gathered and segmented strategies. All side by side in one run.
 */
@Internal
public final class LoraBench {
    private static final int REQUESTS = 32;
    private static final int PROMPT = 16;
    private static final LoraStrategy DEFAULT =
            io.flinklora.gpu.lora.AdapterSettings.DEFAULT.strategy();

    private LoraBench() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        Path out = Path.of(args.length > 0 ? args[0] : "bench-out");
        boolean quick = Arrays.asList(args).contains("--quick");
        RandomLlama.Spec spec = quick ? RandomLlama.Spec.quick() : RandomLlama.Spec.benchmark();
        Path model = RandomLlama.benchmarkModel(out, quick);
        ModelConfig config = ModelConfig.read(model);
        Path root = out.resolve(quick ? "adapters-quick" : "adapters");
        for (int i = 0; i < REQUESTS + 1; i++) {
            Path dir = root.resolve("task" + i);
            if (!Files.isRegularFile(dir.resolve("adapter_model.safetensors"))) {
                new PeftWriter(config)
                        .rank(16)
                        .alpha(32)
                        .targets(EnumSet.of(Projection.Q, Projection.K, Projection.V, Projection.O))
                        .write(dir, 1000 + i, 0.02, 0.02);
            }
            Path doraDir = root.resolve("dora" + i);
            if (!Files.isRegularFile(doraDir.resolve("adapter_model.safetensors"))) {
                new PeftWriter(config)
                        .rank(16)
                        .alpha(32)
                        .dora(true)
                        .targets(EnumSet.of(Projection.Q, Projection.K, Projection.V, Projection.O))
                        .write(doraDir, 1000 + i, 0.02, 0.02);
            }
        }
        int newTokens = quick ? 16 : 64;
        System.out.printf(
                "model: random Llama hidden %d, %d layers; %d requests x %d new tokens; rank-16 adapters on q,k,v,o%n%n",
                spec.hidden(), spec.layers(), REQUESTS, newTokens);
        ObjectMapper json = new ObjectMapper();
        ObjectNode report = json.createObjectNode();
        int alone = quick ? 4 : 8;
        int rounds = quick ? 1 : 3;
        // Cases run interleaved, several rounds, and each reports its median: machine noise hits
        // all alike.
        String[] names = {"a", "a'", "b", "c", "d", "d'", "e", "f", "d''", "g"};
        List<List<Double>> runs = new ArrayList<>();
        for (int k = 0; k < names.length; k++) {
            runs.add(new ArrayList<>());
        }
        for (int round = 0; round < rounds; round++) {
            runs.get(0)
                    .add(
                            tps(
                                    model,
                                    null,
                                    REQUESTS,
                                    REQUESTS,
                                    newTokens,
                                    i -> List.of(),
                                    LoraStrategy.SEGMENTED));
            runs.get(1)
                    .add(
                            tps(
                                    model,
                                    root,
                                    REQUESTS,
                                    REQUESTS,
                                    newTokens,
                                    i -> List.of(),
                                    LoraStrategy.SEGMENTED));
            runs.get(2)
                    .add(
                            tps(
                                    model,
                                    root,
                                    REQUESTS,
                                    REQUESTS,
                                    newTokens,
                                    i -> one("task0"),
                                    LoraStrategy.SEGMENTED));
            runs.get(3)
                    .add(
                            tps(
                                    model,
                                    root,
                                    REQUESTS,
                                    REQUESTS,
                                    newTokens,
                                    i -> one("task" + (i % 8)),
                                    DEFAULT));
            runs.get(4)
                    .add(
                            tps(
                                    model,
                                    root,
                                    REQUESTS,
                                    REQUESTS,
                                    newTokens,
                                    i -> one("task" + i),
                                    DEFAULT));
            runs.get(5)
                    .add(
                            tps(
                                    model,
                                    root,
                                    REQUESTS,
                                    REQUESTS,
                                    newTokens,
                                    i -> one("task" + i),
                                    LoraStrategy.GATHERED));
            if (round == 0) {
                runs.get(6)
                        .add(tps(model, root, 1, alone, newTokens, i -> one("task" + i), DEFAULT));
            }
            runs.get(7)
                    .add(
                            tps(
                                    model,
                                    root,
                                    REQUESTS,
                                    REQUESTS,
                                    newTokens,
                                    i -> one("task" + i),
                                    LoraStrategy.LOOP));
            runs.get(8)
                    .add(
                            tps(
                                    model,
                                    root,
                                    REQUESTS,
                                    REQUESTS,
                                    newTokens,
                                    i -> one("task" + i),
                                    LoraStrategy.SEGMENTED));
            runs.get(9)
                    .add(
                            tps(
                                    model,
                                    root,
                                    REQUESTS,
                                    REQUESTS,
                                    newTokens,
                                    i -> one("dora" + i),
                                    DEFAULT));
            System.out.printf("round %d of %d done%n", round + 1, rounds);
        }
        double a = EngineBench.median(runs.get(0));
        double aEnabled = EngineBench.median(runs.get(1));
        double b = EngineBench.median(runs.get(2));
        double c = EngineBench.median(runs.get(3));
        double d = EngineBench.median(runs.get(4));
        double dg = EngineBench.median(runs.get(5));
        double e = EngineBench.median(runs.get(6));
        double f = EngineBench.median(runs.get(7));
        double ds = EngineBench.median(runs.get(8));
        double g = EngineBench.median(runs.get(9));
        String[][] rows = {
            {"(a) base only", fmt(a)},
            {"(a') base only, adapters enabled", fmt(aEnabled)},
            {"(b) one adapter for all 32", fmt(b)},
            {"(c) 8 adapters", fmt(c)},
            {"(d) 32 distinct adapters (" + DEFAULT.name().toLowerCase() + ")", fmt(d)},
            {"(d') 32 distinct adapters (gathered)", fmt(dg)},
            {"(d'') 32 distinct adapters (segmented)", fmt(ds)},
            {"(e) 32 distinct, one request at a time", fmt(e)},
            {"(f) 32 distinct, per-row loop", fmt(f)},
            {"(g) 32 distinct DoRA adapters", fmt(g)}
        };
        System.out.println("case                                    | tokens/s");
        System.out.println("----------------------------------------+---------");
        for (String[] r : rows) {
            System.out.printf("%-39s | %s%n", r[0], r[1]);
        }
        System.out.printf("%n(d)/(a) = %.2f (target >= 0.8)%n", d / a);
        System.out.printf("(b)/(a) = %.2f (target >= 0.9)%n", b / a);
        System.out.printf("(d)/(e) = %.1f (target >= 10)%n", d / e);
        System.out.printf("(d)/(f) = %.2f (target >= 2)%n", d / f);
        System.out.printf(
                "(a')/(a) = %.3f (target >= 0.98: enabling adapters costs base rows nothing)%n",
                aEnabled / a);
        System.out.printf(
                "(g)/(d) = %.2f (32 DoRA adapters against 32 plain ones of the same rank)%n",
                g / d);
        System.out.printf(
                "(d %s)/(d gathered) = %.2f, /(d segmented) = %.2f%n",
                DEFAULT.name().toLowerCase(), d / dg, d / ds);
        report.put("rounds", rounds)
                .put("a_base", a)
                .put("a_base_adapters_enabled", aEnabled)
                .put("b_one_adapter", b)
                .put("c_8_adapters", c)
                .put("d_32_adapters_segmented", d)
                .put("d_32_adapters_gathered", dg)
                .put("e_one_at_a_time", e)
                .put("f_loop", f)
                .put("d_32_adapters_segmented_alt", ds)
                .put("d_over_a", d / a)
                .put("b_over_a", b / a)
                .put("d_over_e", d / e)
                .put("d_over_f", d / f)
                .put("enabled_over_base", aEnabled / a)
                .put("g_32_dora", g)
                .put("g_over_d", g / d);

        double[] cold = coldLoad(model, root, newTokens);
        System.out.printf(
                "%ncold adapter load (disk to device, rank 16 on q,k,v,o): %.1f ms; running batch of %d: "
                        + "median step %.1f ms before, %.1f ms while loading%n",
                cold[0], REQUESTS - 1, cold[1], cold[2]);
        report.put("cold_load_ms", cold[0])
                .put("step_ms_before_load", cold[1])
                .put("step_ms_during_load", cold[2]);

        int[] batches = quick ? new int[] {1, 2, 4, 8} : new int[] {1, 2, 4, 8, 16, 32};
        double[] xs = Arrays.stream(batches).asDoubleStream().toArray();
        LinePlot plot =
                new LinePlot(
                                "LoRA step latency, distinct rank-16 adapter per row",
                                "batch size",
                                "median decode step (ms)")
                        .logX();
        System.out.println("\nmedian decode step (ms), a distinct adapter per row");
        System.out.println("batch | base  | pooled | segmented | gathered | loop");
        double[][] lat = new double[5][batches.length];
        for (int k = 0; k < batches.length; k++) {
            int n = batches[k];
            lat[0][k] = stepMs(model, null, n, i -> List.of(), LoraStrategy.SEGMENTED);
            lat[1][k] = stepMs(model, root, n, i -> one("task" + i), LoraStrategy.SEGMENTED);
            lat[2][k] = stepMs(model, root, n, i -> one("task" + i), LoraStrategy.GATHERED);
            lat[3][k] = stepMs(model, root, n, i -> one("task" + i), LoraStrategy.LOOP);
            lat[4][k] = stepMs(model, root, n, i -> one("task" + i), LoraStrategy.POOLED);
            System.out.printf(
                    "%5d | %5.1f | %6.1f | %9.1f | %8.1f | %5.1f%n",
                    n, lat[0][k], lat[4][k], lat[1][k], lat[2][k], lat[3][k]);
        }
        plot.series("base model (no LoRA)", xs, lat[0])
                .series("pooled (default)", xs, lat[4])
                .series("segmented", xs, lat[1])
                .series("gathered (BGMV)", xs, lat[2])
                .series("per-row loop", xs, lat[3])
                .write(out.resolve("lora-step-latency.png"));
        Files.writeString(
                out.resolve("lora-bench.json"),
                json.writerWithDefaultPrettyPrinter().writeValueAsString(report));
        System.out.println(
                "\nwrote "
                        + out.resolve("lora-bench.json")
                        + " and "
                        + out.resolve("lora-step-latency.png"));
    }

    private static List<AdapterRef> one(String name) {
        return List.of(new AdapterRef(name, 1.0));
    }

    private static String fmt(double v) {
        return String.format("%8.1f", v);
    }

    private static Engine open(Path model, Path root, int batch, LoraStrategy strategy) {
        EngineConfig.Builder b =
                EngineConfig.builder(model)
                        .maxRunning(batch)
                        .kvSlots(batch)
                        .maxSequenceLength(PROMPT + 4 * 64 + 8)
                        .adapterRoot(root)
                        .adapters(
                                AdapterSettings.DEFAULT
                                        .withMaxOnDevice(REQUESTS + 1)
                                        .withStrategy(strategy));
        // -Dbench.device=gpu / -Dbench.dtype=bfloat16: the same cases on another device
        // (scripts/gpu-check.sh).
        if ("gpu".equals(System.getProperty("bench.device"))) {
            b.device(ai.djl.Device.gpu());
        }
        String dtype = System.getProperty("bench.dtype");
        if (dtype != null && !dtype.isEmpty()) {
            b.dtype(
                    ai.djl.ndarray.types.DataType.valueOf(
                            dtype.toUpperCase(java.util.Locale.ROOT)));
        }
        return Engine.open(b.build());
    }

    private static List<EngineRequest> requests(
            int n, int newTokens, IntFunction<List<AdapterRef>> mix, long seed) {
        List<EngineRequest> all = EngineBench.requests(n, PROMPT, newTokens, 4000, seed);
        List<EngineRequest> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            EngineRequest r = all.get(i);
            out.add(new EngineRequest(r.id(), r.promptIds(), mix.apply(i), r.params()));
        }
        return out;
    }

    /**
     * Generated tokens/s for {@code count} requests with at most {@code batch} running, after a
     * warm-up.
     */
    static double tps(
            Path model,
            Path root,
            int batch,
            int count,
            int newTokens,
            IntFunction<List<AdapterRef>> mix,
            LoraStrategy strategy) {
        try (Engine engine = open(model, root, batch, strategy)) {
            EngineBench.run(engine, requests(count, 4, mix, 1));
            long t0 = System.nanoTime();
            long tokens = EngineBench.run(engine, requests(count, newTokens, mix, 2));
            return tokens / ((System.nanoTime() - t0) / 1e9);
        }
    }

    /** Median decode step time with {@code batch} sequences running. */
    static double stepMs(
            Path model,
            Path root,
            int batch,
            IntFunction<List<AdapterRef>> mix,
            LoraStrategy strategy) {
        try (Engine engine = open(model, root, batch, strategy)) {
            EngineBench.run(engine, requests(batch, 2, mix, 1));
            requests(batch, 24, mix, 3).forEach(engine::submit);
            List<Double> ms = new ArrayList<>();
            engine.step();
            engine.runToCompletion(s -> ms.add(s.nanos() / 1e6));
            ms.sort(null);
            return ms.get(ms.size() / 2);
        }
    }

    /** {cold load ms, median step ms before, median step ms while the load runs}. */
    static double[] coldLoad(Path model, Path root, int newTokens) throws Exception {
        try (Engine engine = open(model, root, REQUESTS, LoraStrategy.SEGMENTED)) {
            EngineBench.run(engine, requests(REQUESTS - 1, 2, i -> one("task" + i), 1));
            requests(REQUESTS - 1, newTokens * 4, i -> one("task" + i), 4).forEach(engine::submit);
            List<Double> before = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                before.add(engine.step().nanos() / 1e6);
            }
            long loadsBefore = engine.adapterStats().loads();
            long nanosBefore = engine.adapterStats().loadNanos();
            engine.submit(
                    new EngineRequest(
                            "cold",
                            new int[] {1, 5, 6, 7},
                            one("task" + REQUESTS),
                            io.flinklora.gpu.sampling.SamplingParams.greedy(4)
                                    .withIgnoreEos(true)));
            List<Double> during = new ArrayList<>();
            while (engine.adapterStats().loads() == loadsBefore) {
                StepResult s = engine.step();
                during.add(s.nanos() / 1e6);
            }
            double loadMs = (engine.adapterStats().loadNanos() - nanosBefore) / 1e6;
            engine.runToCompletion(s -> {});
            before.sort(null);
            during.sort(null);
            return new double[] {
                loadMs, before.get(before.size() / 2), during.get(during.size() / 2)
            };
        }
    }
}
