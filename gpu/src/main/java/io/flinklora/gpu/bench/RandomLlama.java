package io.flinklora.gpu.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Writes a random-weight Llama as a real Hugging Face folder (config.json, model.safetensors,
 * tokenizer.json), so benchmarks run the same loading and forward code as users' models.
 */
@Internal
public final class RandomLlama {
    private RandomLlama() {}

    /** Shape of a generated model. */
    public record Spec(
            int hidden,
            int layers,
            int heads,
            int kvHeads,
            int intermediate,
            int vocab,
            int maxPositions) {
        /** The benchmark model of the engine issue: a GPT-2-small-sized Llama. */
        public static Spec benchmark() {
            return new Spec(768, 12, 12, 12, 2048, 32000, 1024);
        }

        /** A small model for smoke runs of the benchmarks ({@code --quick}). */
        public static Spec quick() {
            return new Spec(256, 4, 4, 4, 512, 4000, 1024);
        }
    }

    /** The benchmarks' model in {@code out}: written once, reused while its spec is unchanged. */
    public static Path benchmarkModel(Path out, boolean quick) throws IOException {
        Files.createDirectories(out);
        return write(
                out.resolve(quick ? "random-llama-quick" : "random-llama"),
                quick ? Spec.quick() : Spec.benchmark(),
                42);
    }

    /**
     * A sparse MLP in every layer, as Mixtral's: {@code experts} experts, {@code perToken} per
     * token.
     */
    public record Moe(int experts, int perToken) {}

    /** Writes the model into {@code dir} unless a model of the same spec is already there. */
    public static Path write(Path dir, Spec spec, long seed) throws IOException {
        return write(dir, spec, null, seed);
    }

