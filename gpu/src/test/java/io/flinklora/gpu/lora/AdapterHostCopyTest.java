package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.model.ExpertParameter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import java.nio.file.Path;
import java.util.EnumSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An adapter's weights live once: in a float32 device slot while resident, in host memory
 * otherwise.
 */
class AdapterHostCopyTest {
    @TempDir Path dir;

    @Test
    void aResidentFloat32AdapterKeepsNoHostCopyAndEvictionRestoresTheSameWeights()
            throws Exception {
        ModelConfig c = ModelConfig.read(TestModels.stories260k());
        Path path = dir.resolve("a");
        new PeftWriter(c)
                .rank(4)
                .alpha(8)
                .targets(EnumSet.of(Projection.Q, Projection.V))
                .write(path, 7, 0.3, 0.3);
        try (NDManager root = NDManager.newBaseManager();
                AdapterPool pool = new AdapterPool(root, c, DataType.FLOAT32, 2);
                LoraAdapter a = LoraAdapter.read("a", 1, path, c)) {
            LoraAdapter.Module m = a.module(0, Projection.Q);
            float[] hostA = m.hostA.clone();
            float[] hostB = m.hostB.clone();
            float[] delta = a.delta(0, Projection.Q);

            assertTrue(a.upload(pool));
            assertNull(m.hostA, "resident: the slot is the only copy");
            assertNull(m.hostB);
            assertArrayEquals(delta, a.delta(0, Projection.Q), "merge tools read the slot");

            a.evictFromDevice();
            assertNotNull(m.hostA, "evicted: copied back to host memory before the slot is freed");
            assertArrayEquals(hostA, m.hostA);
            assertArrayEquals(hostB, m.hostB);
            assertTrue(a.upload(pool), "and it uploads again from that copy");
            assertArrayEquals(hostA, m.a.toFloatArray());
        }
    }

    @Test
    void loraOnExpertsLeavesTheDeviceOnEvictionAndComesBackTheSame() throws Exception {
        Path model =
                TestModels.projectRoot()
                        .resolve("gpu/src/test/resources/conformance/mixtral_expert_lora");
        ModelConfig c = ModelConfig.read(model);
        try (NDManager root = NDManager.newBaseManager();
                AdapterPool pool = new AdapterPool(root, c, DataType.FLOAT32, 2);
                LoraAdapter a =
                        LoraAdapter.read("moe", 1, model.resolve("adapters/moe_all_linear"), c)) {
            ParameterLora gateUp = a.parameter(0, ExpertParameter.GATE_UP);
            ParameterLora router = a.parameter(0, ExpertParameter.ROUTER);
            assertNotNull(gateUp);
            assertNotNull(router);
            assertTrue(a.bytes() > gateUp.bytes() + router.bytes(), "the experts' LoRA is counted");
            int e = 1;
            float[] expertA =
                    java.util.Arrays.copyOfRange(
                            gateUp.hostA,
                            e * gateUp.rank * gateUp.in,
                            (e + 1) * gateUp.rank * gateUp.in);
            assertTrue(!gateUp.resident());
            assertTrue(a.upload(pool));
            assertTrue(gateUp.resident() && router.resident());
            assertArrayEquals(expertA, gateUp.a(e).toFloatArray(), "expert 1's block of lora_A");
            a.evictFromDevice();
            assertTrue(!gateUp.resident() && !router.resident(), "evicted: host copies only");
            assertTrue(a.upload(pool));
            assertArrayEquals(expertA, gateUp.a(e).toFloatArray(), "uploaded again, the same");
        }
    }

    @Test
    void aReducedPrecisionPoolKeepsTheExactHostCopy() throws Exception {
        ModelConfig c = ModelConfig.read(TestModels.stories260k());
        Path path = dir.resolve("b");
        new PeftWriter(c)
                .rank(4)
                .alpha(8)
                .targets(EnumSet.of(Projection.Q))
                .write(path, 8, 0.3, 0.3);
        try (NDManager root = NDManager.newBaseManager();
                AdapterPool pool = new AdapterPool(root, c, DataType.FLOAT16, 2);
                LoraAdapter a = LoraAdapter.read("b", 1, path, c)) {
            float[] hostA = a.module(0, Projection.Q).hostA.clone();
            assertTrue(a.upload(pool));
            assertArrayEquals(
                    hostA,
                    a.module(0, Projection.Q).hostA,
                    "float16 slots round: the float32 copy stays");
        }
    }
}
