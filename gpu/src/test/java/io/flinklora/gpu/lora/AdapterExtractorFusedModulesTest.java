package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code extract-adapter.sh} writes per-projection factors, which a model storing q, k, v (or gate
 * and up) in one module has no place for: such a model is refused by name before anything is
 * written.
 */
class AdapterExtractorFusedModulesTest {
    @Test
    void aModelWithFusedProjectionsIsRefusedNamingThem(@TempDir Path out) {
        Path phi3 = TestModels.projectRoot().resolve("gpu/src/test/resources/conformance/phi3");
        AdapterFormatException e =
                assertThrows(
                        AdapterFormatException.class,
                        () -> AdapterExtractor.extract(phi3, phi3, 4, null, out.resolve("a")));
        assertTrue(e.getMessage().contains("qkv_proj"), e.getMessage());
        assertFalse(Files.exists(out.resolve("a")));
    }
}
