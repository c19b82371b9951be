package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.lora.AdapterExtractor;
import io.flinklora.gpu.lora.AdapterMerger;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.lora.AdapterSettings;
import io.flinklora.gpu.lora.LoraStrategy;
import io.flinklora.gpu.lora.PeftWriter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.safetensors.DType;
import io.flinklora.gpu.sampling.SamplingParams;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MultiLoraTest {
    @TempDir static Path root;
    static Path adapters;
    static final String PROMPT = "Tom had a big red ball.";

    /** The rows of the mixed batch: a name for the row and its adapter mix (empty: base model). */
    static final Map<String, List<AdapterRef>> ROWS = new java.util.LinkedHashMap<>();

    @BeforeAll
    static void writeAdapters() throws Exception {
        ModelConfig c = ModelConfig.read(TestModels.stories260k());
        adapters = root.resolve("adapters");
        new PeftWriter(c)
                .rank(2)
                .alpha(4)
                .targets(EnumSet.of(Projection.Q, Projection.V))
                .write(adapters.resolve("r2_qv"), 1, 0.3, 0.3);
        new PeftWriter(c)
                .rank(4)
                .alpha(8)
                .targets(EnumSet.allOf(Projection.class))
                .write(adapters.resolve("r4_all"), 2, 0.2, 0.2);
        new PeftWriter(c)
                .rank(8)
                .alpha(8)
                .rsLora(true)
                .targets(EnumSet.of(Projection.K, Projection.O, Projection.DOWN))
                .write(adapters.resolve("r8_rslora"), 3, 0.2, 0.2);
        new PeftWriter(c)
                .rank(16)
                .alpha(16)
                .dtype(DType.BF16)
                .targets(EnumSet.of(Projection.GATE, Projection.UP))
                .write(adapters.resolve("r16_bf16"), 4, 0.15, 0.15);
        new PeftWriter(c)
                .rank(6)
                .alpha(6)
                .targets(EnumSet.of(Projection.Q, Projection.K, Projection.V, Projection.O))
                .rankPattern("o_proj", 3)
                .alphaPattern("o_proj", 12)
                .write(adapters.resolve("r6_patterns"), 5, 0.25, 0.25);
        ROWS.put("base-a", List.of());
        ROWS.put("r2_qv", List.of(new AdapterRef("r2_qv", 1.0)));
        ROWS.put("r4_all", List.of(new AdapterRef("r4_all", 1.0)));
        ROWS.put("r8_rslora", List.of(new AdapterRef("r8_rslora", 1.0)));
        ROWS.put("r16_bf16", List.of(new AdapterRef("r16_bf16", 1.0)));
        ROWS.put("r6_patterns", List.of(new AdapterRef("r6_patterns", 1.0)));
        ROWS.put("mix", List.of(new AdapterRef("r2_qv", 0.7), new AdapterRef("r4_all", 0.3)));
        ROWS.put("base-b", List.of());
    }

    static Engine engine(Path model, Path adapterRoot, int batch, AdapterSettings settings) {
        return Engine.open(
                EngineConfig.builder(model)
                        .maxRunning(batch)
                        .adapterRoot(adapterRoot)
                        .adapters(settings)
                        .build());
    }

    static Path merged(Path out, List<AdapterRef> mix) throws Exception {
        List<AdapterMerger.Weighted> ws = new ArrayList<>();
        for (AdapterRef r : mix) {
            ws.add(new AdapterMerger.Weighted(adapters.resolve(r.name()), r.weight()));
        }
        AdapterMerger.merge(TestModels.stories260k(), ws, out);
        return out;
    }

    static List<Integer> greedyAlone(Path model, int n) {
        try (Engine e = Engine.open(EngineConfig.builder(model).maxRunning(1).build())) {
            return EngineHarness.runAll(
                            e,
                            List.of(
                                    EngineHarness.request(
                                            "x",
                                            e.tokenizer().encode(PROMPT),
                                            SamplingParams.greedy(n).withIgnoreEos(true))))
                    .get("x")
                    .ids();
        }
    }

    @Test
    void mixedAdapterBatchEqualsMergedWeightsPerRequest() throws Exception {
        for (LoraStrategy strategy : LoraStrategy.values()) {
            Map<String, EngineHarness.Outcome> batched;
            try (Engine e =
                    engine(
                            TestModels.stories260k(),
                            adapters,
                            8,
                            AdapterSettings.DEFAULT.withStrategy(strategy))) {
                List<EngineRequest> reqs = new ArrayList<>();
                ROWS.forEach(
                        (id, mix) ->
                                reqs.add(
                                        new EngineRequest(
                                                id,
                                                e.tokenizer().encode(PROMPT),
                                                mix,
                                                SamplingParams.greedy(24).withIgnoreEos(true))));
                batched = EngineHarness.runAll(e, reqs);
            }
            List<Integer> base = greedyAlone(TestModels.stories260k(), 24);
            assertEquals(
                    base,
                    batched.get("base-a").ids(),
                    strategy + ": base rows are untouched by adapters");
            assertEquals(base, batched.get("base-b").ids());
            for (var row : ROWS.entrySet()) {
                if (row.getValue().isEmpty()) {
                    continue;
                }
                List<Integer> expected =
                        greedyAlone(
                                merged(root.resolve("merged-" + row.getKey()), row.getValue()), 24);
                assertEquals(
                        expected,
                        batched.get(row.getKey()).ids(),
                        strategy + " row " + row.getKey());
                assertFalse(
                        expected.equals(base), "adapter " + row.getKey() + " changes the output");
            }
        }
    }

    @Test
    void mixedBatchLogitsAgreeWithMergedModelsToOneInTenThousand() throws Exception {
        try (Engine e = engine(TestModels.stories260k(), adapters, 8, AdapterSettings.DEFAULT)) {
            int[] prompt = e.tokenizer().encode(PROMPT);
            List<EngineRequest> reqs = new ArrayList<>();
            ROWS.forEach(
                    (id, mix) ->
                            reqs.add(
                                    new EngineRequest(
                                            id,
                                            prompt,
                                            mix,
                                            SamplingParams.greedy(4).withIgnoreEos(true))));
            reqs.forEach(e::submit);
            // Admit everything (adapters load on the loader thread), then read one prefill's
            // logits.
            Batch batch;
            long deadline = System.nanoTime() + 30_000_000_000L;
            do {
                batch = e.scheduleForTest();
            } while (batch.chunks().size() < ROWS.size() && System.nanoTime() < deadline);
            assertEquals(ROWS.size(), batch.chunks().size());
            float[][] got = e.logitsForTest(batch);
            int row = 0;
            for (Batch.Chunk c : batch.chunks()) {
                List<AdapterRef> mix = ROWS.get(c.sequence().id());
                Path model =
                        mix.isEmpty()
                                ? TestModels.stories260k()
                                : merged(root.resolve("logits-" + c.sequence().id()), mix);
                float[] expected = prefillLogits(model, prompt);
                float maxAbs = 0;
                float maxDiff = 0;
                for (int i = 0; i < expected.length; i++) {
                    maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
                    maxDiff = Math.max(maxDiff, Math.abs(expected[i] - got[row][i]));
                }
                assertTrue(
                        maxDiff <= 1e-4 * maxAbs,
                        c.sequence().id() + ": max diff " + maxDiff + " vs max |logit| " + maxAbs);
                row++;
            }
        }
    }

    static float[] prefillLogits(Path model, int[] prompt) {
        try (Engine e = Engine.open(EngineConfig.builder(model).maxRunning(1).build())) {
            e.submit(
                    new EngineRequest(
                            "p", prompt, List.of(), SamplingParams.greedy(1).withIgnoreEos(true)));
            return e.logitsForTest(e.scheduleForTest())[0];
        }
    }

    @Test
    void extractingARankRFineTuneGivesBackTheSameOutputs() throws Exception {
        // A synthetic fine-tune: base plus an exact rank-3 change on q, v and down.
        ModelConfig c = ModelConfig.read(TestModels.stories260k());
        Path delta =
                new PeftWriter(c)
                        .rank(3)
                        .alpha(3)
                        .targets(EnumSet.of(Projection.Q, Projection.V, Projection.DOWN))
                        .write(root.resolve("truth"), 9, 0.3, 0.3);
        Path tuned = root.resolve("tuned");
        AdapterMerger.merge(
                TestModels.stories260k(), List.of(new AdapterMerger.Weighted(delta, 1.0)), tuned);
        Path extractedRoot = root.resolve("extracted");
        AdapterExtractor.Report report =
                AdapterExtractor.extract(
                        TestModels.stories260k(), tuned, 3, null, extractedRoot.resolve("x3"));
        assertEquals(EnumSet.of(Projection.Q, Projection.V, Projection.DOWN), report.targets());
        assertTrue(
                report.worstEnergyKept() > 0.999999,
                "rank 3 holds all of a rank-3 difference: " + report.worstEnergyKept());
        List<Integer> expected = greedyAlone(tuned, 32);
        try (Engine e =
                engine(TestModels.stories260k(), extractedRoot, 2, AdapterSettings.DEFAULT)) {
            var out =
                    EngineHarness.runAll(
                            e,
                            List.of(
                                    new EngineRequest(
                                            "x",
                                            e.tokenizer().encode(PROMPT),
                                            List.of(new AdapterRef("x3", 1.0)),
                                            SamplingParams.greedy(32).withIgnoreEos(true))));
            assertEquals(expected, out.get("x").ids());
        }
        assertFalse(
                expected.equals(greedyAlone(TestModels.stories260k(), 32)),
                "the fine-tune changed the output");
    }
}
