package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.flinklora.gpu.lora.AdapterSettings;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The builder travels in Flink job graphs: Java serialization keeps every setting, a copy is
 * independent.
 */
class EngineConfigBuilderTest {
    @Test
    void everySettingSurvivesJavaSerialization() throws Exception {
        EngineConfig.Builder b =
                EngineConfig.builder(Path.of("models/m"))
                        .device(Device.gpu(1))
                        .dtype(DataType.FLOAT16)
                        .maxRunning(4)
                        .maxTokensPerStep(64)
                        .kvSlots(3)
                        .kvCacheBytes(1 << 20)
                        .kvBlockSize(8)
                        .prefixCaching(false)
                        .maxSequenceLength(100)
                        .adapterRoot(Path.of("adapters"))
                        .adapters(AdapterSettings.DEFAULT.withMaxOnDevice(2));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(b);
        }
        EngineConfig.Builder back;
        try (ObjectInputStream in =
                new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            back = (EngineConfig.Builder) in.readObject();
        }
        assertEquals(b.build(), back.build());
        assertEquals(Device.gpu(1), back.build().device());
    }

    @Test
    void aCopyDoesNotSeeLaterChanges() {
        EngineConfig.Builder b = EngineConfig.builder(Path.of("m")).maxRunning(4);
        EngineConfig.Builder copy = b.copy();
        b.maxRunning(8);
        assertEquals(4, copy.build().maxRunning());
        assertEquals(EngineConfig.builder(Path.of("m")).maxRunning(4).build(), copy.build());
        assertNotEquals(b.build(), copy.build());
    }
}
