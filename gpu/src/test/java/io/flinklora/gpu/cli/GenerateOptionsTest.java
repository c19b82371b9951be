package io.flinklora.gpu.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.lora.LoraStrategy;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** generate.sh's options: both spellings, the engine's defaults, messages that name the option. */
class GenerateOptionsTest {
    @TempDir Path model;

    @Test
    void noOptionsButTheModelGiveTheEnginesOwnDefaults() {
        assertEquals(
                EngineConfig.builder(model).build(),
                GenerateCli.Options.parse(new String[] {"--model", model.toString()})
                        .engineConfig());
    }

    @Test
    void bothSpellingsReachTheEngine() {
        EngineConfig c =
                GenerateCli.Options.parse(
                                new String[] {
                                    "--model=" + model,
                                    "--max-batch",
                                    "4",
                                    "--kv-block-size=8",
                                    "--prefix-caching",
                                    "off",
                                    "--decode-kv-copy=off",
                                    "--lora-strategy=segmented",
                                    "--adapters-on-device",
                                    "3",
                                    "--preload",
                                    "a,b",
                                    "--dtype",
                                    "float16"
                                })
                        .engineConfig();
        assertEquals(4, c.maxRunning());
        assertEquals(8, c.kvBlockSize());
        assertEquals(false, c.prefixCaching());
        assertEquals(false, c.decodeKvCopy(), "on by default for the CPU, turned off");
        assertEquals(LoraStrategy.SEGMENTED, c.adapters().strategy());
        assertEquals(3, c.adapters().maxOnDevice());
        assertEquals(List.of("a", "b"), c.adapters().preload());
        assertEquals(DataType.FLOAT16, c.dtype());
    }

    @Test
    void mistakesNameTheOptionAndHelpAsksForUsage() {
        for (String[] bad :
                List.of(
                        new String[] {"--max-batch", "0"},
                        new String[] {"--device", "tpu"},
                        new String[] {"--lora-strategy", "best"},
                        new String[] {"--kv-slots"})) {
            String[] args = {"--model", model.toString(), bad[0], bad.length > 1 ? bad[1] : null};
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    GenerateCli.Options.parse(
                                            java.util.Arrays.stream(args)
                                                    .filter(a -> a != null)
                                                    .toArray(String[]::new)));
            assertTrue(e.getMessage().contains(bad[0]), e.getMessage());
        }
        IllegalArgumentException unknown =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                GenerateCli.Options.parse(
                                        new String[] {
                                            "--model", model.toString(), "--batch", "2"
                                        }));
        assertEquals("unknown option --batch", unknown.getMessage());
        IllegalArgumentException auto =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                GenerateCli.Options.parse(
                                        new String[] {
                                            "--model", model.toString(), "--device", "auto"
                                        }));
        assertTrue(
                auto.getMessage().contains("--device"),
                "no Flink slot to ask here: " + auto.getMessage());
        assertNull(GenerateCli.Options.parse(new String[] {"--help"}));
        assertTrue(
                GenerateCli.Options.usage().contains("--max-batch=N")
                        && GenerateCli.Options.usage().contains("(default 32)"),
                GenerateCli.Options.usage());
    }
}
