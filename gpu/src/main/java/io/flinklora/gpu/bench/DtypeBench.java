package io.flinklora.gpu.bench;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.safetensors.NativeDtypes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Compute dtypes side by side ({@code scripts/bench.sh dtype}): the decode step time (and tokens/s)
 * of the same random Llama in each dtype at each batch size, rounds interleaved so that drift on a
 * shared machine hits every case alike, the best round's median step reported; with {@code
 * --hbm-tbps} also the batch-1 step against the time to read the weights once at that bandwidth
 * (the memory-bound floor).
 */
@Internal
public final class DtypeBench {
    private static final int PROMPT = 16;

    private DtypeBench() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        Path out = Path.of(args.length > 0 ? args[0] : "bench-out");
        Map<String, String> o =
                options(Arrays.copyOfRange(args, Math.min(1, args.length), args.length));
        boolean quick = o.containsKey("quick");
        RandomLlama.Spec spec =
                o.containsKey("shape")
                        ? shape(o.get("shape"))
                        : quick ? RandomLlama.Spec.quick() : RandomLlama.Spec.benchmark();
        Device device = "gpu".equals(o.getOrDefault("device", "cpu")) ? Device.gpu() : Device.cpu();
        int[] batches =
                Arrays.stream(o.getOrDefault("batches", "1,32").split(","))
                        .mapToInt(Integer::parseInt)
                        .toArray();
        int newTokens = Integer.parseInt(o.getOrDefault("new-tokens", "48"));
        int rounds = Integer.parseInt(o.getOrDefault("rounds", "3"));
        double hbm = Double.parseDouble(o.getOrDefault("hbm-tbps", "0"));
        List<DataType> dtypes = new ArrayList<>();
        for (String d : o.getOrDefault("dtypes", "float32,bfloat16").split(",")) {
            DataType t = DataType.valueOf(d.toUpperCase(Locale.ROOT));
            if (t == DataType.BFLOAT16
                    && !NativeDtypes.canCreate(ai.djl.engine.Engine.getEngine("PyTorch"), t)) {
                System.out.println("bfloat16 skipped: " + NativeDtypes.BFLOAT16_HINT);
                continue;
            }
            dtypes.add(t);
        }
        Path model =
                RandomLlama.write(
                        out.resolve(
                                String.format(
                                        "random-llama-%dx%d-v%d",
                                        spec.hidden(), spec.layers(), spec.vocab())),
                        spec,
                        42);
        long params = Files.size(model.resolve("model.safetensors")) / 4;
        System.out.printf(
                "model: random Llama, hidden %d, %d layers, heads %d/%d, intermediate %d, vocab %d"
                        + " (%.0fM parameters); %s, PyTorch %s, %d rounds%n",
                spec.hidden(),
                spec.layers(),
                spec.heads(),
                spec.kvHeads(),
                spec.intermediate(),
                spec.vocab(),
                params / 1e6,
                device,
                ai.djl.engine.Engine.getEngine("PyTorch").getVersion(),
                rounds);

