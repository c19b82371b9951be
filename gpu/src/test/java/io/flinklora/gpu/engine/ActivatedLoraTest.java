package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.lora.AdapterConfig;
import io.flinklora.gpu.lora.AdapterFormatException;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.SamplingParams;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PEFT's activated LoRA (alora_invocation_tokens) beyond the token conformance of the llama_alora
 * case (HuggingFaceConformanceTest): such an adapter runs alone, keys and values computed with it
 * are never shared with a sequence whose invocation starts elsewhere, and the configurations PEFT
 * cannot serve are refused by name.
 */
class ActivatedLoraTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path CASES =
            TestModels.projectRoot().resolve("gpu/src/test/resources/conformance");
    private static final Path MODEL = CASES.resolve("llama_alora");

    private static HuggingFaceConformanceTest.Row row(String id) throws IOException {
        for (JsonNode c : JSON.readTree(CASES.resolve("cases.json").toFile()).get("cases")) {
            if (c.get("model").asText().equals("llama_alora")) {
                for (HuggingFaceConformanceTest.Row r : HuggingFaceConformanceTest.rows(c)) {
                    if (r.id().equals(id)) {
                        return r;
                    }
                }
            }
        }
        throw new AssertionError("no row " + id);
    }

    private static EngineRequest request(String id, int[] prompt, String adapter, double weight) {
        return new EngineRequest(
                id, prompt, List.of(new AdapterRef(adapter, weight)), SamplingParams.greedy(10));
    }

    @Test
    void keysAndValuesOfAnotherInvocationStartAreNotReusedFromThePrefixCache() throws IOException {
        // The same first ten tokens, the invocation at 2 in the first prompt and at 10 in the
        // second: with blocks of 4, the second would find the first's adapted blocks for positions
        // 0-7 if the cache ignored where the adapter starts acting.
        HuggingFaceConformanceTest.Row twice = row("alora_twice");
        int[] later = twice.prompt();
        int[] early = new int[later.length - 3];
        System.arraycopy(later, 0, early, 0, 10);
        System.arraycopy(later, 13, early, 10, later.length - 13);
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(MODEL)
                                .maxRunning(2)
                                .kvBlockSize(4)
                                .adapterRoot(MODEL.resolve("adapters"))
                                .build())) {
            EngineHarness.runAll(e, List.of(request("early", early, "alora", 1.0)));
            Map<String, EngineHarness.Outcome> out =
                    EngineHarness.runAll(e, List.of(request("later", later, "alora", 1.0)));
            assertArrayEquals(twice.greedy(), out.get("later").idArray(), "PEFT's tokens");
        }
    }

    @Test
    void anActivatedLoraRunsAloneAndIsRefusedInMixes() throws IOException {
        HuggingFaceConformanceTest.assertRunsOnlyAlone(
                MODEL, row("alora_once").prompt(), "alora", "plain", "activated LoRA");
    }

    @Test
    void invocationTokensThatCannotBeServedAreRefusedByName(@TempDir Path tmp) throws IOException {
        Path source = MODEL.resolve("adapters/alora/adapter_config.json");
        for (Map.Entry<String, Object> bad :
                Map.<String, Object>of(
                                "use_dora", true,
                                "modules_to_save", List.of("lm_head"),
                                "alora_invocation_tokens", List.of())
                        .entrySet()) {
            ObjectNode config = (ObjectNode) JSON.readTree(source.toFile());
            config.set(bad.getKey(), JSON.valueToTree(bad.getValue()));
            Path dir = Files.createDirectories(tmp.resolve(bad.getKey()));
            JSON.writeValue(dir.resolve("adapter_config.json").toFile(), config);
            AdapterFormatException e =
                    assertThrows(AdapterFormatException.class, () -> AdapterConfig.read(dir));
            assertTrue(e.getMessage().contains("alora_invocation_tokens"), e.getMessage());
        }
    }
}
