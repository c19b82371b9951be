package io.flinklora.gpu.compose;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** compose-adapters.sh options: MixSearch's defaults unless told, numbers checked by name. */
class ComposeOptionsTest {
    @Test
    void defaultsAreMixSearchsAndBothSpellingsParse() {
        ComposeCli.Options o = new ComposeCli.Options();
        io.flinklora.gpu.cli.CliOptions.parse(
                o, new String[] {"--use", "a, b,", "--steps=7", "--l1", "0.5"});
        assertEquals(List.of("a", "b"), o.use);
        assertEquals(7, o.steps);
        assertEquals(0.5, o.l1);
        assertEquals(MixSearch.Settings.defaults().seed(), o.seed);
    }

    @Test
    void aBadNumberNamesTheOptionAndTheUsageFollows() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> ComposeCli.run(new String[] {"--steps", "many"}));
        assertTrue(
                e.getMessage().contains("--steps") && e.getMessage().contains("usage:"),
                e.getMessage());
    }
}
