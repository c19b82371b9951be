package io.flinklora.gpu.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A tiny GPT-2 style (ByteLevel) tokenizer built on the fly. */
class ByteLevelTokenizerTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** GPT-2's bytes_to_unicode, written out independently of the code under test. */
    private static String byteChar(int b) {
        int n = 0;
        for (int x = 0; x < 256; x++) {
            boolean printable =
                    (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
            if (x == b) {
                return String.valueOf((char) (printable ? x : 256 + n));
            }
            if (!printable) {
                n++;
            }
        }
        throw new IllegalArgumentException();
    }

    static Path writeTokenizer(Path dir) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        ObjectNode eot = added.addObject();
        eot.put("id", 300)
                .put("content", "<|endoftext|>")
                .put("single_word", false)
                .put("lstrip", false)
                .put("rstrip", false)
                .put("normalized", false)
                .put("special", true);
        ObjectNode think = added.addObject();
        think.put("id", 301)
                .put("content", "<think>")
                .put("single_word", false)
                .put("lstrip", false)
                .put("rstrip", false)
                .put("normalized", false)
                .put("special", false);
        root.putNull("normalizer");
        root.putObject("pre_tokenizer")
                .put("type", "ByteLevel")
                .put("add_prefix_space", false)
                .put("trim_offsets", true)
                .put("use_regex", true);
        root.putObject("post_processor")
                .put("type", "ByteLevel")
                .put("add_prefix_space", true)
                .put("trim_offsets", false)
                .put("use_regex", true);
        root.putObject("decoder")
                .put("type", "ByteLevel")
                .put("add_prefix_space", true)
                .put("trim_offsets", true)
                .put("use_regex", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE")
                .putNull("dropout")
                .putNull("unk_token")
                .putNull("continuing_subword_prefix")
                .putNull("end_of_word_suffix")
                .put("fuse_unk", false)
                .put("byte_fallback", false);
        ObjectNode vocab = model.putObject("vocab");
        for (int b = 0; b < 256; b++) {
            vocab.put(byteChar(b), b);
        }
        ArrayNode merges = model.putArray("merges");
        String[][] rules = {
            {"Ġ", "h"}, {"e", "l"}, {"Ġh", "el"}, {"l", "o"}, {"Ġhel", "lo"}, {"Ã", "©"}
        };
        int next = 256;
        for (String[] rule : rules) {
            merges.add(rule[0] + " " + rule[1]);
            vocab.put(rule[0] + rule[1], next++);
        }
        Files.writeString(dir.resolve("tokenizer.json"), JSON.writeValueAsString(root));
        Files.writeString(dir.resolve("config.json"), "{\"eos_token_id\": [300]}");
        return dir;
    }

    @Test
    void byteLevelTokensMapBackThroughTheGpt2ByteAlphabet(@TempDir Path dir) throws IOException {
        writeTokenizer(dir);
        try (Tokenizer tok = Tokenizer.load(dir);
                HuggingFaceTokenizer hf =
                        HuggingFaceTokenizer.newInstance(
                                dir.resolve("tokenizer.json"),
                                Map.of("addSpecialTokens", "false"))) {
            assertEquals(Tokenizer.DecoderFamily.BYTE_LEVEL, tok.decoderFamily());
            // The file declares its added tokens at 300 and 301 after a 262-piece vocabulary;
            // the tokenizers library adds them in turn at the next free ids, 262 and 263, and
            // so does the engine.
            assertEquals(264, tok.vocabSize());
            assertArrayEquals(new long[] {262, 263}, hf.encode("<|endoftext|><think>").getIds());
            assertEquals(-1, tok.bosId());
            // config.json's EOS is not the tokenizer's; 262 is special by tokenizer.json alone
            assertArrayEquals(new int[0], tok.eosIds());
            assertTrue(tok.isSpecial(262));
            assertFalse(tok.isSpecial(263));

            Map<String, Integer> ids = new HashMap<>();
            JSON.readTree(dir.resolve("tokenizer.json").toFile())
                    .path("model")
                    .path("vocab")
                    .fields()
                    .forEachRemaining(e -> ids.put(e.getKey(), e.getValue().asInt()));
            assertArrayEquals(
                    " hello".getBytes(StandardCharsets.UTF_8), tok.tokenBytes(ids.get("Ġhello")));
            assertArrayEquals(new byte[] {'\n'}, tok.tokenBytes(ids.get("Ċ")));
            assertArrayEquals("é".getBytes(StandardCharsets.UTF_8), tok.tokenBytes(ids.get("Ã©")));
            assertArrayEquals(new byte[] {(byte) 0xF0}, tok.tokenBytes(ids.get("ð")));
            assertArrayEquals(new byte[0], tok.tokenBytes(262));
            assertArrayEquals("<think>".getBytes(StandardCharsets.UTF_8), tok.tokenBytes(263));

            assertArrayEquals(new int[] {ids.get("Ġhello")}, tok.encode(" hello")); // no BOS here
            String text = "héllo hello 😀\n";
            int[] encoded = tok.encode(text);
            assertEquals(text, tok.decode(encoded));
            assertEquals(
                    hf.decode(Arrays.stream(encoded).asLongStream().toArray(), true),
                    tok.decode(encoded));

            int[] withSpecials = {262, ids.get("Ġhello"), 263, 262};
            assertEquals(" hello<think>", tok.decode(withSpecials));

            // The emoji's four byte tokens stream as one delta on the last byte.
            IncrementalDetokenizer detok = tok.newDetokenizer();
            StringBuilder streamed = new StringBuilder();
            for (int id : encoded) {
                String delta = detok.add(id);
                TokenizerTest.assertWholeText(delta, false);
                streamed.append(delta);
            }
            streamed.append(detok.flush());
            assertEquals(text, streamed.toString());
        }
    }
}