        double[][][] ms = new double[dtypes.size()][batches.length][rounds];
        for (int r = 0; r < rounds; r++) {
            for (int b = 0; b < batches.length; b++) {
                for (int d = 0; d < dtypes.size(); d++) {
                    ms[d][b][r] = stepMs(model, device, dtypes.get(d), batches[b], newTokens);
                    // As it goes, so that a run cut short still says what it measured.
                    System.out.printf(
                            "round %d %s batch %d: median step %.2f ms%n",
                            r + 1,
                            dtypes.get(d).name().toLowerCase(Locale.ROOT),
                            batches[b],
                            ms[d][b][r]);
                }
            }
        }
        ObjectMapper json = new ObjectMapper();
        ObjectNode report = json.createObjectNode();
        report.put("model", model.toString())
                .put("parameters", params)
                .put("device", device.toString())
                .put("pytorch", ai.djl.engine.Engine.getEngine("PyTorch").getVersion())
                .put("prompt_tokens", PROMPT)
                .put("new_tokens", newTokens)
                .put("rounds", rounds)
                .put("cores", Runtime.getRuntime().availableProcessors());
        ArrayNode rows = report.putArray("rows");
        System.out.println();
        System.out.println(
                "dtype    | batch | step ms (best round's median) | tokens/s | weights MB"
                        + (hbm > 0 ? " | floor ms" : "")
                        + " | speed-up vs "
                        + dtypes.get(0).name().toLowerCase(Locale.ROOT));
        for (int d = 0; d < dtypes.size(); d++) {
            long weightBytes = params * dtypes.get(d).getNumOfBytes();
            for (int b = 0; b < batches.length; b++) {
                double step = min(ms[d][b]);
                double tps = batches[b] / step * 1000;
                double floorMs = hbm > 0 ? weightBytes / (hbm * 1e12) * 1000 : Double.NaN;
                double ratio = min(ms[0][b]) / step;
                System.out.printf(
                        "%-8s | %5d | %29.2f | %8.1f | %10.0f%s | %.2fx%n",
                        dtypes.get(d).name().toLowerCase(Locale.ROOT),
                        batches[b],
                        step,
                        tps,
                        weightBytes / 1e6,
                        hbm > 0 ? String.format(" | %8.3f", floorMs) : "",
                        ratio);
                ObjectNode row =
                        rows.addObject()
                                .put("dtype", dtypes.get(d).name().toLowerCase(Locale.ROOT))
                                .put("batch", batches[b])
                                .put("step_ms", step)
                                .put("tokens_per_s", tps)
                                .put("weights_bytes", weightBytes)
                                .put("speedup_over_first_dtype", ratio);
                Arrays.stream(ms[d][b]).forEach(row.putArray("round_median_step_ms")::add);
                if (hbm > 0) {
                    row.put("bandwidth_floor_ms", floorMs);
                }
            }
        }
        Path file = out.resolve(o.getOrDefault("name", "dtype-bench") + ".json");
        Files.writeString(file, json.writerWithDefaultPrettyPrinter().writeValueAsString(report));
        System.out.println("\nwrote " + file);
    }

    /**
     * The median decode step (ms) of {@code batch} requests decoding together, after a warm-up run.
     * The median step, not the run's wall time, so that a neighbour's burst on a shared machine
     * moves it little.
     */
    static double stepMs(Path model, Device device, DataType dtype, int batch, int newTokens) {
        EngineConfig config =
                EngineConfig.builder(model)
                        .device(device)
                        .dtype(dtype)
                        .maxRunning(batch)
                        .kvSlots(batch)
                        .maxSequenceLength(PROMPT + newTokens + 8)
                        .build();
        try (Engine engine = Engine.open(config)) {
            int vocab = engine.modelConfig().vocabSize();
            EngineBench.run(engine, EngineBench.requests(batch, PROMPT, 8, vocab, 7));
            EngineBench.requests(batch, PROMPT, newTokens, vocab, 11).forEach(engine::submit);
            List<Double> steps = new ArrayList<>();
            // Decode steps only (the first step prefills every prompt): one token for each
            // sequence.
            engine.step();
            engine.runToCompletion(
                    s -> {
                        if (s.events().size() == batch) {
                            steps.add(s.nanos() / 1e6);
                        }
                    });
            return EngineBench.median(steps);
        }
    }

    private static double min(double[] xs) {
        return Arrays.stream(xs).min().orElse(Double.NaN);
    }

    /** hidden,layers,heads,kvHeads,intermediate,vocab */
    private static RandomLlama.Spec shape(String s) {
        int[] v = Arrays.stream(s.split(",")).mapToInt(Integer::parseInt).toArray();
        if (v.length != 6) {
            throw new IllegalArgumentException(
                    "--shape wants hidden,layers,heads,kvHeads,intermediate,vocab");
        }
        return new RandomLlama.Spec(v[0], v[1], v[2], v[3], v[4], v[5], 1024);
    }

    /** {@code --name value} pairs; a flag without a value maps to "true". */
    private static Map<String, String> options(String[] args) {
        Map<String, String> o = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + args[i]);
            }
            String k = args[i].substring(2);
            if (i + 1 < args.length && !args[i + 1].startsWith("--")) {
                o.put(k, args[++i]);
            } else {
                o.put(k, "true");
            }
        }
        return o;
    }
}
