package io.flinklora.gpu.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.engine.EngineRequest;
import io.flinklora.gpu.engine.EngineStats;
import io.flinklora.gpu.engine.StepResult;
import io.flinklora.gpu.engine.TokenEvent;
import io.flinklora.gpu.frontend.PromptRequest;
import io.flinklora.gpu.frontend.RequestProcessor;
import io.flinklora.gpu.kv.KvBlockPool;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.lora.AdapterSettings;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.sampling.SamplingParams;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * The paged KV cache and prefix caching, measured side by side in one run ({@code scripts/bench.sh
 * kv}): (1) KV bytes a 32-request batch holds against the slot pool of the same batch, and peak
 * process memory of {@code generate.sh} against transformers + PEFT on the peer benchmark's
 * 32-adapter decode workload; (2) bulk labelling behind a shared instruction with and without
 * prefix caching; (3) time to first token of requests sharing a system prompt, and decode
 * throughput without a shared prefix, with and without caching; (4) the widest batch short requests
 * reach in the KV memory of 32 full slots.
 *
 * <p>Arguments: {@code OUT [--quick] [--only memory,labelling,streaming] [--label-model DIR]
 * [--records N] [--python PATH] [--peer-script PATH] [--root DIR]}.
 */
@Internal
public final class KvBench {
    private static final ObjectMapper JSON = new ObjectMapper();
    static int LABEL_TOKENS_PER_STEP = Integer.getInteger("kvbench.tokensPerStep", 512);

