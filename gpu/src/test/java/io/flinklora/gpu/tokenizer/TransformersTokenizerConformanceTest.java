package io.flinklora.gpu.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Prompt ids against transformers 5's AutoTokenizer on tokenizer files written both ways (a
 * transformers 4 conversion and transformers 5's save_pretrained), for the classes and config
 * fields that change how text is tokenized ({@code
 * gpu/src/test/conformance/make_tokenizer_cases.py} wrote the folders and the reference ids).
 */
class TransformersTokenizerConformanceTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static Path casesDir() {
        String dir = System.getProperty("tokenizer.conformance.dir");
        return dir != null && !dir.isBlank()
                ? Path.of(dir)
                : TestModels.projectRoot().resolve("gpu/src/test/resources/tokenizer-conformance");
    }

    static JsonNode cases() throws IOException {
        return JSON.readTree(casesDir().resolve("cases.json").toFile()).get("cases");
    }

    @TestFactory
    Stream<DynamicTest> everyFolderTokenizesEveryTextAsTransformersOrIsRefusedByName()
            throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : cases()) {
            String name = c.get("name").asText();
            Path dir = casesDir().resolve(name);
            if (c.has("refused")) {
                String named = c.get("refused").asText();
                tests.add(
                        DynamicTest.dynamicTest(
                                name + " is refused naming " + named,
                                () -> {
                                    TokenizerException e =
                                            assertThrows(
                                                    TokenizerException.class,
                                                    () -> Tokenizer.load(dir).close());
                                    assertTrue(
                                            e.getMessage().contains(named), () -> e.getMessage());
                                }));
                continue;
            }
            tests.add(
                    DynamicTest.dynamicTest(
                            name + " (transformers " + c.get("transformers_class").asText() + ")",
                            () -> {
                                try (Tokenizer t = Tokenizer.load(dir)) {
                                    for (JsonNode row : c.get("texts")) {
                                        String text = row.get("text").asText();
                                        if (row.has("error")) {
                                            // transformers raises on this text: so does encode
                                            assertThrows(
                                                    TokenizerException.class,
                                                    () -> t.encode(text),
                                                    () -> name + ": " + JSON.valueToTree(text));
                                            continue;
                                        }
                                        int[] expected =
                                                JSON.convertValue(row.get("ids"), int[].class);
                                        assertArrayEquals(
                                                expected,
                                                t.encode(text),
                                                () -> name + ": " + JSON.valueToTree(text));
                                    }
                                }
                            }));
        }
        return tests.stream();
    }
}
