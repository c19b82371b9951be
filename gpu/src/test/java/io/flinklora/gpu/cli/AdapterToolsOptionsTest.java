package io.flinklora.gpu.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.lora.AdapterCombiner;
import io.flinklora.gpu.lora.AdapterMerger;
import io.flinklora.gpu.lora.CombineMethod;
import io.flinklora.gpu.model.Projection;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** merge-adapter.sh and extract-adapter.sh options: weighted adapters, both spellings, messages. */
class AdapterToolsOptionsTest {
    @Test
    void mergeTakesRepeatedWeightedAdapters() {
        AdapterToolsCli.MergeOptions o = new AdapterToolsCli.MergeOptions();
        assertTrue(
                AdapterToolsCli.parse(
                        o,
                        new String[] {
                            "merge", "--model", "m", "--adapter", "a:0.5", "--adapter=b", "--out=o"
                        },
                        AdapterToolsCli.MERGE_USAGE));
        assertEquals(
                List.of(
                        new AdapterMerger.Weighted(Path.of("a"), 0.5),
                        new AdapterMerger.Weighted(Path.of("b"), 1.0)),
                o.adapters);
        assertEquals(Path.of("o"), o.out);
        AdapterToolsCli.MergeOptions help = new AdapterToolsCli.MergeOptions();
        assertFalse(
                AdapterToolsCli.parse(
                        help, new String[] {"merge", "--help"}, AdapterToolsCli.MERGE_USAGE));
    }

    @Test
    void combineTakesAMethodAndItsParameters() {
        AdapterToolsCli.CombineOptions o = new AdapterToolsCli.CombineOptions();
        AdapterToolsCli.parse(
                o,
                new String[] {
                    "merge",
                    "--method=ties",
                    "--adapters",
                    "a,b:2",
                    "--density",
                    "0.5",
                    "--seed=7",
                    "--out",
                    "o"
                },
                AdapterToolsCli.MERGE_USAGE);
        assertEquals(CombineMethod.TIES, o.method);
        assertEquals(
                List.of(
                        new AdapterCombiner.Input(Path.of("a"), 1.0),
                        new AdapterCombiner.Input(Path.of("b"), 2.0)),
                o.adapters);
        assertEquals(0.5, o.density);
        assertEquals(7L, o.seed);
        IllegalArgumentException method =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                AdapterToolsCli.parse(
                                        new AdapterToolsCli.CombineOptions(),
                                        new String[] {"merge", "--method", "best"},
                                        AdapterToolsCli.MERGE_USAGE));
        assertTrue(method.getMessage().startsWith("unknown --method 'best'"), method.getMessage());
        IllegalArgumentException density =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                AdapterToolsCli.parse(
                                        new AdapterToolsCli.CombineOptions(),
                                        new String[] {"merge", "--density", "half"},
                                        AdapterToolsCli.MERGE_USAGE));
        assertTrue(density.getMessage().contains("--density"), density.getMessage());
        IllegalArgumentException unknown =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                AdapterToolsCli.parse(
                                        new AdapterToolsCli.CombineOptions(),
                                        new String[] {"merge", "--model", "m"},
                                        AdapterToolsCli.MERGE_USAGE));
        assertTrue(
                unknown.getMessage().startsWith("unknown option --model\n")
                        && unknown.getMessage().contains("usage:"),
                unknown.getMessage());
    }

    @Test
    void extractTakesTargetModulesByName() {
        AdapterToolsCli.ExtractOptions o = new AdapterToolsCli.ExtractOptions();
        AdapterToolsCli.parse(
                o,
                new String[] {
                    "extract",
                    "--base",
                    "b",
                    "--tuned",
                    "t",
                    "--rank=4",
                    "--out",
                    "o",
                    "--targets",
                    "q_proj, v_proj"
                },
                AdapterToolsCli.ExtractOptions.USAGE);
        assertEquals(4, o.rank);
        assertEquals(
                Set.of(Projection.byModuleName("q_proj"), Projection.byModuleName("v_proj")),
                o.targets);
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                AdapterToolsCli.parse(
                                        new AdapterToolsCli.ExtractOptions(),
                                        new String[] {"extract", "--targets", "x_proj"},
                                        AdapterToolsCli.ExtractOptions.USAGE));
        assertEquals("unknown target module x_proj", e.getMessage());
    }
}
