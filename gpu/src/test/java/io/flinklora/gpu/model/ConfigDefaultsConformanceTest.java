package io.flinklora.gpu.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * A config.json that leaves fields out (written by hand, or by a transformers version older than
 * the field) describes the model transformers 5's config classes fill in: the same KV heads and
 * head size, norm epsilon, rotary settings, biases, activation, sliding layers and window,
 * attention scale and soft-caps. Cases from {@code
 * gpu/src/test/conformance/make_config_defaults_cases.py}.
 */
class ConfigDefaultsConformanceTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir Path tmp;

    @TestFactory
    Stream<DynamicTest> everyLeftOutFieldTakesTransformersDefault() throws IOException {
        JsonNode cases =
                JSON.readTree(
                                TestModels.projectRoot()
                                        .resolve(
                                                "gpu/src/test/resources/config-defaults/cases.json")
                                        .toFile())
                        .get("cases");
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : cases) {
            tests.add(DynamicTest.dynamicTest(c.get("name").asText(), () -> check(c)));
        }
        return tests.stream();
    }

    private void check(JsonNode c) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(c.get("name").asText()));
        Files.writeString(dir.resolve("config.json"), JSON.writeValueAsString(c.get("config")));
        if (c.has("error")) {
            assertThrows(ModelFormatException.class, () -> ModelConfig.read(dir));
            return;
        }
        if (c.has("refused")) {
            // transformers computes it, the engine does not: refused naming the field
            ModelFormatException e =
                    assertThrows(ModelFormatException.class, () -> ModelConfig.read(dir));
            assertTrue(e.getMessage().contains(c.get("refused").asText()), e.getMessage());
            return;
        }
        JsonNode t = c.get("transformers");
        ModelConfig m = ModelConfig.read(dir);
        assertEquals(t.get("num_key_value_heads").asInt(), m.numKvHeads(), "num_key_value_heads");
        assertEquals(t.get("head_dim").asInt(), m.headDim(), "head_dim");
        assertEquals(
                t.get("max_position_embeddings").asInt(),
                m.maxPositions(),
                "max_position_embeddings");
        assertEquals(t.get("rms_norm_eps").asDouble(), m.rmsNormEps(), 1e-15, "rms_norm_eps");
        assertEquals(t.get("rope_type").asText(), m.rope().type(), "rope_type");
        assertEquals(t.get("rope_theta").asDouble(), m.rope().theta(), 1e-9, "rope_theta");
        // Gemma 3's sliding layers rotate with their own parameters (the same as above elsewhere)
        RopeParameters local =
                m.slidingRope() != null && m.slidingLayers().contains(true)
                        ? m.slidingRope()
                        : m.rope();
        if (m.slidingLayers().contains(true)) {
            assertEquals(t.get("sliding_rope_type").asText(), local.type(), "sliding rope_type");
            assertEquals(
                    t.get("sliding_rope_theta").asDouble(),
                    local.theta(),
                    1e-9,
                    "sliding rope_theta");
        }
        assertEquals(t.get("qk_norm").asBoolean(), m.qkNorm(), "qk_norm");
        JsonNode queryScale = t.get("query_scale");
        if (queryScale == null || queryScale.isNull()) {
            assertEquals(null, m.rope().queryScale(), "no query scale");
        } else {
            assertEquals(
                    queryScale.get("beta").asDouble(),
                    m.rope().queryScale().beta(),
                    1e-12,
                    "llama_4_scaling_beta");
            assertEquals(
                    queryScale.get("original_max").asInt(),
                    m.rope().queryScale().originalMax(),
                    "the query scale's original_max_position_embeddings");
        }
        assertEquals(
                t.get("partial_rotary_factor").asDouble(),
                m.rope().partialRotaryFactor(),
                1e-12,
                "partial_rotary_factor");
        assertEquals(
                t.get("tie_word_embeddings").asBoolean(),
                m.tieWordEmbeddings(),
                "tie_word_embeddings");
        assertEquals(t.get("qkv_bias").asBoolean(), m.qkvBias(), "q/k/v bias");
        assertEquals(t.get("o_bias").asBoolean(), m.oBias(), "o bias");
        assertEquals(t.get("mlp_bias").asBoolean(), m.mlpBias(), "mlp_bias");
        assertEquals(t.get("gated_mlp").asBoolean(), m.gatedMlp(), "MLP with a gate");
        assertEquals(
                ModelConfig.Activation.byName(t.get("hidden_act").asText(), "transformers"),
                m.block().activation(),
                "activation");
        List<Boolean> sliding = new ArrayList<>();
        t.get("sliding_layers").forEach(b -> sliding.add(b.asBoolean()));
        assertEquals(sliding, m.slidingLayers(), "sliding layers");
        if (sliding.contains(true)) {
            assertEquals(t.get("sliding_window").asInt(), m.slidingWindow(), "sliding_window");
        }
        assertEquals(
                t.get("attention_scale").asDouble(),
                m.block().attentionScale(),
                1e-12,
                "attention scale");
        assertEquals(
                t.get("attention_scale_last").asDouble(),
                m.attentionScale(m.numLayers() - 1),
                1e-12,
                "the last layer's attention scale");
        assertEquals(t.get("intermediate_size").asInt(), m.intermediateSize(), "intermediate_size");
        assertEquals(
                t.get("post_layer_norm").asBoolean(),
                m.block().postLayerNorm(),
                "LayerNorms after the residual adds");
        assertEquals(t.get("final_norm").asBoolean(), m.block().finalNorm(), "a final norm");
        assertEquals(t.get("embedding_width").asInt(), m.embeddingWidth(), "embedding width");
        JsonNode experts = t.get("experts");
        if (experts == null || experts.isNull()) {
            assertEquals(null, m.experts(), "a dense MLP");
        } else {
            assertEquals(experts.get("count").asInt(), m.experts().count(), "experts");
            assertEquals(
                    experts.get("per_token").asInt(), m.experts().perToken(), "experts per token");
            assertEquals(
                    experts.get("normalize").asBoolean(),
                    m.experts().normalizeTopK(),
                    "picked experts' weights renormalized");
            assertEquals(
                    experts.get("intermediate").asInt(),
                    m.experts().intermediate(),
                    "an expert's width");
            List<Boolean> sparse = new ArrayList<>();
            experts.get("sparse").forEach(b -> sparse.add(b.asBoolean()));
            assertEquals(sparse, m.experts().sparse(), "the layers routing through experts");
            assertEquals(
                    experts.get("shared").asInt(),
                    m.experts().sharedIntermediate(),
                    "the shared expert's width");
            JsonNode normMin = experts.get("norm_min");
            if (normMin != null && !normMin.isNull()) {
                assertEquals(normMin.asDouble(), m.experts().normMin(), 0, "moe_norm_min");
            }
            JsonNode grouped = experts.get("grouped");
            if (grouped == null || grouped.isNull()) {
                assertEquals(null, m.experts().grouped(), "no grouped router");
            } else {
                ModelConfig.Experts.Grouped g = m.experts().grouped();
                assertEquals(grouped.get("groups").asInt(), g.groups(), "the router's groups");
                assertEquals(
                        grouped.get("topk_group").asInt(),
                        g.topKGroups(),
                        "the groups that compete");
                assertEquals(
                        grouped.get("scale").asDouble(), g.scale(), 0, "routed_scaling_factor");
            }
        }
        assertEquals(
                t.get("attn_logit_softcapping").asDouble(0),
                m.block().attentionSoftcap(),
                1e-12,
                "attn_logit_softcapping");
        assertEquals(
                t.get("final_logit_softcapping").asDouble(0),
                m.block().finalSoftcap(),
                1e-12,
                "final_logit_softcapping");
        // Granite's embedding_multiplier, or Gemma's sqrt(hidden)
        assertEquals(
                (float) t.get("embedding_multiplier").asDouble(),
                m.block().embedScale(),
                "embedding_multiplier");
        assertEquals(
                t.get("residual_multiplier").asDouble(),
                m.block().residualScale(),
                1e-12,
                "residual_multiplier");
        assertEquals(
                t.get("logits_scaling").asDouble(),
                m.block().logitsScaling(),
                1e-12,
                "logits_scaling");
        assertEquals(t.get("logit_scale").asDouble(), m.block().logitScale(), 1e-12, "logit_scale");
        assertEquals(
                t.get("parallel_block").asBoolean(),
                m.block().parallel() || m.block().twoNormParallel(),
                "attention and MLP side by side");
        assertEquals(
                t.get("parallel_two_norms").asBoolean(),
                m.block().twoNormParallel(),
                "attention and MLP side by side, each behind its own norm");
        assertEquals(t.get("norm_bias").asBoolean(), m.block().normBias(), "norms with a bias");
        assertEquals(t.get("head_bias").asBoolean(), m.headBias(), "an output head with a bias");
        assertEquals(t.get("clip_qkv").asDouble(), m.block().clipQkv(), 1e-12, "clip_qkv");
        // What generate stops on (GenerationConfig read from config.json, as from_pretrained does
        // without generation_config.json), not the model config's class default.
        List<Integer> eos = new ArrayList<>();
        t.get("eos_token_ids").forEach(id -> eos.add(id.asInt()));
        assertEquals(eos, m.eosTokenIds(), "eos_token_id generate stops on");
        List<Boolean> rotary = new ArrayList<>();
        t.get("rotary_layers").forEach(b -> rotary.add(b.asBoolean()));
        assertEquals(rotary, m.rotaryLayers(), "layers with rotary embeddings");
    }
}
