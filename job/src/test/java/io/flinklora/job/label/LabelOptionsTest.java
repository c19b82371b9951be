package io.flinklora.job.label;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.sampling.RequestLimits;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Command-line parsing of the labelling job's options. */
class LabelOptionsTest {
    @Test
    void bothSpellingsParseAndTheErrorsFileFollowsTheOutput() {
        LabelOptions o =
                LabelOptions.parse(
                        new String[] {
                            "--input",
                            "a.jsonl,b.jsonl",
                            "--output=out/labels.jsonl",
                            "--model",
                            "m",
                            "--batch=4",
                            "--prefix-caching",
                            "off",
                            "--keep-parts",
                            "true"
                        });
        assertEquals(List.of(Path.of("a.jsonl"), Path.of("b.jsonl")), o.inputs);
        assertEquals(Path.of("out/labels.errors.jsonl"), o.errors);
        assertEquals(4, o.engine.maxBatch);
        assertEquals(false, o.engine.prefixCaching);
        assertEquals(true, o.keepParts);
        assertEquals(
                RequestLimits.DEFAULT.maxPromptTokens(),
                o.engine.maxPromptTokens,
                "the engine's limit unless told");
    }

    @Test
    void mistakesNameTheOption() {
        IllegalArgumentException missing =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> LabelOptions.parse(new String[] {"--input", "a", "--model", "m"}));
        assertEquals("--input, --output and --model are required", missing.getMessage());
        IllegalArgumentException bad =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                LabelOptions.parse(
                                        new String[] {
                                            "--input",
                                            "a",
                                            "--output",
                                            "o",
                                            "--model",
                                            "m",
                                            "--batch",
                                            "-1"
                                        }));
        assertTrue(bad.getMessage().contains("--batch"), bad.getMessage());
        IllegalArgumentException unknown =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> LabelOptions.parse(new String[] {"--input", "a", "--bach", "2"}));
        assertTrue(unknown.getMessage().startsWith("unknown option --bach"), unknown.getMessage());
        IllegalArgumentException noValue =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> LabelOptions.parse(new String[] {"--input"}));
        assertEquals("option --input needs a value", noValue.getMessage());
    }

    @Test
    void helpAsksForUsage() {
        assertNull(LabelOptions.parse(new String[] {"-h"}));
        assertTrue(
                LabelOptions.usage().contains("--batch=N")
                        && LabelOptions.usage().contains("(default 32)"),
                LabelOptions.usage());
        assertFalse(
                LabelOptions.usage().contains("--max-batch"),
                "the engine's --max-batch is --batch here");
    }
}