    /**
     * Writes the model into {@code dir} unless a model of the same spec is already there: a Llama,
     * or with {@code moe} a Mixtral (its experts of {@code spec.intermediate()} in the hub layout
     * transformers 5's save_pretrained writes: {@code block_sparse_moe.gate} and {@code
     * block_sparse_moe.experts.e.w1 / w3 / w2}).
     */
    public static Path write(Path dir, Spec spec, Moe moe, long seed) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = json.createObjectNode();
        config.putArray("architectures")
                .add(moe == null ? "LlamaForCausalLM" : "MixtralForCausalLM");
        config.put("model_type", moe == null ? "llama" : "mixtral")
                .put("hidden_size", spec.hidden())
                .put("intermediate_size", spec.intermediate())
                .put("num_hidden_layers", spec.layers())
                .put("num_attention_heads", spec.heads())
                .put("num_key_value_heads", spec.kvHeads())
                .put("vocab_size", spec.vocab())
                .put("max_position_embeddings", spec.maxPositions())
                .put("rms_norm_eps", 1e-5)
                .put("rope_theta", 10000.0)
                .put("hidden_act", "silu")
                .put("tie_word_embeddings", false)
                .put("bos_token_id", 1)
                .put("eos_token_id", 2)
                .put("torch_dtype", "float32");
        if (moe != null) {
            config.put("num_local_experts", moe.experts())
                    .put("num_experts_per_tok", moe.perToken())
                    .put("router_jitter_noise", 0.0);
        }
        Path configFile = dir.resolve("config.json");
        // The seed goes beside config.json: the loader refuses fields transformers would not know.
        Path seedFile = dir.resolve("random-seed.txt");
        String text = json.writerWithDefaultPrettyPrinter().writeValueAsString(config);
        if (Files.isRegularFile(configFile)
                && Files.readString(configFile).equals(text)
                && Files.isRegularFile(seedFile)
                && Files.readString(seedFile).equals(String.valueOf(seed))
                && Files.isRegularFile(dir.resolve("model.safetensors"))
                && Files.isRegularFile(dir.resolve("tokenizer.json"))) {
            return dir;
        }
        Files.createDirectories(dir);
        Files.writeString(seedFile, String.valueOf(seed));
        SafetensorsWriter w = new SafetensorsWriter();
        ModelConfig shape =
                new ModelConfig(
                        "LlamaForCausalLM",
                        spec.hidden(),
                        spec.intermediate(),
                        spec.layers(),
                        spec.heads(),
                        spec.kvHeads(),
                        spec.hidden() / spec.heads(),
                        spec.vocab(),
                        spec.maxPositions(),
                        1e-5,
                        io.flinklora.gpu.model.RopeParameters.defaults(10000),
                        false,
                        false,
                        false,
                        false,
                        false,
                        0,
                        ModelConfig.noSlidingLayers(spec.layers()),
                        ModelConfig.Block.llama(spec.hidden() / spec.heads()),
                        1,
                        List.of(2),
                        null,
                        ModelConfig.allRotary(spec.layers()),
                        spec.hidden(),
                        null);
        try (NDManager m = NDManager.newBaseManager()) {
            m.getEngine().setRandomSeed((int) seed);
            add(w, m, "model.embed_tokens.weight", 0.02f, spec.vocab(), spec.hidden());
            add(w, m, "lm_head.weight", 0.02f, spec.vocab(), spec.hidden());
            w.add("model.norm.weight", m.ones(new Shape(spec.hidden())));
            for (int l = 0; l < spec.layers(); l++) {
                w.add(
                        "model.layers." + l + ".input_layernorm.weight",
                        m.ones(new Shape(spec.hidden())));
                w.add(
                        "model.layers." + l + ".post_attention_layernorm.weight",
                        m.ones(new Shape(spec.hidden())));
                for (Projection p : Projection.values()) {
                    if (moe != null && p.ordinal() > Projection.O.ordinal()) {
                        continue;
                    }
                    add(
                            w,
                            m,
                            p.path(l) + ".weight",
                            0.02f,
                            p.outFeatures(shape),
                            p.inFeatures(shape));
                }
                if (moe != null) {
                    String block = "model.layers." + l + ".block_sparse_moe.";
                    add(w, m, block + "gate.weight", 0.02f, moe.experts(), spec.hidden());
                    for (int e = 0; e < moe.experts(); e++) {
                        String expert = block + "experts." + e + ".";
                        add(w, m, expert + "w1.weight", 0.02f, spec.intermediate(), spec.hidden());
                        add(w, m, expert + "w3.weight", 0.02f, spec.intermediate(), spec.hidden());
                        add(w, m, expert + "w2.weight", 0.02f, spec.hidden(), spec.intermediate());
                    }
                }
            }
        }
        w.write(dir.resolve("model.safetensors"));
        writeTokenizer(dir, spec.vocab(), json);
        Files.writeString(configFile, text);
        return dir;
    }

    private static void add(
            SafetensorsWriter w, NDManager m, String name, float std, int rows, int cols) {
        try (NDArray a =
                m.randomNormal(
                        0f, std, new Shape(rows, cols), ai.djl.ndarray.types.DataType.FLOAT32)) {
            w.add(name, a);
        }
    }

    /**
     * A SentencePiece-style BPE vocabulary of the right size: specials, 256 byte pieces, then
     * synthetic words.
     */
    private static void writeTokenizer(Path dir, int vocab, ObjectMapper json) throws IOException {
        ObjectNode root = json.createObjectNode();
        root.put("version", "1.0");
        ArrayNode added = root.putArray("added_tokens");
        String[] specials = {"<unk>", "<s>", "</s>"};
        for (int i = 0; i < specials.length; i++) {
            added.addObject()
                    .put("id", i)
                    .put("content", specials[i])
                    .put("single_word", false)
                    .put("lstrip", false)
                    .put("rstrip", false)
                    .put("normalized", false)
                    .put("special", true);
        }
        ObjectNode norm = root.putObject("normalizer");
        norm.put("type", "Sequence");
        ArrayNode ns = norm.putArray("normalizers");
        ns.addObject().put("type", "Prepend").put("prepend", "\u2581");
        ns.addObject()
                .put("type", "Replace")
                .put("content", "\u2581")
                .putObject("pattern")
                .put("String", " ");
        root.putNull("pre_tokenizer");
        ObjectNode dec = root.putObject("decoder");
        dec.put("type", "Sequence");
        ArrayNode ds = dec.putArray("decoders");
        ds.addObject()
                .put("type", "Replace")
                .put("content", " ")
                .putObject("pattern")
                .put("String", "\u2581");
        ds.addObject().put("type", "ByteFallback");
        ds.addObject().put("type", "Fuse");
        ds.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout");
        model.put("unk_token", "<unk>").put("fuse_unk", true).put("byte_fallback", true);
        ObjectNode v = model.putObject("vocab");
        for (int i = 0; i < specials.length; i++) {
            v.put(specials[i], i);
        }
        for (int b = 0; b < 256; b++) {
            v.put(String.format("<0x%02X>", b), 3 + b);
        }
        for (int i = 259; i < vocab; i++) {
            v.put("\u2581w" + i, i);
        }
        model.putArray("merges");
        Files.writeString(dir.resolve("tokenizer.json"), json.writeValueAsString(root));
        Files.writeString(
                dir.resolve("tokenizer_config.json"),
                "{\"add_bos_token\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}");
    }
}
