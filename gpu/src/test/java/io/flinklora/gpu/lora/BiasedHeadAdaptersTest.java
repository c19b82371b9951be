package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.model.ModelConfig;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Phi's output head adds a bias. A LoRA on it adds its delta to the biased logits (the conformance
 * cases check it against PEFT); the head replacements that would leave the bias out - DoRA's
 * rescaled rows, a saved whole head, a tied head's own token rows - are refused naming what and
 * why.
 */
class BiasedHeadAdaptersTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static ModelConfig phi(String name) {
        return ModelConfig.read(
                TestModels.projectRoot().resolve("gpu/src/test/resources/conformance/" + name));
    }

    private static AdapterConfig adapter(String json) throws Exception {
        return AdapterConfig.parse(JSON.readTree(json), "adapter_config.json");
    }

    @Test
    void headReplacementsThatDropTheBiasAreRefusedByName() throws Exception {
        ModelConfig untied = phi("phi");
        ModelConfig tied = phi("phi_tied");
        for (var c :
                List.of(
                        List.of(
                                "{\"r\": 4, \"lora_alpha\": 8, \"use_dora\": true,"
                                        + " \"target_modules\": [\"q_proj\", \"lm_head\"]}",
                                "DoRA on lm_head",
                                untied),
                        List.of(
                                "{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"],"
                                        + " \"trainable_token_indices\": [5, 7]}",
                                "trainable_token_indices on a tied head",
                                tied))) {
            AdapterConfig a = adapter((String) c.get(0));
            AdapterFormatException e =
                    assertThrows(
                            AdapterFormatException.class,
                            () -> a.checkModules((ModelConfig) c.get(2), "adapter_config.json"));
            assertTrue(
                    e.getMessage().contains((String) c.get(1))
                            && e.getMessage().contains("PhiForCausalLM"),
                    e.getMessage());
        }
        // A saved whole head brings its own bias, and token rows on an untied head leave the head
        // alone: both served.
        AdapterConfig saved =
                adapter(
                        "{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"],"
                                + " \"modules_to_save\": [\"lm_head\"]}");
        assertDoesNotThrow(() -> saved.checkModules(untied, "adapter_config.json"));
        AdapterConfig tokens =
                adapter(
                        "{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"],"
                                + " \"trainable_token_indices\": [5, 7]}");
        assertDoesNotThrow(() -> tokens.checkModules(untied, "adapter_config.json"));
    }
}
