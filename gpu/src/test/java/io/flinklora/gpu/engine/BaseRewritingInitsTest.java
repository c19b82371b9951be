package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.gpu.errors.RequestFailure;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.SamplingParams;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PEFT initialisations beyond the token conformance of the *_base_rewriting_inits cases
 * (HuggingFaceConformanceTest): OLoRA and PiSSA adapters, whose loader rewrites the base, run
 * alone; MiCA and EVA adapters are plain LoRA and mix; the initialisations and combinations PEFT
 * cannot reproduce from the saved files are refused by name.
 */
class BaseRewritingInitsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path MODEL =
            HuggingFaceConformanceTest.casesDir().resolve("llama_base_rewriting_inits");

    private static int[] prompt() throws IOException {
        return HuggingFaceConformanceTest.rows(HuggingFaceConformanceTest.cases().get(0))
                .get(0)
                .prompt();
    }

    @Test
    void oloraAndPissaAdaptersRunAloneAndAreRefusedInMixes() throws IOException {
        HuggingFaceConformanceTest.assertRunsOnlyAlone(MODEL, prompt(), "olora", "mica", "OLoRA");
        HuggingFaceConformanceTest.assertRunsOnlyAlone(MODEL, prompt(), "pissa", "eva", "PiSSA");
    }

    @Test
    void micaAndEvaAdaptersMixAtAnyWeight() throws IOException {
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(MODEL)
                                .maxRunning(2)
                                .adapterRoot(MODEL.resolve("adapters"))
                                .build())) {
            e.submit(
                    new EngineRequest(
                            "mix",
                            prompt(),
                            List.of(new AdapterRef("mica", 0.7), new AdapterRef("eva", -0.4)),
                            SamplingParams.greedy(3)));
            Map<String, Integer> tokens = new HashMap<>();
            Map<String, RequestFailure> failures =
                    HuggingFaceConformanceTest.runUntilIdle(e, tokens);
            assertTrue(failures.isEmpty(), failures.toString());
            assertEquals(3, tokens.get("mix"));
        }
    }

    /** A copy of the olora adapter with its config changed. */
    private static void variant(Path root, String name, Consumer<ObjectNode> change)
            throws IOException {
        Path src = MODEL.resolve("adapters/olora");
        Path dst = Files.createDirectories(root.resolve(name));
        Files.copy(
                src.resolve("adapter_model.safetensors"), dst.resolve("adapter_model.safetensors"));
        ObjectNode cfg = (ObjectNode) JSON.readTree(src.resolve("adapter_config.json").toFile());
        change.accept(cfg);
        JSON.writeValue(dst.resolve("adapter_config.json").toFile(), cfg);
    }

    @Test
    void initialisationsPeftCannotRepeatFromTheSavedFilesAreRefusedByName(@TempDir Path root)
            throws IOException {
        variant(root, "niter", c -> c.put("init_lora_weights", "pissa_niter_4"));
        variant(root, "ga", c -> c.put("init_lora_weights", "lora_ga"));
        variant(root, "corda", c -> c.put("init_lora_weights", "corda"));
        HuggingFaceConformanceTest.assertLoadFails(MODEL, root, "niter", "pissa_niter_4");
        HuggingFaceConformanceTest.assertLoadFails(MODEL, root, "ga", "lora_ga");
        HuggingFaceConformanceTest.assertLoadFails(MODEL, root, "corda", "corda");
    }

    @Test
    void combinationsWithTheRewrittenBaseAreRefusedByName(@TempDir Path root) throws IOException {
        variant(root, "activated", c -> c.putArray("alora_invocation_tokens").add(301).add(302));
        variant(root, "head", c -> c.putArray("target_modules").add("q_proj").add("lm_head"));
        variant(
                root,
                "mica_dora",
                c -> {
                    c.put("init_lora_weights", "mica");
                    c.put("use_dora", true);
                });
        HuggingFaceConformanceTest.assertLoadFails(
                MODEL, root, "activated", "olora", "alora_invocation_tokens");
        HuggingFaceConformanceTest.assertLoadFails(MODEL, root, "head", "olora", "lm_head");
        HuggingFaceConformanceTest.assertLoadFails(MODEL, root, "mica_dora", "mica", "use_dora");
    }
}
