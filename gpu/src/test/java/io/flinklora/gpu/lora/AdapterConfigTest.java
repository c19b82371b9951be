package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AdapterConfigTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static AdapterConfig parse(String json) throws Exception {
        return AdapterConfig.parse(JSON.readTree(json), "adapter_config.json");
    }

    @Test
    void unsupportedSettingsAreRefusedNamingTheField() {
        Map<String, String> cases =
                Map.of(
                        "use_dora",
                                "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"use_dora\": true, \"lora_bias\": true}",
                        "modules_to_save",
                                "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"modules_to_save\": [\"norm\"]}",
                        "bias",
                                "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"bias\": \"trainable\"}",
                        "peft_type",
                                "{\"peft_type\": \"IA3\", \"r\": 4, \"target_modules\": [\"q_proj\"]}",
                        "r must", "{\"r\": 0, \"target_modules\": [\"q_proj\"]}",
                        "target_modules", "{\"r\": 4}");
        cases.forEach(
                (field, json) -> {
                    AdapterFormatException e =
                            assertThrows(AdapterFormatException.class, () -> parse(json), field);
                    assertTrue(e.getMessage().contains(field), field + " -> " + e.getMessage());
                });
    }

    @Test
    void fanInFanOutIsReadAsPeftSetsItPerLayer() throws Exception {
        // PEFT forces it false on nn.Linear and true on Conv1D whatever the file says: a Llama
        // adapter saved with true is served as the same adapter saved with false.
        AdapterConfig saidTrue =
                parse("{\"r\": 4, \"target_modules\": [\"q_proj\"], \"fan_in_fan_out\": true}");
        AdapterConfig saidFalse =
                parse("{\"r\": 4, \"target_modules\": [\"q_proj\"], \"fan_in_fan_out\": false}");
        assertEquals(saidFalse, saidTrue);
    }

    @Test
    void allLinearReachesEveryArchitecturesLinearModulesButTheHead() throws Exception {
        // PEFT expands all-linear against the model: every nn.Linear and Conv1D but the output
        // layer
        AdapterConfig c = parse("{\"r\": 4, \"target_modules\": \"all-linear\"}");
        for (String path :
                List.of(
                        "model.layers.0.self_attn.q_proj",
                        "model.layers.0.mlp.c_fc", // Starcoder2
                        "model.layers.0.mlp.fc2", // Phi
                        "model.layers.0.self_attn.dense",
                        "gpt_neox.layers.1.attention.query_key_value",
                        "gpt_neox.layers.1.mlp.dense_4h_to_h",
                        "transformer.h.2.attn.c_attn", // GPT-2's Conv1D modules
                        "transformer.h.2.mlp.c_proj",
                        "transformer.h.0.attn.attention.out_proj")) { // GPT-Neo
            assertTrue(c.matches(path), path);
        }
        assertFalse(c.matches("lm_head"));
        assertFalse(c.matches("transformer.wte"));
    }

    @Test
    void ranksAlphasAndScalesFollowPeftRules() throws Exception {
        AdapterConfig c =
                parse(
                        "{\"r\": 8, \"lora_alpha\": 16, \"target_modules\": \"all-linear\","
                                + " \"rank_pattern\": {\"o_proj\": 2, \"layers.1.self_attn.q_proj\": 4}, \"alpha_pattern\": {\"o_proj\": 8}}");
        assertEquals(2.0, c.scaleOf(0, Projection.Q), 1e-12);
        assertEquals(2, c.rankOf(3, Projection.O));
        assertEquals(4.0, c.scaleOf(3, Projection.O), 1e-12);
        assertEquals(4, c.rankOf(1, Projection.Q));
        assertEquals(8, c.rankOf(11, Projection.Q), "layers.1 does not match layers.11");
        AdapterConfig rs =
                parse(
                        "{\"r\": 16, \"lora_alpha\": 8, \"use_rslora\": true, \"target_modules\": [\"v_proj\"]}");
        assertEquals(2.0, rs.scaleOf(0, Projection.V), 1e-12);
        assertFalse(rs.adapts(0, Projection.Q));
        AdapterConfig regex =
                parse(
                        "{\"r\": 2, \"target_modules\": \".*layers\\\\.[01]\\\\.self_attn\\\\.(q|v)_proj\"}");
        assertTrue(regex.adapts(1, Projection.V));
        assertFalse(regex.adapts(2, Projection.V));
        assertFalse(regex.adapts(0, Projection.K));
        AdapterConfig layers =
                parse(
                        "{\"r\": 2, \"target_modules\": [\"q_proj\"], \"layers_to_transform\": [0, 2]}");
        assertTrue(layers.adapts(2, Projection.Q));
        assertFalse(layers.adapts(1, Projection.Q));
    }

    @Test
    void patternKeysAreRegexesAndTheFirstMatchingKeyWinsAsInPeft() throws Exception {
        // PEFT's get_pattern_key: re.match(rf"(.*\.)?({key})$", path); keys in file order.
        AdapterConfig c =
                parse(
                        "{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": \"all-linear\","
                                + " \"rank_pattern\": {\"gate_proj|up_proj\": 2, \"model.layers.1.self_attn.o_proj\": 6, \"o_proj\": 3},"
                                + " \"alpha_pattern\": {\"gate_proj|up_proj\": 3, \"layers\\\\.0\\\\..*v_proj\": 16}}");
        assertEquals(2, c.rankOf(0, Projection.GATE));
        assertEquals(2, c.rankOf(0, Projection.UP), "the alternation covers up_proj too");
        assertEquals(3.0, c.alphaOf(4, Projection.UP), 1e-12);
        assertEquals(4, c.rankOf(0, Projection.DOWN));
        assertEquals(6, c.rankOf(1, Projection.O), "the full path key comes first");
        assertEquals(3, c.rankOf(2, Projection.O));
        assertEquals(16.0, c.alphaOf(0, Projection.V), 1e-12);
        assertEquals(8.0, c.alphaOf(1, Projection.V), 1e-12);
        assertEquals(
                8.0,
                parse("{\"r\": 4, \"target_modules\": [\"q_proj\"]}").alpha(),
                1e-12,
                "PEFT's default lora_alpha is 8, not r");
    }

    @Test
    void excludeModulesAndLayersPatternFollowPeft() throws Exception {
        AdapterConfig ex =
                parse(
                        "{\"r\": 4, \"target_modules\": \"all-linear\", \"exclude_modules\": [\"o_proj\"]}");
        assertTrue(ex.adapts(0, Projection.Q));
        assertFalse(ex.adapts(0, Projection.O));
        AdapterConfig exRegex =
                parse(
                        "{\"r\": 4, \"target_modules\": [\"q_proj\"],"
                                + " \"exclude_modules\": \"model\\\\.layers\\\\.1\\\\..*\"}");
        assertTrue(exRegex.adapts(0, Projection.Q));
        assertFalse(exRegex.adapts(1, Projection.Q));
        AdapterConfig lp =
                parse(
                        "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"layers_to_transform\": 2,"
                                + " \"layers_pattern\": \"layers\"}");
        assertTrue(lp.adapts(2, Projection.Q));
        assertFalse(lp.adapts(1, Projection.Q));
        AdapterConfig wrongPattern =
                parse(
                        "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"layers_to_transform\": [2],"
                                + " \"layers_pattern\": [\"h\"]}");
        assertFalse(
                wrongPattern.adapts(2, Projection.Q), "no 'h.<n>.' segment: PEFT adapts nothing");
        assertThrows(
                AdapterFormatException.class,
                () ->
                        parse(
                                "{\"r\": 4, \"target_modules\": \".*q_proj\","
                                        + " \"layers_to_transform\": [0]}"));
    }

    @Test
    void optsEmbeddingProjectionsAreRefusedByNameWhenTargeted() throws Exception {
        // OPT-350m's project_in / project_out are nn.Linear (PEFT's all-linear takes them), outside
        // the decoder layers this server adapts.
        ModelConfig opt =
                ModelConfig.read(
                        TestModels.projectRoot()
                                .resolve(
                                        "gpu/src/test/resources/conformance/opt_projected_embeddings"));
        for (String target : new String[] {"project_in", "project_out"}) {
            AdapterConfig c =
                    parse("{\"r\": 4, \"target_modules\": [\"q_proj\", \"" + target + "\"]}");
            AdapterFormatException e =
                    assertThrows(
                            AdapterFormatException.class, () -> c.checkModules(opt, "cfg"), target);
            assertTrue(e.getMessage().contains("model.decoder." + target), e.getMessage());
        }
        parse("{\"r\": 4, \"target_modules\": [\"q_proj\", \"fc2\"]}").checkModules(opt, "cfg");
    }

    @Test
    void activatedLoraOnOptsMlpIsRefusedAsPeftFailsThere() throws Exception {
        // PEFT's aLoRA raises on OPT's fc1 / fc2 (the decoder layer flattens tokens before them);
        // on its attention it runs, and so is served.
        ModelConfig opt =
                ModelConfig.read(
                        TestModels.projectRoot().resolve("gpu/src/test/resources/conformance/opt"));
        AdapterConfig mlp =
                parse(
                        "{\"r\": 4, \"target_modules\": [\"q_proj\", \"fc1\"],"
                                + " \"alora_invocation_tokens\": [7, 8]}");
        AdapterFormatException e =
                assertThrows(AdapterFormatException.class, () -> mlp.checkModules(opt, "cfg"));
        assertTrue(
                e.getMessage().contains("alora_invocation_tokens")
                        && e.getMessage().contains("model.decoder.layers.0.fc1"),
                e.getMessage());
        parse(
                        "{\"r\": 4, \"target_modules\": [\"q_proj\", \"out_proj\"],"
                                + " \"alora_invocation_tokens\": [7, 8]}")
                .checkModules(opt, "cfg");
    }

    @Test
    void activatedLoraOnMptIsRefusedAsPeftGivesNoOneResult() throws Exception {
        // PeftModelForCausalLM.forward sends MPT past aLoRA's offset hooks (the adapter changes
        // nothing there) while generate applies them: refused; plain LoRA on MPT is served.
        ModelConfig mpt =
                ModelConfig.read(
                        TestModels.projectRoot().resolve("gpu/src/test/resources/conformance/mpt"));
        AdapterConfig activated =
                parse(
                        "{\"r\": 4, \"target_modules\": [\"Wqkv\"],"
                                + " \"alora_invocation_tokens\": [7, 8]}");
        AdapterFormatException e =
                assertThrows(
                        AdapterFormatException.class, () -> activated.checkModules(mpt, "cfg"));
        assertTrue(
                e.getMessage().contains("alora_invocation_tokens")
                        && e.getMessage().contains("MptForCausalLM"),
                e.getMessage());
        parse("{\"r\": 4, \"target_modules\": [\"Wqkv\"]}").checkModules(mpt, "cfg");
    }

    @Test
    void savedModulesAreCheckedAgainstTheModelsOwnModuleNames() throws Exception {
        // GPT-NeoX names its embedding embed_in and its modules query_key_value, dense, ...: the
        // names checked on reading are Llama's, so these are checked against the model itself.
        ModelConfig neox =
                ModelConfig.read(
                        TestModels.projectRoot()
                                .resolve("gpu/src/test/resources/conformance/gpt_neox"));
        for (String saved :
                new String[] {
                    "query_key_value", "dense_4h_to_h", "final_layer_norm", "attention"
                }) {
            AdapterConfig c =
                    parse(
                            "{\"r\": 4, \"target_modules\": [\"dense\"], \"modules_to_save\": [\""
                                    + saved
                                    + "\"]}");
            AdapterFormatException e =
                    assertThrows(
                            AdapterFormatException.class, () -> c.checkModules(neox, "cfg"), saved);
            assertTrue(
                    e.getMessage().contains("modules_to_save") && e.getMessage().contains(saved),
                    e.getMessage());
        }
        // Its input embedding is served under its own name, saved, adapted or with trainable rows.
        parse("{\"r\": 4, \"target_modules\": [\"dense\"], \"modules_to_save\": [\"embed_in\"]}")
                .checkModules(neox, "cfg");
        parse("{\"r\": 4, \"target_modules\": [\"embed_in\", \"dense\"]}")
                .checkModules(neox, "cfg");
        parse(
                        "{\"r\": 4, \"target_modules\": [\"dense\"],"
                                + " \"trainable_token_indices\": {\"embed_in\": [3, 5]}}")
                .checkModules(neox, "cfg");
        assertEquals(
                java.util.List.of(3, 5),
                parse(
                                "{\"r\": 4, \"target_modules\": [\"dense\"],"
                                        + " \"trainable_token_indices\": {\"embed_in\": [3, 5]}}")
                        .trainableTokens());
    }

    @Test
    void targetsOutsideTheProjectionsAreRefusedNamingTheModule() throws Exception {
        ModelConfig model = ModelConfig.read(TestModels.stories260k());
        for (String targets :
                new String[] {"[\"q_proj\", \"input_layernorm\"]", "\"model.norm\"", "[\"mlp\"]"}) {
            AdapterConfig c = parse("{\"r\": 4, \"target_modules\": " + targets + "}");
            AdapterFormatException e =
                    assertThrows(AdapterFormatException.class, () -> c.checkModules(model, "cfg"));
            assertTrue(
                    e.getMessage()
                            .contains(
                                    targets.contains("input_layernorm")
                                            ? "model.layers.0.input_layernorm"
                                            : targets.contains("model.norm")
                                                    ? "model.norm"
                                                    : "model.layers.0.mlp"),
                    e.getMessage());
        }
        // The output head takes LoRA as a linear module does (lora_bias and DoRA included).
        parse("{\"r\": 4, \"target_modules\": [\"q_proj\", \"lm_head\"]}")
                .checkModules(model, "cfg");
        parse("{\"r\": 4, \"use_dora\": true, \"target_modules\": [\"lm_head\"]}")
                .checkModules(model, "cfg");
        // Trainable tokens beside a saved head: PEFT's forward fails on a tied head, so refused.
        ModelConfig tied =
                ModelConfig.parse(
                        new com.fasterxml.jackson.databind.ObjectMapper()
                                .readTree(
                                        "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,"
                                                + "\"intermediate_size\":172,\"num_hidden_layers\":2,"
                                                + "\"num_attention_heads\":8,\"vocab_size\":512,"
                                                + "\"tie_word_embeddings\":true}"),
                        "tied");
        AdapterConfig tokensAndHead =
                parse(
                        "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"trainable_token_indices\": [5],"
                                + " \"modules_to_save\": [\"lm_head\"]}");
        AdapterFormatException tiedHead =
                assertThrows(
                        AdapterFormatException.class,
                        () -> tokensAndHead.checkModules(tied, "cfg"));
        assertTrue(
                tiedHead.getMessage().contains("trainable_token_indices"), tiedHead.getMessage());
        // Embeddings take LoRA (lora_embedding_A/B); a module saved whole is never adapted too.
        parse("{\"r\": 4, \"target_modules\": [\"q_proj\", \"embed_tokens\"]}")
                .checkModules(model, "cfg");
        AdapterConfig saved =
                parse(
                        "{\"r\": 4, \"target_modules\": [\"q_proj\", \"embed_tokens\"],"
                                + " \"modules_to_save\": [\"embed_tokens\"]}");
        assertFalse(saved.matches("model.embed_tokens"));
        assertTrue(saved.saves("model.embed_tokens"));
        AdapterConfig nothing = parse("{\"r\": 4, \"target_modules\": [\"c_attn\"]}");
        assertThrows(AdapterFormatException.class, () -> nothing.checkModules(model, "cfg"));
        // A full module path in the list is an exact match in PEFT, not an error.
        AdapterConfig path =
                parse("{\"r\": 4, \"target_modules\": [\"model.layers.3.mlp.down_proj\"]}");
        path.checkModules(model, "cfg");
        assertTrue(path.adapts(3, Projection.DOWN));
        assertFalse(path.adapts(2, Projection.DOWN));
    }

    @Test
    void unknownFieldsAndValuesThatChangeTheComputationAreRefusedByName() {
        Map<String, String> cases =
                Map.of(
                        "some_new_field",
                                "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"some_new_field\": 1}",
                        "init_lora_weights",
                                "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"init_lora_weights\": \"pissa_niter_4\"}",
                        "layer_replication",
                                "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"layer_replication\": [[0, 2]]}",
                        "trainable_token_indices",
                                "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"trainable_token_indices\": {\"lm_head\": [1]}}",
                        "target_parameters",
                                "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"target_parameters\": \"w\"}",
                        "lora_bias",
                                "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"lora_bias\": true,"
                                        + " \"init_lora_weights\": \"gaussian\"}");
        cases.forEach(
                (field, json) -> {
                    AdapterFormatException e =
                            assertThrows(AdapterFormatException.class, () -> parse(json), field);
                    assertTrue(e.getMessage().contains(field), field + " -> " + e.getMessage());
                });
    }
}
