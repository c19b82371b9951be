package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The adapter tools refuse OLoRA / PiSSA adapters by name: add_weighted_adapter combines only the
 * saved A and B, and the merge tool reads adapters without the base weights the rewrite needs.
 */
class BaseRewritingAdapterToolsTest {
    private static final Path MODEL =
            TestModels.projectRoot()
                    .resolve("gpu/src/test/resources/conformance/llama_base_rewriting_inits");

    @Test
    void combiningAnOloraOrPissaAdapterIsRefusedByName() {
        for (String name : List.of("olora", "pissa")) {
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> CombineInput.read(MODEL.resolve("adapters/" + name), 1.0));
            assertTrue(e.getMessage().contains("init_lora_weights is " + name), e.getMessage());
        }
    }

    @Test
    void mergingAnOloraAdapterIsRefusedByName(@TempDir Path out) {
        AdapterFormatException e =
                assertThrows(
                        AdapterFormatException.class,
                        () ->
                                AdapterMerger.merge(
                                        MODEL,
                                        List.of(
                                                new AdapterMerger.Weighted(
                                                        MODEL.resolve("adapters/olora"), 1.0)),
                                        out.resolve("merged")));
        assertTrue(e.getMessage().contains("init_lora_weights olora"), e.getMessage());
    }
}
