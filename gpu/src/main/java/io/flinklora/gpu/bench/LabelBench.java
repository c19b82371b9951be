package io.flinklora.gpu.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.engine.StepResult;
import io.flinklora.gpu.engine.TokenEvent;
import io.flinklora.gpu.frontend.PromptRequest;
import io.flinklora.gpu.frontend.RequestProcessor;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.lora.PeftWriter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.sampling.SamplingParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.Consumer;

/**
 * Bulk labelling throughput of the engine ({@code scripts/bench.sh label}): records/s labelling
 * 2,000 records in batches against one at a time, and the cost of scoring 4 candidate labels
 * against 1 (and against 4 separate requests that each prefill the prompt), side by side in one
 * run; then the same labelling against transformers + PEFT ({@code
 * scripts/peer/peft_label_peer.py}: one row per record and candidate, one forward pass per batch
 * with {@code adapter_names}), checking that both choose the same labels with the same scores.
 */
@Internal
public final class LabelBench {
    static final String[] WORDS =
            ("Lily Tom the a dog cat ball tree park sun happy sad big little red blue ran jumped "
                            + "played saw found lost cried laughed with in and was very friend mom bird car toy box")
                    .split(" ");
    static int tokensPerStep = 512;
    static int batch = 32;
    static final List<String> LABELS =
            List.of("very happy", "a little sad", "scared of the dark", "angry at his friend");

    private LabelBench() {}

