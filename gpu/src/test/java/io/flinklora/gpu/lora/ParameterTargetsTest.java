package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.model.ModelConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * LoRA on parameters (PEFT's target_parameters): what is served, where its tensors are, what is
 * refused.
 */
class ParameterTargetsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static AdapterConfig parse(String json) throws Exception {
        return AdapterConfig.parse(JSON.readTree(json), "cfg");
    }

    private static final ModelConfig MIXTRAL = fixture("mixtral_expert_lora");

    private static ModelConfig fixture(String name) {
        return ModelConfig.read(conformance(name));
    }

    private static Path conformance(String name) {
        return TestModels.projectRoot().resolve("gpu/src/test/resources/conformance/" + name);
    }

    @Test
    void bothExpertParametersNestGateUpInsideDownAsPeftWrapsThem() throws Exception {
        AdapterConfig c =
                parse(
                        "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"target_parameters\":"
                                + " [\"down_proj\", \"gate_up_proj\", \"gate.weight\"]}");
        ParameterTargets.Layer l = ParameterTargets.of(c, MIXTRAL, 3);
        assertEquals("model.layers.3.mlp.experts.base_layer", l.gateUp());
        assertEquals("model.layers.3.mlp.experts", l.down());
        assertEquals("model.layers.3.mlp.gate", l.router());
        // one parameter of the experts alone is the outer (only) wrapper
        ParameterTargets.Layer gateUpOnly =
                ParameterTargets.of(
                        parse("{\"r\": 4, \"target_parameters\": [\"experts.gate_up_proj\"]}"),
                        MIXTRAL,
                        0);
        assertEquals("model.layers.0.mlp.experts", gateUpOnly.gateUp());
        assertNull(gateUpOnly.down());
        assertNull(gateUpOnly.router());
        // a layer-specific path reaches that layer only
        AdapterConfig one =
                parse("{\"r\": 4, \"target_parameters\": [\"layers.1.mlp.gate.weight\"]}");
        assertEquals("model.layers.1.mlp.gate", ParameterTargets.of(one, MIXTRAL, 1).router());
        assertTrue(
                !ParameterTargets.of(one, MIXTRAL, 0).any()
                        && !ParameterTargets.of(one, MIXTRAL, 2).any());
    }

    @Test
    void parametersAloneNeedNoTargetModules() throws Exception {
        AdapterConfig c = parse("{\"r\": 2, \"target_parameters\": [\"gate.weight\"]}");
        c.checkModules(fixture("mixtral_expert_lora"), "cfg");
        assertEquals(List.of("gate.weight"), c.targetParameters());
    }

    @Test
    void parametersOtherThanTheExpertsAndRouterAreRefusedNamingTheEntry() throws Exception {
        ModelConfig mixtral = fixture("mixtral_expert_lora");
        for (String t :
                List.of(
                        "weight",
                        "q_proj.weight",
                        "model.norm.weight",
                        "gate.bias",
                        "layers.0.input_layernorm.weight")) {
            AdapterConfig c =
                    parse("{\"r\": 4, \"target_parameters\": [\"gate_up_proj\", \"" + t + "\"]}");
            AdapterFormatException e =
                    assertThrows(
                            AdapterFormatException.class, () -> c.checkModules(mixtral, "cfg"), t);
            assertTrue(e.getMessage().contains("'" + t + "'"), e.getMessage());
        }
        // names matching no parameter at all are skipped, as PEFT skips them
        parse("{\"r\": 4, \"target_parameters\": [\"gate_up_proj\", \"experts\", \"gate_up\"]}")
                .checkModules(mixtral, "cfg");
    }

    @Test
    void entriesNamingNoParameterAreSkippedAsPeftSkipsThemOthersAreRefused() throws Exception {
        // PEFT skips a target_parameters entry that names no parameter (it warns only when nothing
        // matched at all): on a dense Llama "down_proj" names nothing (its parameter is
        // mlp.down_proj.weight), while "mlp.down_proj.weight" names a parameter not served
        ModelConfig llama = fixture("llama_gqa_llama3");
        AdapterConfig skipped =
                parse(
                        "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"target_parameters\": [\"down_proj\"]}");
        skipped.checkModules(llama, "cfg");
        AdapterFormatException e =
                assertThrows(
                        AdapterFormatException.class,
                        () ->
                                parse(
                                                "{\"r\": 4, \"target_modules\": [\"q_proj\"],"
                                                        + " \"target_parameters\": [\"mlp.down_proj.weight\"]}")
                                        .checkModules(llama, "cfg"));
        assertTrue(e.getMessage().contains("mlp.down_proj.weight"), e.getMessage());
        // a sparse layer's router named in a dense layer of Qwen3-MoE: skipped; alone, nothing
        // adapted is refused as PEFT refuses it
        ModelConfig qwen3Moe = fixture("qwen3_moe_expert_lora"); // layer 1 dense
        AdapterConfig denseRouter =
                parse("{\"r\": 4, \"target_parameters\": [\"layers.1.mlp.gate.weight\"]}");
        AdapterFormatException none =
                assertThrows(
                        AdapterFormatException.class,
                        () -> denseRouter.checkModules(qwen3Moe, "cfg"));
        assertTrue(none.getMessage().contains("matches no"), none.getMessage());
    }

    @Test
    void whatPeftsParamWrapperRefusesIsRefusedNamingTheField() {
        Map<String, String> cases =
                Map.of(
                        "lora_dropout", "\"lora_dropout\": 0.05",
                        "lora_bias", "\"lora_bias\": true",
                        "use_dora", "\"use_dora\": true",
                        "lora_dropout 0.1", "\"lora_dropout\": 0.1",
                        "init_lora_weights", "\"init_lora_weights\": \"pissa\"",
                        "must be a list", "\"x\": 0");
        cases.forEach(
                (what, field) -> {
                    String params =
                            what.equals("must be a list")
                                    ? "\"target_parameters\": \"down_proj\""
                                    : "\"target_parameters\": [\"down_proj\"]";
                    String json =
                            "{\"r\": 4, \"target_modules\": [\"q_proj\"], "
                                    + params
                                    + (what.equals("must be a list") ? "" : ", " + field)
                                    + "}";
                    AdapterFormatException e =
                            assertThrows(
                                    AdapterFormatException.class,
                                    () -> parse(json).checkModules(MIXTRAL, "cfg"),
                                    what);
                    assertTrue(e.getMessage().contains(what), what + " -> " + e.getMessage());
                });
    }

    @Test
    void whatParamWrapperRefusesIsServedWhenNoParameterOfTheModelIsWrapped() throws Exception {
        // PEFT raises in ParamWrapper's constructor: with no parameter of the model named, it
        // wraps none, only warns, and serves the modules (seen on a Qwen3-MoE without sparse
        // layers, whose transformers-4 MLP names PEFT turns into parameters that match nothing)
        String json =
                "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"use_dora\": true,"
                        + " \"target_parameters\": [\"experts.down_proj\"]}";
        parse(json).checkModules(fixture("llama_gqa_llama3"), "cfg");
        assertThrows(AdapterFormatException.class, () -> parse(json).checkModules(MIXTRAL, "cfg"));
    }

    @Test
    void fanInFanOutIsRefusedOnlyWithoutModulesAsPeftResetsItAtTheFirstLinear() throws Exception {
        // PEFT sets the config's fan_in_fan_out to false when it adapts an nn.Linear, before it
        // wraps any parameter; with parameters alone its ParamWrapper raises on it
        parse(
                "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"fan_in_fan_out\": true,"
                        + " \"target_parameters\": [\"down_proj\"]}");
        AdapterFormatException e =
                assertThrows(
                        AdapterFormatException.class,
                        () ->
                                parse(
                                                "{\"r\": 4, \"fan_in_fan_out\": true,"
                                                        + " \"target_parameters\": [\"down_proj\"]}")
                                        .checkModules(MIXTRAL, "cfg"));
        assertTrue(e.getMessage().contains("fan_in_fan_out"), e.getMessage());
    }

    @Test
    void zeroDropoutAndPlainInitialisationsAreServed() throws Exception {
        parse(
                "{\"r\": 4, \"target_parameters\": [\"down_proj\"], \"lora_dropout\": 0.0,"
                        + " \"init_lora_weights\": true, \"fan_in_fan_out\": false, \"lora_bias\": false}");
        parse(
                "{\"r\": 4, \"target_parameters\": [\"down_proj\"], \"init_lora_weights\":"
                        + " \"gaussian\", \"layers_to_transform\": null, \"exclude_modules\": null}");
        // EVA's initialisation only zeroes B in ParamWrapper; the saved tensors replace it
        parse("{\"r\": 4, \"target_parameters\": [\"down_proj\"], \"init_lora_weights\": \"eva\"}")
                .checkModules(MIXTRAL, "cfg");
        // they restrict target_modules only: PEFT matches parameters by name alone
        AdapterConfig c =
                parse(
                        "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"layers_to_transform\": [0],"
                                + " \"exclude_modules\": [\"layers.1.mlp.experts\"], \"target_parameters\":"
                                + " [\"down_proj\"]}");
        assertEquals("model.layers.1.mlp.experts", ParameterTargets.of(c, MIXTRAL, 1).down());
        assertTrue(!c.matches("model.layers.1.self_attn.q_proj"));
    }

    @Test
    void transformers4ExpertAndRouterNamesBecomeParametersAsPeftRewritesThem() throws Exception {
        ModelConfig mixtral = fixture("mixtral_expert_lora");
        AdapterConfig c =
                ParameterTargets.convert(
                        parse(
                                "{\"r\": 4, \"lora_alpha\": 6, \"target_modules\": [\"q_proj\", \"w1\","
                                        + " \"block_sparse_moe.experts.0.w3\", \"w2\", \"gate\"],"
                                        + " \"rank_pattern\": {\"q_proj\": 2}}"),
                        mixtral,
                        "cfg");
        assertEquals(List.of("q_proj"), c.targetNames());
        assertEquals(List.of("gate_up_proj", "down_proj", "gate.weight"), c.targetParameters());
        // the fused gate and up: rank and alpha doubled, appended after the file's own patterns
        assertEquals(List.of("q_proj", ".*\\.gate_up_proj"), List.copyOf(c.rankPattern().keySet()));
        assertEquals(8, c.rankOf(ParameterTargets.gateUpKey(mixtral, 1)));
        assertEquals(12.0, c.alphaOf(ParameterTargets.gateUpKey(mixtral, 1)));
        assertEquals(4, c.rankOf(ParameterTargets.downKey(mixtral, 1)));
        // Qwen3-MoE's and OLMoE's names
        AdapterConfig q =
                ParameterTargets.convert(
                        parse("{\"r\": 2, \"target_modules\": [\"mlp.down_proj\", \"v_proj\"]}"),
                        fixture("qwen3_moe_expert_lora"),
                        "cfg");
        assertEquals(List.of("down_proj"), q.targetParameters());
        assertTrue(q.rankPattern().isEmpty(), "no fused pair, no doubled rank");
        // a dense model's names are its modules
        AdapterConfig dense = parse("{\"r\": 4, \"target_modules\": [\"gate_proj\", \"up_proj\"]}");
        assertEquals(dense, ParameterTargets.convert(dense, fixture("llama_gqa_llama3"), "cfg"));
    }

    @Test
    void rewritesPeftRefusesAreRefusedByName() throws Exception {
        ModelConfig mixtral = fixture("mixtral_expert_lora");
        ModelConfig qwen3Moe = fixture("qwen3_moe_expert_lora");
        Map<String, ModelConfig> halves =
                Map.of("[\"q_proj\", \"w1\"]", mixtral, "[\"up_proj\"]", qwen3Moe);
        halves.forEach(
                (targets, model) -> {
                    AdapterFormatException e =
                            assertThrows(
                                    AdapterFormatException.class,
                                    () ->
                                            ParameterTargets.convert(
                                                    parse(
                                                            "{\"r\": 4, \"target_modules\": "
                                                                    + targets
                                                                    + "}"),
                                                    model,
                                                    "cfg"),
                                    targets);
                    assertTrue(e.getMessage().contains("without"), e.getMessage());
                });
        // PEFT's ParamWrapper refuses the dropout such adapters were usually trained with
        AdapterFormatException dropout =
                assertThrows(
                        AdapterFormatException.class,
                        () ->
                                ParameterTargets.convert(
                                        parse(
                                                "{\"r\": 4, \"lora_dropout\": 0.05, \"target_modules\":"
                                                        + " [\"w1\", \"w3\"]}"),
                                        mixtral,
                                        "cfg"));
        assertTrue(dropout.getMessage().contains("lora_dropout 0.05"), dropout.getMessage());
        // the same dropout on attention modules alone is no matter
        ParameterTargets.convert(
                parse("{\"r\": 4, \"lora_dropout\": 0.05, \"target_modules\": [\"q_proj\"]}"),
                mixtral,
                "cfg");
        // strings: PEFT resolves them against the model first, which is not repeated here
        for (String targets : List.of("\"all-linear\"", "\".*self_attn\\\\.q_proj\"")) {
            AdapterFormatException e =
                    assertThrows(
                            AdapterFormatException.class,
                            () ->
                                    parse("{\"r\": 4, \"target_modules\": " + targets + "}")
                                            .checkModules(qwen3Moe, "cfg"),
                            targets);
            assertTrue(e.getMessage().contains("PEFT 0.21 rewrites"), e.getMessage());
        }
    }

    @Test
    void mergingOrExtractingParameterLoraIsRefusedRatherThanDroppingTheExperts(
            @org.junit.jupiter.api.io.TempDir Path tmp) {
        Path model = conformance("qwen3_moe_expert_lora");
        AdapterFormatException merge =
                assertThrows(
                        AdapterFormatException.class,
                        () ->
                                AdapterMerger.merge(
                                        model,
                                        List.of(
                                                new AdapterMerger.Weighted(
                                                        model.resolve("adapters/moe_router_layer0"),
                                                        1.0)),
                                        tmp.resolve("merged")));
        assertTrue(merge.getMessage().contains("target_parameters"), merge.getMessage());
        AdapterFormatException extract =
                assertThrows(
                        AdapterFormatException.class,
                        () -> AdapterExtractor.extract(model, model, 4, null, tmp.resolve("x")));
        assertTrue(extract.getMessage().contains("mixture of experts"), extract.getMessage());
    }

    @Test
    void addWeightedAdapterRefusesParameterAdaptersAsPeftDoes() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                CombineInput.read(
                                        conformance("mixtral_expert_lora/adapters/moe_all_linear"),
                                        1.0));
        assertTrue(e.getMessage().contains("target_parameters"), e.getMessage());
    }
}
