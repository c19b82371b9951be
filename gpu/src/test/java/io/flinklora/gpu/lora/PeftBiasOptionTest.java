package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.model.ModelConfig;
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
 * and save nothing, so the adapter is served (HuggingFaceConformanceTest's llama_peft_bias_options
 * compares its tokens with PEFT's); where PEFT saved trained base biases, the adapter is refused
 * naming the tensor.
 */
class PeftBiasOptionTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir Path tmp;

    @Test
    void biasAllWithSavedBaseBiasesIsRefusedNamingTheTensor() throws Exception {
        Path model =
                TestModels.projectRoot()
                        .resolve("gpu/src/test/resources/conformance/qwen2_bias_tied");
        Path plain = model.resolve("adapters/plain");
        Path adapter = tmp.resolve("bias_all");
        Files.createDirectories(adapter);
        ObjectNode config =
                (ObjectNode) JSON.readTree(plain.resolve("adapter_config.json").toFile());
        config.put("bias", "all");
        JSON.writeValue(adapter.resolve("adapter_config.json").toFile(), config);
        ModelConfig mc = ModelConfig.read(model);
        SafetensorsWriter w = new SafetensorsWriter();
        try (SafetensorsFile f = SafetensorsFile.open(plain.resolve("adapter_model.safetensors"))) {
            for (TensorInfo t : f.tensors().values()) {
                w.add(t.name(), t.dtype(), t.shape(), f.bytes(t.name()));
            }
        }
        String bias = "base_model.model.model.layers.0.self_attn.k_proj.bias";
        w.add(
                bias,
                DType.F32,
                new long[] {mc.numKvHeads() * mc.headDim()},
                new float[mc.numKvHeads() * mc.headDim()]);
        w.write(adapter.resolve("adapter_model.safetensors"));

        AdapterFormatException e =
                assertThrows(
                        AdapterFormatException.class,
                        () -> LoraAdapter.read("bias_all", 1, adapter, mc));
        assertTrue(e.getMessage().contains(bias), e.getMessage());
        assertTrue(e.getMessage().contains("bias = all or lora_only"), e.getMessage());

        // the same adapter without the tensor is the bias = "none" adapter
        Files.copy(
                plain.resolve("adapter_model.safetensors"),
                adapter.resolve("adapter_model.safetensors"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        LoraAdapter served = LoraAdapter.read("bias_all", 1, adapter, mc);
        assertEquals("bias_all", served.name());
    }
}
