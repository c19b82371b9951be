package io.flinklora.gpu.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int FIRST_BYTE_ID = 3; // <0x00>
    private static final int LAST_BYTE_ID = 258; // <0xFF>

    private static Path modelDir;
    private static Tokenizer tokenizer;

    @BeforeAll
    static void loadModelTokenizer() {
        modelDir = io.flinklora.gpu.TestModels.stories260k();
        tokenizer = Tokenizer.load(modelDir);
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    private static List<JsonNode> referenceRows() throws IOException {
        List<JsonNode> rows = new ArrayList<>();
        try (var in = TokenizerTest.class.getResourceAsStream("/stories260k-greedy.jsonl")) {
            String all = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            for (String line : all.split("\n")) {
                if (!line.isBlank()) {
                    rows.add(JSON.readTree(line));
                }
            }
        }
        assertFalse(rows.isEmpty());
        return rows;
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    @Test
    void readsSpecialTokenIdsFromConfigs() {
        assertEquals(1, tokenizer.bosId());
        assertArrayEquals(new int[] {2}, tokenizer.eosIds());
        assertEquals(512, tokenizer.vocabSize());
        assertTrue(tokenizer.isSpecial(0) && tokenizer.isSpecial(1) && tokenizer.isSpecial(2));
        assertFalse(tokenizer.isSpecial(3));
        assertEquals(Tokenizer.DecoderFamily.SENTENCEPIECE, tokenizer.decoderFamily());
        assertArrayEquals(new byte[] {0x0A}, tokenizer.tokenBytes(13)); // <0x0A>
        assertArrayEquals(new byte[0], tokenizer.tokenBytes(1));
    }

    @Test
    void encodesEveryReferencePromptToItsIds() throws IOException {
        for (JsonNode row : referenceRows()) {
            String prompt = row.get("prompt").asText();
            assertArrayEquals(
                    ints(row.get("prompt_ids")), tokenizer.encode(prompt), "prompt: " + prompt);
        }
    }

    @Test
    void encodesLongPromptsWithoutTruncation() {
        String prompt = "Once upon a time there was a dog. ".repeat(200);
        int[] ids = tokenizer.encode(prompt);
        assertTrue(
                ids.length > 1000, "DJL's default 512-token truncation must be off: " + ids.length);
        assertEquals(" " + prompt, tokenizer.decode(ids));
    }

    @Test
    void decodesReferenceGreedyIdsToReferenceText() throws IOException {
        for (JsonNode row : referenceRows()) {
            assertEquals(
                    row.get("greedy_text").asText(), tokenizer.decode(ints(row.get("greedy_ids"))));
        }
    }

    @Test
    void decodeMatchesHuggingFaceDecodeExceptLeadingSpace() throws IOException {
        try (HuggingFaceTokenizer hf =
                HuggingFaceTokenizer.newInstance(
                        modelDir.resolve("tokenizer.json"), Map.of("addSpecialTokens", "false"))) {
            for (String text :
                    List.of(
                            "Hello world",
                            "Once upon a time, Lily saw a cat.\nThe end.",
                            "  two leading spaces",
                            "Le café à Tōkyō: 日本 😀 naïve")) {
                int[] ids = tokenizer.encode(text);
                long[] longIds = Arrays.stream(ids).asLongStream().toArray();
                String theirs = hf.decode(longIds, true);
                String ours = tokenizer.decode(ids);
                // Metaspace prepends its space unless the text starts with one.
                assertEquals(text.startsWith(" ") ? text : " " + text, ours);
                // HF's Strip decoder removes exactly the one space the Prepend normalizer added.
                assertEquals(" " + theirs, ours, text);
            }
        }
    }

    @Test
    void detokenizerDeltasAreValidUtf8AndConcatenateToFullDecode() {
        // Real multi-byte text: with a 512-piece vocab these become byte-fallback pieces.
        for (String text : List.of("é", "日本", "😀", "Lily said \"café\" 日本 🇯🇵 👍🏽 and 😀!")) {
            int[] ids = tokenizer.encode(text);
            IncrementalDetokenizer detok = tokenizer.newDetokenizer();
            StringBuilder streamed = new StringBuilder();
            for (int i = 1; i < ids.length; i++) { // skip BOS
                String delta = detok.add(ids[i]);
                assertWholeText(delta, false);
                streamed.append(delta);
            }
            assertEquals("", detok.flush());
            assertEquals(" " + text, streamed.toString());
            assertEquals(" " + text, detok.text());
        }

        // A multi-byte char split over byte pieces is held back until complete.
        IncrementalDetokenizer detok = tokenizer.newDetokenizer();
        byte[] smile = "😀".getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < smile.length - 1; i++) {
            assertEquals("", detok.add(byteId(smile[i])));
        }
        assertEquals("😀", detok.add(byteId(smile[3])));

        // Random id streams: the concatenation invariant, and no broken characters in any delta.
        Random random = new Random(20240607L);
        for (int n = 0; n < 1000; n++) {
            int[] ids = randomIds(random);
            String full = tokenizer.decode(ids);
            boolean fullHasReplacement = full.indexOf('\uFFFD') >= 0;
            IncrementalDetokenizer d = tokenizer.newDetokenizer();
            StringBuilder streamed = new StringBuilder();
            for (int id : ids) {
                String delta = d.add(id);
                assertWholeText(delta, fullHasReplacement);
                streamed.append(delta);
            }
            String tail = d.flush();
            assertWholeText(tail, fullHasReplacement);
            streamed.append(tail);
            assertEquals(full, streamed.toString(), "ids " + Arrays.toString(ids));
            assertEquals(full, d.text());
        }
    }

    @Test
    void invalidBytesAreReplacedAtOnceAndIncompleteTailOnFlush() {
        IncrementalDetokenizer d = tokenizer.newDetokenizer();
        assertEquals("\uFFFD", d.add(byteId((byte) 0xFF))); // can never occur in UTF-8
        assertEquals("\uFFFD", d.add(byteId((byte) 0x80))); // lone continuation byte
        assertEquals("", d.add(byteId((byte) 0xE6))); // lead of a 3-byte char
        assertEquals("\uFFFDA", d.add(byteId((byte) 'A'))); // cut short: replaced, then 'A'
        assertEquals("", d.add(byteId((byte) 0xF0)));
        assertEquals("", d.add(byteId((byte) 0x9F)));
        assertEquals("\uFFFD", d.flush()); // incomplete tail
        int[] ids = {
            byteId((byte) 0xFF),
            byteId((byte) 0x80),
            byteId((byte) 0xE6),
            byteId((byte) 'A'),
            byteId((byte) 0xF0),
            byteId((byte) 0x9F)
        };
        assertEquals(d.text(), tokenizer.decode(ids));
        assertEquals("\uFFFD\uFFFD\uFFFDA\uFFFD", tokenizer.decode(ids));
    }

    @Test
    void specialTokensComeFromStringOrObjectFieldsAndIdLists(@TempDir Path dir) throws IOException {
        Files.copy(modelDir.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        // No tokenizer_config.json: BOS from config.json, added because the vocabulary has it;
        // config.json's EOS ids are not the tokenizer's.
        Files.writeString(
                dir.resolve("config.json"), "{\"bos_token_id\": 1, \"eos_token_id\": [2, 0]}");
        try (Tokenizer t = Tokenizer.load(dir)) {
            assertEquals(1, t.bosId());
            assertTrue(t.addsBos());
            assertArrayEquals(new int[0], t.eosIds());
            assertArrayEquals(tokenizer.encode("Once upon"), t.encode("Once upon"));
        }
        // Object-valued tokens; generation_config.json's EOS ids are not the tokenizer's (the
        // engine stops on them, decode keeps their text); add_bos_token false is
        // dropped, as transformers 5 drops it whenever tokenizer.json exists (its template adds
        // BOS).
        Files.writeString(
                dir.resolve("tokenizer_config.json"),
                "{\"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"<s>\"},"
                        + " \"eos_token\": {\"__type\": \"AddedToken\", \"content\": \"</s>\"},"
                        + " \"add_bos_token\": false}");
        Files.writeString(dir.resolve("config.json"), "{\"eos_token_id\": 2}");
        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": [2, 0]}");
        try (Tokenizer t = Tokenizer.load(dir)) {
            assertEquals(1, t.bosId());
            assertTrue(t.addsBos());
            assertArrayEquals(new int[] {2}, t.eosIds());
            assertFalse(t.isSpecial(3) || t.isSpecial(403));
            assertArrayEquals(new int[] {1, 403, 407}, t.encode("Once upon"));
        }
    }

    @Test
    void postProcessorsThatWouldPanicTheNativeTokenizerAreRefused(@TempDir Path dir)
            throws IOException {
        com.fasterxml.jackson.databind.ObjectMapper json =
                new com.fasterxml.jackson.databind.ObjectMapper();
        String original = Files.readString(modelDir.resolve("tokenizer.json"));
        String bos = "{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}";
        String a = "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}";
        String b = "{\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}";
        String defined = "{\"<s>\": {\"id\": \"<s>\", \"ids\": [1], \"tokens\": [\"<s>\"]}}";
        for (String[] c :
                new String[][] {
                    {"[" + bos.replace("<s>", "<x>") + ", " + a + "]", defined, "<x>"},
                    {"[" + a + ", " + b + "]", defined, "$B"},
                    {
                        "[" + bos + ", " + a + "]",
                        defined.replace("[1]", "[1, 2]"),
                        "2 ids but 1 tokens"
                    }
                }) {
            com.fasterxml.jackson.databind.node.ObjectNode tree =
                    (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(original);
            tree.set(
                    "post_processor",
                    json.readTree(
                            "{\"type\": \"TemplateProcessing\", \"single\": "
                                    + c[0]
                                    + ", \"pair\": ["
                                    + a
                                    + ", "
                                    + b
                                    + "], \"special_tokens\": "
                                    + c[1]
                                    + "}"));
            // Without the check, encoding through such a template aborts the JVM (a Rust panic);
            // the library also reads the template without its "type" (found by
            // TokenizerFuzzTest).
            for (boolean typed : new boolean[] {true, false}) {
                if (!typed) {
                    ((com.fasterxml.jackson.databind.node.ObjectNode) tree.get("post_processor"))
                            .remove("type");
                }
                Files.writeString(dir.resolve("tokenizer.json"), tree.toString());
                TokenizerException e =
                        assertThrows(TokenizerException.class, () -> Tokenizer.load(dir).close());
                assertTrue(e.getMessage().contains(c[2]), e.getMessage());
            }
        }
    }

    @Test
    void missingTokenizerFileGivesClearError(@TempDir Path dir) {
        TokenizerException e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("tokenizer.json"), e.getMessage());
        assertTrue(e.getMessage().contains(dir.toString()), e.getMessage());
    }

    @Test
    void corruptTokenizerFileGivesClearError(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"vocab\": ");
        TokenizerException e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(
                e.getMessage().contains("tokenizer.json")
                        && e.getMessage().contains("not valid JSON"),
                e.getMessage());

        Files.writeString(
                dir.resolve("tokenizer.json"),
                "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}");
        e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("tokenizer.json"), e.getMessage());
    }

    private static int byteId(byte b) {
        return FIRST_BYTE_ID + (b & 0xFF);
    }

    /** Mixes specials, ordinary pieces, random bytes and the bytes of real multi-byte chars. */
    private static int[] randomIds(Random random) {
        int length = random.nextInt(40);
        List<Integer> ids = new ArrayList<>();
        while (ids.size() < length) {
            int kind = random.nextInt(10);
            if (kind == 0) {
                ids.add(random.nextInt(3));
            } else if (kind < 4) {
                ids.add(FIRST_BYTE_ID + random.nextInt(LAST_BYTE_ID - FIRST_BYTE_ID + 1));
            } else if (kind < 7) {
                ids.add(LAST_BYTE_ID + 1 + random.nextInt(512 - LAST_BYTE_ID - 1));
            } else {
                int cp =
                        switch (random.nextInt(3)) {
                            case 0 -> 0x80 + random.nextInt(0x800 - 0x80);
                            case 1 -> 0x3040 + random.nextInt(0x9FFF - 0x3040);
                            default -> 0x1F300 + random.nextInt(0x1FAFF - 0x1F300);
                        };
                for (byte b : new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8)) {
                    ids.add(byteId(b));
                }
            }
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    /** No lone surrogates; no U+FFFD unless the whole decode has one. */
    static void assertWholeText(String delta, boolean replacementAllowed) {
        for (int i = 0; i < delta.length(); i++) {
            char c = delta.charAt(i);
            if (Character.isHighSurrogate(c)) {
                assertTrue(
                        i + 1 < delta.length() && Character.isLowSurrogate(delta.charAt(i + 1)),
                        "lone high surrogate in " + delta);
                i++;
            } else {
                assertFalse(Character.isLowSurrogate(c), "lone low surrogate in " + delta);
                if (!replacementAllowed) {
                    assertTrue(c != '\uFFFD', "U+FFFD in delta " + delta);
                }
            }
        }
    }
}
