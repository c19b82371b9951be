package io.flinklora.gpu.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.annotation.Internal;
import io.flinklora.annotation.PublicEvolving;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The model's tokenizer: prompts to ids (tokenizer.json via DJL) and generated ids back to text.
 */
@PublicEvolving
public final class Tokenizer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Tokenizer.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final byte[] NO_BYTES = new byte[0];

    static final String TOKENIZER_FILE = "tokenizer.json";
    static final String TOKENIZER_CONFIG_FILE = "tokenizer_config.json";
    static final String CONFIG_FILE = "config.json";
    static final String SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json";
    static final String ADDED_TOKENS_FILE = "added_tokens.json";

    /** How a decoder turns pieces into bytes. */
    enum DecoderFamily {
        SENTENCEPIECE,
        BYTE_LEVEL,
        OTHER
    }

    private final HuggingFaceTokenizer hf;
    private final DecoderFamily family;
    private final byte[][] tokenBytes;
    private final boolean[] special;
    private final int bosId;
    private final boolean addBos;
    private final int[] eosIds;

    private Tokenizer(
            HuggingFaceTokenizer hf,
            DecoderFamily family,
            byte[][] tokenBytes,
            boolean[] special,
            int bosId,
            boolean addBos,
            int[] eosIds) {
        this.hf = hf;
        this.family = family;
        this.tokenBytes = tokenBytes;
        this.special = special;
        this.bosId = bosId;
        this.addBos = addBos;
        this.eosIds = eosIds;
    }

    /**
     * The tokenizers library (Rust, inside DJL) builds a BPE merge's result as {@code a +
     * b[prefix_len..]} with {@code continuing_subword_prefix}; a merge whose second part is shorter
     * than the prefix (or cut inside a character) panics there and aborts the whole JVM. Refuse
     * such files here instead.
     */
    private static void checkMerges(JsonNode root, Vocab vocab, Path file) {
        JsonNode model = root.path("model");
        JsonNode prefixNode = model.get("continuing_subword_prefix");
        JsonNode merges = model.get("merges");
        if (prefixNode == null
                || !prefixNode.isTextual()
                || prefixNode.asText().isEmpty()
                || merges == null
                || !merges.isArray()) {
            return;
        }
        byte[] prefix = prefixNode.asText().getBytes(java.nio.charset.StandardCharsets.UTF_8);
        for (JsonNode m : merges) {
            String b;
            String a;
            if (m.isTextual() && m.asText().indexOf(' ') >= 0) {
                a = m.asText().substring(0, m.asText().indexOf(' '));
                b = m.asText().substring(m.asText().indexOf(' ') + 1);
            } else if (m.isArray()
                    && m.size() == 2
                    && m.get(0).isTextual()
                    && m.get(1).isTextual()) {
                a = m.get(0).asText();
                b = m.get(1).asText();
            } else {
                continue; // the library reports malformed merges as errors itself
            }
            if (vocab.idOf(a) < 0 || vocab.idOf(b) < 0) {
                continue; // reported by the library before it slices
            }
            byte[] bytes = b.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            boolean boundary =
                    bytes.length == prefix.length
                            || (bytes.length > prefix.length
                                    && (bytes[prefix.length] & 0xC0) != 0x80);
            if (!boundary) {
                throw new TokenizerException(
                        "Tokenizer file "
                                + file
                                + " has the merge '"
                                + a
                                + " "
                                + b
                                + "' whose second part does not start with a whole continuing_subword_prefix '"
                                + prefixNode.asText()
                                + "'");
            }
        }
    }

    /**
     * Loads the tokenizer of a Hugging Face model folder: {@code tokenizer.json} (required), and
     * {@code tokenizer_config.json} (and the legacy files beside it) and {@code config.json} if
     * present. Nothing is downloaded.
     *
     * @throws TokenizerException if {@code tokenizer.json} is missing or unreadable, or a config
     *     file is corrupt
     */
    public static Tokenizer load(Path modelDir) {
        Path tokenizerFile = modelDir.resolve(TOKENIZER_FILE);
        AutoTokenizerFiles.Effective effective = effectiveTokenizer(modelDir);
        JsonNode tokenizerJson = effective.json();
        JsonNode tokenizerConfig = readJson(modelDir.resolve(TOKENIZER_CONFIG_FILE));
        JsonNode config = readJson(modelDir.resolve(CONFIG_FILE));

        Vocab vocab = Vocab.parse(tokenizerJson, tokenizerFile);
        checkMerges(tokenizerJson, vocab, tokenizerFile);

        // Special-token ids named by the configs.
        int bosId = -1;
        boolean bosFromTokenizerConfig =
                tokenizerConfig != null && tokenizerConfig.has("bos_token");
        if (bosFromTokenizerConfig) {
            bosId = vocab.idOf(AutoTokenizerFiles.contentOf(tokenizerConfig.get("bos_token")));
        } else if (config != null) {
            int[] ids = intList(config.get("bos_token_id"));
            if (ids.length > 0 && vocab.hasId(ids[0])) {
                bosId = ids[0];
            }
        }
        // transformers 5 drops add_bos_token / add_eos_token when tokenizer.json exists: the
        // post-processor alone adds special tokens (encode applies it).
        boolean addBos =
                bosId >= 0
                        && Boolean.TRUE.equals(
                                templateStartsWith(
                                        tokenizerJson.get("post_processor"), vocab, bosId));

        // Only the tokenizer's own EOS: the ids config.json and generation_config.json name end
        // generation (the engine reads them), but the tokenizer does not know them, so decode keeps
        // their text.
        int eosId =
                tokenizerConfig == null
                        ? -1
                        : vocab.idOf(
                                AutoTokenizerFiles.contentOf(tokenizerConfig.get("eos_token")));
        int[] eosIds = eosId >= 0 ? new int[] {eosId} : new int[0];

        HuggingFaceTokenizer hf = openDjl(tokenizerFile, tokenizerJson);
        try {
            String[] decodeStrings = decodeStrings(vocab, tokenizerJson, hf);
            // The tokenizers library's decode(skip_special_tokens) leaves out a token whose decode
            // string is a content ever added as special (the named bos/eos/pad/... included:
            // transformers adds them so); a normalized one decodes as its normalized form, which
            // may not be.
            boolean[] special = new boolean[vocab.size];
            for (int id = 0; id < vocab.size; id++) {
                special[id] =
                        decodeStrings[id] != null
                                && effective.specialContents().contains(decodeStrings[id]);
            }
            DecoderFamily family = decoderFamily(tokenizerJson.get("decoder"));
            byte[][] bytes =
                    tokenBytesTable(
                            family, tokenizerJson.get("decoder"), decodeStrings, special, hf);
            return new Tokenizer(hf, family, bytes, special, bosId, addBos, eosIds);
        } catch (RuntimeException e) {
            hf.close();
            throw e;
        }
    }

    /**
     * The tokenizer.json transformers 5's AutoTokenizer runs for a model folder: not always the
     * file as written ({@link AutoTokenizerFiles}).
     */
    static JsonNode effectiveTokenizerJson(Path modelDir) {
        return effectiveTokenizer(modelDir).json();
    }

    private static AutoTokenizerFiles.Effective effectiveTokenizer(Path modelDir) {
        Path tokenizerFile = modelDir.resolve(TOKENIZER_FILE);
        JsonNode tokenizerJson = readJson(tokenizerFile);
        if (tokenizerJson == null) {
            throw new TokenizerException(
                    "Tokenizer file "
                            + tokenizerFile
                            + " does not exist (model folder "
                            + modelDir
                            + ")");
        }
        return AutoTokenizerFiles.effective(
                modelDir,
                tokenizerJson,
                readJson(modelDir.resolve(TOKENIZER_CONFIG_FILE)),
                readJson(modelDir.resolve(CONFIG_FILE)),
                readJson(modelDir.resolve(SPECIAL_TOKENS_MAP_FILE)),
                readJson(modelDir.resolve(ADDED_TOKENS_FILE)));
    }

    private static HuggingFaceTokenizer openDjl(Path tokenizerFile, JsonNode parsed) {
        // encode() asks for the post-processor's special tokens per call. DJL also truncates to 512
        // tokens and pads by default: turn both off.
        Map<String, String> options =
                Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false");
        String unpaired = unpairedSurrogate(parsed, "$");
        if (unpaired != null) {
            // Not Unicode, so the Rust tokenizers library cannot read it either; inside the decoder
            // section
            // it panics (aborting the JVM) instead of failing, so it never gets such a document.
            throw new TokenizerException(
                    "Tokenizer file "
                            + tokenizerFile
                            + " has a string with an unpaired UTF-16"
                            + " surrogate (a \\uD800-\\uDFFF escape without its pair) at "
                            + unpaired);
        }
        try {
            // The Rust library aborts the whole JVM (a panic, not an error) on some malformed JSON
            // inside
            // the decoder section; it gets the document as Jackson parsed and re-wrote it, always
            // valid JSON.
            byte[] canonical = JSON.writeValueAsBytes(parsed);
            return HuggingFaceTokenizer.newInstance(
                    new java.io.ByteArrayInputStream(canonical), options);
        } catch (IOException | RuntimeException e) {
            throw new TokenizerException(
                    "Tokenizer file "
                            + tokenizerFile
                            + " could not be loaded by the Hugging Face tokenizer: "
                            + e.getMessage(),
                    e);
        }
    }

    /** The JSON path of the first key or string holding an unpaired surrogate, or null. */
    static String unpairedSurrogate(JsonNode node, String path) {
        if (node.isTextual()) {
            return hasUnpairedSurrogate(node.textValue()) ? path : null;
        }
        if (node.isObject()) {
            for (var it = node.fields(); it.hasNext(); ) {
                var e = it.next();
                if (hasUnpairedSurrogate(e.getKey())) {
                    return path + " (a key)";
                }
                String found = unpairedSurrogate(e.getValue(), path + "." + e.getKey());
                if (found != null) {
                    return found;
                }
            }
        } else if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                String found = unpairedSurrogate(node.get(i), path + "[" + i + "]");
                if (found != null) {
                    return found;
                }
            }
        }
        return null;
    }

    private static boolean hasUnpairedSurrogate(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)
                    && i + 1 < s.length()
                    && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Prompt ids as transformers 5 gives them ({@code tokenizer(text).input_ids}): the special
     * tokens the post-processor adds (BOS for most models) around the text's.
     */
    public int[] encode(String text) {
        long[] ids = hfEncode(text, true);
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    /**
     * Text of the ids: each token's {@link #tokenBytes} concatenated and decoded as UTF-8, with no
     * leading-space strip (so generated text appends to the prompt as is). Invalid UTF-8 becomes
     * one U+FFFD per maximal invalid subsequence (Hugging Face's ByteFallback gives one per byte;
     * valid text is identical).
     *
     * <p>Not DJL's {@code HuggingFaceTokenizer.decode}, which differs exactly there: it applies the
     * leading-space {@code Strip}, replaces a whole invalid run of byte tokens byte by byte (so
     * streamed deltas could not concatenate to it), and decodes ids that only the model configs
     * name as EOS/BOS; {@code DjlDecodeComparisonTest} fuzzes both on every tokenizer.json in the
     * repository.
     */
    public String decode(int[] ids) {
        Utf8StreamDecoder utf8 = new Utf8StreamDecoder();
        StringBuilder out = new StringBuilder(ids.length * 4);
        for (int id : ids) {
            utf8.feed(bytesOf(id), out);
        }
        utf8.finish(out);
        return out.toString();
    }

    /**
     * Ids of {@code text} as a word that follows a prompt: no BOS, and one space before it. A
     * SentencePiece-style tokenizer (Llama 1/2, Mistral) already prepends its word marker ("▁") to
     * any text it encodes, so the text is encoded as is; a tokenizer that does not (byte-level BPE
     * of Llama 3, Qwen2) gets {@code " " + text}. Either way the ids read as " text" after the
     * prompt.
     */
    public int[] encodeContinuation(String text) {
        String input = prependsSpace() ? text : " " + text;
        long[] ids = hfEncode(input, false);
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    /**
     * The library's encoding; its own failures (a text that needs an unknown-token the vocabulary
     * lacks: transformers raises there too) become a {@link TokenizerException}.
     */
    private long[] hfEncode(String text, boolean specialTokens) {
        try {
            return hf.encode(text, specialTokens, false).getIds();
        } catch (RuntimeException e) {
            throw new TokenizerException(
                    "the model's tokenizer cannot encode this text: " + e.getMessage(), e);
        }
    }

    private Boolean prependsSpace;

    /**
     * Whether encoding a bare word yields a token that starts with a space (the normalizer adds
     * one).
     */
    private boolean prependsSpace() {
        if (prependsSpace == null) {
            long[] ids = hf.encode("a", false, false).getIds();
            byte[] first = ids.length == 0 ? NO_BYTES : bytesOf(Math.toIntExact(ids[0]));
            prependsSpace = first.length > 0 && first[0] == ' ';
        }
        return prependsSpace;
    }

    /** BOS id, or -1 when the model has none. */
    public int bosId() {
        return bosId;
    }

    /** Whether {@link #encode} puts BOS first. */
    public boolean addsBos() {
        return addBos;
    }

    /**
     * The tokenizer's EOS ({@code tokenizer_config.json}'s {@code eos_token}), empty without one.
     * Not what ends generation: the engine stops on the generation config's ids ({@code
     * GenerationDefaults.eosTokenIds}).
     */
    public int[] eosIds() {
        return eosIds.clone();
    }

    /** Number of token ids the tokenizer knows (highest id + 1); the model's may be larger. */
    public int vocabSize() {
        return tokenBytes.length;
    }

    /** Whether the id is a special token (skipped in text). */
    public boolean isSpecial(int id) {
        return id >= 0 && id < special.length && special[id];
    }

    /**
     * The UTF-8 bytes this token contributes to text; empty for special tokens and ids without a
     * token (Hugging Face's decode skips those too). Depends on tokenizer.json's decoder:
     * SentencePiece style (Replace/Metaspace, ByteFallback, Fuse, Strip): the piece with its string
     * replacements (▁ to space), {@code <0xNN>} gives byte NN, Strip is deliberately not applied;
     * ByteLevel (GPT-2, Qwen2, Llama-3): each char through the inverse of GPT-2's bytes_to_unicode;
     * any other decoder: DJL's decode of the token alone (approximate for decoders that look at
     * neighbours, e.g. WordPiece's "##"). Non-special added tokens give their content.
     */
    public byte[] tokenBytes(int id) {
        return bytesOf(id).clone();
    }

    /** A fresh streaming detokenizer for one generated sequence. */
    @Internal
    public IncrementalDetokenizer newDetokenizer() {
        return new IncrementalDetokenizer(this);
    }

    DecoderFamily decoderFamily() {
        return family;
    }

    /** Shared, not copied: callers must not modify. */
    byte[] bytesOf(int id) {
        if (id < 0 || id >= tokenBytes.length) {
            return NO_BYTES;
        }
        return tokenBytes[id];
    }

    @Override
    public void close() {
        hf.close();
    }

    // ---------------------------------------------------------------- loading helpers

    /** Whether a TemplateProcessing's single template starts with bosId; null if there is none. */
    private static Boolean templateStartsWith(JsonNode postProcessor, Vocab vocab, int bosId) {
        if (postProcessor == null || postProcessor.isNull()) {
            return null;
        }
        String type = postProcessor.path("type").asText();
        if ("Sequence".equals(type)) {
            for (JsonNode step : postProcessor.path("processors")) {
                Boolean b = templateStartsWith(step, vocab, bosId);
                if (b != null) {
                    return b;
                }
            }
            return null;
        }
        if (!"TemplateProcessing".equals(type)) {
            return null;
        }
        JsonNode first = postProcessor.path("single").path(0);
        JsonNode specialToken = first.get("SpecialToken");
        if (specialToken == null) {
            return false;
        }
        String name = specialToken.path("id").asText();
        JsonNode declared = postProcessor.path("special_tokens").path(name).path("ids");
        if (declared.isArray() && declared.size() > 0) {
            return declared.get(0).asInt() == bosId;
        }
        return vocab.idOf(name) == bosId;
    }

    static DecoderFamily decoderFamily(JsonNode decoder) {
        if (decoder == null || decoder.isNull()) {
            return DecoderFamily.OTHER;
        }
        List<JsonNode> steps = decoderSteps(decoder);
        boolean byteLevel = false;
        boolean pieceText = false;
        boolean onlyByteLevelCompatible = true;
        boolean onlySentencePieceCompatible = true;
        for (JsonNode step : steps) {
            String type = step.path("type").asText();
            switch (type) {
                case "ByteLevel":
                    byteLevel = true;
                    onlySentencePieceCompatible = false;
                    break;
                case "Fuse":
                    break;
                case "Replace":
                    if (!step.path("pattern").has("String")) {
                        onlySentencePieceCompatible = false; // regex patterns: leave to DJL
                    }
                    pieceText = true;
                    onlyByteLevelCompatible = false;
                    break;
                case "Metaspace":
                case "ByteFallback":
                    pieceText = true;
                    onlyByteLevelCompatible = false;
                    break;
                case "Strip":
                    onlyByteLevelCompatible = false;
                    break;
                default:
                    onlyByteLevelCompatible = false;
                    onlySentencePieceCompatible = false;
            }
        }
        if (byteLevel && onlyByteLevelCompatible) {
            return DecoderFamily.BYTE_LEVEL;
        }
        if (pieceText && onlySentencePieceCompatible) {
            return DecoderFamily.SENTENCEPIECE;
        }
        return DecoderFamily.OTHER;
    }

    private static List<JsonNode> decoderSteps(JsonNode decoder) {
        List<JsonNode> steps = new ArrayList<>();
        if ("Sequence".equals(decoder.path("type").asText())) {
            for (JsonNode step : decoder.path("decoders")) {
                steps.addAll(decoderSteps(step));
            }
        } else {
            steps.add(decoder);
        }
        return steps;
    }

    /**
     * Each id's string as the tokenizers library decodes it: an added token's content, or for a
     * normalized one its content through the normalizer (tokenizers 0.23 decodes the normalized
     * form, e.g. "▁DON" for "DON" under a SentencePiece prepend); the vocabulary's piece otherwise;
     * null for an id without a token.
     */
    private static String[] decodeStrings(Vocab vocab, JsonNode root, HuggingFaceTokenizer hf) {
        String[] out = vocab.pieces.clone();
        JsonNode normalizer = root.get("normalizer");
        if (normalizer == null || normalizer.isNull()) {
            return out;
        }
        for (int id = 0; id < vocab.size; id++) {
            if (vocab.added[id] && vocab.normalized[id]) {
                out[id] = normalizedForm(hf, vocab.pieces[id], id);
            }
        }
        return out;
    }

    /**
     * The normalizer applied to an added token's content. DJL does not expose the normalizer; the
     * added-token matcher finds a normalized token in the normalized text, and the token it yields
     * carries that normalized slice, so encoding the content alone gives it. When the content does
     * not come back as that one token, the content itself.
     */
    private static String normalizedForm(HuggingFaceTokenizer hf, String content, int id) {
        ai.djl.huggingface.tokenizers.Encoding e = hf.encode(content, false, false);
        long[] ids = e.getIds();
        String[] tokens = e.getTokens();
        return ids.length == 1 && ids[0] == id && tokens.length == 1 ? tokens[0] : content;
    }

    private static byte[][] tokenBytesTable(
            DecoderFamily family,
            JsonNode decoder,
            String[] decodeStrings,
            boolean[] special,
            HuggingFaceTokenizer hf) {
        int size = decodeStrings.length;
        byte[][] table = new byte[size][];
        if (family == DecoderFamily.OTHER) {
            LOG.info(
                    "tokenizer.json decoder {} is neither SentencePiece-style nor ByteLevel; "
                            + "using DJL's decode per token",
                    decoder);
            long[][] single = new long[size][];
            for (int id = 0; id < size; id++) {
                single[id] = new long[] {id};
            }
            String[] texts = hf.batchDecode(single, true);
            for (int id = 0; id < size; id++) {
                table[id] =
                        special[id] || decodeStrings[id] == null
                                ? NO_BYTES
                                : texts[id].getBytes(StandardCharsets.UTF_8);
            }
            return table;
        }
        List<String[]> replacements = new ArrayList<>();
        boolean byteFallback = false;
        if (family == DecoderFamily.SENTENCEPIECE) {
            for (JsonNode step : decoderSteps(decoder)) {
                switch (step.path("type").asText()) {
                    case "Replace":
                        replacements.add(
                                new String[] {
                                    step.path("pattern").path("String").asText(),
                                    step.path("content").asText()
                                });
                        break;
                    case "Metaspace":
                        replacements.add(
                                new String[] {step.path("replacement").asText("\u2581"), " "});
                        break;
                    case "ByteFallback":
                        byteFallback = true;
                        break;
                    default:
                        // Fuse: concatenation is what we do anyway. Strip: the leading-space strip
                        // is
                        // deliberately not applied, so generated text appends to the prompt as is.
                }
            }
        }
        // Added tokens go through the decoder too, as the tokenizers library decodes them.
        for (int id = 0; id < size; id++) {
            String piece = decodeStrings[id];
            if (piece == null || special[id]) {
                table[id] = NO_BYTES;
            } else if (family == DecoderFamily.BYTE_LEVEL) {
                table[id] = ByteLevelAlphabet.decode(piece);
            } else {
                table[id] = sentencePieceBytes(piece, replacements, byteFallback);
            }
        }
        return table;
    }

    private static byte[] sentencePieceBytes(
            String piece, List<String[]> replacements, boolean byteFallback) {
        // Same test as Hugging Face's ByteFallback decoder.
        if (byteFallback && piece.length() == 6 && piece.startsWith("<0x") && piece.endsWith(">")) {
            try {
                return new byte[] {(byte) Integer.parseInt(piece.substring(3, 5), 16)};
            } catch (NumberFormatException notAByte) {
                // falls through: an ordinary piece that happens to look similar
            }
        }
        String text = piece;
        for (String[] r : replacements) {
            if (!r[0].isEmpty()) {
                text = text.replace(r[0], r[1]);
            }
        }
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /** Parsed JSON of a file, or null if it does not exist. */
    private static JsonNode readJson(Path file) {
        try {
            byte[] content = Files.readAllBytes(file);
            JsonNode node = JSON.readTree(content);
            if (node == null || !node.isObject()) {
                throw new TokenizerException("File " + file + " is not a JSON object");
            }
            return node;
        } catch (NoSuchFileException e) {
            return null;
        } catch (JsonProcessingException e) {
            throw new TokenizerException(
                    "File " + file + " is not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new TokenizerException("File " + file + " could not be read: " + e, e);
        }
    }

    /** An id field that may be an int or a list of ints. */
    private static int[] intList(JsonNode node) {
        if (node == null || node.isNull()) {
            return new int[0];
        }
        if (node.isIntegralNumber()) {
            return new int[] {node.asInt()};
        }
        if (node.isArray()) {
            List<Integer> ids = new ArrayList<>();
            for (JsonNode n : node) {
                if (n.isIntegralNumber()) {
                    ids.add(n.asInt());
                }
            }
            return ids.stream().mapToInt(Integer::intValue).toArray();
        }
        return new int[0];
    }

    /** Pieces by id, from the model vocabulary and the added tokens of tokenizer.json. */
    private static final class Vocab {
        /**
         * Far above any real vocabulary (as ModelConfig's bound); ids size arrays, so they are
         * capped.
         */
        static final int MAX_VOCAB = 1 << 22;

        final int size;
        final String[] pieces;
        final boolean[] added;
        final boolean[] normalized;
        final Map<String, Integer> ids;

        private Vocab(
                int size,
                String[] pieces,
                boolean[] added,
                boolean[] normalized,
                Map<String, Integer> ids) {
            this.size = size;
            this.pieces = pieces;
            this.added = added;
            this.normalized = normalized;
            this.ids = ids;
        }

        static Vocab parse(JsonNode root, Path file) {
            JsonNode model = root.get("model");
            JsonNode vocabNode = model == null ? null : model.get("vocab");
            if (vocabNode == null || !(vocabNode.isObject() || vocabNode.isArray())) {
                throw new TokenizerException("Tokenizer file " + file + " has no model.vocab");
            }
            Map<String, Integer> ids = new HashMap<>();
            if (vocabNode.isObject()) { // BPE, WordPiece, WordLevel
                for (Iterator<Map.Entry<String, JsonNode>> it = vocabNode.fields();
                        it.hasNext(); ) {
                    Map.Entry<String, JsonNode> e = it.next();
                    ids.put(e.getKey(), e.getValue().asInt());
                }
            } else { // Unigram: [[piece, score], ...], id = position
                int id = 0;
                for (JsonNode entry : vocabNode) {
                    ids.put(entry.path(0).asText(), id++);
                }
            }
            List<JsonNode> addedTokens = new ArrayList<>();
            root.path("added_tokens").forEach(addedTokens::add);
            // Ids size the tables below: check them first, so a hostile id cannot overflow or
            // exhaust memory.
            int size = 0;
            for (Map.Entry<String, Integer> e : ids.entrySet()) {
                int id = e.getValue();
                if (id < 0 || id >= MAX_VOCAB) {
                    throw new TokenizerException(
                            "Tokenizer file "
                                    + file
                                    + " has id "
                                    + id
                                    + " for piece "
                                    + e.getKey()
                                    + ", outside 0.."
                                    + (MAX_VOCAB - 1));
                }
                size = Math.max(size, id + 1);
            }
            for (JsonNode t : addedTokens) {
                int id = t.path("id").asInt(-1);
                if (id >= MAX_VOCAB) {
                    throw new TokenizerException(
                            "Tokenizer file "
                                    + file
                                    + " has an added token with id "
                                    + id
                                    + ", outside 0.."
                                    + (MAX_VOCAB - 1)
                                    + ": "
                                    + t);
                }
                size = Math.max(size, id + 1);
            }
            String[] pieces = new String[size];
            for (Map.Entry<String, Integer> e : ids.entrySet()) {
                pieces[e.getValue()] = e.getKey();
            }
            boolean[] added = new boolean[size];
            boolean[] normalized = new boolean[size];
            for (JsonNode t : addedTokens) {
                int id = t.path("id").asInt(-1);
                String content = t.path("content").asText(null);
                if (id < 0 || content == null) {
                    throw new TokenizerException(
                            "Tokenizer file "
                                    + file
                                    + " has an added token without id or content: "
                                    + t);
                }
                pieces[id] = content;
                ids.put(content, id);
                added[id] = true;
                normalized[id] = t.path("normalized").asBoolean(!t.path("special").asBoolean());
            }
            return new Vocab(size, pieces, added, normalized, ids);
        }

        int idOf(String piece) {
            if (piece == null) {
                return -1;
            }
            Integer id = ids.get(piece);
            return id == null ? -1 : id;
        }

        boolean hasId(int id) {
            return id >= 0 && id < size && pieces[id] != null;
        }
    }

    /** Inverse of GPT-2's bytes_to_unicode: the printable char each byte was mapped to. */
    static final class ByteLevelAlphabet {
        private static final int[] CHAR_TO_BYTE = new int[324];

        static {
            Arrays.fill(CHAR_TO_BYTE, -1);
            int n = 0;
            for (int b = 0; b < 256; b++) {
                boolean printable =
                        (b >= '!' && b <= '~')
                                || (b >= 0xA1 && b <= 0xAC)
                                || (b >= 0xAE && b <= 0xFF);
                int c = printable ? b : 256 + n++;
                CHAR_TO_BYTE[c] = b;
            }
        }

        private ByteLevelAlphabet() {}

        /** The piece's bytes; a piece with a char outside the table gives its raw UTF-8 (as HF). */
        static byte[] decode(String piece) {
            byte[] out = new byte[piece.length()];
            for (int i = 0; i < piece.length(); i++) {
                char c = piece.charAt(i);
                int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
                if (b < 0) {
                    return piece.getBytes(StandardCharsets.UTF_8);
                }
                out[i] = (byte) b;
            }
            return out;
        }
    }
}
