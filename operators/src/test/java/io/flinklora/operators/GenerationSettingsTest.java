package io.flinklora.operators;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.lora.AdapterSettings;
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
    private static EngineConfig.Builder engine() {
        return EngineConfig.builder(Path.of("m"));
    }

    @Test
    void dtypeReachesTheEngineAndItsAbsenceKeepsTheEngineDefault() {
        assertEquals(
                DataType.FLOAT16,
                GenerationSettings.builder(engine().dtype(DataType.FLOAT16))
                        .build()
                        .engineConfig(Device.cpu())
                        .dtype());
        assertEquals(
                DataType.FLOAT32,
                GenerationSettings.builder(engine()).build().engineConfig(Device.cpu()).dtype());
        // Built on the task manager: without a dtype, the device chosen there decides it.
        assertEquals(
                DataType.FLOAT16,
                GenerationSettings.builder(engine()).build().engineConfig(Device.gpu()).dtype());
    }

    @Test
    void untouchedSettingsGiveTheEngineItsOwnDefaults() {
        EngineConfig engine = EngineConfig.builder(Path.of("m")).device(Device.cpu()).build();
        assertEquals(
                engine,
                GenerationSettings.builder(engine()).build().engineConfig(Device.cpu()),
                "the operator's defaults are the engine's: adapters, limits, batch, KV");
    }

    @Test
    void settingsSurviveJavaSerializationAsTheJobGraphCarriesThem() throws Exception {
        GenerationSettings s =
                GenerationSettings.builder(
                                engine().adapterRoot(Path.of("adapters"))
                                        .adapters(
                                                AdapterSettings.DEFAULT
                                                        .withMaxOnDevice(3)
                                                        .withMaxLoaded(5)
                                                        .withPreload(List.of("a", "b"))
                                                        .withStrategy(LoraStrategy.SEGMENTED))
                                        .limits(new RequestLimits(100, 50, 4, 32, 2))
                                        .kvBlockSize(8)
                                        .prefixCaching(false))
                        .router("r.json")
                        .build();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(s);
        }
        GenerationSettings back;
        try (ObjectInputStream in =
                new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
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
        assertEquals(Path.of("m"), c.modelDir());
        assertEquals(Path.of("adapters"), c.adapterRoot());
    }
}
