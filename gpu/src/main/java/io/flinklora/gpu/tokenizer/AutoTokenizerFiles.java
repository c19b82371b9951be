package io.flinklora.gpu.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The tokenizer.json that transformers 5's {@code AutoTokenizer.from_pretrained} actually runs for
 * a model folder, so that prompts get the ids transformers gives them.
 *
 * <p>transformers 5 does not run tokenizer.json as written. It picks a class from {@code
 * tokenizer_config.json} and {@code config.json}'s model type ({@code tokenization_auto}); a class
 * with its own constructor (LlamaTokenizer, GemmaTokenizer, Qwen2Tokenizer, GPT2Tokenizer, ...)
 * keeps only the file's vocabulary, merges and post-processor and builds normalizer, pre-tokenizer,
 * decoder and model options in code; {@code add_bos_token} / {@code add_eos_token} are dropped
 * whenever tokenizer.json exists; special tokens the configs name (or the class's defaults) are
 * added when missing. No library does this outside Python, so it is written here, from transformers
 * 5.18's {@code tokenization_auto.py}, {@code tokenization_utils_base.py}, {@code
 * tokenization_utils_tokenizers.py} and the six classes' constructors; {@code
 * TransformersTokenizerConformanceTest} compares it with transformers on files saved both ways.
 * Other classes that rebuild their pipeline are refused by name.
 */
