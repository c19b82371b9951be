package io.flinklora.operators;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import org.junit.jupiter.api.Test;

/** The engine configuration a task manager builds from the job's settings. */
class GenerationSettingsTest {
    @Test
    void dtypeReachesTheEngineAndItsAbsenceKeepsTheEngineDefault() {
        assertEquals(DataType.FLOAT16,
                GenerationSettings.builder("m").dtype("float16").build().engineConfig(Device.cpu()).dtype());
        assertEquals(DataType.FLOAT32, GenerationSettings.builder("m").build().engineConfig(Device.cpu()).dtype());
    }
}
