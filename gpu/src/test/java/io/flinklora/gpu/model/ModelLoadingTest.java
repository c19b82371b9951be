package io.flinklora.gpu.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.engine.EngineRequest;
import io.flinklora.gpu.engine.TokenEvent;
import io.flinklora.gpu.safetensors.DType;
import io.flinklora.gpu.safetensors.SafetensorsWriter;
import io.flinklora.gpu.safetensors.WeightIndex;
import io.flinklora.gpu.sampling.SamplingParams;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelLoadingTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A config change that removes the field. */
    static final Object REMOVE = new Object();

    /**
     * Copies stories260k into {@code dir}, rewriting its weights (renamed, re-typed, sharded) and
     * config.
     */
    static Path rewrite(
            Path dir,
            DType dtype,
            int shards,
            Map<String, Object> configChanges,
            BiFunction<String, NDArray, NDArray> transform)
            throws IOException {
        Path src = TestModels.stories260k();
        Files.createDirectories(dir);
        for (String f :
                List.of("tokenizer.json", "tokenizer_config.json", "generation_config.json")) {
            Files.copy(src.resolve(f), dir.resolve(f));
        }
        ObjectNode config = (ObjectNode) JSON.readTree(src.resolve("config.json").toFile());
        configChanges.forEach(
                (k, v) -> {
                    if (v == REMOVE) {
                        config.remove(k);
                    } else {
                        config.set(k, JSON.valueToTree(v));
                    }
                });
        Files.writeString(dir.resolve("config.json"), JSON.writeValueAsString(config));
        try (WeightIndex w = WeightIndex.open(src);
                NDManager m = NDManager.newBaseManager()) {
            List<String> names = new ArrayList<>(w.names());
            names.sort(null);
            SafetensorsWriter[] writers = new SafetensorsWriter[shards];
            for (int i = 0; i < shards; i++) {
                writers[i] = new SafetensorsWriter();
            }
            ObjectNode index = JSON.createObjectNode();
            ObjectNode map = index.putObject("weight_map");
            List<NDArray> extra = new ArrayList<>();
            for (int i = 0; i < names.size(); i++) {
                NDArray a =
                        transform.apply(names.get(i), w.load(names.get(i), m, DataType.FLOAT32));
                if (a == null) {
                    continue;
                }
                int shard = i % shards;
                writers[shard].add(names.get(i), dtype, a.getShape().getShape(), a.toFloatArray());
                map.put(names.get(i), shardName(shard, shards));
            }
            for (String n : names) {
                if (n.endsWith("q_proj.weight")
                        || n.endsWith("k_proj.weight")
                        || n.endsWith("v_proj.weight")) {
                    NDArray bias = transform.apply(n.replace(".weight", ".bias"), null);
                    if (bias != null) {
                        writers[0].add(
                                n.replace(".weight", ".bias"),
                                dtype,
                                bias.getShape().getShape(),
                                bias.toFloatArray());
                        map.put(n.replace(".weight", ".bias"), shardName(0, shards));
                        extra.add(bias);
                    }
                }
            }
            for (int i = 0; i < shards; i++) {
                writers[i].write(dir.resolve(shardName(i, shards)));
            }
            if (shards > 1) {
                Files.writeString(
                        dir.resolve("model.safetensors.index.json"),
                        JSON.writeValueAsString(index));
            }
        }
        return dir;
    }

    private static String shardName(int i, int shards) {
        return shards == 1
                ? "model.safetensors"
                : String.format("model-%05d-of-%05d.safetensors", i + 1, shards);
    }

    static int[] greedy(Path model, int n) {
        try (Engine e = Engine.open(EngineConfig.builder(model).maxRunning(1).build())) {
            e.submit(
                    new EngineRequest(
                            "g",
                            e.tokenizer().encode("Tom had a big red ball."),
                            List.of(),
                            SamplingParams.greedy(n).withIgnoreEos(true)));
            List<Integer> ids = new ArrayList<>();
            while (e.hasWork()) {
                for (TokenEvent t : e.step().events()) {
                    ids.add(t.tokenId());
                }
            }
            return ids.stream().mapToInt(Integer::intValue).toArray();
        }
    }

    @Test
    void shardedCheckpointGivesTheSameTokensAsTheSingleFile(@TempDir Path dir) throws IOException {
        Path sharded = rewrite(dir.resolve("m"), DType.F32, 3, Map.of(), (n, a) -> a);
        assertTrue(Files.exists(sharded.resolve("model.safetensors.index.json")));
        assertArrayEquals(greedy(TestModels.stories260k(), 32), greedy(sharded, 32));
    }

    @Test
    void halfPrecisionCheckpointsLoadIntoFloat32Compute(@TempDir Path dir) throws IOException {
        int[] reference = greedy(TestModels.stories260k(), 12);
        for (DType t : new DType[] {DType.F16, DType.BF16}) {
            Path m = rewrite(dir.resolve(t.name()), t, 1, Map.of(), (n, a) -> a);
            int[] got = greedy(m, 12);
            // Rounding the weights moves logits slightly; the first tokens have wide margins.
            assertArrayEquals(
                    java.util.Arrays.copyOf(reference, 6),
                    java.util.Arrays.copyOf(got, 6),
                    t.name());
        }
    }

    @Test
    void mistralAndQwen2LayoutsLoadAndQwen2BiasesAreApplied(@TempDir Path dir) throws IOException {
        int[] reference = greedy(TestModels.stories260k(), 24);
        Path mistral =
                rewrite(
                        dir.resolve("mistral"),
                        DType.F32,
                        1,
                        Map.of(
                                "architectures",
                                List.of("MistralForCausalLM"),
                                "head_dim",
                                8,
                                "sliding_window",
                                4096,
                                "attention_bias",
                                REMOVE,
                                "mlp_bias",
                                REMOVE),
                        (n, a) -> a);
        assertArrayEquals(reference, greedy(mistral, 24));
        try (NDManager m = NDManager.newBaseManager()) {
            Path zeroBias =
                    rewrite(
                            dir.resolve("qwen0"),
                            DType.F32,
                            1,
                            Map.of(
                                    "architectures",
                                    List.of("Qwen2ForCausalLM"),
                                    "attention_bias",
                                    REMOVE,
                                    "mlp_bias",
                                    REMOVE),
                            (n, a) ->
                                    a != null
                                            ? a
                                            : m.zeros(
                                                    new ai.djl.ndarray.types.Shape(
                                                            n.contains("q_proj") ? 64 : 32)));
            assertArrayEquals(reference, greedy(zeroBias, 24), "zero biases change nothing");
            Path biased =
                    rewrite(
                            dir.resolve("qwen1"),
                            DType.F32,
                            1,
                            Map.of(
                                    "architectures",
                                    List.of("Qwen2ForCausalLM"),
                                    "attention_bias",
                                    REMOVE,
                                    "mlp_bias",
                                    REMOVE),
                            (n, a) ->
                                    a != null
                                            ? a
                                            : m.randomNormal(
                                                    0f,
                                                    2f,
                                                    new ai.djl.ndarray.types.Shape(
                                                            n.contains("q_proj") ? 64 : 32),
                                                    DataType.FLOAT32));
            assertTrue(
                    !java.util.Arrays.equals(reference, greedy(biased, 24)),
                    "large q/k/v biases change the output");
        }
    }

    @Test
    void missingTensorWrongShapeAndUnsupportedArchitectureAreNamed(@TempDir Path dir)
            throws IOException {
        Path missing =
                rewrite(
                        dir.resolve("missing"),
                        DType.F32,
                        1,
                        Map.of(),
                        (n, a) -> n.equals("model.layers.2.mlp.up_proj.weight") ? null : a);
        var e1 = assertThrows(ModelFormatException.class, () -> greedy(missing, 1));
        assertTrue(e1.getMessage().contains("model.layers.2.mlp.up_proj.weight"), e1.getMessage());

        Path shape =
                rewrite(
                        dir.resolve("shape"),
                        DType.F32,
                        1,
                        Map.of(),
                        (n, a) ->
                                n.equals("model.layers.1.self_attn.k_proj.weight")
                                        ? a.get("0:16")
                                        : a);
        var e2 = assertThrows(ModelFormatException.class, () -> greedy(shape, 1));
        assertTrue(
                e2.getMessage().contains("model.layers.1.self_attn.k_proj.weight")
                        && e2.getMessage().contains("[16, 64]")
                        && e2.getMessage().contains("[32, 64]"),
                e2.getMessage());

        Path arch =
                rewrite(
                        dir.resolve("arch"),
                        DType.F32,
                        1,
                        Map.of("architectures", List.of("XGLMForCausalLM")),
                        (n, a) -> a);
        var e3 = assertThrows(ModelFormatException.class, () -> greedy(arch, 1));
        assertTrue(e3.getMessage().contains("XGLMForCausalLM"), e3.getMessage());
        assertEquals(true, e3.getMessage().contains("LlamaForCausalLM"), "lists what is supported");
    }

    @Test
    void aTensorTheModelDoesNotUseIsRefusedByName(@TempDir Path dir) throws IOException {
        Path model = rewrite(dir.resolve("extra"), DType.F32, 1, Map.of(), (n, a) -> a);
        SafetensorsWriter w = new SafetensorsWriter();
        try (WeightIndex in = WeightIndex.open(model);
                NDManager m = NDManager.newBaseManager()) {
            for (String n : in.names()) {
                NDArray a = in.load(n, m, DataType.FLOAT32);
                w.add(n, DType.F32, a.getShape().getShape(), a.toFloatArray());
            }
            // An MLP bias: a checkpoint feature this server does not compute.
            w.add("model.layers.1.mlp.down_proj.bias", DType.F32, new long[] {64}, new float[64]);
        }
        w.write(model.resolve("model.safetensors"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> greedy(model, 1));
        assertTrue(e.getMessage().contains("model.layers.1.mlp.down_proj.bias"), e.getMessage());
    }

    /**
     * GPT-NeoX checkpoints of transformers 4 carry each layer's causal-mask buffers ({@code
     * attention.bias}, a bool matrix, and {@code attention.masked_bias}) and rotary {@code
     * inv_freq}: transformers ignores them on load, and so does the engine (same tokens); any other
     * extra tensor is still refused by name.
     */
    @Test
    void gptNeoXMaskBuffersAreIgnoredAsTransformersIgnoresThem(@TempDir Path dir)
            throws IOException {
        Path fixture =
                TestModels.projectRoot().resolve("gpu/src/test/resources/conformance/gpt_neox");
        Path model = configAndTokenizerOf(fixture, dir.resolve("neox"));
        int layers = ModelConfig.read(fixture).numLayers();
        for (String extra : List.of("", "gpt_neox.layers.0.attention.extra")) {
            SafetensorsWriter w = weightsOf(fixture);
            for (int l = 0; l < layers; l++) {
                String pre = "gpt_neox.layers." + l + ".attention.";
                w.add(
                        pre + "bias",
                        DType.BOOL,
                        new long[] {1, 1, 16, 16},
                        java.nio.ByteBuffer.allocate(256));
                w.add(pre + "masked_bias", DType.F32, new long[0], new float[] {-1e9f});
                w.add(pre + "rotary_emb.inv_freq", DType.F32, new long[] {1}, new float[1]);
            }
            if (!extra.isEmpty()) {
                w.add(extra, DType.F32, new long[] {4}, new float[4]);
            }
            w.write(model.resolve("model.safetensors"));
            if (extra.isEmpty()) {
                assertArrayEquals(greedy(fixture, 8), greedy(model, 8));
            } else {
                ModelFormatException e =
                        assertThrows(ModelFormatException.class, () -> greedy(model, 1));
                assertTrue(e.getMessage().contains(extra), e.getMessage());
            }
        }
    }

    /** A folder holding {@code fixture}'s config and tokenizer files, for weights written apart. */
    private static Path configAndTokenizerOf(Path fixture, Path model) throws IOException {
        Files.createDirectories(model);
        for (String f : List.of("config.json", "tokenizer.json", "tokenizer_config.json")) {
            Files.copy(fixture.resolve(f), model.resolve(f));
        }
        return model;
    }

    /** A writer holding every tensor of {@code fixture}'s weights, in float32. */
    private static SafetensorsWriter weightsOf(Path fixture) throws IOException {
        SafetensorsWriter w = new SafetensorsWriter();
        try (WeightIndex in = WeightIndex.open(fixture);
                NDManager m = NDManager.newBaseManager()) {
            for (String n : in.names()) {
                NDArray a = in.load(n, m, DataType.FLOAT32);
                w.add(n, DType.F32, a.getShape().getShape(), a.toFloatArray());
            }
        }
        return w;
    }

    /**
     * GLM-4.5 and GLM-4.5-Air carry a multi-token prediction layer after their decoder layers
     * ({@code model.layers.92} / {@code 46}), which Glm4MoeForCausalLM skips on load by those
     * names: the engine skips them too (same tokens); an extra layer under any other index is
     * refused by name.
     */
    @Test
    void glm4MoeMultiTokenPredictionLayersAreSkippedAsTransformersSkipsThem(@TempDir Path dir)
            throws IOException {
        Path fixture =
                TestModels.projectRoot().resolve("gpu/src/test/resources/conformance/glm4_moe");
        Path model = configAndTokenizerOf(fixture, dir.resolve("glm"));
        int layers = ModelConfig.read(fixture).numLayers();
        for (String extra :
                List.of(
                        "model.layers.46.enorm.weight",
                        "model.layers.92.shared_head.head.weight",
                        "model.layers." + layers + ".enorm.weight")) {
            SafetensorsWriter w = weightsOf(fixture);
            w.add(extra, DType.F32, new long[] {4}, new float[4]);
            w.write(model.resolve("model.safetensors"));
            if (extra.contains(".46.") || extra.contains(".92.")) {
                assertArrayEquals(greedy(fixture, 8), greedy(model, 8), extra);
            } else {
                ModelFormatException e =
                        assertThrows(ModelFormatException.class, () -> greedy(model, 1));
                assertTrue(e.getMessage().contains(extra), e.getMessage());
            }
        }
    }

    @Test
    void configFieldsThatWouldChangeTheComputationAreRefusedByName(@TempDir Path dir)
            throws IOException {
        for (var change :
                List.of(
                        Map.<String, Object>of("use_qk_norm", true),
                        Map.<String, Object>of("attn_logit_softcapping", 50.0),
                        Map.<String, Object>of(
                                "rope_parameters",
                                Map.of("rope_type", "longrope", "rope_theta", 10000.0)),
                        Map.<String, Object>of("partial_rotary_factor", 0.5),
                        Map.<String, Object>of("hidden_act", "laplace"))) {
            String field = change.keySet().iterator().next();
            Path model = rewrite(dir.resolve(field), DType.F32, 1, change, (n, a) -> a);
            ModelFormatException e =
                    assertThrows(ModelFormatException.class, () -> greedy(model, 1), field);
            assertTrue(
                    e.getMessage().contains(field.equals("rope_parameters") ? "longrope" : field),
                    e.getMessage());
        }
    }

    @Test
    void graniteAndSmolLm3ValuesTheirModelsCannotRunAreRefusedByName() throws Exception {
        String shape =
                "\"hidden_size\":64,\"intermediate_size\":172,\"num_hidden_layers\":3,"
                        + "\"num_attention_heads\":8,\"num_key_value_heads\":8,\"vocab_size\":512,\"pad_token_id\":0";
        for (String[] c :
                new String[][] {
                    {"GraniteForCausalLM", "\"logits_scaling\":0", "logits_scaling"},
                    {"GraniteForCausalLM", "\"residual_multiplier\":null", "residual_multiplier"},
                    {"SmolLM3ForCausalLM", "\"no_rope_layers\":[1,2,1]", "no_rope_layers"},
                    {"SmolLM3ForCausalLM", "\"no_rope_layers\":[1,0]", "no_rope_layers"},
                    {
                        "SmolLM3ForCausalLM",
                        "\"no_rope_layer_interval\":0",
                        "no_rope_layer_interval"
                    },
                    // a sliding type without use_sliding_window: SmolLM3's eager and sdpa
                    // attention slide, its flash attention does not
                    {
                        "SmolLM3ForCausalLM",
                        "\"sliding_window\":4,\"layer_types\":"
                                + "[\"full_attention\",\"sliding_attention\",\"full_attention\"]",
                        "use_sliding_window"
                    },
                }) {
            String json = "{\"architectures\":[\"" + c[0] + "\"]," + shape + "," + c[1] + "}";
            assertRefusedNaming(json, c[2]);
        }
        // The same sliding type with the switch on slides that layer; the NoPE layers default to
        // every fourth.
        ModelConfig smol =
                ModelConfig.parse(
                        JSON.readTree(
                                "{\"architectures\":[\"SmolLM3ForCausalLM\"],"
                                        + shape
                                        + ",\"use_sliding_window\":true,\"sliding_window\":4,"
                                        + "\"layer_types\":[\"full_attention\","
                                        + "\"sliding_attention\",\"full_attention\"]}"),
                        "config");
        assertEquals(List.of(false, true, false), smol.slidingLayers());
        assertEquals(List.of(true, true, true), smol.rotaryLayers());
        assertEquals(2_000_000.0, smol.rope().theta(), "SmolLM3Config.default_theta");
    }

    @Test
    void aPadTokenOutsideTheVocabularyIsRefusedAsTransformersCannotBuildTheEmbedding()
            throws Exception {
        String shape =
                "\"hidden_size\":64,\"intermediate_size\":172,\"num_hidden_layers\":3,"
                        + "\"num_attention_heads\":8,\"num_key_value_heads\":8,\"vocab_size\":512";
        // Phi3Config's default pad_token_id is 32000, SmolLM3Config's 128004: outside 512 tokens.
        for (String[] c :
                new String[][] {
                    {"Phi3ForCausalLM", ""},
                    {"SmolLM3ForCausalLM", ""},
                    {"LlamaForCausalLM", ",\"pad_token_id\":512"},
                    {"Qwen2ForCausalLM", ",\"pad_token_id\":-513"},
                }) {
            String json = "{\"architectures\":[\"" + c[0] + "\"]," + shape + c[1] + "}";
            assertRefusedNaming(json, "pad_token_id");
        }
        // nn.Embedding takes a negative index from the end, and null means none.
        for (String pad : List.of("-1", "511", "null")) {
            ModelConfig.parse(
                    JSON.readTree(
                            "{\"architectures\":[\"Phi3ForCausalLM\"],"
                                    + shape
                                    + ",\"pad_token_id\":"
                                    + pad
                                    + "}"),
                    "config");
        }
    }

    @Test
    void configsTheNewerArchitecturesCannotRunAreRefusedByName() throws Exception {
        String shape =
                "\"hidden_size\":64,\"intermediate_size\":172,\"num_hidden_layers\":2,"
                        + "\"num_attention_heads\":8,\"num_key_value_heads\":8,"
                        + "\"vocab_size\":512,\"pad_token_id\":0";
        for (String[] c :
                new String[][] {
                    // MinistralAttention reads head_dim as the config holds it (None by default)
                    {"MinistralForCausalLM", "", "head_dim"},
                    // Helium's o_proj maps hidden_size, whatever heads x head_dim is (default 128)
                    {"HeliumForCausalLM", "", "o_proj"},
                    // Exaone4Config derives layer types by (i + 1) % sliding_window_pattern
                    {
                        "Exaone4ForCausalLM",
                        ",\"sliding_window_pattern\":\"LLLG\"",
                        "sliding_window_pattern"
                    },
                    {
                        "Exaone4ForCausalLM",
                        ",\"sliding_window_pattern\":null",
                        "sliding_window_pattern"
                    },
                    {
                        "Exaone4ForCausalLM",
                        ",\"sliding_window_pattern\":0",
                        "sliding_window_pattern"
                    },
                    {"Exaone4ForCausalLM", ",\"sliding_window\":null", "sliding_window"},
                    {
                        "Exaone4ForCausalLM",
                        ",\"sliding_window\":null,\"layer_types\":"
                                + "[\"sliding_attention\",\"full_attention\"]",
                        "sliding_window"
                    },
                    {"CohereForCausalLM", ",\"logit_scale\":\"Infinity\"", "logit_scale"},
                }) {
            String json = "{\"architectures\":[\"" + c[0] + "\"]," + shape + c[1] + "}";
            assertRefusedNaming(json, c[2]);
        }
        // EXAONE 4 without a window: every layer full attention and rotating.
        ModelConfig exaone =
                ModelConfig.parse(
                        JSON.readTree(
                                "{\"architectures\":[\"Exaone4ForCausalLM\"],"
                                        + shape
                                        + ",\"sliding_window\":null,\"layer_types\":"
                                        + "[\"full_attention\",\"full_attention\"]}"),
                        "config");
        assertEquals(List.of(true, true), exaone.rotaryLayers());
        assertEquals(List.of(false, false), exaone.slidingLayers());
    }

    @Test
    void aNullWindowIsRefusedWhereTransformersBuildsTheSlidingMaskOnEveryForwardPass()
            throws Exception {
        String shape =
                "\"hidden_size\":64,\"intermediate_size\":172,\"num_hidden_layers\":2,"
                        + "\"num_attention_heads\":8,\"num_key_value_heads\":8,\"head_dim\":8,"
                        + "\"vocab_size\":512,\"pad_token_id\":0,\"sliding_window\":null,"
                        + "\"layer_types\":[\"full_attention\",\"full_attention\"]";
        // transformers 5.18: "Could not find a `sliding_window` argument in the config" on any
        // input, although no layer slides.
        for (String arch :
                List.of(
                        "Gemma2ForCausalLM",
                        "Gemma3ForCausalLM",
                        "Olmo3ForCausalLM",
                        "MinistralForCausalLM")) {
            String json = "{\"architectures\":[\"" + arch + "\"]," + shape + "}";
            assertRefusedNaming(json, "sliding_window null");
        }
        // Qwen2 builds that mask only for models with sliding layers: served, nothing slides.
        ModelConfig qwen2 =
                ModelConfig.parse(
                        JSON.readTree("{\"architectures\":[\"Qwen2ForCausalLM\"]," + shape + "}"),
                        "config");
        assertEquals(List.of(false, false), qwen2.slidingLayers());
    }

    @Test
    void phi3ReadsSuAndYarnAsLongRopeAndRefusesTheRotaryTypesPhi3ConfigRefuses() throws Exception {
        String shape =
                "{\"architectures\":[\"Phi3ForCausalLM\"],\"hidden_size\":64,"
                        + "\"intermediate_size\":172,\"num_hidden_layers\":3,"
                        + "\"num_attention_heads\":4,\"vocab_size\":512,\"pad_token_id\":0,"
                        + "\"max_position_embeddings\":256,\"original_max_position_embeddings\":64,";
        String factors = "\"short_factor\":[1,1,1,1,1,1,1,1],\"long_factor\":[2,2,2,2,2,2,2,2]";
        ModelConfig longrope =
                ModelConfig.parse(
                        JSON.readTree(
                                shape
                                        + "\"rope_scaling\":{\"rope_type\":\"longrope\","
                                        + factors
                                        + "}}"),
                        "config");
        assertEquals("longrope", longrope.rope().type());
        // Phi3Config renames su and yarn to longrope: the same rotary embedding.
        for (String legacy :
                List.of(
                        "\"type\":\"su\",\"original_max_position_embeddings\":64,",
                        "\"rope_type\":\"yarn\",")) {
            ModelConfig read =
                    ModelConfig.parse(
                            JSON.readTree(shape + "\"rope_scaling\":{" + legacy + factors + "}}"),
                            "config");
            assertEquals(longrope.rope(), read.rope(), legacy);
        }
        // Phi3Config.validate_rope refuses every other type; su without its own original maximum
        // fails its check.
        for (String[] c :
                new String[][] {
                    {"{\"rope_type\":\"linear\",\"factor\":2.0}", "'linear'"},
                    {"{\"rope_type\":\"dynamic\",\"factor\":2.0}", "'dynamic'"},
                    {
                        "{\"rope_type\":\"llama3\",\"factor\":4.0,\"low_freq_factor\":1.0,"
                                + "\"high_freq_factor\":4.0}",
                        "'llama3'"
                    },
                    {"{\"type\":\"su\"," + factors + "}", "'su'"},
                }) {
            String json = shape + "\"rope_parameters\":" + c[0] + "}";
            assertRefusedNaming(json, c[1]);
        }
    }

    @Test
    void stableLmRefusesAHeadDimItsAttentionDoesNotUseAndDefaultsToAQuarterRotary()
            throws Exception {
        String shape =
                "{\"architectures\":[\"StableLmForCausalLM\"],\"hidden_size\":32,"
                        + "\"intermediate_size\":64,\"num_hidden_layers\":2,"
                        + "\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                        + "\"vocab_size\":512";
        ModelConfig plain = ModelConfig.parse(JSON.readTree(shape + "}"), "config");
        // StableLmConfig's partial_rotary_factor (0.25) of its hidden / heads head_dim (8).
        assertEquals(8, plain.headDim());
        assertEquals(2, plain.rope().rotaryDim(plain.headDim()));
        assertTrue(plain.block().layerNorm() && plain.block().normBias());
        assertEquals(
                8,
                ModelConfig.parse(JSON.readTree(shape + ",\"head_dim\":8}"), "config").headDim());
        // Its attention sizes heads as hidden / heads while its rotary reads head_dim: transformers
        // fails in forward on such a config.
        assertRefusedNaming(shape + ",\"head_dim\":16}", "head_dim (16)");
    }

    @Test
    void olmoClampsQkvOnlyWithAPositiveClipAndKeepsItsFixedEpsilon() throws Exception {
        String shape =
                "{\"architectures\":[\"OlmoForCausalLM\"],\"hidden_size\":32,"
                        + "\"intermediate_size\":64,\"num_hidden_layers\":2,"
                        + "\"num_attention_heads\":4,\"vocab_size\":512";
        ModelConfig plain =
                ModelConfig.parse(
                        JSON.readTree(shape + ",\"clip_qkv\":null,\"rms_norm_eps\":0.001}"),
                        "config");
        assertEquals(0, plain.block().clipQkv());
        // OlmoLayerNorm hard-codes 1e-5 and has no weight: rms_norm_eps is not read.
        assertEquals(1e-5, plain.rmsNormEps());
        assertFalse(plain.normsHaveWeights());
        assertEquals(
                8.0,
                ModelConfig.parse(JSON.readTree(shape + ",\"clip_qkv\":8}"), "config")
                        .block()
                        .clipQkv());
        for (String bad : List.of("0", "-1")) {
            assertRefusedNaming(shape + ",\"clip_qkv\":" + bad + "}", "clip_qkv");
        }
    }

    @Test
    void bothConfigLayoutsAreReadAsTransformersFiveReadsThem() throws Exception {
        String head =
                "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":172,"
                        + "\"num_hidden_layers\":5,\"num_attention_heads\":8,\"vocab_size\":512,";
        // 5.x: theta lives inside rope_parameters (the old reader fell back to 10000 and no
        // scaling).
        ModelConfig v5 =
                ModelConfig.parse(
                        JSON.readTree(
                                head
                                        + "\"rope_parameters\":{\"rope_type\":\"llama3\","
                                        + "\"rope_theta\":500000.0,\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
                                        + "\"original_max_position_embeddings\":8192}}"),
                        "v5");
        assertEquals("llama3", v5.rope().type());
        assertEquals(500000.0, v5.rope().theta());
        ModelConfig v4 =
                ModelConfig.parse(
                        JSON.readTree(
                                head
                                        + "\"rope_theta\":500000.0,\"rope_scaling\":{"
                                        + "\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
                                        + "\"original_max_position_embeddings\":8192}}"),
                        "v4");
        assertEquals(v5.rope(), v4.rope());
        assertArrayEquals(v5.rope().inverseFrequencies(8), v4.rope().inverseFrequencies(8));
        // Without original_max_position_embeddings, transformers uses max_position_embeddings (not
        // 8192).
        ModelConfig noOriginal =
                ModelConfig.parse(
                        JSON.readTree(
                                head
                                        + "\"max_position_embeddings\":1024,"
                                        + "\"rope_parameters\":{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,"
                                        + "\"high_freq_factor\":4.0}}"),
                        "noOriginal");
        assertEquals(1024, noOriginal.rope().originalMaxPositions());
        // Phi3Config has its own original_max_position_embeddings (default 4096), which
        // standardize_rope_params copies over the parameters' value: a file that leaves the
        // top-level one out runs with 4096, not the parameters' 32 (transformers 5.18:
        // AutoConfig gives rope_parameters["original_max_position_embeddings"] == 4096).
        ModelConfig phi3 =
                ModelConfig.parse(
                        JSON.readTree(
                                "{\"architectures\":[\"Phi3ForCausalLM\"],\"hidden_size\":48,"
                                        + "\"intermediate_size\":48,\"num_hidden_layers\":3,"
                                        + "\"num_attention_heads\":2,\"vocab_size\":512,\"pad_token_id\":0,"
                                        + "\"max_position_embeddings\":256,\"rope_parameters\":{"
                                        + "\"rope_type\":\"longrope\",\"rope_theta\":10000.0,"
                                        + "\"partial_rotary_factor\":0.5,"
                                        + "\"original_max_position_embeddings\":32,"
                                        + "\"short_factor\":[2.4,2.7,1.3,1.2,3.7,3.0],"
                                        + "\"long_factor\":[1.6,3.9,2.0,1.9,1.0,3.0]}}"),
                        "phi3");
        assertEquals(4096, phi3.rope().originalMaxPositions());
        assertEquals(false, phi3.rope().usesLongFactors(255), "short factors up to 4096");
        // Per-layer-type parameters that agree are one rotary embedding; ones that differ are
        // refused.
        ModelConfig nested =
                ModelConfig.parse(
                        JSON.readTree(
                                head
                                        + "\"rope_parameters\":{\"full_attention\":"
                                        + "{\"rope_type\":\"default\",\"rope_theta\":1000.0}}}"),
                        "nested");
        assertEquals(1000.0, nested.rope().theta());
        assertThrows(
                ModelFormatException.class,
                () ->
                        ModelConfig.parse(
                                JSON.readTree(
                                        head
                                                + "\"rope_parameters\":{"
                                                + "\"full_attention\":{\"rope_type\":\"default\",\"rope_theta\":1000.0},"
                                                + "\"sliding_attention\":{\"rope_type\":\"default\",\"rope_theta\":10.0}}}"),
                                "differ"));
        // Llama's attention_bias covers the output projection too.
        ModelConfig biased =
                ModelConfig.parse(JSON.readTree(head + "\"attention_bias\":true}"), "bias");
        assertTrue(biased.qkvBias() && biased.oBias());
    }

    @Test
    void fieldsTransformersFiveReadsAsNoOpOrDifferentlyAreReadItsWay() throws Exception {
        String shape =
                "\"hidden_size\":64,\"intermediate_size\":172,\"num_hidden_layers\":3,"
                        + "\"num_attention_heads\":8,\"num_key_value_heads\":8,\"vocab_size\":512,\"pad_token_id\":0,";
        // Phi3Config always saves original_max_position_embeddings; the default rotary never reads
        // it (Phi-3-mini-4k's config.json).
        ModelConfig phi3 =
                ModelConfig.parse(
                        JSON.readTree(
                                "{\"architectures\":[\"Phi3ForCausalLM\"],"
                                        + shape
                                        + "\"original_max_position_embeddings\":4096,"
                                        + "\"max_position_embeddings\":4096,\"rope_scaling\":null}"),
                        "phi3");
        assertEquals("default", phi3.rope().type());
        assertEquals(8, phi3.rope().rotaryDim(8));
        // Phi-3's partial rotary (4.x layout: top level): the leading 6 of 8 dimensions rotate.
        ModelConfig partial =
                ModelConfig.parse(
                        JSON.readTree(
                                "{\"architectures\":[\"Phi3ForCausalLM\"],"
                                        + shape
                                        + "\"partial_rotary_factor\":0.75}"),
                        "partial");
        assertEquals(6, partial.rope().rotaryDim(8));
        float[] cos = LlamaModel.ropeTables(partial, 4)[0];
        assertEquals(1f, cos[3 * 8 + 6]);
        assertEquals(1f, cos[3 * 8 + 7]);
        assertTrue(cos[3 * 8] != 1f);
        // The other architectures' attention multiplies whole heads: transformers fails on it.
        ModelFormatException llama =
                assertThrows(
                        ModelFormatException.class,
                        () ->
                                ModelConfig.parse(
                                        JSON.readTree(
                                                "{\"architectures\":[\"LlamaForCausalLM\"],"
                                                        + shape
                                                        + "\"partial_rotary_factor\":0.5}"),
                                        "llama"));
        assertTrue(llama.getMessage().contains("partial_rotary_factor"), llama.getMessage());
        // Qwen2 in the 4.x layout (no layer_types): max_window_layers 0 slides every layer.
        ModelConfig qwen2 =
                ModelConfig.parse(
                        JSON.readTree(
                                "{\"architectures\":[\"Qwen2ForCausalLM\"],"
                                        + shape
                                        + "\"use_sliding_window\":true,\"sliding_window\":16,"
                                        + "\"max_window_layers\":0}"),
                        "qwen2");
        assertEquals(List.of(true, true, true), qwen2.slidingLayers());
        // A sliding layer type without a window (use_sliding_window absent): transformers 5 keeps
        // the type, drops the window and fails in forward and generate.
        ModelFormatException noWindow =
                assertThrows(
                        ModelFormatException.class,
                        () ->
                                ModelConfig.parse(
                                        JSON.readTree(
                                                "{\"architectures\":[\"Qwen2ForCausalLM\"],"
                                                        + shape
                                                        + "\"sliding_window\":6,\"layer_types\":"
                                                        + "[\"full_attention\",\"sliding_attention\","
                                                        + "\"full_attention\"]}"),
                                        "qwen2"));
        assertTrue(
                noWindow.getMessage().contains("layer 1 sliding_attention"), noWindow.getMessage());
        // Gemma 3: transformers 5 stores attn_logit_softcapping but never applies it; Google's
        // code does. Refused rather than served one way.
        ModelFormatException softcap =
                assertThrows(
                        ModelFormatException.class,
                        () ->
                                ModelConfig.parse(
                                        JSON.readTree(
                                                "{\"architectures\":[\"Gemma3ForCausalLM\"],"
                                                        + shape
                                                        + "\"head_dim\":8,"
                                                        + "\"attn_logit_softcapping\":50.0}"),
                                        "gemma3"));
        assertTrue(softcap.getMessage().contains("attn_logit_softcapping"), softcap.getMessage());
        // Gemma: transformers 4 applied hidden_activation, 5 reads hidden_act ("gelu" = tanh).
        String gemma = "{\"architectures\":[\"GemmaForCausalLM\"]," + shape + "\"head_dim\":8,";
        ModelConfig agree =
                ModelConfig.parse(
                        JSON.readTree(
                                gemma
                                        + "\"hidden_act\":\"gelu\","
                                        + "\"hidden_activation\":\"gelu_pytorch_tanh\"}"),
                        "agree");
        assertEquals(ModelConfig.Activation.GELU_TANH, agree.block().activation());
        ModelFormatException differ =
                assertThrows(
                        ModelFormatException.class,
                        () ->
                                ModelConfig.parse(
                                        JSON.readTree(
                                                gemma
                                                        + "\"hidden_act\":\"gelu_pytorch_tanh\","
                                                        + "\"hidden_activation\":\"gelu\"}"),
                                        "differ"));
        assertTrue(differ.getMessage().contains("hidden_activation"), differ.getMessage());
        // Llama-family MLPs take ACT2FN[hidden_act] and Llama's mlp_bias.
        ModelConfig gelu =
                ModelConfig.parse(
                        JSON.readTree(
                                "{\"architectures\":[\"LlamaForCausalLM\"],"
                                        + shape
                                        + "\"hidden_act\":\"gelu\",\"mlp_bias\":true}"),
                        "gelu");
        assertEquals(ModelConfig.Activation.GELU, gelu.block().activation());
        assertTrue(gelu.mlpBias());
    }

    @Test
    void anEosTokenListStopsOnAnyOfItsIdsInTheFileGenerateReads(@TempDir Path dir)
            throws IOException {
        int[] reference = greedy(TestModels.stories260k(), 12);
        int target = reference[5];
        int expectedLength = 0;
        while (reference[expectedLength] != target) {
            expectedLength++;
        }
        expectedLength++;
        Path inConfig =
                rewrite(
                        dir.resolve("config"),
                        DType.F32,
                        1,
                        Map.of("eos_token_id", List.of(2, target)),
                        (n, a) -> a);
        // Beside generation_config.json (stories260k's: eos 2 only) config.json's ids stop nothing,
        // as in transformers' generate; without that file they are the ones generate reads.
        assertEquals(12, untilStop(inConfig).length);
        Files.delete(inConfig.resolve("generation_config.json"));
        assertEquals(expectedLength, untilStop(inConfig).length);
        Path inGeneration = rewrite(dir.resolve("generation"), DType.F32, 1, Map.of(), (n, a) -> a);
        Files.writeString(
                inGeneration.resolve("generation_config.json"),
                "{\"eos_token_id\": [2, " + target + "]}");
        assertEquals(expectedLength, untilStop(inGeneration).length);
    }

    static int[] untilStop(Path model) {
        try (Engine e = Engine.open(EngineConfig.builder(model).maxRunning(1).build())) {
            e.submit(
                    new EngineRequest(
                            "g",
                            e.tokenizer().encode("Tom had a big red ball."),
                            List.of(),
                            SamplingParams.greedy(12)));
            List<Integer> ids = new ArrayList<>();
            while (e.hasWork()) {
                for (TokenEvent t : e.step().events()) {
                    ids.add(t.tokenId());
                }
            }
            return ids.stream().mapToInt(Integer::intValue).toArray();
        }
    }

    /** The config is refused with a message naming {@code what}. */
    private static void assertRefusedNaming(String json, String what) {
        ModelFormatException e =
                assertThrows(
                        ModelFormatException.class,
                        () -> ModelConfig.parse(JSON.readTree(json), "config"),
                        json);
        assertTrue(e.getMessage().contains(what), e.getMessage());
    }
}
