package io.flinklora.gpu.compose;

import static io.flinklora.gpu.frontend.RequestProcessor.submit;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.engine.EngineRequest;
import io.flinklora.gpu.engine.StepResult;
import io.flinklora.gpu.engine.TokenEvent;
import io.flinklora.gpu.frontend.PromptRequest;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.SamplingParams;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The search's scoring and outputs on the real model, the shipped adapters and the committed task
 * examples: a generation scored in one mixed batch equals each candidate scored alone, and the
 * fused adapter serves the same tokens as the weighted mix.
 */
class ComposeServingTest {
    static final List<String> USE = List.of("max", "happy", "mood");
    static final List<double[]> CANDIDATES =
            List.of(
                    new double[] {0, 0, 0},
                    new double[] {1, 0, 0},
                    new double[] {0.7, 0.9, -0.4},
                    new double[] {-0.5, 1.2, 0.3});

    static Path examples() {
        return TestModels.model("compose").resolve("max-happy/examples.jsonl");
    }

    static Engine engine(Path root, int batch) {
        return Engine.open(
                EngineConfig.builder(TestModels.stories260k())
                        .maxRunning(batch)
                        .maxTokensPerStep(4096)
                        .maxSequenceLength(192)
                        .adapterRoot(root)
                        .build());
    }

    @Test
    void oneMixedBatchScoresEachCandidateAsItScoresAlone() throws Exception {
        List<ComposeExample> ex = ComposeExample.read(examples()).subList(0, 6);
        try (Engine e = engine(TestModels.model("adapters"), 64)) {
            MixScorer scorer = new MixScorer(e, USE, ex);
            double[] together = scorer.losses(CANDIDATES);
            for (int c = 0; c < CANDIDATES.size(); c++) {
                double alone = scorer.losses(List.of(CANDIDATES.get(c)))[0];
                assertEquals(alone, together[c], 1e-5, "candidate " + c);
            }
            // The adapters matter: the base model (all zero) differs from max alone and from the
            // mixes.
            assertTrue(
                    Math.abs(together[0] - together[1]) > 1e-2
                            && Math.abs(together[0] - together[2]) > 1e-2);
            // Mean token cross-entropy: the base model's per-token loss from the engine's own
            // per-example scores.
            double nll = 0;
            long tokens = 0;
            for (MixScorer.Tokenized t : scorer.examples()) {
                submit(e, PromptRequest.score("b", t.prompt(), List.of(), t.continuation()));
                while (e.hasWork()) {
                    for (TokenEvent ev : e.step().events()) {
                        nll -= ev.choice().scores().get(0).logprob();
                    }
                }
                tokens += t.continuation().length;
            }
            assertEquals(nll / tokens, together[0], 1e-5);
        }
    }

    @Test
    void fusedAdapterServesTheSameTokensAsTheWeightedMix(@TempDir Path tmp) throws Exception {
        double[] w = {0.9, 0.7, -0.35};
        FusedAdapter.write(TestModels.model("adapters"), USE, w, tmp.resolve("fused"));
        List<AdapterRef> mix = new ArrayList<>();
        for (int i = 0; i < USE.size(); i++) {
            mix.add(new AdapterRef(USE.get(i), w[i]));
        }
        List<String> prompts = MaxHappyTask.heldOutPrompts().subList(0, 8);
        Map<String, List<Integer>> viaMix;
        Map<String, List<Integer>> viaFused;
        Map<String, List<Integer>> viaBase;
        try (Engine e = engine(TestModels.model("adapters"), 16)) {
            viaMix = greedy(e, prompts, mix);
            viaBase = greedy(e, prompts, List.of());
        }
        try (Engine e = engine(tmp, 16)) {
            viaFused = greedy(e, prompts, List.of(new AdapterRef("fused", 1.0)));
        }
        assertEquals(viaMix, viaFused);
        assertTrue(!viaMix.equals(viaBase), "the mix changes the stories");
    }

    static Map<String, List<Integer>> greedy(Engine e, List<String> prompts, List<AdapterRef> mix) {
        Map<String, List<Integer>> out = new HashMap<>();
        for (int i = 0; i < prompts.size(); i++) {
            e.submit(
                    new EngineRequest(
                            "p" + i,
                            e.tokenizer().encode(prompts.get(i)),
                            mix,
                            SamplingParams.greedy(64).withIgnoreEos(true)));
            out.put("p" + i, new ArrayList<>());
        }
        while (e.hasWork()) {
            StepResult s = e.step();
            assertTrue(s.failures().isEmpty(), s.failures().toString());
            for (TokenEvent ev : s.events()) {
                out.get(ev.requestId()).add(ev.tokenId());
            }
        }
        return out;
    }
}