    record Rec(int[] prompt, List<AdapterRef> adapters) {}

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args.length > 0 ? args[0] : "bench-out");
        boolean quick = false;
        boolean random = false;
        Path model = null;
        String python = null;
        String peerScript = "scripts/peer/peft_label_peer.py";
        int peerRecords = -1;
        boolean peerOnly = false;
        int records = 2000;
        int oneAtATime = 200;
        for (int i = 1; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> {
                    quick = true;
                    records = 200;
                    oneAtATime = 40;
                }
                case "--random" -> random = true;
                case "--model" -> model = Path.of(args[++i]);
                case "--records" -> records = Integer.parseInt(args[++i]);
                case "--one-at-a-time" -> oneAtATime = Integer.parseInt(args[++i]);
                case "--tokens-per-step" -> tokensPerStep = Integer.parseInt(args[++i]);
                case "--batch" -> batch = Integer.parseInt(args[++i]);
                case "--python" -> python = args[++i];
                case "--peer-script" -> peerScript = args[++i];
                case "--peer-records" -> peerRecords = Integer.parseInt(args[++i]);
                case "--peer-only" -> peerOnly = true;
                default ->
                        throw new IllegalArgumentException(
                                "unknown option "
                                        + args[i]
                                        + " (options: --model DIR | --random, --records N, --one-at-a-time N, --quick,"
                                        + " --python PATH, --peer-script PATH, --peer-records N, --peer-only)");
            }
        }
        if (random || model == null) {
            model = RandomLlama.benchmarkModel(out, quick);
        }
        ModelConfig c = ModelConfig.read(model);
        Path adapters = adapters(out, model);
        System.out.printf(
                Locale.ROOT,
                "model %s (hidden %d, %d layers, vocab %d), %d records, PyTorch threads %s%n",
                model,
                c.hiddenSize(),
                c.numLayers(),
                c.vocabSize(),
                records,
                System.getProperty("ai.djl.pytorch.num_threads", "default"));
        List<Rec> recs;
        try (Engine e = engine(model, adapters, 32)) {
            recs = records(e, records);
        }
        ObjectMapper json = new ObjectMapper();
        ObjectNode report = json.createObjectNode();
        report.put("model", model.toString()).put("records", records);

        if (!peerOnly) {
            batchingAndCandidates(model, adapters, recs, quick, oneAtATime, report);
        }
        if (python != null) {
            LabelPeer.compare(
                    out,
                    model,
                    adapters,
                    recs.subList(
                            0, Math.min(records, peerRecords > 0 ? peerRecords : quick ? 64 : 512)),
                    python,
                    peerScript,
                    report);
        }
        Files.createDirectories(out);
        Files.writeString(
                out.resolve("label-bench.json"),
                json.writerWithDefaultPrettyPrinter().writeValueAsString(report));
        System.out.println("wrote " + out.resolve("label-bench.json"));
    }

    /**
     * (1) batched against one at a time, and (2) 4 candidates against 1, with and without the
     * shared prompt cache.
     */
    private static void batchingAndCandidates(
            Path model,
            Path adapters,
            List<Rec> recs,
            boolean quick,
            int oneAtATime,
            ObjectNode report) {
        int records = recs.size();
        // Warm-up, then (1) batched against one at a time.
        try (Engine e = engine(model, adapters, 32)) {
            run(e, recs.subList(0, Math.min(100, recs.size())), LABELS, 1, 64);
            double batched = run(e, recs, LABELS, 1, 64);
            report.put("batched_records_per_s", batched);
            System.out.printf(
                    Locale.ROOT,
                    "(1) batched (max batch 32): %.1f records/s over %d records%n",
                    batched,
                    records);
        }
        try (Engine e = engine(model, adapters, 1)) {
            run(e, recs.subList(0, Math.min(20, recs.size())), LABELS, 1, 2);
            double single = run(e, recs.subList(0, oneAtATime), LABELS, 1, 2);
            report.put("one_at_a_time_records_per_s", single)
                    .put("one_at_a_time_measured_on", oneAtATime);
            System.out.printf(
                    Locale.ROOT,
                    "(1) one at a time (max batch 1): %.1f records/s over the first %d records "
                            + "(the rate holds for all %d: each record is the same work)%n",
                    single,
                    oneAtATime,
                    records);
            System.out.printf(
                    Locale.ROOT,
                    "(1) batched / one at a time: %.1fx (target >= 10x)%n",
                    report.get("batched_records_per_s").asDouble() / single);
        }

        // (2) 4 candidates against 1, same prompts, batched; three interleaved rounds, medians.
        List<Rec> sub = recs.subList(0, Math.min(records, quick ? 200 : 1000));
        double[] four = new double[3];
        double[] one = new double[3];
        double[] separate = new double[3];
        try (Engine e = engine(model, adapters, 32)) {
            for (int round = 0; round < 3; round++) {
                four[round] = run(e, sub, LABELS, 1, 64);
                one[round] = run(e, sub, LABELS.subList(0, 1), 1, 64);
                separate[round] = run(e, sub, LABELS, LABELS.size(), 64);
            }
        }
        double f = median(four);
        double o = median(one);
        double s = median(separate);
        int[] tokens = new int[LABELS.size()];
        try (Engine e = engine(model, adapters, 1)) {
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = e.tokenizer().encodeContinuation(LABELS.get(i)).length;
            }
        }
        System.out.printf(
                Locale.ROOT,
                "(2) labels %s (%s tokens), %d records, batch 32:%n",
                LABELS,
                java.util.Arrays.toString(tokens),
                sub.size());
        System.out.printf(
                Locale.ROOT,
                "(2) 1 candidate: %.1f records/s; 4 candidates, shared prompt cache: %.1f records/s;"
                        + " 4 candidates as 4 separate requests (prompt prefilled 4 times): %.1f records/s%n",
                o,
                f,
                s);
        System.out.printf(
                Locale.ROOT,
                "(2) cost of 4 candidates against 1: %.2fx (target <= 1.5x); "
                        + "without the shared cache: %.2fx%n",
                o / f,
                o / s);
        report.put("one_candidate_records_per_s", o)
                .put("four_candidates_records_per_s", f)
                .put("four_separate_requests_records_per_s", s)
                .put("cost_4_vs_1", o / f)
                .put("cost_4_separate_vs_1", o / s);
    }

    /**
     * Three random rank-8 adapters a1..a3 on q and v for {@code model}, written once under {@code
     * out}.
     */
    static Path adapters(Path out, Path model) throws java.io.IOException {
        ModelConfig c = ModelConfig.read(model);
        Path adapters = out.resolve("label-adapters-" + model.getFileName());
        String[] names = {"a1", "a2", "a3"};
        for (int i = 0; i < names.length; i++) {
            if (!Files.exists(adapters.resolve(names[i]).resolve("adapter_model.safetensors"))) {
                new PeftWriter(c)
                        .rank(8)
                        .alpha(16)
                        .targets(EnumSet.of(Projection.Q, Projection.V))
                        .write(adapters.resolve(names[i]), 31 + i, 0.05, 0.05);
            }
        }
        return adapters;
    }

    static Engine engine(Path model, Path adapters, int batchSize) {
        int batch = batchSize == 32 ? LabelBench.batch : batchSize;
        // Without prefix caching: this benchmark measures batching and the shared candidate tree
        // alone
        // (its "4 separate requests" would otherwise share the prompt through the cache; bench.sh
        // kv measures that).
        return Engine.open(
                EngineConfig.builder(model)
                        .maxRunning(batch)
                        .maxTokensPerStep(tokensPerStep)
                        .adapterRoot(adapters)
                        .prefixCaching(false)
                        .build());
    }

    /** Prompts of 20-60 words, a quarter each on the base model and three adapters. */
    static List<Rec> records(Engine e, int n) {
        Random rnd = new Random(7);
        List<Rec> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            StringBuilder text = new StringBuilder("Story:");
            int words = 20 + rnd.nextInt(40);
            for (int w = 0; w < words; w++) {
                text.append(' ').append(WORDS[rnd.nextInt(WORDS.length)]);
            }
            text.append(".\nThe child in this story is");
            List<AdapterRef> mix =
                    i % 4 == 0 ? List.of() : List.of(new AdapterRef("a" + (i % 4), 1.0));
            out.add(new Rec(e.tokenizer().encode(text.toString()), mix));
        }
        return out;
    }

    /**
     * Labels the records and returns records/s. With {@code split} > 1 each record becomes that
     * many requests of one candidate each (no sharing of the prompt between candidates).
     */
    static double run(Engine e, List<Rec> recs, List<String> labels, int split, int queue) {
        return run(e, recs, labels, split, queue, event -> {});
    }

    /** As above, handing each result event (request id {@code "r" + index}) to {@code results}. */
    static double run(
            Engine e,
            List<Rec> recs,
            List<String> labels,
            int split,
            int queue,
            Consumer<TokenEvent> results) {
        long t0 = System.nanoTime();
        int next = 0;
        int done = 0;
        int expected = recs.size() * (split > 1 ? split : 1);
        while (next < recs.size() || e.hasWork()) {
            while (next < recs.size() && e.stats().waiting() < queue) {
                Rec r = recs.get(next);
                if (split > 1) {
                    for (int k = 0; k < split; k++) {
                        RequestProcessor.submit(
                                e,
                                new PromptRequest(
                                        "r" + next + "-" + k,
                                        r.prompt(),
                                        r.adapters(),
                                        SamplingParams.greedy(1),
                                        null,
                                        List.of(labels.get(k))));
                    }
                } else {
                    RequestProcessor.submit(
                            e,
                            new PromptRequest(
                                    "r" + next,
                                    r.prompt(),
                                    r.adapters(),
                                    SamplingParams.greedy(1),
                                    null,
                                    labels));
                }
                next++;
            }
            StepResult step = e.step();
            if (!step.failures().isEmpty()) {
                throw new IllegalStateException("failures: " + step.failures());
            }
            done += step.events().size();
            step.events().forEach(results);
        }
        if (done != expected) {
            throw new IllegalStateException(done + " results for " + expected + " requests");
        }
        return recs.size() / ((System.nanoTime() - t0) / 1e9);
    }

    static double median(double[] v) {
        double[] s = v.clone();
        java.util.Arrays.sort(s);
        return s[s.length / 2];
    }
}