@Internal
final class AutoTokenizerFiles {
    private static final Logger LOG = LoggerFactory.getLogger(AutoTokenizerFiles.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    /** A tokenizer class transformers 5 would instantiate. */
    enum TokenizerClass {
        /** The generic backend: tokenizer.json as written. */
        BACKEND("TokenizersBackend"),
        LLAMA("LlamaTokenizer"),
        GEMMA("GemmaTokenizer"),
        QWEN2("Qwen2Tokenizer"),
        GPT2("GPT2Tokenizer"),
        GPT_NEOX("GPTNeoXTokenizer"),
        COHERE("CohereTokenizer");

        /** transformers' name for the class. */
        final String transformersName;

        TokenizerClass(String transformersName) {
            this.transformersName = transformersName;
        }
    }

    /** transformers' TOKENIZER_MAPPING_NAMES for the architectures this engine serves. */
    private static final Map<String, String> REGISTERED =
            Map.ofEntries(
                    Map.entry("mistral", "TokenizersBackend"),
                    Map.entry("ministral3", "TokenizersBackend"),
                    Map.entry("ministral", "TokenizersBackend"),
                    Map.entry("mixtral", "TokenizersBackend"),
                    Map.entry("phi3", "TokenizersBackend"),
                    Map.entry("persimmon", "TokenizersBackend"),
                    Map.entry("qwen2", "Qwen2Tokenizer"),
                    Map.entry("qwen3", "Qwen2Tokenizer"),
                    Map.entry("qwen3_moe", "Qwen2Tokenizer"),
                    Map.entry("qwen2_moe", "Qwen2Tokenizer"),
                    Map.entry("olmoe", "GPTNeoXTokenizer"),
                    Map.entry("gemma", "GemmaTokenizer"),
                    Map.entry("gemma2", "GemmaTokenizer"),
                    Map.entry("gemma3_text", "GemmaTokenizer"),
                    Map.entry("granite", "TokenizersBackend"),
                    Map.entry("granitemoe", "TokenizersBackend"),
                    Map.entry("granitemoeshared", "TokenizersBackend"),
                    Map.entry("olmo2", "TokenizersBackend"),
                    Map.entry("olmo3", "TokenizersBackend"),
                    Map.entry("glm", "TokenizersBackend"),
                    Map.entry("cohere", "CohereTokenizer"),
                    Map.entry("cohere2", "CohereTokenizer"),
                    Map.entry("glm4", "TokenizersBackend"),
                    Map.entry("glm4_moe", "TokenizersBackend"),
                    Map.entry("stablelm", "TokenizersBackend"),
                    Map.entry("olmo", "GPTNeoXTokenizer"),
                    Map.entry("gpt_neox", "GPTNeoXTokenizer"),
                    Map.entry("mpt", "GPTNeoXTokenizer"),
                    Map.entry("gpt2", "GPT2Tokenizer"),
                    Map.entry("opt", "GPT2Tokenizer"),
                    Map.entry("gpt_bigcode", "TokenizersBackend"),
                    Map.entry("gptj", "GPT2Tokenizer"),
                    Map.entry("gpt_neo", "GPT2Tokenizer"),
                    Map.entry("codegen", "GPT2Tokenizer"),
                    Map.entry("starcoder2", "GPT2Tokenizer"),
                    Map.entry("phi", "GPT2Tokenizer"),
                    Map.entry("nemotron", "TokenizersBackend"),
                    Map.entry("jais2", "GPT2Tokenizer"),
                    Map.entry("flex_olmo", "TokenizersBackend"),
                    // in MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS without a class of its own
                    Map.entry("ernie4_5", "TokenizersBackend"),
                    Map.entry("ernie4_5_moe", "TokenizersBackend"));

    /**
     * Model types of those in transformers' MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS: their
     * registered class wins over the one tokenizer_config.json names.
     */
    private static final Set<String> HUB_CLASS_OVERRIDDEN =
            Set.of("phi3", "qwen2", "ernie4_5", "ernie4_5_moe");

    /** transformers' MODEL_IDS_TO_TOKENIZERS_BACKEND, matched on config.json's _name_or_path. */
    private static final List<String> BACKEND_MODEL_IDS =
            List.of(
                    "deepseek-ai/deepseek-r1-distill-llama-*",
                    "deepseek-ai/deepseek-coder-*",
                    "allenai/dolma2-tokenizer",
                    "google/umt5-small",
                    "naver-clova-ix/donut-*",
                    "salesforce/blip2-opt-*",
                    "salesforce/blip2-flan-t5-*",
                    "salesforce/instructblip-flan-t5-*",
                    "stepfun-ai/step-3.7-*");

    private static final Set<String> GENERIC =
            Set.of("TokenizersBackend", "PythonBackend", "PreTrainedTokenizer", "BloomTokenizer");

    private static final List<String> SPECIAL_ATTRIBUTES =
            List.of(
                    "bos_token",
                    "eos_token",
                    "unk_token",
                    "sep_token",
                    "pad_token",
                    "cls_token",
                    "mask_token");

    /** Qwen2Tokenizer's PRETOKENIZE_REGEX. */
    private static final String QWEN2_SPLIT =
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
                    + " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    private static volatile Set<String> rebuilding;

    /** The special tokens each class's constructor defaults to. */
    private static final Map<TokenizerClass, Map<String, String>> CLASS_DEFAULTS =
            Map.of(
                    TokenizerClass.LLAMA,
                    Map.of("unk_token", "<unk>", "bos_token", "<s>", "eos_token", "</s>"),
                    TokenizerClass.GEMMA,
                    Map.of(
                            "unk_token", "<unk>",
                            "bos_token", "<bos>",
                            "eos_token", "<eos>",
                            "pad_token", "<pad>",
                            "mask_token", "<mask>"),
                    TokenizerClass.QWEN2,
                    Map.of(
                            "unk_token", "<|endoftext|>",
                            "eos_token", "<|endoftext|>",
                            "pad_token", "<|endoftext|>"),
                    TokenizerClass.GPT2,
                    Map.of(
                            "unk_token", "<|endoftext|>",
                            "bos_token", "<|endoftext|>",
                            "eos_token", "<|endoftext|>"),
                    TokenizerClass.GPT_NEOX,
                    Map.of(
                            "unk_token", "<|endoftext|>",
                            "bos_token", "<|endoftext|>",
                            "eos_token", "<|endoftext|>",
                            "pad_token", "<|padding|>"),
                    TokenizerClass.COHERE,
                    Map.of(
                            "unk_token", "<UNK>",
                            "bos_token", "<BOS_TOKEN>",
                            "eos_token", "<|END_OF_TURN_TOKEN|>",
                            "pad_token", "<PAD>",
                            "cls_token", "<CLS>",
                            "sep_token", "<SEP>",
                            "mask_token", "<MASK_TOKEN>"));

    /** Marks, on queued tokens only: given as a plain string / as a tokenizer_config object. */
    private static final String STRING = "__string";

    private static final String FROM_CONFIG_OBJECT = "__config_object";

    /** Marks a class constructor's default, which from_pretrained's kwargs do not hold. */
    private static final String DEFAULT = "__default";

    private AutoTokenizerFiles() {}

    /**
     * The tokenizer.json transformers runs and the contents the tokenizers library holds special:
     * every content ever added with {@code special} true (its set only grows, so a token re-added
     * without the flag stays in it). Decode with {@code skip_special_tokens} leaves out a token
     * whose decode string is in this set.
     */
    record Effective(ObjectNode json, Set<String> specialContents) {}

    /**
     * The effective tokenizer.json for a folder's files (any config may be null when absent).
     *
     * @throws TokenizerException naming what transformers would do that the engine does not
     */
    static Effective effective(
            Path dir,
            JsonNode tokenizerJson,
            JsonNode tokenizerConfig,
            JsonNode config,
            JsonNode specialTokensMap,
            JsonNode addedTokensFile) {
        try {
            JsonNode added = tokenizerJson.get("added_tokens");
            if (added != null && !added.isNull() && !added.isArray()) {
                throw new TokenizerException(
                        "tokenizer.json in " + dir + " has added_tokens that is not a list");
            }
            TokenizerClass cls = resolve(dir, tokenizerConfig, config);
            JsonNode tc = tokenizerConfig == null ? NODES.objectNode() : tokenizerConfig;
            if (tc.path("split_special_tokens").asBoolean(false)) {
                throw new TokenizerException(
                        "tokenizer_config.json in "
                                + dir
                                + " sets split_special_tokens: special tokens in a prompt would be"
                                + " tokenized as text; not supported");
            }
            ObjectNode out;
            if (cls == TokenizerClass.BACKEND) {
                out = tokenizerJson.deepCopy();
                LOG.info(
                        "Tokenizer of {}: tokenizer.json as written (transformers' generic backend)",
                        dir);
            } else {
                out = rebuild(dir, cls, tokenizerJson, tc);
                LOG.info(
                        "Tokenizer of {}: the {} pipeline transformers 5 builds around tokenizer.json's"
                                + " vocabulary",
                        dir,
                        cls.transformersName);
            }
            Set<String> specialContents = new HashSet<>();
            addTokens(
                    dir,
                    cls,
                    out,
                    tokenizerJson,
                    tc,
                    specialTokensMap,
                    addedTokensFile,
                    specialContents);
            checkPostProcessor(dir, out.get("post_processor"));
            return new Effective(out, Set.copyOf(specialContents));
        } catch (ClassCastException | UnsupportedOperationException | NumberFormatException e) {
            // a field of the wrong JSON type where transformers expects a list, map or id
            throw new TokenizerException(
                    "Tokenizer files in " + dir + " are malformed: " + e.getMessage(), e);
        }
    }

    /**
     * The prompt is encoded through the post-processor, and the tokenizers library (Rust, inside
     * DJL) does not validate a deserialized TemplateProcessing: a piece naming a special token the
     * template does not define, {@code $B} in the single template, or a special token whose ids and
     * tokens differ in number panic there and abort the whole JVM. Refuse those here.
     */
    static void checkPostProcessor(Path dir, JsonNode pp) {
        if (pp == null || !pp.isObject()) {
            return;
        }
        // The library reads post-processors untagged too: judge by the fields, not by "type".
        for (JsonNode p : pp.path("processors")) {
            checkPostProcessor(dir, p);
        }
        if (!pp.has("single") && !pp.has("pair")) {
            return;
        }
        JsonNode specials = pp.path("special_tokens");
        for (Iterator<Map.Entry<String, JsonNode>> it = specials.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode ids = e.getValue().path("ids");
            JsonNode tokens = e.getValue().path("tokens");
            if (ids.isArray() && tokens.isArray() && ids.size() != tokens.size()) {
                throw new TokenizerException(
                        "tokenizer.json in "
                                + dir
                                + ": the post-processor's special token "
                                + e.getKey()
                                + " has "
                                + ids.size()
                                + " ids but "
                                + tokens.size()
                                + " tokens");
            }
        }
        for (String template : List.of("single", "pair")) {
            for (JsonNode piece : pp.path(template)) {
                JsonNode special = piece.get("SpecialToken");
                if (special != null
                        && special.path("id").isTextual()
                        && !specials.has(special.path("id").asText())) {
                    throw new TokenizerException(
                            "tokenizer.json in "
                                    + dir
                                    + ": the post-processor's "
                                    + template
                                    + " template names special token "
                                    + special.path("id").asText()
                                    + ", which its special_tokens do not define");
                }
                JsonNode sequence = piece.get("Sequence");
                if ("single".equals(template)
                        && sequence != null
                        && "B".equals(sequence.path("id").asText())) {
                    throw new TokenizerException(
                            "tokenizer.json in "
                                    + dir
                                    + ": the post-processor's single template uses the second"
                                    + " sequence $B");
                }
            }
        }
    }

    /** The class AutoTokenizer.from_pretrained instantiates for these configs. */
    static TokenizerClass resolve(Path dir, JsonNode tokenizerConfig, JsonNode config) {
        String modelType = config == null ? "" : config.path("model_type").asText("");
        String configClass =
                tokenizerConfig == null ? null : text(tokenizerConfig, "tokenizer_class");
        JsonNode autoMap = tokenizerConfig == null ? null : tokenizerConfig.get("auto_map");
        if (autoMap != null && !autoMap.isNull() && !HUB_CLASS_OVERRIDDEN.contains(modelType)) {
            throw new TokenizerException(
                    "tokenizer_config.json in "
                            + dir
                            + " has an auto_map: its tokenizer is remote code (trust_remote_code);"
                            + " not supported");
        }
        String nameOrPath =
                config == null ? "" : config.path("_name_or_path").asText("").toLowerCase();
        for (String glob : BACKEND_MODEL_IDS) {
            if (nameOrPath.matches(glob.replace(".", "\\.").replace("*", ".*"))) {
                return TokenizerClass.BACKEND;
            }
        }
        String hub =
                configClass != null
                        ? configClass
                        : config == null ? null : text(config, "tokenizer_class");
        String registered = REGISTERED.get(modelType);
        if (hub != null && registered != null && !stripFast(registered).equals(stripFast(hub))) {
            if (GENERIC.contains(stripFast(registered))) {
                return TokenizerClass.BACKEND;
            }
            String name = HUB_CLASS_OVERRIDDEN.contains(modelType) ? registered : hub;
            return byName(dir, name);
        }
        if (hub != null) {
            return byName(dir, hub);
        }
        return registered == null ? TokenizerClass.BACKEND : byName(dir, registered);
    }

    private static TokenizerClass byName(Path dir, String name) {
        String base = stripFast(name);
        switch (base) {
            case "LlamaTokenizer":
                return TokenizerClass.LLAMA;
            case "GemmaTokenizer":
                return TokenizerClass.GEMMA;
            case "Qwen2Tokenizer":
                return TokenizerClass.QWEN2;
            case "GPT2Tokenizer":
                return TokenizerClass.GPT2;
            case "GPTNeoXTokenizer":
                return TokenizerClass.GPT_NEOX;
            case "CohereTokenizer":
                return TokenizerClass.COHERE;
            case "CodeGenTokenizer":
                // Phi-1/2's tokenizer_config.json names it. Its constructor builds GPT2Tokenizer's
                // pipeline; the ByteLevel post-processor it adds moves offsets only, and the file's
                // post-processor replaces it when there is one.
                return TokenizerClass.GPT2;
            default:
        }
        if (GENERIC.contains(base) || !rebuildingClasses().contains(base)) {
            // transformers falls back to the generic backend for a class it does not know
            return TokenizerClass.BACKEND;
        }
        throw new TokenizerException(
                "Tokenizer class "
                        + name
                        + " (tokenizer_config.json in "
                        + dir
                        + "): transformers 5 builds that tokenizer's pipeline in its own code,"
                        + " which the engine does not replicate; supported classes are"
                        + " LlamaTokenizer, GemmaTokenizer, Qwen2Tokenizer, GPT2Tokenizer,"
                        + " CodeGenTokenizer, GPTNeoXTokenizer, CohereTokenizer and the"
                        + " generic PreTrainedTokenizerFast / TokenizersBackend");
    }

    private static String stripFast(String name) {
        return name.endsWith("Fast") ? name.substring(0, name.length() - 4) : name;
    }

    /** The pipeline a class constructor builds around the file's vocabulary and merges. */
    private static ObjectNode rebuild(Path dir, TokenizerClass cls, JsonNode file, JsonNode tc) {
        JsonNode model = file.path("model");
        String type = model.path("type").asText("");
        if (!"BPE".equals(type)) {
            throw new TokenizerException(
                    "tokenizer.json in "
                            + dir
                            + " has a "
                            + (type.isEmpty() ? "untyped" : type)
                            + " model, but its tokenizer class builds a BPE model from it; not"
                            + " supported");
        }
        ObjectNode out = NODES.objectNode();
        out.put("version", "1.0");
        out.putNull("truncation");
        out.putNull("padding");
        out.putArray("added_tokens");
        ObjectNode bpe = NODES.objectNode();
        bpe.put("type", "BPE");
        bpe.putNull("dropout");
        JsonNode prefixSpace = tc.get("add_prefix_space");
        boolean hasPrefixSpace = prefixSpace != null && !prefixSpace.isNull();
        switch (cls) {
            case LLAMA:
                {
                    boolean prefix = !hasPrefixSpace || prefixSpace.asBoolean();
                    // LlamaTokenizer's legacy defaults to False; _get_prepend_scheme reads it
                    boolean legacy = tc.path("legacy").asBoolean(false);
                    out.putNull("normalizer");
                    out.set(
                            "pre_tokenizer",
                            json(
                                    "{\"type\":\"Metaspace\",\"replacement\":\"\u2581\","
                                            + "\"prepend_scheme\":\""
                                            + (prefix ? (legacy ? "always" : "first") : "never")
                                            + "\",\"split\":false}"));
                    out.set(
                            "decoder",
                            json(
                                    "{\"type\":\"Sequence\",\"decoders\":["
                                            + "{\"type\":\"Replace\",\"pattern\":{\"String\":\"\u2581\"},\"content\":\" \"},"
                                            + "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"}"
                                            + (prefix
                                                    ? ",{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}"
                                                    : "")
                                            + "]}"));
                    bpe.putNull("unk_token");
                    byteFallbackBpe(bpe);
                    break;
                }
            case GEMMA:
                out.set(
                        "normalizer",
                        json(
                                "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\u2581\"}"));
                out.set(
                        "pre_tokenizer",
                        json(
                                "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},"
                                        + "\"behavior\":\"MergedWithPrevious\",\"invert\":false}"));
                out.set(
                        "decoder",
                        json(
                                "{\"type\":\"Sequence\",\"decoders\":["
                                        + "{\"type\":\"Replace\",\"pattern\":{\"String\":\"\u2581\"},\"content\":\" \"},"
                                        + "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"}]}"));
                // GemmaTokenizer passes str(unk_token): a null unk_token becomes the piece "None"
                ObjectNode unk = specialTokens(dir, cls, tc, Map.of()).get("unk_token");
                bpe.put("unk_token", unk == null ? "None" : unk.path("content").asText());
                byteFallbackBpe(bpe);
                break;
            case QWEN2:
            case GPT2:
            case GPT_NEOX:
            case COHERE:
                {
                    boolean prefix = hasPrefixSpace && prefixSpace.asBoolean();
                    ObjectNode byteLevel = NODES.objectNode();
                    byteLevel.put("type", "ByteLevel");
                    byteLevel.put("add_prefix_space", prefix);
                    // trim_offsets moves offsets only (GPT-NeoX's constructor takes it)
                    byteLevel.put(
                            "trim_offsets",
                            cls != TokenizerClass.GPT_NEOX
                                    || tc.path("trim_offsets").asBoolean(true));
                    byteLevel.put("use_regex", cls != TokenizerClass.QWEN2);
                    if (cls == TokenizerClass.GPT2) {
                        out.putNull("normalizer");
                    } else {
                        out.set("normalizer", json("{\"type\":\"NFC\"}"));
                    }
                    if (cls == TokenizerClass.QWEN2) {
                        ObjectNode split = NODES.objectNode();
                        split.put("type", "Split");
                        split.putObject("pattern").put("Regex", QWEN2_SPLIT);
                        split.put("behavior", "Isolated");
                        split.put("invert", false);
                        ObjectNode seq = NODES.objectNode();
                        seq.put("type", "Sequence");
                        seq.putArray("pretokenizers").add(split).add(byteLevel);
                        out.set("pre_tokenizer", seq);
                    } else if (cls == TokenizerClass.COHERE) {
                        // digits one by one, then GPT-2's byte-level split
                        ObjectNode seq = NODES.objectNode();
                        seq.put("type", "Sequence");
                        seq.putArray("pretokenizers")
                                .add(json("{\"type\":\"Digits\",\"individual_digits\":true}"))
                                .add(byteLevel);
                        out.set("pre_tokenizer", seq);
                    } else {
                        out.set("pre_tokenizer", byteLevel);
                    }
                    out.set(
                            "decoder",
                            json(
                                    "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
                                            + "\"trim_offsets\":true,\"use_regex\":true}"));
                    bpe.putNull("unk_token");
                    bpe.put("continuing_subword_prefix", "");
                    bpe.put("end_of_word_suffix", "");
                    bpe.put("fuse_unk", false);
                    bpe.put("byte_fallback", false);
                    break;
                }
            default:
                throw new IllegalStateException(cls.name());
        }
        bpe.put("ignore_merges", false);
        bpe.set("vocab", model.path("vocab").deepCopy());
        bpe.set("merges", model.has("merges") ? model.get("merges").deepCopy() : NODES.arrayNode());
        // the constructor keeps the file's post-processor (convert_to_native_format), but
        // GPTNeoXTokenizer's ends with update_post_processor(): a template from add_bos_token /
        // add_eos_token, which from_pretrained drops when tokenizer.json exists, so it adds nothing
        JsonNode post = file.get("post_processor");
        if (cls == TokenizerClass.GPT_NEOX) {
            out.putNull("post_processor"); // a template of the sequence alone: adds nothing
        } else {
            out.set("post_processor", post == null ? NODES.nullNode() : post.deepCopy());
        }
        out.set("model", bpe);
        return out;
    }

    /** The SentencePiece-style BPE options the Llama and Gemma classes share. */
    private static void byteFallbackBpe(ObjectNode bpe) {
        bpe.putNull("continuing_subword_prefix");
        bpe.putNull("end_of_word_suffix");
        bpe.put("fuse_unk", true);
        bpe.put("byte_fallback", true);
    }

    /**
     * Added tokens as from_pretrained leaves them: the saved added_tokens_decoder (or, without one,
     * the legacy added_tokens.json and tokenizer.json's list), then the special tokens the configs
     * or the class name, each added when its content is new, with the id the tokenizers library
     * gives it (the vocabulary's own id, or the next free one).
     */
    private static void addTokens(
            Path dir,
            TokenizerClass cls,
            ObjectNode out,
            JsonNode file,
            JsonNode tc,
            JsonNode specialTokensMap,
            JsonNode addedTokensFile,
            Set<String> specialContents) {
        Map<String, Integer> vocab = new HashMap<>();
        JsonNode vocabNode = out.path("model").path("vocab");
        int vocabSize = 0;
        if (vocabNode.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = vocabNode.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                vocab.put(e.getKey(), e.getValue().asInt());
            }
            vocabSize = vocab.size();
        } else if (vocabNode.isArray()) {
            int id = 0;
            for (JsonNode entry : vocabNode) {
                vocab.put(entry.path(0).asText(), id++);
            }
            vocabSize = id;
        }
        ArrayNode added = (ArrayNode) out.withArray("added_tokens");
        // The tokenizers library reads the file's list by adding each token in turn: an id the
        // file declares is not kept when the rule gives another (a gap after the vocabulary, say).
        Map<String, ObjectNode> byContent = new LinkedHashMap<>();
        for (JsonNode t : added) {
            add(byContent, specialContents, vocab, vocabSize, (ObjectNode) t);
        }

        // the decoder from_pretrained builds (tokenization_utils_base._from_pretrained)
        TreeMap<Integer, ObjectNode> decoder = new TreeMap<>();
        Map<String, JsonNode> legacySpecials = new HashMap<>();
        JsonNode savedDecoder = tc.get("added_tokens_decoder");
        if (savedDecoder != null && savedDecoder.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = savedDecoder.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                decoder.put(Integer.parseInt(e.getKey()), addedToken(dir, e.getValue()));
            }
        } else {
            if (specialTokensMap != null) {
                for (Iterator<Map.Entry<String, JsonNode>> it = specialTokensMap.fields();
                        it.hasNext(); ) {
                    Map.Entry<String, JsonNode> e = it.next();
                    if (SPECIAL_ATTRIBUTES.contains(e.getKey())
                            || e.getKey().equals("additional_special_tokens")) {
                        legacySpecials.put(e.getKey(), e.getValue());
                    }
                }
            }
            if (addedTokensFile != null) {
                // from_pretrained tests str() of its kwargs here: the standard named tokens
                // (not class defaults, not model-specific ones, not tokenizer_config objects,
                // which are still dicts) and the extra special strings
                Set<String> specials = new HashSet<>();
                specialTokens(dir, cls, tc, legacySpecials)
                        .forEach(
                                (key, t) -> {
                                    if (SPECIAL_ATTRIBUTES.contains(key)
                                            && !t.path(DEFAULT).asBoolean(false)
                                            && !t.path(FROM_CONFIG_OBJECT).asBoolean(false)) {
                                        specials.add(t.path("content").asText());
                                    }
                                });
                extraSpecialTokens(dir, tc, legacySpecials)
                        .forEach(
                                t -> {
                                    if (t.path(STRING).asBoolean(false)) {
                                        specials.add(t.path("content").asText());
                                    }
                                });
                for (Iterator<Map.Entry<String, JsonNode>> it = addedTokensFile.fields();
                        it.hasNext(); ) {
                    Map.Entry<String, JsonNode> e = it.next();
                    boolean special = specials.contains(e.getKey());
                    decoder.put(
                            e.getValue().asInt(),
                            token(e.getKey(), false, false, false, !special, special));
                }
            }
            for (JsonNode t : file.path("added_tokens")) {
                ObjectNode copy = addedToken(dir, t);
                copy.remove("id");
                decoder.put(t.path("id").asInt(), copy);
            }
        }

        // TokenizersBackend.__init__: every decoder token is (re-)added, then the special tokens
        // whose content is new; a token naming a special token is marked special
        Map<String, ObjectNode> named = specialTokens(dir, cls, tc, legacySpecials);
        List<ObjectNode> extras = extraSpecialTokens(dir, tc, legacySpecials);
        Set<String> namedContents = new HashSet<>();
        named.values().forEach(t -> namedContents.add(t.path("content").asText()));
        Set<String> known = new HashSet<>(byContent.keySet());
        decoder.values().forEach(t -> known.add(t.path("content").asText()));
        List<ObjectNode> toAdd = new ArrayList<>(decoder.values());
        List<ObjectNode> candidates = new ArrayList<>(named.values());
        candidates.addAll(extras);
        for (ObjectNode t : candidates) {
            if (known.contains(t.path("content").asText())
                    || toAdd.stream().anyMatch(q -> samePythonToken(q, t))) {
                continue;
            }
            toAdd.add(t);
        }
        for (ObjectNode t : toAdd) {
            boolean special =
                    t.path("special").asBoolean(false)
                            || namedContents.contains(t.path("content").asText());
            ObjectNode token = t.deepCopy();
            token.put("special", special);
            if (!t.has("normalized")) {
                token.put("normalized", !t.path("special").asBoolean(false));
            }
            token.remove(List.of(STRING, FROM_CONFIG_OBJECT, DEFAULT));
            add(byContent, specialContents, vocab, vocabSize, token);
        }
        if (cls == TokenizerClass.QWEN2) {
            // Qwen2Tokenizer's constructor ends with add_tokens(AddedToken(t, special=True)) for
            // all_special_tokens, which resets their properties
            Set<String> all = new java.util.LinkedHashSet<>();
            named.values().forEach(t -> all.add(t.path("content").asText()));
            extras.forEach(t -> all.add(t.path("content").asText()));
            for (String content : all) {
                add(byContent, specialContents, vocab, vocabSize, specialToken(content));
            }
        }
        List<ObjectNode> sorted = new ArrayList<>(byContent.values());
        sorted.sort(java.util.Comparator.comparingInt(t -> t.path("id").asInt()));
        added.removeAll();
        sorted.forEach(added::add);
    }

    /**
     * The tokenizers library's add_tokens for one token: an identical token is skipped, a known
     * content keeps its id and takes the new properties, a new one gets the vocabulary's id for it
     * or the next free id.
     */
    private static void add(
            Map<String, ObjectNode> byContent,
            Set<String> specialContents,
            Map<String, Integer> vocab,
            int vocabSize,
            ObjectNode t) {
        String content = t.path("content").asText();
        if (content.isEmpty()) {
            return;
        }
        if (t.path("special").asBoolean(false)) {
            specialContents.add(content);
        }
        ObjectNode existing = byContent.get(content);
        int id;
        if (existing != null) {
            id = existing.path("id").asInt();
        } else if (vocab.containsKey(content)) {
            id = vocab.get(content);
        } else {
            int max =
                    byContent.values().stream()
                            .mapToInt(e -> e.path("id").asInt())
                            .max()
                            .orElse(-1);
            id = max < 0 ? vocabSize : (max >= vocabSize || vocabSize == 0 ? max + 1 : vocabSize);
        }
        ObjectNode entry = NODES.objectNode();
        entry.put("id", id);
        entry.setAll(token(content, t, t.path("special").asBoolean(false)));
        byContent.put(content, entry);
    }

    /**
     * The named special tokens (bos, eos, unk, sep, pad, cls, mask, then model-specific {@code
     * *_token} strings), from the configs or the class's constructor defaults; null values are left
     * out.
     */
    static Map<String, ObjectNode> specialTokens(
            Path dir, TokenizerClass cls, JsonNode tc, Map<String, JsonNode> legacy) {
        Map<String, String> defaults = CLASS_DEFAULTS.getOrDefault(cls, Map.of());
        Map<String, ObjectNode> out = new LinkedHashMap<>();
        for (String key : SPECIAL_ATTRIBUTES) {
            ObjectNode token;
            if (legacy.containsKey(key)) {
                token = legacyToken(legacy.get(key));
            } else if (tc.has(key)) {
                token = configToken(dir, key, tc.get(key));
            } else {
                token = defaults.containsKey(key) ? specialToken(defaults.get(key)) : null;
                if (token != null) {
                    token.put(DEFAULT, true);
                }
            }
            if (token != null) {
                out.put(key, token);
            }
        }
        // model-specific special tokens: other *_token keys with a string value
        for (Iterator<Map.Entry<String, JsonNode>> it = tc.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!SPECIAL_ATTRIBUTES.contains(e.getKey())
                    && e.getKey().endsWith("_token")
                    && e.getValue().isTextual()) {
                out.put(e.getKey(), specialToken(e.getValue().asText()));
            }
        }
        return out;
    }

    /**
     * A named special token from tokenizer_config.json: a string, or a saved AddedToken ({@code
     * "__type": "AddedToken"}) with its own properties, marked special as a named token is; any
     * other object makes transformers raise (TypeError), so it is refused.
     */
    private static ObjectNode configToken(Path dir, String key, JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isTextual()) {
            return specialToken(node.asText());
        }
        if (node.isObject()
                && "AddedToken".equals(node.path("__type").asText())
                && node.path("content").isTextual()) {
            ObjectNode t =
                    token(
                            node.get("content").asText(),
                            node,
                            node.path("special").asBoolean(false));
            t.put(FROM_CONFIG_OBJECT, true);
            return t;
        }
        throw new TokenizerException(
                "tokenizer_config.json in "
                        + dir
                        + ": "
                        + key
                        + " is neither a string nor a saved AddedToken (transformers raises on it): "
                        + node);
    }

    /** A special_tokens_map.json value: a string, or an object read as AddedToken(special). */
    private static ObjectNode legacyToken(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isTextual()) {
            return specialToken(node.asText());
        }
        return token(node.path("content").asText(), node, true);
    }

    private static List<ObjectNode> extraSpecialTokens(
            Path dir, JsonNode tc, Map<String, JsonNode> legacy) {
        JsonNode extra = tc.get("extra_special_tokens");
        if (extra == null || extra.isNull() || (extra.isArray() && extra.isEmpty())) {
            extra = tc.get("additional_special_tokens");
        }
        if ((extra == null || extra.isNull()) && legacy.containsKey("additional_special_tokens")) {
            extra = legacy.get("additional_special_tokens");
        }
        List<ObjectNode> out = new ArrayList<>();
        if (extra == null || extra.isNull()) {
            return out;
        }
        // a dict is merged into the model-specific tokens
        for (JsonNode v : extra) {
            ObjectNode t = configToken(dir, "extra_special_tokens", v);
            if (t != null) {
                out.add(t);
            }
        }
        return out;
    }

    /** An added token's JSON, as tokenizer.json lists it (without its id). */
    private static ObjectNode token(
            String content,
            boolean singleWord,
            boolean lstrip,
            boolean rstrip,
            boolean normalized,
            boolean special) {
        ObjectNode t = NODES.objectNode();
        t.put("content", content);
        t.put("single_word", singleWord);
        t.put("lstrip", lstrip);
        t.put("rstrip", rstrip);
        t.put("normalized", normalized);
        t.put("special", special);
        return t;
    }

    /** The same, with the properties a saved AddedToken object gives (defaults where absent). */
    private static ObjectNode token(String content, JsonNode props, boolean special) {
        return token(
                content,
                props.path("single_word").asBoolean(false),
                props.path("lstrip").asBoolean(false),
                props.path("rstrip").asBoolean(false),
                props.path("normalized").asBoolean(!special),
                special);
    }

    /** A token given as a plain string: added as AddedToken(content, special=True). */
    private static ObjectNode specialToken(String content) {
        ObjectNode t = token(content, false, false, false, false, true);
        t.put(STRING, true);
        return t;
    }

    /**
     * Python's equality of two queued tokens: strings by value, AddedTokens by every property, a
     * string never equal to an AddedToken.
     */
    private static boolean samePythonToken(ObjectNode a, ObjectNode b) {
        boolean aString = a.path(STRING).asBoolean(false);
        if (aString != b.path(STRING).asBoolean(false)) {
            return false;
        }
        for (String f :
                List.of("content", "single_word", "lstrip", "rstrip", "normalized", "special")) {
            if (!a.path(f).equals(b.path(f)) && !(aString && !f.equals("content"))) {
                return false;
            }
        }
        return true;
    }

    private static ObjectNode addedToken(Path dir, JsonNode node) {
        if (!node.isObject() || !node.path("content").isTextual()) {
            throw new TokenizerException(
                    "tokenizer_config.json in "
                            + dir
                            + " has an added_tokens_decoder entry without a content string: "
                            + node);
        }
        ObjectNode t = ((ObjectNode) node).deepCopy();
        t.remove("__type");
        return t;
    }

    /** A special-token value: a string, or an AddedToken object's content; null if none. */
    static String contentOf(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isTextual()) {
            return node.asText();
        }
        JsonNode content = node.get("content");
        return content != null && content.isTextual() ? content.asText() : null;
    }

    private static String text(JsonNode node, String field) {
        JsonNode v = node.get(field);
        return v != null && v.isTextual() ? v.asText() : null;
    }

    private static JsonNode json(String s) {
        try {
            return JSON.readTree(s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Set<String> rebuildingClasses() {
        Set<String> names = rebuilding;
        if (names == null) {
            names = new HashSet<>();
            try (InputStream in =
                            AutoTokenizerFiles.class.getResourceAsStream(
                                    "transformers-rebuilding-tokenizers.txt");
                    BufferedReader r =
                            new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (!line.isBlank() && !line.startsWith("#")) {
                        names.add(line.trim());
                    }
                }
            } catch (IOException | NullPointerException e) {
                throw new IllegalStateException(
                        "transformers-rebuilding-tokenizers.txt is missing from the engine jar", e);
            }
            rebuilding = names;
        }
        return names;
    }
}
