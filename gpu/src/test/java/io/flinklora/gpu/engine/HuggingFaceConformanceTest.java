package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestFailure;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.lora.AdapterSettings;
import io.flinklora.gpu.lora.LoraStrategy;
import io.flinklora.gpu.sampling.SamplingParams;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Conformance with Hugging Face transformers + PEFT: every case of {@code cases.json} (tiny models
 * saved by {@code save_pretrained}, adapters saved by PEFT, reference outputs computed by those
 * libraries in float32; see {@code gpu/src/test/conformance/make_cases.py}) runs with all of its
 * rows - base, single adapters, weighted mixes - in one mixed batch, and must give the reference's
 * first-step logits within 1e-4 of the largest logit and its greedy ids exactly.
 *
 * <p>The cases come from {@code -Dconformance.dir=DIR} when set (another seed's output of the
 * generator), else from the committed test resources.
 */
class HuggingFaceConformanceTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final double RELATIVE = 1e-4;

    static Path casesDir() {
        String dir = System.getProperty("conformance.dir");
        return dir != null && !dir.isBlank()
                ? Path.of(dir)
                : TestModels.projectRoot().resolve("gpu/src/test/resources/conformance");
    }

    record Row(
            String id,
            List<AdapterRef> adapters,
            int[] prompt,
            int maxNew,
            int[] greedy,
            float[] firstLogits) {}

    static List<JsonNode> cases() throws IOException {
        List<JsonNode> out = new ArrayList<>();
        JSON.readTree(casesDir().resolve("cases.json").toFile()).get("cases").forEach(out::add);
        return out;
    }

    static List<Row> rows(JsonNode c) {
        List<Row> rows = new ArrayList<>();
        for (JsonNode r : c.get("rows")) {
            List<AdapterRef> mix = new ArrayList<>();
            r.get("adapters")
                    .forEach(
                            a ->
                                    mix.add(
                                            new AdapterRef(
                                                    a.get("name").asText(),
                                                    a.get("weight").asDouble())));
            float[] logits = new float[r.get("first_logits").size()];
            for (int i = 0; i < logits.length; i++) {
                logits[i] = (float) r.get("first_logits").get(i).asDouble();
            }
            rows.add(
                    new Row(
                            r.get("id").asText(),
                            mix,
                            TestModels.ints(r.get("prompt_ids")),
                            r.get("max_new_tokens").asInt(),
                            TestModels.ints(r.get("greedy_ids")),
                            logits));
        }
        return rows;
    }

    static Engine engine(Path model, int rows, LoraStrategy strategy) {
        return engine(model, rows, strategy, 0);
    }

    static Engine engine(Path model, int rows, LoraStrategy strategy, int tokensPerStep) {
        return engine(model, rows, strategy, tokensPerStep, ai.djl.ndarray.types.DataType.FLOAT32);
    }

    static Engine engine(
            Path model,
            int rows,
            LoraStrategy strategy,
            int tokensPerStep,
            ai.djl.ndarray.types.DataType dtype) {
        EngineConfig.Builder b =
                EngineConfig.builder(model).maxRunning(rows).kvSlots(rows).dtype(dtype);
        if (tokensPerStep > 0) {
            b.maxTokensPerStep(tokensPerStep);
        }
        if (Files.isDirectory(model.resolve("adapters"))) {
            b.adapterRoot(model.resolve("adapters"))
                    .adapters(AdapterSettings.DEFAULT.withStrategy(strategy));
        }
        return Engine.open(b.build());
    }

    static EngineRequest request(Row r) {
        return new EngineRequest(
                r.id(),
                r.prompt(),
                r.adapters(),
                SamplingParams.greedy(r.maxNew()).withIgnoreEos(true));
    }

    @TestFactory
    Stream<DynamicTest> everyCaseMatchesTransformersAndPeftWithAllRowsInOneMixedBatch()
            throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : cases()) {
            String name = c.get("model").asText();
            Path model = casesDir().resolve(name);
            List<Row> rows = rows(c);
            tests.add(
                    DynamicTest.dynamicTest(
                            name + " first-step logits, every LoRA strategy",
                            () -> {
                                for (LoraStrategy strategy : LoraStrategy.values()) {
                                    checkFirstLogits(name + "/" + strategy, model, rows, strategy);
                                }
                            }));
            tests.add(
                    DynamicTest.dynamicTest(
                            name + " greedy ids", () -> checkGreedy(name, model, rows, 0)));
            // Prompts prefilled a few tokens per step (rows join mid-flight): windows, LongRoPE's
            // table
            // choice and the KV cache must give the reference's tokens all the same.
            tests.add(
                    DynamicTest.dynamicTest(
                            name + " greedy ids, chunked prefill",
                            () -> checkGreedy(name + " chunked", model, rows, rows.size() + 5)));
        }
        return tests.stream();
    }

    private static void checkFirstLogits(
            String what, Path model, List<Row> rows, LoraStrategy strategy) {
        Map<String, Row> byId = new HashMap<>();
        rows.forEach(r -> byId.put(r.id(), r));
        try (Engine e = engine(model, rows.size(), strategy)) {
            rows.forEach(r -> e.submit(request(r)));
            // Adapters load on the loader thread: plan until every row is in the step, then read
            // its logits.
            Batch batch;
            long deadline = System.nanoTime() + 60_000_000_000L;
            do {
                batch = e.scheduleForTest();
            } while (batch.chunks().size() < rows.size() && System.nanoTime() < deadline);
            assertEquals(rows.size(), batch.chunks().size(), what + ": all rows in one batch");
            float[][] got = e.logitsForTest(batch);
            int i = 0;
            for (Batch.Chunk chunk : batch.chunks()) {
                Row r = byId.get(chunk.sequence().id());
                assertEquals(
                        r.prompt().length,
                        chunk.length(),
                        what + " " + r.id() + ": whole prompt in one chunk");
                float maxAbs = 0;
                float maxDiff = 0;
                int worst = -1;
                for (int v = 0; v < r.firstLogits().length; v++) {
                    maxAbs = Math.max(maxAbs, Math.abs(r.firstLogits()[v]));
                    float d = Math.abs(r.firstLogits()[v] - got[i][v]);
                    if (d > maxDiff) {
                        maxDiff = d;
                        worst = v;
                    }
                }
                assertTrue(
                        maxDiff <= RELATIVE * maxAbs,
                        what
                                + " row "
                                + r.id()
                                + ": logit "
                                + worst
                                + " differs by "
                                + maxDiff
                                + " (max |logit| "
                                + maxAbs
                                + ")");
                i++;
            }
        }
    }

    private static void checkGreedy(String what, Path model, List<Row> rows, int tokensPerStep) {
        try (Engine e =
                engine(model, rows.size(), AdapterSettings.DEFAULT.strategy(), tokensPerStep)) {
            Map<String, EngineHarness.Outcome> out =
                    EngineHarness.runAll(
                            e, rows.stream().map(HuggingFaceConformanceTest::request).toList());
            for (Row r : rows) {
                assertEquals(
                        toList(r.greedy()),
                        out.get(r.id()).ids(),
                        what + " row " + r.id() + " greedy ids");
            }
        }
    }

    private static List<Integer> toList(int[] a) {
        List<Integer> l = new ArrayList<>();
        for (int x : a) {
            l.add(x);
        }
        return l;
    }

    /** Copies a PEFT adapter folder, adding one tensor its config does not account for. */
    static Path withExtraTensor(Path adapter, Path out, String extra) throws IOException {
        return withExtraTensor(adapter, out, extra, new long[] {4, 32});
    }

    /** As {@link #withExtraTensor(Path, Path, String)}, the extra tensor of the given shape. */
    static Path withExtraTensor(Path adapter, Path out, String extra, long[] shape)
            throws IOException {
        Files.createDirectories(out);
        Files.copy(adapter.resolve("adapter_config.json"), out.resolve("adapter_config.json"));
        io.flinklora.gpu.safetensors.SafetensorsWriter w =
                new io.flinklora.gpu.safetensors.SafetensorsWriter();
        try (io.flinklora.gpu.safetensors.WeightIndex in =
                        io.flinklora.gpu.safetensors.WeightIndex.openFile(
                                adapter.resolve("adapter_model.safetensors"));
                ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager()) {
            for (String n : in.names()) {
                ai.djl.ndarray.NDArray a = in.load(n, m, ai.djl.ndarray.types.DataType.FLOAT32);
                w.add(
                        n,
                        io.flinklora.gpu.safetensors.DType.F32,
                        a.getShape().getShape(),
                        a.toFloatArray());
            }
        }
        long size = 1;
        for (long d : shape) {
            size *= d;
        }
        w.add(extra, io.flinklora.gpu.safetensors.DType.F32, shape, new float[(int) size]);
        w.write(out.resolve("adapter_model.safetensors"));
        return out;
    }

    @org.junit.jupiter.api.Test
    void anAdapterWithATensorItsConfigDoesNotUseFailsItsRequestsWithACodedErrorNamingIt(
            @org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
        Path model = casesDir().resolve("llama_gqa_llama3");
        String extra = "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight";
        withExtraTensor(model.resolve("adapters/plain"), dir.resolve("adapters/sneaky"), extra);
        assertLoadFails(model, dir.resolve("adapters"), "sneaky", extra);
    }

    @org.junit.jupiter.api.Test
    void aBaseBiasTheModelDoesNotHaveFailsItsRequestsNamingIt(
            @org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
        // As PEFT saves bias = all on a model with biases, but this model has none to replace.
        Path model = casesDir().resolve("llama_gqa_llama3");
        String bias = "base_model.model.model.layers.0.self_attn.o_proj.bias";
        withExtraTensor(
                model.resolve("adapters/plain"),
                dir.resolve("adapters/biased"),
                bias,
                new long[] {32});
        assertLoadFails(
                model, dir.resolve("adapters"), "biased", bias, "has no bias in the base model");
    }

    /** A request for {@code adapter} fails alone with ADAPTER_LOAD_FAILED naming every part. */
    static void assertLoadFails(Path model, Path root, String adapter, String... named)
            throws IOException {
        try (Engine e =
                Engine.open(EngineConfig.builder(model).maxRunning(2).adapterRoot(root).build())) {
            e.submit(
                    new EngineRequest(
                            "bad",
                            rows(cases().get(0)).get(0).prompt(),
                            List.of(new AdapterRef(adapter, 1.0)),
                            SamplingParams.greedy(2)));
            List<RequestFailure> failures =
                    new ArrayList<>(runUntilIdle(e, new HashMap<>()).values());
            assertEquals(1, failures.size(), failures.toString());
            assertEquals(ErrorCode.ADAPTER_LOAD_FAILED, failures.get(0).code());
            for (String part : named) {
                assertTrue(failures.get(0).message().contains(part), failures.get(0).message());
            }
        }
    }

    @org.junit.jupiter.api.Test
    void trainedBaseBiasAdaptersRunAloneAndAreRefusedInMixes() throws IOException {
        Path model = casesDir().resolve("llama_trained_base_biases");
        assertRunsOnlyAlone(
                model,
                rows(cases().get(0)).get(0).prompt(),
                "bias_all_trained",
                "bias_lora_only_trained",
                "base biases");
    }

    /**
     * {@code adapter} (with {@code other} in a mix, or at weight 0.5) fails as INVALID_REQUEST
     * naming {@code why}; alone at weight 1 it generates.
     */
    static void assertRunsOnlyAlone(
            Path model, int[] prompt, String adapter, String other, String why) {
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(model)
                                .maxRunning(4)
                                .adapterRoot(model.resolve("adapters"))
                                .build())) {
            e.submit(
                    new EngineRequest(
                            "mix",
                            prompt,
                            List.of(new AdapterRef(adapter, 0.5), new AdapterRef(other, 0.5)),
                            SamplingParams.greedy(2)));
            e.submit(
                    new EngineRequest(
                            "half",
                            prompt,
                            List.of(new AdapterRef(adapter, 0.5)),
                            SamplingParams.greedy(2)));
            e.submit(
                    new EngineRequest(
                            "alone",
                            prompt,
                            List.of(new AdapterRef(adapter, 1.0)),
                            SamplingParams.greedy(2)));
            Map<String, Integer> tokens = new HashMap<>();
            Map<String, RequestFailure> failures = runUntilIdle(e, tokens);
            assertEquals(java.util.Set.of("mix", "half"), failures.keySet());
            failures.values()
                    .forEach(
                            f -> {
                                assertEquals(ErrorCode.INVALID_REQUEST, f.code(), f.toString());
                                assertTrue(f.message().contains(why), f.message());
                            });
            assertEquals(2, tokens.getOrDefault("alone", 0), adapter + " alone at weight 1 runs");
        }
    }

    @org.junit.jupiter.api.Test
    void aSavedBaseEmbeddingIsComparedWithTheBaseInItsComputeDtype() throws IOException {
        // The base embedding is rounded to float16 on load; PEFT's saved float32 copy must still
        // match it.
        Path model = casesDir().resolve("llama_peft_features");
        int[] prompt = rows(cases().get(0)).get(0).prompt();
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(model)
                                .maxRunning(1)
                                .dtype(ai.djl.ndarray.types.DataType.FLOAT16)
                                .adapterRoot(model.resolve("adapters"))
                                .build())) {
            Map<String, EngineHarness.Outcome> out =
                    EngineHarness.runAll(
                            e,
                            List.of(
                                    new EngineRequest(
                                            "e",
                                            prompt,
                                            List.of(new AdapterRef("embed_lora", 1.0)),
                                            SamplingParams.greedy(2))));
            assertEquals(2, out.get("e").ids().size());
        }
    }

    @org.junit.jupiter.api.Test
    void doraAndSavedModuleAdaptersRunAloneAndAreRefusedInMixes() throws IOException {
        Path model = casesDir().resolve("llama_peft_features");
        int[] prompt = rows(cases().get(0)).get(0).prompt();
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(model)
                                .maxRunning(4)
                                .adapterRoot(model.resolve("adapters"))
                                .build())) {
            e.submit(
                    new EngineRequest(
                            "dora-mix",
                            prompt,
                            List.of(new AdapterRef("dora", 0.5), new AdapterRef("plain", 0.5)),
                            SamplingParams.greedy(2)));
            e.submit(
                    new EngineRequest(
                            "dora-half",
                            prompt,
                            List.of(new AdapterRef("dora", 0.5)),
                            SamplingParams.greedy(2)));
            e.submit(
                    new EngineRequest(
                            "head-mix",
                            prompt,
                            List.of(new AdapterRef("save_head", 1.0), new AdapterRef("plain", 1.0)),
                            SamplingParams.greedy(2)));
            e.submit(
                    new EngineRequest(
                            "dora-alone",
                            prompt,
                            List.of(new AdapterRef("dora", 1.0)),
                            SamplingParams.greedy(2)));
            Map<String, Integer> tokensOf = new HashMap<>();
            Map<String, RequestFailure> failures = runUntilIdle(e, tokensOf);
            int tokens = tokensOf.getOrDefault("dora-alone", 0);
            assertEquals(java.util.Set.of("dora-mix", "dora-half", "head-mix"), failures.keySet());
            failures.values()
                    .forEach(f -> assertEquals(ErrorCode.INVALID_REQUEST, f.code(), f.toString()));
            assertEquals(2, tokens, "a DoRA adapter alone at weight 1 runs");
        }
    }

    /**
     * Steps the engine until it is idle (a minute at most); returns each failed request's failure
     * and counts each request's tokens into {@code tokens}.
     */
    static Map<String, RequestFailure> runUntilIdle(Engine e, Map<String, Integer> tokens) {
        Map<String, RequestFailure> failures = new HashMap<>();
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (e.hasWork() && System.nanoTime() < deadline) {
            StepResult step = e.step();
            step.failures().forEach(f -> failures.put(f.requestId(), f));
            step.events().forEach(t -> tokens.merge(t.requestId(), 1, Integer::sum));
        }
        return failures;
    }
}
