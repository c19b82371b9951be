package io.flinklora.gpu.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.engine.ChoiceResult;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.lora.AdapterRef;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Labelling against transformers + PEFT, the tool a data team would use instead: the same records,
 * candidate labels and adapters scored by the engine (the prompt prefilled once, the candidates as
 * one tree row) and by {@code scripts/peer/peft_label_peer.py} (a row per record and candidate, one
 * forward pass per batch of 32 records with {@code adapter_names}), records/s side by side in one
 * run, and every record's chosen label and candidate scores compared.
 */
@Internal
final class LabelPeer {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int PASSES = 3;
    private static final int BATCH = 32;

    /** Scores agree when they differ by less than this (float32 sums over a few tokens). */
    private static final double SCORE_TOLERANCE = 1e-3;

    private LabelPeer() {}

    static void compare(
            Path out,
            Path model,
            Path adapters,
            List<LabelBench.Rec> recs,
            String python,
            String script,
            ObjectNode report)
            throws IOException, InterruptedException {
        int threads =
                Integer.getInteger(
                        "ai.djl.pytorch.num_threads", Runtime.getRuntime().availableProcessors());
        List<String> labels = LabelBench.LABELS;
        Map<String, ChoiceResult> chosen = new HashMap<>();
        List<Double> rates = new ArrayList<>();
        int[][] candidates;
        try (Engine e = LabelBench.engine(model, adapters, BATCH)) {
            candidates =
                    labels.stream()
                            .map(l -> e.tokenizer().encodeContinuation(l))
                            .toArray(int[][]::new);
            LabelBench.run(e, recs.subList(0, Math.min(BATCH, recs.size())), labels, 1, 64);
            for (int pass = 0; pass < PASSES; pass++) {
                Map<String, ChoiceResult> got = new HashMap<>();
                rates.add(
                        LabelBench.run(
                                e,
                                recs,
                                labels,
                                1,
                                64,
                                ev -> got.put(ev.requestId(), ev.choice())));
                if (pass == 0) {
                    chosen.putAll(got);
                }
            }
        }
        double engine = EngineBench.median(rates);
        JsonNode peer = runPeer(out, model, adapters, recs, candidates, threads, python, script);
        if (peer == null) {
            System.out.printf(
                    Locale.ROOT,
                    "(3) against transformers + PEFT: engine %.1f records/s over %d records; peer"
                            + " skipped%n",
                    engine,
                    recs.size());
            return;
        }
        int same = 0;
        double worst = 0;
        for (int i = 0; i < recs.size(); i++) {
            ChoiceResult c = chosen.get("r" + i);
            JsonNode scores = peer.get("logprobs").get("r" + i);
            int best = 0;
            for (int k = 0; k < labels.size(); k++) {
                double theirs = scores.get(k).asDouble();
                worst = Math.max(worst, Math.abs(theirs - c.scores().get(k).logprob()));
                best = theirs > scores.get(best).asDouble() ? k : best;
            }
            same += best == c.index() ? 1 : 0;
        }
        double peerRate = peer.get("records_per_second").asDouble();
        report.with("against_peft")
                .put("records", recs.size())
                .put("threads", threads)
                .put("engine_records_per_s", engine)
                .put("peer_records_per_s", peerRate)
                .put("ratio", engine / peerRate)
                .put("same_label", same)
                .put("max_logprob_difference", worst);
        System.out.printf(
                Locale.ROOT,
                "(3) %d records, 4 candidates, batches of %d, %d PyTorch thread(s): engine %.1f"
                        + " records/s, transformers + PEFT %.1f records/s: %.2fx; same label %d/%d,"
                        + " scores within %.1e%n",
                recs.size(),
                BATCH,
                threads,
                engine,
                peerRate,
                engine / peerRate,
                same,
                recs.size(),
                worst);
        if (same != recs.size() || worst > SCORE_TOLERANCE) {
            throw new IllegalStateException(
                    "labels differ from transformers + PEFT's: "
                            + same
                            + "/"
                            + recs.size()
                            + " the same, scores up to "
                            + worst
                            + " apart");
        }
    }

    /** Runs the Python peer on the same files and records; null (with a message) when it cannot. */
    private static JsonNode runPeer(
            Path out,
            Path model,
            Path adapters,
            List<LabelBench.Rec> recs,
            int[][] candidates,
            int threads,
            String python,
            String script)
            throws IOException, InterruptedException {
        ObjectNode w =
                JSON.createObjectNode()
                        .put("model", model.toAbsolutePath().toString())
                        .put("adapters_root", adapters.toAbsolutePath().toString())
                        .put("batch_size", BATCH)
                        .put("passes", PASSES);
        ArrayNode cands = w.putArray("candidates");
        for (int[] c : candidates) {
            Arrays.stream(c).forEach(cands.addArray()::add);
        }
        ArrayNode list = w.putArray("records");
        for (int i = 0; i < recs.size(); i++) {
            LabelBench.Rec r = recs.get(i);
            ObjectNode n = list.addObject().put("id", "r" + i);
            List<AdapterRef> mix = r.adapters();
            if (mix.size() > 1 || (mix.size() == 1 && mix.get(0).weight() != 1.0)) {
                throw new IllegalArgumentException("the peer takes one adapter per record");
            }
            if (mix.isEmpty()) {
                n.putNull("adapter");
            } else {
                n.put("adapter", mix.get(0).name());
            }
            Arrays.stream(r.prompt()).forEach(n.putArray("prompt_ids")::add);
        }
        Files.createDirectories(out);
        Path workload = out.resolve("label-peer-workload.json");
        Files.writeString(workload, JSON.writeValueAsString(w));
        return PeerProcess.run(
                python,
                script,
                workload,
                out.resolve("label-peer-result.json"),
                out.resolve("label-peer.log"),
                threads,
                1);
    }
}
