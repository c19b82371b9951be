package io.flinklora.gpu.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;

/**
 * The README's table of supported architectures and fields is exactly what the loaders' catalogues
 * say.
 */
class SupportTableTest {
    @Test
    void theReadmeTableMatchesTheCatalogueTheLoadersEnforce() throws Exception {
        String readme = Files.readString(TestModels.projectRoot().resolve("README.md"));
        int start = readme.indexOf(SupportTable.START);
        int end = readme.indexOf(SupportTable.END);
        assertTrue(start >= 0 && end > start, "README.md holds the generated support table");
        String inReadme = readme.substring(start, end + SupportTable.END.length());
        assertEquals(
                SupportTable.render(),
                inReadme,
                "README.md drifted from the code: run scripts/support-table.sh");
    }
}
