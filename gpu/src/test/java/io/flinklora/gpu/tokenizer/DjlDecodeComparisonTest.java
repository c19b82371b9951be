package io.flinklora.gpu.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Why {@link Tokenizer#decode} is not DJL's {@code HuggingFaceTokenizer.decode}: random id
 * sequences on every tokenizer.json in the repository, decoded both ways, differ in exactly these
 * ways and no other. (1) The SentencePiece decoders' {@code Strip} removes the text's leading
 * space, which a continuation appended to its prompt must keep. (2) {@code ByteFallback} decodes
 * each run of consecutive {@code <0xNN>} tokens as a unit and, when the run is not valid UTF-8,
 * gives one U+FFFD per byte of the run (valid bytes in it included), where ours decodes the byte
 * stream with one U+FFFD per maximal invalid subsequence - the only policy under which streamed
 * deltas, each emitted as soon as its bytes are decided, concatenate to the whole decode. Ids that
 * only config.json or generation_config.json name as EOS or BOS (llama_eos_list: 7 and 9, byte
 * tokens) are decoded by both, as transformers' tokenizer decodes them. On a ByteLevel tokenizer
 * (GPT-2 style, decoded with Rust's {@code from_utf8_lossy}, the same maximal-subsequence policy)
 * the two are equal, invalid bytes included, over every id: the file's added tokens, declared at
 * 300 and 301 after a 262-piece vocabulary, are numbered 262 and 263 by both.
 */
class DjlDecodeComparisonTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int SEQUENCES = 3000;

    @TempDir Path tmp;

    @TestFactory
    Stream<DynamicTest> sentencePieceFixturesDifferOnlyByTheStripAndTheByteFallbackRuns()
            throws Exception {
        List<Path> files;
        // The committed fixtures only: models/ and the test resources (not benchmark output or
        // build folders).
        Path root = TestModels.projectRoot();
        try (Stream<Path> walk =
                Stream.concat(
                        Files.walk(root.resolve("models")),
                        Files.walk(root.resolve("gpu/src/test/resources")))) {
            // tokenizer-conformance/ holds encode fixtures whose class rebuilds the pipeline, so
            // DJL on the file as written is not their oracle (TransformersTokenizerConformanceTest
            // covers them).
            files =
                    walk.filter(p -> p.getFileName().toString().equals("tokenizer.json"))
                            .filter(p -> !p.toString().contains("tokenizer-conformance"))
                            .sorted()
                            .toList();
        }
        assertTrue(files.size() >= 2, "fixtures found: " + files);
        return files.stream()
                .map(
                        f ->
                                DynamicTest.dynamicTest(
                                        TestModels.projectRoot().relativize(f).toString(),
                                        () -> compareSentencePiece(f.getParent())));
    }

    private static void compareSentencePiece(Path dir) throws Exception {
        // The pipeline transformers 5 runs for the folder (a Qwen2 model's class rebuilds a
        // byte-level one around any vocabulary, so only SentencePiece pipelines are compared here).
        JsonNode root = Tokenizer.effectiveTokenizerJson(dir);
        assumeTrue(
                Tokenizer.decoderFamily(root.get("decoder"))
                        == Tokenizer.DecoderFamily.SENTENCEPIECE,
                "not a SentencePiece pipeline under transformers 5");
        assertEquals(
                Tokenizer.DecoderFamily.SENTENCEPIECE,
                Tokenizer.decoderFamily(root.get("decoder")),
                "this comparison's oracle covers the SentencePiece decoder chain "
                        + root.get("decoder"));
        String[] pieces = pieces(root);
        boolean[] special = new boolean[pieces.length];
        root.path("added_tokens")
                .forEach(t -> special[t.get("id").asInt()] = t.path("special").asBoolean());
        try (Tokenizer ours = Tokenizer.load(dir);
                HuggingFaceTokenizer djl =
                        HuggingFaceTokenizer.newInstance(
                                new java.io.ByteArrayInputStream(JSON.writeValueAsBytes(root)),
                                Map.of())) {
            Random random = new Random(dir.toString().hashCode());
            int valid = 0;
            int configSpecials = 0;
            for (int n = 0; n < SEQUENCES; n++) {
                int[] ids = randomIds(random, pieces.length + 2);
                String mine = ours.decode(ids);
                String theirs = djl.decode(Arrays.stream(ids).asLongStream().toArray(), true);
                String what = "ids " + Arrays.toString(ids);
                String expected = byteFallbackRunsThenStrip(ids, pieces, special);
                assertEquals(
                        expected,
                        theirs,
                        () -> what + ": " + codePoints(expected) + " vs " + codePoints(theirs));
                configSpecials += llamaConfigEos(dir, ids) ? 1 : 0;
                if (mine.indexOf('\uFFFD') < 0) {
                    valid++;
                    String djlText = djl.decode(Arrays.stream(ids).asLongStream().toArray(), true);
                    String stripped = mine.startsWith(" ") ? mine.substring(1) : mine;
                    assertEquals(
                            stripped,
                            djlText,
                            () ->
                                    what
                                            + ": "
                                            + codePoints(stripped)
                                            + " vs "
                                            + codePoints(djlText));
                }
            }
            assertTrue(
                    valid > SEQUENCES / 10 && valid < SEQUENCES - SEQUENCES / 10,
                    "both valid and invalid byte sequences drawn: " + valid + " valid");
            assertTrue(
                    configSpecials > 0 || !dir.endsWith("llama_eos_list"),
                    "config-only EOS ids drawn");
        }
    }

    @Test
    void byteLevelDecodeEqualsDjlInvalidBytesIncluded() throws Exception {
        Path dir = ByteLevelTokenizerTest.writeTokenizer(tmp);
        try (Tokenizer ours = Tokenizer.load(dir);
                HuggingFaceTokenizer djl =
                        HuggingFaceTokenizer.newInstance(dir.resolve("tokenizer.json"), Map.of())) {
            assertEquals(Tokenizer.DecoderFamily.BYTE_LEVEL, ours.decoderFamily());
            Random random = new Random(7);
            int invalid = 0;
            for (int n = 0; n < SEQUENCES; n++) {
                // Every id the tokenizer knows, and a little past them.
                int[] ids = randomIds(random, ours.vocabSize() + 2);
                String mine = ours.decode(ids);
                invalid += mine.indexOf('\uFFFD') >= 0 ? 1 : 0;
                assertEquals(
                        djl.decode(Arrays.stream(ids).asLongStream().toArray(), true),
                        mine,
                        "ids " + Arrays.toString(ids));
            }
            assertTrue(invalid > SEQUENCES / 10, "invalid byte sequences drawn: " + invalid);
        }
    }

    /** Whether the ids hold llama_eos_list's config-only EOS ids (7 and 9). */
    private static boolean llamaConfigEos(Path dir, int[] ids) {
        return dir.endsWith("llama_eos_list") && Arrays.stream(ids).anyMatch(i -> i == 7 || i == 9);
    }

    /** 1..24 ids, uniform over the vocabulary and a little past it (ids without a token). */
    private static int[] randomIds(Random random, int bound) {
        int[] ids = new int[1 + random.nextInt(24)];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = random.nextInt(bound);
        }
        return ids;
    }

    /**
     * Hugging Face's decoder chain Replace(▁, " "), ByteFallback, Fuse, Strip(" ", 1, 0), written
     * independently of the code under test, skipping special and unknown ids.
     */
    private static String byteFallbackRunsThenStrip(int[] ids, String[] pieces, boolean[] special) {
        StringBuilder text = new StringBuilder();
        ByteArrayOutputStream run = new ByteArrayOutputStream();
        for (int id : ids) {
            if (id >= pieces.length || pieces[id] == null || special[id]) {
                continue;
            }
            String p = pieces[id];
            if (p.length() == 6 && p.startsWith("<0x") && p.endsWith(">")) {
                run.write(Integer.parseInt(p.substring(3, 5), 16));
                continue;
            }
            flush(run, text);
            text.append(p.replace("\u2581", " "));
        }
        flush(run, text);
        return text.length() > 0 && text.charAt(0) == ' ' ? text.substring(1) : text.toString();
    }

    private static void flush(ByteArrayOutputStream run, StringBuilder text) {
        if (run.size() == 0) {
            return;
        }
        try {
            text.append(
                    StandardCharsets.UTF_8
                            .newDecoder()
                            .onMalformedInput(CodingErrorAction.REPORT)
                            .onUnmappableCharacter(CodingErrorAction.REPORT)
                            .decode(ByteBuffer.wrap(run.toByteArray())));
        } catch (CharacterCodingException e) {
            text.append("\uFFFD".repeat(run.size()));
        }
        run.reset();
    }

    private static List<String> codePoints(String s) {
        return s.codePoints().mapToObj(Integer::toHexString).toList();
    }

    private static String[] pieces(JsonNode root) {
        List<String> byId = new ArrayList<>();
        root.get("model")
                .get("vocab")
                .fields()
                .forEachRemaining(
                        e -> {
                            int id = e.getValue().asInt();
                            while (byId.size() <= id) {
                                byId.add(null);
                            }
                            byId.set(id, e.getKey());
                        });
        root.path("added_tokens")
                .forEach(
                        t -> {
                            int id = t.get("id").asInt();
                            while (byId.size() <= id) {
                                byId.add(null);
                            }
                            byId.set(id, t.get("content").asText());
                        });
        return byId.toArray(new String[0]);
    }
}