    private KvBench() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        Path out = Path.of(args.length > 0 ? args[0] : "bench-out");
        List<String> a = Arrays.asList(args);
        boolean quick = a.contains("--quick");
        String python = opt(a, "--python", System.getenv().getOrDefault("PEER_PYTHON", "python3"));
        Path root = Path.of(opt(a, "--root", "."));
        String script =
                opt(a, "--peer-script", root.resolve("scripts/peer/peft_peer.py").toString());
        Files.createDirectories(out);
        ObjectNode report = JSON.createObjectNode().put("quick", quick);
        Path stories = root.resolve("models/stories260k");
        List<String> only =
                a.contains("--only") ? List.of(opt(a, "--only", "").split(",")) : List.of();
        if (only.isEmpty() || only.contains("memory")) {
            memory(out, quick, python, script, root, report.putObject("memory"));
        }
        if (only.isEmpty() || only.contains("labelling")) {
            Path labelModel =
                    a.contains("--label-model") ? Path.of(opt(a, "--label-model", "")) : stories;
            int records = Integer.parseInt(opt(a, "--records", quick ? "300" : "2000"));
            labelling(out, labelModel, records, report.putObject("labelling"));
        }
        if (only.isEmpty() || only.contains("streaming")) {
            // At max batch 32 half of the 64 requests queue behind the first half's whole
            // generation, which
            // dominates their time to first token with or without caching; at 64 all run at once.
            for (int batch : new int[] {32, 64}) {
                streaming(stories, quick, batch, report.putObject("streaming_batch" + batch));
            }
        }
        widestBatch(stories, report.putObject("batch"));
        Files.writeString(
                out.resolve("kv-bench.json"),
                JSON.writerWithDefaultPrettyPrinter().writeValueAsString(report));
        System.out.println("wrote " + out.resolve("kv-bench.json"));
    }

    /**
     * (1) KV bytes in use against the slot pool, and peak RSS of generate.sh against the Python
     * peer.
     */
    static void memory(
            Path out, boolean quick, String python, String script, Path root, ObjectNode r)
            throws Exception {
        RandomLlama.Spec spec =
                quick
                        ? new RandomLlama.Spec(256, 4, 4, 4, 688, 4000, 1024)
                        : RandomLlama.Spec.benchmark();
        String name = quick ? "peer-hidden256" : "peer-llama110m";
        Path model = RandomLlama.write(out.resolve(name), spec, 42);
        Path adapters = PeerBench.writeAdapters(out.resolve(name + "-adapters"), model);
        List<PeerBench.Req> reqs = PeerBench.distinct(spec.vocab(), quick, true);
        ModelConfig c = ModelConfig.read(model);
        long perPosition =
                KvBlockPool.blockBytes(
                        c.numLayers(),
                        c.numKvHeads(),
                        c.headDim(),
                        1,
                        ai.djl.ndarray.types.DataType.FLOAT32);
        long slotPool = 32L * c.maxPositions() * perPosition;
        long peakBlocks = 0;
        int blockSize;
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(model)
                                .maxRunning(32)
                                .adapterRoot(adapters)
                                .adapters(AdapterSettings.DEFAULT.withMaxOnDevice(33))
                                .build())) {
            blockSize = e.stats().kvBlockSize();
            for (PeerBench.Req q : reqs) {
                e.submit(
                        new EngineRequest(
                                q.id(),
                                q.prompt(),
                                List.of(new AdapterRef(q.adapter(), 1.0)),
                                SamplingParams.greedy(q.maxNew()).withIgnoreEos(true)));
            }
            var used = new java.util.LongSummaryStatistics();
            e.runToCompletion(s -> used.accept(e.stats().kvBlocksUsed()));
            peakBlocks = Math.max(peakBlocks, used.getMax());
        }
        long held = peakBlocks * blockSize * perPosition;
        int longest = reqs.stream().mapToInt(q -> q.prompt().length + q.maxNew()).max().orElse(0);
        System.out.printf(
                Locale.ROOT,
                "(1) KV held by the 32-request batch (longest %d of %d positions): peak %.1f MiB"
                        + " in %d blocks, against %.1f MiB for 32 slots at full context: %.3f (target <= 0.125)%n",
                longest,
                c.maxPositions(),
                held / 1048576.0,
                peakBlocks,
                slotPool / 1048576.0,
                (double) held / slotPool);
        r.put("model", name)
                .put("kv_bytes_held_peak", held)
                .put("slot_pool_bytes", slotPool)
                .put("held_over_slot_pool", (double) held / slotPool);

        Path jsonl = out.resolve("kv-memory-requests.jsonl");
        StringBuilder lines = new StringBuilder();
        for (PeerBench.Req q : reqs) {
            ObjectNode n =
                    JSON.createObjectNode()
                            .put("id", q.id())
                            .put("max_new_tokens", q.maxNew())
                            .put("ignore_eos", true);
            ArrayNode ids = n.putArray("prompt_ids");
            Arrays.stream(q.prompt()).forEach(ids::add);
            n.putArray("adapters").addObject().put("name", q.adapter()).put("weight", 1.0);
            lines.append(JSON.writeValueAsString(n)).append('\n');
        }
        Files.writeString(jsonl, lines);
        long engineRss =
                peakRss(
                        out,
                        "kv-memory-engine",
                        jsonl,
                        List.of(
                                root.resolve("scripts/generate.sh").toString(),
                                "--model",
                                model.toString(),
                                "--adapters",
                                adapters.toString(),
                                "--max-batch",
                                "32",
                                "--adapters-on-device",
                                "33"),
                        Map.of("JAVA_OPTS", "-Dai.djl.pytorch.num_threads=1"));
        Path workload = out.resolve("kv-memory-workload.json");
        PeerBench.writeWorkload(workload, model, adapters, reqs, 1, false);
        long peerRss =
                peakRss(
                        out,
                        "kv-memory-peer",
                        null,
                        List.of(
                                python,
                                script,
                                "--workload",
                                workload.toString(),
                                "--threads",
                                "1",
                                "--out",
                                out.resolve("kv-memory-peer-result.json").toString()),
                        Map.of());
        if (engineRss > 0) {
            r.put("engine_generate_sh_peak_rss_bytes", engineRss);
        }
        if (peerRss > 0) {
            r.put("peer_peak_rss_bytes", peerRss);
        }
        System.out.printf(
                Locale.ROOT,
                "(1) peak process memory, 32-adapter decode workload: generate.sh %s,"
                        + " transformers + PEFT %s%s%n",
                gb(engineRss),
                gb(peerRss),
                engineRss > 0 && peerRss > 0
                        ? String.format(
                                Locale.ROOT,
                                " (engine / peer %.2f, target <= 1)",
                                (double) engineRss / peerRss)
                        : "");
    }

    private static String gb(long bytes) {
        return bytes > 0 ? String.format(Locale.ROOT, "%.2f GB", bytes / 1e9) : "not measured";
    }

    /** Peak resident memory of a command, from GNU time's %M (KiB); -1 when it cannot run. */
    private static long peakRss(
            Path out, String name, Path stdin, List<String> command, Map<String, String> env)
            throws IOException, InterruptedException {
        if (!Files.isExecutable(Path.of("/usr/bin/time"))) {
            System.out.println("(1) /usr/bin/time is missing: peak memory not measured");
            return -1;
        }
        Path rss = out.resolve(name + ".rss");
        List<String> cmd =
                new ArrayList<>(List.of("/usr/bin/time", "-f", "%M", "-o", rss.toString()));
        cmd.addAll(command);
        ProcessBuilder pb =
                new ProcessBuilder(cmd)
                        .redirectErrorStream(true)
                        .redirectOutput(out.resolve(name + ".log").toFile());
        pb.environment().putAll(env);
        pb.environment().put("OMP_NUM_THREADS", "1");
        if (stdin != null) {
            pb.redirectInput(stdin.toFile());
        }
        Process p = pb.start();
        if (!p.waitFor(1, TimeUnit.HOURS)) {
            p.destroyForcibly();
            return -1;
        }
        if (p.exitValue() != 0 || !Files.isRegularFile(rss)) {
            System.out.println(
                    "(1) "
                            + name
                            + " failed (exit "
                            + p.exitValue()
                            + "), see "
                            + out.resolve(name + ".log"));
            return -1;
        }
        List<String> l = Files.readAllLines(rss);
        return Long.parseLong(l.get(l.size() - 1).strip()) * 1024;
    }

    /** A few-shot instruction of at least {@code tokens} tokens, made of story sentences. */
    static String instruction(Engine e, int tokens) {
        Random rnd = new Random(5);
        StringBuilder s = new StringBuilder("Label how the child in each story feels. Examples:");
        while (e.tokenizer().encode(s.toString()).length < tokens) {
            s.append("\nStory:");
            for (int w = 0; w < 12; w++) {
                s.append(' ').append(LabelBench.WORDS[rnd.nextInt(LabelBench.WORDS.length)]);
            }
            s.append(". Feeling: ")
                    .append(LabelBench.LABELS.get(rnd.nextInt(LabelBench.LABELS.size())))
                    .append('.');
        }
        return s.toString();
    }

    /**
     * (2) Records behind a 300-token instruction, base model and three adapters, caching on against
     * off.
     */
    static void labelling(Path out, Path model, int n, ObjectNode r) throws Exception {
        Path adapters = LabelBench.adapters(out, model);
        List<EngineRequest> requests = new ArrayList<>();
        try (Engine e = labelEngine(model, adapters, true)) {
            String head = instruction(e, 300);
            int instructionTokens = e.tokenizer().encode(head).length;
            Random rnd = new Random(7);
            for (int i = 0; i < n; i++) {
                // 20-60 tokens after the instruction, whatever the tokenizer (the shape).
                int target = 20 + rnd.nextInt(41);
                StringBuilder record = new StringBuilder("\nStory:");
                while (e.tokenizer().encode(head + record + ". Feeling:").length - instructionTokens
                        < target) {
                    record.append(' ')
                            .append(LabelBench.WORDS[rnd.nextInt(LabelBench.WORDS.length)]);
                }
                String text = head + record + ". Feeling:";
                List<AdapterRef> mix =
                        i % 4 == 0 ? List.of() : List.of(new AdapterRef("a" + (i % 4), 1.0));
                requests.add(
                        RequestProcessor.of(e)
                                .process(
                                        PromptRequest.text(
                                                "r" + i,
                                                text,
                                                mix,
                                                SamplingParams.greedy(1),
                                                LabelBench.LABELS)));
            }
            double recordTokens =
                    requests.stream()
                            .mapToInt(q -> q.promptIds().length - instructionTokens)
                            .average()
                            .orElse(0);
            r.put("instruction_tokens", instructionTokens)
                    .put("records", n)
                    .put("mean_record_tokens", recordTokens);
            System.out.printf(
                    Locale.ROOT,
                    "(2) records: %.1f tokens on average after the instruction%n",
                    recordTokens);
            System.out.printf(
                    Locale.ROOT,
                    "(2) labelling %d records behind a %d-token instruction, 4 labels,"
                            + " base + 3 adapters, batch 32, model %s%n",
                    n,
                    instructionTokens,
                    model.getFileName());
        }
        // Warm up the JIT and the native library on both paths first: otherwise whichever run comes
        // first
        // pays for it (here the cached one).
        for (boolean caching : new boolean[] {true, false}) {
            try (Engine e = labelEngine(model, adapters, caching)) {
                drive(e, requests.subList(0, Math.min(n, 32)), 64);
            }
        }
        Map<String, String> labels = new HashMap<>();
        double[] rate = new double[2];
        for (int k = 0; k < 2; k++) {
            boolean caching = k == 0;
            try (Engine e = labelEngine(model, adapters, caching)) {
                long t0 = System.nanoTime();
                Map<String, String> got = drive(e, requests, 64);
                rate[k] = n / ((System.nanoTime() - t0) / 1e9);
                EngineStats s = e.stats();
                System.out.printf(
                        Locale.ROOT,
                        "(2) prefix caching %-3s: %7.1f records/s, prefix cache hit rate %.2f,"
                                + " %d steps, %d tokens computed%n",
                        caching ? "on" : "off",
                        rate[k],
                        s.prefixCacheHitRate(),
                        s.steps(),
                        s.prefillTokens() + s.generatedTokens());
                r.put(caching ? "records_per_s_caching" : "records_per_s_no_caching", rate[k]);
                if (caching) {
                    labels.putAll(got);
                    r.put("hit_rate", s.prefixCacheHitRate());
                } else {
                    long same =
                            got.entrySet().stream()
                                    .filter(x -> x.getValue().equals(labels.get(x.getKey())))
                                    .count();
                    r.put("same_labels", same);
                    System.out.printf(
                            Locale.ROOT,
                            "(2) with / without caching: %.2fx (target >= 5x), same labels %d/%d%n",
                            rate[0] / rate[1],
                            same,
                            n);
                }
            }
        }
        r.put("speedup", rate[0] / rate[1]);
    }

    private static Engine labelEngine(Path model, Path adapters, boolean caching) {
        return Engine.open(
                EngineConfig.builder(model)
                        .maxRunning(32)
                        .maxTokensPerStep(LABEL_TOKENS_PER_STEP)
                        .adapterRoot(adapters)
                        .prefixCaching(caching)
                        .build());
    }

    /**
     * Runs requests with at most {@code queue} waiting; returns each request's text (label or
     * tokens).
     */
    private static Map<String, String> drive(Engine e, List<EngineRequest> requests, int queue) {
        Map<String, StringBuilder> text = new HashMap<>();
        int next = 0;
        while (next < requests.size() || e.hasWork()) {
            while (next < requests.size() && e.stats().waiting() < queue) {
                e.submit(requests.get(next));
                text.put(requests.get(next).id(), new StringBuilder());
                next++;
            }
            StepResult step = e.step();
            if (!step.failures().isEmpty()) {
                throw new IllegalStateException("failures: " + step.failures());
            }
            for (TokenEvent ev : step.events()) {
                text.get(ev.requestId()).append(ev.tokenId()).append(' ');
            }
        }
        Map<String, String> out = new HashMap<>();
        text.forEach((k, v) -> out.put(k, v.toString()));
        return out;
    }

    /**
     * 64 requests behind one system prompt and 64 with nothing shared, fresh for each (engine,
     * round) so that neither finds the other's or an earlier round's blocks in its cache.
     */
    private record Workload(
            List<EngineRequest> shared, List<EngineRequest> distinct, int systemTokens) {
        static Workload of(Engine e, int seed, int newTokens) {
            Random rnd = new Random(seed);
            String system = "Session " + seed + ". " + instruction(e, 200);
            List<EngineRequest> shared = new ArrayList<>();
            List<EngineRequest> distinct = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                StringBuilder user = new StringBuilder();
                for (int w = 0; w < 8 + rnd.nextInt(16); w++) {
                    user.append(' ').append(LabelBench.WORDS[rnd.nextInt(LabelBench.WORDS.length)]);
                }
                shared.add(
                        new EngineRequest(
                                "s" + seed + "-" + i,
                                e.tokenizer().encode(system + "\nStory:" + user),
                                List.of(),
                                SamplingParams.greedy(newTokens).withIgnoreEos(true)));
                distinct.add(
                        new EngineRequest(
                                "d" + seed + "-" + i,
                                e.tokenizer().encode("Story " + seed + "-" + i + ":" + user + user),
                                List.of(),
                                SamplingParams.greedy(newTokens).withIgnoreEos(true)));
            }
            return new Workload(shared, distinct, e.tokenizer().encode(system).length);
        }
    }

    /** (3) Time to first token behind a shared system prompt, and decode throughput without one. */
    static void streaming(Path model, boolean quick, int batch, ObjectNode r) {
        int newTokens = quick ? 16 : 48;
        // Three rounds, alternating which engine goes first (JIT and caches warm up over the first
        // ones); medians.
        double[][] ttftRounds = new double[2][3];
        double[][] tpsRounds = new double[2][3];
        try (Engine on =
                        Engine.open(
                                EngineConfig.builder(model)
                                        .maxRunning(batch)
                                        .prefixCaching(true)
                                        .build());
                Engine off =
                        Engine.open(
                                EngineConfig.builder(model)
                                        .maxRunning(batch)
                                        .prefixCaching(false)
                                        .build())) {
            drive(on, Workload.of(on, 99, newTokens).distinct(), 64);
            drive(off, Workload.of(off, 99, newTokens).distinct(), 64);
            for (int round = 0; round < 3; round++) {
                for (int j = 0; j < 2; j++) {
                    int k = (round + j) % 2;
                    Engine e = k == 0 ? on : off;
                    Workload w = Workload.of(e, round * 2 + k, newTokens);
                    r.put("system_prompt_tokens", w.systemTokens());
                    ttftRounds[k][round] = medianTtftMs(e, w.shared());
                    long t0 = System.nanoTime();
                    Map<String, String> tokens = drive(e, w.distinct(), 64);
                    double s = (System.nanoTime() - t0) / 1e9;
                    tpsRounds[k][round] =
                            tokens.values().stream().mapToLong(t -> t.split(" ").length).sum() / s;
                }
            }
        }
        double[] ttft = {LabelBench.median(ttftRounds[0]), LabelBench.median(ttftRounds[1])};
        double[] tps = {LabelBench.median(tpsRounds[0]), LabelBench.median(tpsRounds[1])};
        for (int k = 0; k < 2; k++) {
            System.out.printf(
                    Locale.ROOT,
                    "(3) max batch %d, prefix caching %-3s: 64 requests behind a shared %d-token"
                            + " system prompt, time to first token p50 %.1f ms; 64 requests with no shared prefix: %.0f tokens/s"
                            + " (medians of 3)%n",
                    batch,
                    k == 0 ? "on" : "off",
                    r.get("system_prompt_tokens").asInt(),
                    ttft[k],
                    tps[k]);
        }
        System.out.printf(
                Locale.ROOT,
                "(3) max batch %d: TTFT p50 without / with caching: %.2fx (target >= 3x); decode"
                        + " tokens/s with / without caching, no shared prefix: %.3f (target within 5%%)%n",
                batch,
                ttft[1] / ttft[0],
                tps[0] / tps[1]);
        r.put("ttft_p50_ms_caching", ttft[0])
                .put("ttft_p50_ms_no_caching", ttft[1])
                .put("ttft_speedup", ttft[1] / ttft[0])
                .put("decode_tps_caching", tps[0])
                .put("decode_tps_no_caching", tps[1]);
    }

    /** Submits every request at once and returns the median time to each one's first token. */
    private static double medianTtftMs(Engine e, List<EngineRequest> requests) {
        long t0 = System.nanoTime();
        for (EngineRequest q : requests) {
            e.submit(q);
        }
        List<Double> ttft = new ArrayList<>();
        e.runToCompletion(
                step -> {
                    for (TokenEvent ev : step.events()) {
                        if (ev.index() == 0) {
                            ttft.add((System.nanoTime() - t0) / 1e6);
                        }
                    }
                });
        ttft.sort(null);
        return ttft.get(ttft.size() / 2);
    }

    /**
     * (4) Short requests in the KV memory of 32 full-context slots: the widest batch they reach.
     */
    static void widestBatch(Path model, ObjectNode r) {
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(model)
                                .maxRunning(256)
                                .maxTokensPerStep(4096)
                                .kvSlots(32)
                                .build())) {
            for (int i = 0; i < 256; i++) {
                e.submit(
                        new EngineRequest(
                                "w" + i,
                                e.tokenizer().encode("The dog " + i + " ran to the park and"),
                                List.of(),
                                SamplingParams.greedy(32).withIgnoreEos(true)));
            }
            var rows = new java.util.IntSummaryStatistics();
            e.runToCompletion(step -> rows.accept(step.rows()));
            int widest = Math.max(0, rows.getMax());
            EngineStats s = e.stats();
            System.out.printf(
                    Locale.ROOT,
                    "(4) KV memory of 32 slots x %d positions (%d blocks): 256 short requests ran"
                            + " %d at once (target >= 96), %d preemptions%n",
                    e.maxSequenceLength(),
                    s.kvBlocksTotal(),
                    widest,
                    s.preemptions());
            r.put("widest_batch", widest)
                    .put("kv_blocks", s.kvBlocksTotal())
                    .put("preemptions", s.preemptions());
        }
    }

    private static String opt(List<String> a, String name, String dflt) {
        int i = a.indexOf(name);
        return i >= 0 && i + 1 < a.size() ? a.get(i + 1) : dflt;
    }
}
