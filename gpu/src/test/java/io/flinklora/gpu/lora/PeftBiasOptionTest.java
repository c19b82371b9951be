package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.safetensors.DType;
import io.flinklora.gpu.safetensors.SafetensorsFile;
import io.flinklora.gpu.safetensors.SafetensorsWriter;
import io.flinklora.gpu.safetensors.TensorInfo;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PEFT's {@code bias} option: on a model without biases, {@code all} and {@code lora_only} train
 * and save nothing, so the adapter is the {@code bias = none} one (HuggingFaceConformanceTest's
 * llama_peft_bias_options); where PEFT saved base biases they replace the model's on the adapter's
 * rows (llama_trained_base_biases compares tokens with PEFT's), which needs the model's biases.
 */
class PeftBiasOptionTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path MODEL =
            TestModels.projectRoot().resolve("gpu/src/test/resources/conformance/qwen2_bias_tied");
    private static final String BIAS = "base_model.model.model.layers.0.self_attn.k_proj.bias";

    @TempDir Path tmp;

    /** The model's plain adapter as PEFT saves it with bias = all and k_proj's bias at values. */
    private Path withBias(float[] values) throws Exception {
        return withBias(MODEL, BIAS, values);
    }

    /** {@code model}'s plain adapter as PEFT saves it with bias = all and {@code tensor}. */
    private Path withBias(Path model, String tensor, float[] values) throws Exception {
        return withBias(model, "plain", tensor, values);
    }

    /** {@code model}'s adapter {@code from} as PEFT saves it with bias = all and {@code tensor}. */
    private Path withBias(Path model, String from, String tensor, float[] values) throws Exception {
        Path plain = model.resolve("adapters").resolve(from);
        Path adapter = tmp.resolve("bias_all_" + tensor);
        Files.createDirectories(adapter);
        ObjectNode config =
                (ObjectNode) JSON.readTree(plain.resolve("adapter_config.json").toFile());
        config.put("bias", "all");
        JSON.writeValue(adapter.resolve("adapter_config.json").toFile(), config);
        SafetensorsWriter w = new SafetensorsWriter();
        try (SafetensorsFile f = SafetensorsFile.open(plain.resolve("adapter_model.safetensors"))) {
            for (TensorInfo t : f.tensors().values()) {
                w.add(t.name(), t.dtype(), t.shape(), f.bytes(t.name()));
            }
        }
        w.add(tensor, DType.F32, new long[] {values.length}, values);
        w.write(adapter.resolve("adapter_model.safetensors"));
        return adapter;
    }

    @Test
    void savedBaseBiasesRefuseTheAdapterNamingTheTensorWhereTheModelsBiasesAreUnknown()
            throws Exception {
        ModelConfig mc = ModelConfig.read(MODEL);
        Path adapter = withBias(new float[mc.numKvHeads() * mc.headDim()]);
        AdapterFormatException e =
                assertThrows(
                        AdapterFormatException.class,
                        () -> LoraAdapter.read("bias_all", 1, adapter, mc));
        assertTrue(e.getMessage().contains(BIAS), e.getMessage());
        assertTrue(e.getMessage().contains("bias = all or lora_only"), e.getMessage());
    }

    @Test
    void layerNormBiasesSavedWithBiasAllAreRefusedByName() throws Exception {
        // StableLM's LayerNorms carry a bias, which PEFT's bias = all trains and saves.
        Path stablelm =
                TestModels.projectRoot().resolve("gpu/src/test/resources/conformance/stablelm");
        ModelConfig mc = ModelConfig.read(stablelm);
        String norm = "base_model.model.model.norm.bias";
        Path adapter = withBias(stablelm, norm, new float[mc.hiddenSize()]);
        AdapterFormatException e =
                assertThrows(
                        AdapterFormatException.class,
                        () -> LoraAdapter.read("bias_all", 1, adapter, mc));
        assertTrue(e.getMessage().contains(norm), e.getMessage());
        assertTrue(e.getMessage().contains("LayerNorm biases"), e.getMessage());
    }

    @Test
    void gptJsLayerNormAndHeadBiasesSavedWithBiasAllAreRefusedNamingWhatTheyAre() throws Exception {
        // GPT-J names its LayerNorms ln_1 and ln_f, and its output head has a bias: PEFT's
        // bias = all trains and saves both (found by the config fuzz, which saw them refused as
        // tensors the config does not use)
        Path gptj = TestModels.projectRoot().resolve("gpu/src/test/resources/conformance/gptj");
        ModelConfig mc = ModelConfig.read(gptj);
        String norm = "base_model.model.transformer.h.0.ln_1.bias";
        AdapterFormatException e =
                assertThrows(
                        AdapterFormatException.class,
                        () ->
                                LoraAdapter.read(
                                        "bias_all",
                                        1,
                                        withBias(
                                                gptj,
                                                "gptj_attn",
                                                norm,
                                                new float[mc.hiddenSize()]),
                                        mc));
        assertTrue(e.getMessage().contains(norm), e.getMessage());
        assertTrue(e.getMessage().contains("LayerNorm biases"), e.getMessage());
        String head = "base_model.model.lm_head.bias";
        e =
                assertThrows(
                        AdapterFormatException.class,
                        () ->
                                LoraAdapter.read(
                                        "bias_all",
                                        1,
                                        withBias(
                                                gptj, "gptj_attn", head, new float[mc.vocabSize()]),
                                        mc));
        assertTrue(e.getMessage().contains(head), e.getMessage());
        assertTrue(e.getMessage().contains("output head's bias"), e.getMessage());
    }

    @Test
    void aSavedBaseBiasEqualToTheModelsLeavesThePlainAdapterAndAnotherReplacesIt()
            throws Exception {
        try (Engine engine = Engine.open(EngineConfig.builder(MODEL).build())) {
            ModelConfig mc = engine.model().config();
            BaseWeights base = BaseWeights.of(engine.model());
            float[] own = engine.model().bias(0, Projection.K).toFloatArray();
            try (LoraAdapter same = LoraAdapter.read("bias_all", 1, withBias(own), mc, base)) {
                assertTrue(same.mixable(), "nothing replaced: mixes like the plain adapter");
            }
            float[] trained = own.clone();
            trained[0] += 0.5f;
            try (LoraAdapter replaced =
                    LoraAdapter.read("bias_all", 1, withBias(trained), mc, base)) {
                assertFalse(replaced.mixable(), "a replaced bias is not a delta to mix");
            }
        }
    }
}
