package io.flinklora.gpu.tokenizer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ContainerNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.gpu.FuzzCalls;
import io.flinklora.gpu.TestModels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Property-based fuzzing of Tokenizer.load on mutated copies of stories260k's tokenizer files: a
 * Tokenizer or a TokenizerException.
 */
class TokenizerFuzzTest {

    /** Generous: each load parses tokenizer.json twice, once in Rust through DJL. */
    private static final long TIME_BOUND_MS = 5000;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static Path dir;
    private static byte[] tokenizerJson;
    private static JsonNode tokenizerTree;

    @BeforeContainer
    static void setUp() throws IOException {
        dir = Files.createTempDirectory("tokenizer-fuzz");
        Path source = TestModels.stories260k();
        tokenizerJson = Files.readAllBytes(source.resolve("tokenizer.json"));
        tokenizerTree = JSON.readTree(tokenizerJson);
        // Load once unmodified: the native library's first load is slow and not part of any case.
        Files.write(dir.resolve("tokenizer.json"), tokenizerJson);
        Tokenizer.load(dir).close();
    }

    @AfterContainer
    static void removeDir() throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    static void loadsOrFails(byte[] tokenizer, String tokenizerConfig, String description) {
        try {
            Files.write(dir.resolve("tokenizer.json"), tokenizer);
            Path config = dir.resolve("tokenizer_config.json");
            if (tokenizerConfig == null) {
                Files.deleteIfExists(config);
            } else {
                Files.writeString(config, tokenizerConfig);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        FuzzCalls.valueOrCodedError(
                description + "; tokenizer_config.json: " + tokenizerConfig,
                TIME_BOUND_MS,
                TokenizerException.class,
                () -> {
                    try (Tokenizer t = Tokenizer.load(dir)) {
                        int[] ids = t.encode("Once upon a time");
                        t.decode(ids);
                        for (int id = -1; id <= t.vocabSize(); id++) {
                            t.tokenBytes(id);
                        }
                        assertTrue(t.bosId() < t.vocabSize());
                        return t;
                    }
                });
    }

    @Property(tries = 300, shrinking = ShrinkingMode.BOUNDED)
    void mutatedTokenizerTreesLoadOrFailWithTokenizerException(
            @ForAll long seed,
            @ForAll("edits") int edits,
            @ForAll("tokenizerConfigs") String tokenizerConfig) {
        JsonNode tree = tokenizerTree.deepCopy();
        Random random = new Random(seed);
        List<String> done = new ArrayList<>();
        for (int i = 0; i < edits; i++) {
            done.add(mutate(tree, random));
        }
        byte[] bytes;
        try {
            bytes = JSON.writeValueAsBytes(tree);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        loadsOrFails(bytes, tokenizerConfig, "tokenizer.json edits " + done);
    }

    @Property(tries = 200, shrinking = ShrinkingMode.BOUNDED)
    void mutatedTokenizerBytesLoadOrFailWithTokenizerException(
            @ForAll long seed, @ForAll("edits") int edits) {
        byte[] bytes = tokenizerJson.clone();
        Random random = new Random(seed);
        StringBuilder done = new StringBuilder();
        for (int i = 0; i < edits; i++) {
            int pos = random.nextInt(bytes.length);
            byte b = (byte) "{}[]\",:0123456789-e\\ ".charAt(random.nextInt(21));
            if (random.nextInt(4) == 0) {
                b = (byte) random.nextInt(256);
            }
            done.append(" byte ").append(pos).append('=').append(b & 0xff);
            bytes[pos] = b;
        }
        loadsOrFails(bytes, null, "tokenizer.json bytes edited:" + done);
    }

    /**
     * A lone UTF-16 surrogate escape in a string (found by this class's byte mutations, seed
     * -4979854342514118358): the Rust library panics on it inside the decoder section, aborting the
     * JVM. It must be refused with a coded error instead, wherever it is.
     */
    @net.jqwik.api.Example
    void stringsWithUnpairedSurrogatesAreRefusedNotHandedToTheRustLibrary() {
        String json = new String(tokenizerJson, java.nio.charset.StandardCharsets.UTF_8);
        for (String lone : new String[] {"\\uD800", "\\uDC00", "\\uD83D x"}) {
            String edited =
                    json.replace(
                            "\"content\": \" \", \"start\"",
                            "\"content\": \"" + lone + "\", \"start\"");
            if (edited.equals(json)) {
                edited =
                        json.replaceFirst(
                                "\"Strip\",\\s*\"content\":\\s*\" \"",
                                "\"Strip\", \"content\": \"" + lone + "\"");
            }
            org.junit.jupiter.api.Assertions.assertNotEquals(
                    json, edited, "the decoder's Strip content was edited");
            byte[] bytes = edited.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            TokenizerException e =
                    org.junit.jupiter.api.Assertions.assertThrows(
                            TokenizerException.class,
                            () -> {
                                Files.write(dir.resolve("tokenizer.json"), bytes);
                                Files.deleteIfExists(dir.resolve("tokenizer_config.json"));
                                Tokenizer.load(dir).close();
                            });
            assertTrue(e.getMessage().contains("unpaired UTF-16 surrogate"), e.getMessage());
        }
    }

    @Property(tries = 300, shrinking = ShrinkingMode.BOUNDED)
    void hostileTokenIdsLoadOrFailWithTokenizerException(
            @ForAll("hostileIds") int id,
            @ForAll boolean addedToken,
            @ForAll("pieces") String piece) {
        ObjectNode tree = (ObjectNode) tokenizerTree.deepCopy();
        if (addedToken) {
            ((ArrayNode) tree.get("added_tokens"))
                    .addObject()
                    .put("id", id)
                    .put("content", piece)
                    .put("special", true);
        } else {
            ((ObjectNode) tree.get("model").get("vocab")).put(piece, id);
        }
        byte[] bytes;
        try {
            bytes = JSON.writeValueAsBytes(tree);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        loadsOrFails(
                bytes, null, (addedToken ? "added token " : "vocab entry ") + piece + " = " + id);
    }

    /**
     * Found by the properties: id 2^31-1 overflowed the table size (AIOOBE), 2e9 sized a 2e9-entry
     * table (OOM).
     */
    @org.junit.jupiter.api.Test
    void hugeVocabularyIdsAreRefusedAndHugeAddedIdsRenumbered(
            @org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
        // A JUnit Jupiter test: jqwik's @BeforeContainer does not run for it.
        JsonNode tokenizerTree =
                JSON.readTree(TestModels.stories260k().resolve("tokenizer.json").toFile());
        for (int id : new int[] {Integer.MAX_VALUE, 2_000_000_000, 1 << 22}) {
            // A vocabulary piece's id sizes the tables: refused.
            ObjectNode tree = (ObjectNode) tokenizerTree.deepCopy();
            ((ObjectNode) tree.get("model").get("vocab")).put("x", id);
            Files.write(dir.resolve("tokenizer.json"), JSON.writeValueAsBytes(tree));
            Files.deleteIfExists(dir.resolve("tokenizer_config.json"));
            TokenizerException e =
                    org.junit.jupiter.api.Assertions.assertThrows(
                            TokenizerException.class, () -> Tokenizer.load(dir));
            assertTrue(e.getMessage().contains("id " + id), e.getMessage());

            // An added token's declared id is not kept (the tokenizers library adds the token at
            // the next free id, after the 512 pieces), so it is harmless.
            tree = (ObjectNode) tokenizerTree.deepCopy();
            ((ArrayNode) tree.get("added_tokens"))
                    .addObject()
                    .put("id", id)
                    .put("content", "<hostile>")
                    .put("special", true);
            Files.write(dir.resolve("tokenizer.json"), JSON.writeValueAsBytes(tree));
            try (Tokenizer t = Tokenizer.load(dir)) {
                org.junit.jupiter.api.Assertions.assertEquals(513, t.vocabSize());
                assertTrue(t.isSpecial(512));
            }
        }
    }

    @Provide
    Arbitrary<Integer> hostileIds() {
        return Arbitraries.oneOf(
                Arbitraries.integers(),
                Arbitraries.integers().between(-2, 1000),
                Arbitraries.of(
                        Integer.MAX_VALUE,
                        Integer.MAX_VALUE - 1,
                        Integer.MIN_VALUE,
                        1 << 30,
                        1 << 24,
                        511,
                        512));
    }

    @Provide
    Arbitrary<String> pieces() {
        return Arbitraries.of("<s>", "</s>", "<unk>", "a", "zz-new", "<0x41>", "");
    }

    @Provide
    Arbitrary<Integer> edits() {
        return Arbitraries.integers().between(1, 6);
    }

    @Provide
    Arbitrary<String> tokenizerConfigs() {
        Arbitrary<String> token =
                Arbitraries.of(
                        "\"<s>\"",
                        "\"</s>\"",
                        "\"<unk>\"",
                        "\"a\"",
                        "\"\"",
                        "null",
                        "1",
                        "{\"content\":\"<s>\"}",
                        "{\"content\":1}",
                        "[]");
        Arbitrary<String> flag = Arbitraries.of("true", "false", "null", "\"true\"", "1", "{}");
        // the classes whose pipeline transformers rebuilds (and others) run the mutated files too
        Arbitrary<String> tokenizerClass =
                Arbitraries.of(
                        "null",
                        "\"LlamaTokenizer\"",
                        "\"GemmaTokenizerFast\"",
                        "\"Qwen2Tokenizer\"",
                        "\"GPT2Tokenizer\"",
                        "\"PreTrainedTokenizerFast\"",
                        "\"T5Tokenizer\"",
                        "1");
        return Arbitraries.oneOf(
                Arbitraries.just(null),
                Arbitraries.of("{}", "[]", "1", "", "{\"a\":", "null"),
                net.jqwik.api.Combinators.combine(token, token, flag, tokenizerClass, flag)
                        .as(
                                (b, e, f, c, p) ->
                                        "{\"bos_token\":"
                                                + b
                                                + ",\"eos_token\":"
                                                + e
                                                + ",\"add_bos_token\":"
                                                + f
                                                + ",\"tokenizer_class\":"
                                                + c
                                                + ",\"add_prefix_space\":"
                                                + p
                                                + "}"));
    }

    /** Replaces, removes or adds one node somewhere in the tree; returns what it did. */
    static String mutate(JsonNode root, Random random) {
        // Walk down a random path of containers.
        ContainerNode<?> node = (ContainerNode<?>) root;
        StringBuilder path = new StringBuilder();
        int depth = random.nextInt(6);
        for (int d = 0; d < depth && node.size() > 0; d++) {
            JsonNode child = childAt(node, random.nextInt(node.size()), path);
            if (!(child instanceof ContainerNode<?> c) || c.size() == 0) {
                break;
            }
            node = c;
        }
        JsonNode value = randomValue(random);
        if (node instanceof ObjectNode o) {
            List<String> names = new ArrayList<>();
            o.fieldNames().forEachRemaining(names::add);
            String name =
                    names.isEmpty() || random.nextInt(5) == 0
                            ? List.of(
                                            "model",
                                            "vocab",
                                            "added_tokens",
                                            "decoder",
                                            "post_processor",
                                            "id",
                                            "content",
                                            "type",
                                            "special",
                                            "x")
                                    .get(random.nextInt(10))
                            : names.get(random.nextInt(names.size()));
            if (random.nextInt(4) == 0) {
                o.remove(name);
                return path + "." + name + " removed";
            }
            o.set(name, value);
            return path + "." + name + "=" + value;
        }
        ArrayNode a = (ArrayNode) node;
        int i = random.nextInt(a.size() + 1);
        if (i == a.size() || random.nextInt(4) == 0) {
            a.insert(i, value);
            return path + "[" + i + "] inserted " + value;
        }
        if (random.nextInt(3) == 0) {
            a.remove(i);
            return path + "[" + i + "] removed";
        }
        a.set(i, value);
        return path + "[" + i + "]=" + value;
    }

    static JsonNode childAt(ContainerNode<?> node, int index, StringBuilder path) {
        if (node instanceof ArrayNode a) {
            path.append('[').append(index).append(']');
            return a.get(index);
        }
        Iterator<String> names = node.fieldNames();
        String name = null;
        for (int i = 0; i <= index; i++) {
            name = names.next();
        }
        path.append('.').append(name);
        return node.get(name);
    }

    static JsonNode randomValue(Random random) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        switch (random.nextInt(14)) {
            case 0:
                return f.nullNode();
            case 1:
                return f.booleanNode(random.nextBoolean());
            case 2:
                return f.numberNode(random.nextInt(600) - 50);
            case 3:
                return f.numberNode(
                        List.of(
                                        Integer.MAX_VALUE,
                                        Integer.MIN_VALUE,
                                        Integer.MAX_VALUE - 1,
                                        1 << 30,
                                        2_000_000_000,
                                        -1)
                                .get(random.nextInt(6)));
            case 4:
                return f.numberNode(Long.MAX_VALUE - random.nextInt(3));
            case 5:
                return f.numberNode(random.nextDouble() * 1e6);
            case 6:
                return f.textNode(
                        List.of(
                                        "",
                                        "<s>",
                                        "</s>",
                                        "<unk>",
                                        "▁",
                                        "<0x41>",
                                        "<0xZZ>",
                                        "ByteLevel",
                                        "Sequence",
                                        "BPE",
                                        "Unigram",
                                        "WordPiece",
                                        "Replace",
                                        "Metaspace",
                                        "TemplateProcessing",
                                        "\ud800",
                                        "\u0000")
                                .get(random.nextInt(17)));
            case 7:
                return f.objectNode();
            case 8:
                return f.arrayNode();
            case 9:
                return f.objectNode()
                        .put(
                                "type",
                                List.of(
                                                "Sequence",
                                                "ByteLevel",
                                                "Replace",
                                                "Metaspace",
                                                "ByteFallback",
                                                "Fuse",
                                                "Strip",
                                                "TemplateProcessing",
                                                "BPE",
                                                "Unigram",
                                                "WordLevel",
                                                "WordPiece")
                                        .get(random.nextInt(12)));
            case 10:
                {
                    ObjectNode t = f.objectNode();
                    t.put(
                            "id",
                            List.of(0, 1, 2, 511, 512, 100_000, 2_000_000_000, -1)
                                    .get(random.nextInt(8)));
                    t.put("content", List.of("<s>", "x", "", "</s>").get(random.nextInt(4)));
                    t.put("special", random.nextBoolean());
                    return t;
                }
            case 11:
                {
                    ArrayNode a = f.arrayNode();
                    a.add(f.arrayNode().add("a").add(-1.0));
                    a.add(f.arrayNode().add("b"));
                    return a;
                }
            case 12:
                {
                    ObjectNode v = f.objectNode();
                    v.put("<s>", 1)
                            .put("a", random.nextInt(1000))
                            .put(
                                    "b",
                                    List.of(-1, Integer.MAX_VALUE, 2_000_000_000, 700)
                                            .get(random.nextInt(4)));
                    return v;
                }
            default:
                return f.textNode(
                        new String(
                                new byte[] {(byte) random.nextInt(256)},
                                StandardCharsets.ISO_8859_1));
        }
    }

    /**
     * Found by the tree property (a CI run aborted the JVM): a continuing_subword_prefix longer
     * than a merge's second part makes the tokenizers library panic while building BPE merges.
     */
    @org.junit.jupiter.api.Test
    void aMergeShorterThanTheSubwordPrefixIsRefusedInsteadOfAbortingTheJvm() throws IOException {
        ObjectNode tree =
                (ObjectNode)
                        JSON.readTree(TestModels.stories260k().resolve("tokenizer.json").toFile());
        ((ObjectNode) tree.get("model")).put("continuing_subword_prefix", "ab");
        byte[] bytes = JSON.writeValueAsBytes(tree);
        Path dir = Files.createTempDirectory("merge-prefix");
        Files.write(dir.resolve("tokenizer.json"), bytes);
        TokenizerException e =
                org.junit.jupiter.api.Assertions.assertThrows(
                        TokenizerException.class, () -> Tokenizer.load(dir));
        org.junit.jupiter.api.Assertions.assertTrue(
                e.getMessage().contains("continuing_subword_prefix"), e.getMessage());
    }
}
