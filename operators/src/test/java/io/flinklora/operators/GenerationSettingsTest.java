package io.flinklora.operators;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.lora.LoraStrategy;
import io.flinklora.gpu.sampling.RequestLimits;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The engine configuration a task manager builds from the job's settings. */
class GenerationSettingsTest {
    @Test
    void dtypeReachesTheEngineAndItsAbsenceKeepsTheEngineDefault() {
        assertEquals(DataType.FLOAT16,
                GenerationSettings.builder("m").dtype("float16").build().engineConfig(Device.cpu()).dtype());
        assertEquals(DataType.FLOAT32, GenerationSettings.builder("m").build().engineConfig(Device.cpu()).dtype());
    }

    @Test
    void untouchedSettingsGiveTheEngineItsOwnDefaults() {
        EngineConfig engine = EngineConfig.builder(Path.of("m")).device(Device.cpu()).build();
        assertEquals(engine, GenerationSettings.builder("m").build().engineConfig(Device.cpu()),
                "the operator's defaults are the engine's: adapters, limits, batch, KV");
    }

    @Test
    void settingsSurviveJavaSerializationAsTheJobGraphCarriesThem() throws Exception {
        GenerationSettings s = GenerationSettings.builder("m").adaptersOnDevice(3).adaptersInMemory(5)
                .preload(List.of("a", "b")).loraStrategy("segmented").limits(new RequestLimits(100, 50, 4, 32, 2))
                .kvBlockSize(8).prefixCaching(false).router("r.json").build();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(s);
        }
        GenerationSettings back;
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            back = (GenerationSettings) in.readObject();
        }
        EngineConfig c = back.engineConfig(Device.cpu());
        assertEquals(3, c.adapters().maxOnDevice());
        assertEquals(5, c.adapters().maxLoaded());
        assertEquals(List.of("a", "b"), c.adapters().preload());
        assertEquals(LoraStrategy.SEGMENTED, c.adapters().strategy());
        assertEquals(new RequestLimits(100, 50, 4, 32, 2), c.limits());
        assertEquals(8, c.kvBlockSize());
        assertEquals(false, c.prefixCaching());
        assertEquals("r.json", back.routerFile());
    }
}
