package io.flinklora.gpu.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
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

    /**
     * The ids transformers' {@code decode(ids, skip_special_tokens=True)} leaves out (each id whose
     * text alone is not empty but is empty when special tokens are skipped) are exactly the ids
     * whose text a completion leaves out: no more (an EOS id only the model configs name keeps its
     * text, as in transformers), no fewer.
     */
    @TestFactory
    Stream<DynamicTest> completionTextLeavesOutExactlyTheIdsTransformersDecodeSkips()
            throws IOException {
        return perFolder(
                "skipped_ids",
                (name, record, t) -> {
                    Set<Integer> skipped = new TreeSet<>();
                    record.forEach(id -> skipped.add(id.asInt()));
                    Set<Integer> leftOut = new TreeSet<>();
                    for (int id = 0; id < t.vocabSize(); id++) {
                        if (t.isSpecial(id)) {
                            leftOut.add(id);
                            assertEquals("", t.decode(new int[] {id}), name + " " + id);
                        }
                    }
                    assertEquals(skipped, leftOut, name);
                });
    }

    /**
     * Each token's text as it follows other text in a completion equals transformers' {@code
     * decode([anchor, id], skip_special_tokens=True)}, for every id the tokenizer knows (the anchor
     * an ordinary token: a decoder's strip of one leading space touches only a sequence's first
     * token, which a streamed completion keeps so that it appends to its prompt).
     */
    @TestFactory
    Stream<DynamicTest> everyTokenAddsTheTextTransformersDecodesAfterOtherText()
            throws IOException {
        return perFolder(
                "id_texts",
                (name, record, t) -> {
                    int anchor = record.get("anchor").asInt();
                    JsonNode texts = record.get("texts");
                    assertEquals(texts.size(), t.vocabSize(), name + " ids");
                    List<String> wrong = new ArrayList<>();
                    for (int id = 0; id < texts.size(); id++) {
                        String got = t.decode(new int[] {anchor, id});
                        if (!got.equals(texts.get(id).asText())) {
                            wrong.add(id + ": " + JSON.valueToTree(got) + " not " + texts.get(id));
                        }
                    }
                    assertTrue(
                            wrong.isEmpty(),
                            () ->
                                    name
                                            + " ("
                                            + wrong.size()
                                            + " ids): "
                                            + wrong.subList(0, Math.min(8, wrong.size())));
                });
    }

    /** A check on one folder's tokenizer against one field transformers' side recorded. */
    @FunctionalInterface
    private interface FolderCheck {
        void check(String name, JsonNode record, Tokenizer t) throws Exception;
    }

    /** One test per folder whose case recorded {@code field}, on its loaded tokenizer. */
    private static Stream<DynamicTest> perFolder(String field, FolderCheck check)
            throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : cases()) {
            if (!c.has(field)) {
                continue;
            }
            String name = c.get("name").asText();
            Path dir = casesDir().resolve(name);
            tests.add(
                    DynamicTest.dynamicTest(
                            name,
                            () -> {
                                try (Tokenizer t = Tokenizer.load(dir)) {
                                    check.check(name, c.get(field), t);
                                }
                            }));
        }
        return tests.stream();
    }
}
