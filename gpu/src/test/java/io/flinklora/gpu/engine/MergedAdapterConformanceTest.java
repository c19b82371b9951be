package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.flinklora.gpu.lora.AdapterFormatException;
import io.flinklora.gpu.lora.AdapterMerger;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.lora.LoraStrategy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code merge-adapter.sh} writes a model that generates what transformers + PEFT generate with the
 * adapters applied: every conformance row whose adapters the merge accepts, merged into its model
 * (fused modules such as Phi-3's {@code qkv_proj} and GLM's {@code gate_up_proj} included), gives
 * the row's greedy ids with no adapter loaded. Rows with adapters the merge refuses by name (a lora
 * bias, DoRA, saved modules, ...) are counted, not run.
 */
class MergedAdapterConformanceTest {
    @TempDir Path tmp;
    private int mergedRows;

    @TestFactory
    Stream<DynamicTest> everyMergeableRowGivesTransformersAndPeftTokensFromTheMergedModel()
            throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : HuggingFaceConformanceTest.cases()) {
            String name = c.get("model").asText();
            Path model = HuggingFaceConformanceTest.casesDir().resolve(name);
            tests.add(DynamicTest.dynamicTest(name, () -> check(name, model, c)));
        }
        // Run last: the cases above merged rows rather than refusing them all.
        tests.add(
                DynamicTest.dynamicTest(
                        "rows merged",
                        () -> assertTrue(mergedRows > 100, mergedRows + " rows merged")));
        return tests.stream();
    }

    private void check(String name, Path model, JsonNode c) throws IOException {
        int merged = 0;
        for (HuggingFaceConformanceTest.Row r : HuggingFaceConformanceTest.rows(c)) {
            if (r.adapters().isEmpty()) {
                continue;
            }
            List<AdapterMerger.Weighted> ws = new ArrayList<>();
            for (AdapterRef a : r.adapters()) {
                ws.add(
                        new AdapterMerger.Weighted(
                                model.resolve("adapters").resolve(a.name()), a.weight()));
            }
            Path out = tmp.resolve(name + "-" + r.id());
            try {
                AdapterMerger.merge(model, ws, out);
            } catch (AdapterFormatException refused) {
                continue; // refused by name: this row's adapters cannot be folded into weights
            }
            merged++;
            assertTrue(!Files.exists(out.resolve("adapters")), "no adapters beside the merge");
            HuggingFaceConformanceTest.Row alone =
                    new HuggingFaceConformanceTest.Row(
                            r.id(), List.of(), r.prompt(), r.maxNew(), r.greedy(), r.firstLogits());
            try (Engine e = HuggingFaceConformanceTest.engine(out, 1, LoraStrategy.POOLED)) {
                Map<String, EngineHarness.Outcome> got =
                        EngineHarness.runAll(e, List.of(HuggingFaceConformanceTest.request(alone)));
                List<Integer> want = new ArrayList<>();
                for (int id : r.greedy()) {
                    want.add(id);
                }
                assertEquals(want, got.get(r.id()).ids(), name + " row " + r.id() + " merged");
            }
        }
        mergedRows += merged;
    }
}
