package io.flinklora.gpu.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.engine.EngineRequest;
import io.flinklora.gpu.engine.StepResult;
import io.flinklora.gpu.sampling.SamplingParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * The engine benchmark of {@code scripts/bench.sh}: tokens/s against batch size with the KV cache
 * on and off, and the cost of a decode step at a late position against an early one, all measured
 * side by side in one run on a random-weight Llama. Prints a table, writes JSON and PNG plots.
 */
@Internal
public final class EngineBench {
    private static final int PROMPT = 16;

    private EngineBench() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        Path out = Path.of(args.length > 0 ? args[0] : "bench-out");
        boolean quick = Arrays.asList(args).contains("--quick");
        RandomLlama.Spec spec = quick ? RandomLlama.Spec.quick() : RandomLlama.Spec.benchmark();
        System.out.printf(
                "model: random Llama, hidden %d, %d layers, %d heads, intermediate %d, vocab %d%n",
                spec.hidden(), spec.layers(), spec.heads(), spec.intermediate(), spec.vocab());
        Path model = RandomLlama.benchmarkModel(out, quick);
        int newTokens = 48;
        int[] batches = {1, 2, 4, 8, 16, 32, 64};
        int maxNoCache = 16;

        ObjectMapper json = new ObjectMapper();
        ObjectNode report = json.createObjectNode();
        report.put("model", model.toString())
                .put("prompt_tokens", PROMPT)
                .put("new_tokens", newTokens)
                .put("cores", Runtime.getRuntime().availableProcessors());
        ArrayNode rows = report.putArray("throughput");
        double[] onTps = new double[batches.length];
        double[] offTps = new double[batches.length];
        Arrays.fill(offTps, Double.NaN);
        System.out.println();
        System.out.println("batch | tokens/s cache on | tokens/s cache off | on/off");
        System.out.println("------+-------------------+--------------------+-------");
        for (int i = 0; i < batches.length; i++) {
            int b = batches[i];
            onTps[i] = throughput(model, b, newTokens, true);
            if (b <= maxNoCache) {
                offTps[i] = throughput(model, b, newTokens, false);
            }
            System.out.printf(
                    "%5d | %17.1f | %18s | %s%n",
                    b,
                    onTps[i],
                    Double.isNaN(offTps[i]) ? "skipped" : String.format("%.1f", offTps[i]),
                    Double.isNaN(offTps[i]) ? "-" : String.format("%.1fx", onTps[i] / offTps[i]));
            ObjectNode r = rows.addObject().put("batch", b).put("tokens_per_s_cache_on", onTps[i]);
            if (!Double.isNaN(offTps[i])) {
                r.put("tokens_per_s_cache_off", offTps[i]);
            }
        }
        double scale32 = onTps[5] / onTps[0];
        System.out.printf("%nbatch 32 vs batch 1: %.1fx tokens/s (target >= 15)%n", scale32);
        report.put("batch32_over_batch1", scale32);
        System.out.println(
                "(cache off above batch "
                        + maxNoCache
                        + " skipped: recomputing every token each step "
                        + "takes minutes there)");

        System.out.println();
        System.out.println("decode step cost by position (median of 9 steps around each position)");
        System.out.println("batch | step ms @16 | step ms @256 | ratio");
        ArrayNode pos = report.putArray("position_cost");
        for (int b : new int[] {1, 8, 32}) {
            double[] ms = positionCost(model, b);
            System.out.printf(
                    "%5d | %11.2f | %12.2f | %.2f%s%n",
                    b, ms[0], ms[1], ms[1] / ms[0], b == 1 ? " (target <= 1.3)" : "");
            pos.addObject()
                    .put("batch", b)
                    .put("step_ms_pos16", ms[0])
                    .put("step_ms_pos256", ms[1])
                    .put("ratio", ms[1] / ms[0]);
        }
        double[] xs = Arrays.stream(batches).asDoubleStream().toArray();
        new LinePlot(
                        "Engine throughput, random Llama "
                                + spec.hidden()
                                + "x"
                                + spec.layers()
                                + " on "
                                + Runtime.getRuntime().availableProcessors()
                                + " CPU cores",
                        "batch size",
                        "generated tokens/s")
                .logX()
                .logY()
                .series("KV cache on", xs, onTps)
                .series("KV cache off (recompute)", xs, offTps)
                .write(out.resolve("engine-bench.png"));
        Files.writeString(
                out.resolve("engine-bench.json"),
                json.writerWithDefaultPrettyPrinter().writeValueAsString(report));
        System.out.println(
                "\nwrote "
                        + out.resolve("engine-bench.json")
                        + " and "
                        + out.resolve("engine-bench.png"));
    }

    static List<EngineRequest> requests(int n, int promptLen, int newTokens, int vocab, long seed) {
        Random r = new Random(seed);
        List<EngineRequest> list = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] ids = new int[promptLen];
            ids[0] = 1;
            for (int j = 1; j < promptLen; j++) {
                ids[j] = 3 + r.nextInt(vocab - 3);
            }
            list.add(
                    new EngineRequest(
                            "b" + i,
                            ids,
                            List.of(),
                            SamplingParams.greedy(newTokens).withIgnoreEos(true)));
        }
        return list;
    }

    /**
     * Generated tokens per second for {@code batch} requests decoded together (one warm-up run
     * first).
     */
    static double throughput(Path model, int batch, int newTokens, boolean cache) {
        EngineConfig config =
                EngineConfig.builder(model)
                        .maxRunning(batch)
                        .kvSlots(batch)
                        .maxTokensPerStep(cache ? 512 : batch * (PROMPT + newTokens))
                        .maxSequenceLength(PROMPT + newTokens + 8)
                        .reuseKvCache(cache)
                        .build();
        try (Engine engine = Engine.open(config)) {
            int vocab = engine.modelConfig().vocabSize();
            run(engine, requests(batch, PROMPT, 8, vocab, 7));
            long t0 = System.nanoTime();
            long tokens = run(engine, requests(batch, PROMPT, newTokens, vocab, 11));
            return tokens / ((System.nanoTime() - t0) / 1e9);
        }
    }

    /** Submits requests and steps until all finish; returns the tokens generated. */
    static long run(Engine engine, List<EngineRequest> requests) {
        requests.forEach(engine::submit);
        return engine.runToCompletion(step -> {});
    }

    /** Median decode step time (ms) around position 16 and around position 256. */
    static double[] positionCost(Path model, int batch) {
        EngineConfig config =
                EngineConfig.builder(model)
                        .maxRunning(batch)
                        .kvSlots(batch)
                        .maxSequenceLength(300)
                        .build();
        try (Engine engine = Engine.open(config)) {
            int vocab = engine.modelConfig().vocabSize();
            run(engine, requests(batch, 8, 4, vocab, 3));
            requests(batch, 8, 270, vocab, 5).forEach(engine::submit);
            List<Double> early = new ArrayList<>();
            List<Double> late = new ArrayList<>();
            int position = 8;
            while (engine.hasWork()) {
                StepResult s = engine.step();
                if (position >= 12 && position <= 20) {
                    early.add(s.nanos() / 1e6);
                } else if (position >= 252 && position <= 260) {
                    late.add(s.nanos() / 1e6);
                }
                position = position == 8 ? 9 : position + 1;
            }
            return new double[] {median(early), median(late)};
        }
    }

    static double median(List<Double> xs) {
        List<Double> s = new ArrayList<>(xs);
        s.sort(null);
        return s.get(s.size() / 2);
    }
}
