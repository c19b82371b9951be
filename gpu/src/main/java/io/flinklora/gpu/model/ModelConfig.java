package io.flinklora.gpu.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.BooleanNode;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.flinklora.annotation.Internal;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A Hugging Face {@code config.json} of a supported decoder-only architecture, validated.
 *
 * @param architecture one of {@link #SUPPORTED_ARCHITECTURES}
 *     <p>Fields are read as transformers 5 reads them, in either layout (4.x top-level rotary keys
 *     or 5.x {@code rope_parameters}); a field outside {@link ModelFields} is refused by name.
 * @param rope rotary embedding parameters
 * @param qkvBias whether q/k/v projections carry biases (always for Qwen2, {@code attention_bias}
 *     for Llama)
 * @param oBias whether the attention output projection carries a bias ({@code attention_bias} for
 *     Llama, Qwen3)
 * @param mlpBias whether the gate, up and down projections carry biases (Llama's {@code mlp_bias})
 * @param qkNorm whether queries and keys get a per-head RMSNorm before rotary (Qwen3's and Gemma
 *     3's q_norm, k_norm)
 * @param slidingWindow the attention window of the sliding layers (a query sees itself and the
 *     {@code slidingWindow - 1} positions before it), 0 when no layer slides
 * @param slidingLayers per layer, whether it uses the window
 * @param block the decoder block's variant (activation, norms, scales, soft-capping)
 * @param slidingRope the rotary embedding of the sliding layers where it differs from {@code rope}
 *     (Gemma 3's local rotary), else null
 * @param rotaryLayers per layer, whether queries and keys rotate (false: SmolLM3's NoPE layers)
 * @param embeddingWidth the width of the token embeddings and of the output head's input: {@code
 *     hiddenSize}, or OPT's {@code word_embed_proj_dim}, which {@code project_in} and {@code
 *     project_out} map to and from the decoder's width
 */
@Internal
public record ModelConfig(
        String architecture,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int vocabSize,
        int maxPositions,
        double rmsNormEps,
        RopeParameters rope,
        boolean tieWordEmbeddings,
        boolean qkvBias,
        boolean oBias,
        boolean mlpBias,
        boolean qkNorm,
        int slidingWindow,
        List<Boolean> slidingLayers,
        Block block,
        int bosTokenId,
        List<Integer> eosTokenIds,
        RopeParameters slidingRope,
        List<Boolean> rotaryLayers,
        int embeddingWidth,
        Experts experts) {

    /**
     * A sparse mixture-of-experts MLP (Mixtral, Qwen3-MoE): {@code count} experts, each a gated MLP
     * {@code intermediate} wide, of which a router picks {@code perToken} for each token, their
     * outputs weighted by the router's softmax over the picked ones (renormalized to sum to 1 when
     * {@code normalizeTopK}), the weighted outputs summed in float32 ({@code float32Sum}, Mixtral's
     * router keeps its float32 weights) or in the compute dtype (Qwen3-MoE casts them back). The
     * layers {@code sparse} marks use it; the others keep the dense MLP ({@code
     * intermediate_size}). {@code sharedIntermediate}: the width of a shared expert every token
     * passes through beside the routed ones (0: none): Qwen2-MoE's {@code mlp.shared_expert}, its
     * output times a sigmoid gate, or, when {@code sharedFused}, GraniteMoeShared's {@code
     * shared_mlp}, one {@code input_linear} fusing gate and up, its output added ungated. {@code
     * gptOss}: GPT-OSS's variant: the router has a bias and picks by logits, softmaxing only the
     * picked ones; each expert's gate_up and down carry biases, its gate and up interleave in
     * gate_up's columns, and it computes {@code (clamp(up, -7, 7) + 1) * g * sigmoid(1.702 g)} with
     * {@code g = min(gate, 7)}. {@code grouped}: GLM-4-MoE's group-limited sigmoid router ({@link
     * Routing#SIGMOID_GROUPED_TOP_K}), null elsewhere. {@code normMin}: ERNIE 4.5's floor under the
     * picked weights' sum ({@link Routing#SOFTMAX_CORRECTED_TOP_K}); {@code sharedBias}: its
     * use_bias on the shared experts' projections.
     */
    public record Experts(
            int count,
            int perToken,
            boolean normalizeTopK,
            int intermediate,
            boolean float32Sum,
            List<Boolean> sparse,
            int sharedIntermediate,
            boolean sharedFused,
            boolean gptOss,
            Routing routing,
            Grouped grouped,
            double normMin,
            boolean sharedBias) {
        public Experts {
            sparse = List.copyOf(sparse);
        }

        /**
         * GLM-4-MoE's router (Glm4MoeTopkRouter, DeepSeek-V3's): the experts split into {@code
         * groups} equal groups, each scored by the sum of its two best corrected scores; the {@code
         * topKGroups} best groups alone compete; the picked weights (renormalized when {@code
         * normalizeTopK}, plus 1e-20) times {@code scale} ({@code routed_scaling_factor}).
         */
        public record Grouped(int groups, int topKGroups, double scale) {}

        /**
         * How the router weighs the picked experts: a softmax over all experts in float32 then the
         * top k (Mixtral, Qwen-MoE, OLMoE); the top k logits then a softmax over them, in the
         * logits' dtype (GPT-OSS) or in float32 cast back (GraniteMoE).
         */
        public enum Routing {
            SOFTMAX_THEN_TOP_K,
            TOP_K_THEN_SOFTMAX,
            TOP_K_THEN_FLOAT32_SOFTMAX,
            /**
             * ERNIE 4.5's MoE (Ernie4_5_MoeTopKRouter): a softmax over float32 logits; each token's
             * top k by the probabilities plus a per-expert correction ({@code moe_statics}); the
             * picked probabilities divided by their sum (at least {@code normMin}), cast to the
             * compute dtype.
             */
            SOFTMAX_CORRECTED_TOP_K,
            /**
             * GLM-4-MoE: float32 logits, their sigmoid as scores; each token's top k by the scores
             * plus a per-expert correction ({@code e_score_correction_bias}) within its best groups
             * ({@link Grouped}); the picked experts weighted by their uncorrected scores.
             */
            SIGMOID_GROUPED_TOP_K
        }

        /** Experts in every layer, without a shared expert. */
        static Experts everyLayer(
                int[] countAndPerToken,
                boolean normalizeTopK,
                int intermediate,
                boolean float32Sum,
                int layers,
                boolean gptOss,
                Routing routing) {
            return new Experts(
                    countAndPerToken[0],
                    countAndPerToken[1],
                    normalizeTopK,
                    intermediate,
                    float32Sum,
                    java.util.Collections.nCopies(layers, true),
                    0,
                    false,
                    gptOss,
                    routing,
                    null,
                    0,
                    false);
        }

        /** The same experts with GraniteMoeShared's shared MLP {@code width} wide (0: none). */
        Experts withFusedShared(int width) {
            return new Experts(
                    count,
                    perToken,
                    normalizeTopK,
                    intermediate,
                    float32Sum,
                    sparse,
                    width,
                    width > 0,
                    gptOss,
                    routing,
                    grouped,
                    normMin,
                    sharedBias);
        }

        /** Whether layer {@code l} routes through the experts. */
        public boolean sparse(int l) {
            return sparse.get(l);
        }

        /**
         * Whether the router adds a per-expert score correction (GLM-4-MoE's, dots.llm1's and ERNIE
         * 4.5's {@code e_score_correction_bias}) and the shared experts, if any, sit in {@code
         * mlp.shared_experts} without a gate.
         */
        public boolean corrected() {
            return grouped != null || routing == Routing.SOFTMAX_CORRECTED_TOP_K;
        }
    }

    public static final Set<String> SUPPORTED_ARCHITECTURES =
            Set.of(
                    "LlamaForCausalLM",
                    "MistralForCausalLM",
                    "Qwen2ForCausalLM",
                    "Qwen3ForCausalLM",
                    "GemmaForCausalLM",
                    "Gemma2ForCausalLM",
                    "VaultGemmaForCausalLM",
                    "Gemma3ForCausalLM",
                    "Phi3ForCausalLM",
                    "GraniteForCausalLM",
                    "SmolLM3ForCausalLM",
                    "Olmo2ForCausalLM",
                    "Olmo3ForCausalLM",
                    "MinistralForCausalLM",
                    "Ministral3ForCausalLM",
                    "HeliumForCausalLM",
                    "Ernie4_5ForCausalLM",
                    "SeedOssForCausalLM",
                    "GlmForCausalLM",
                    "Glm4ForCausalLM",
                    "Exaone4ForCausalLM",
                    "CohereForCausalLM",
                    "Cohere2ForCausalLM",
                    "StableLmForCausalLM",
                    "OlmoForCausalLM",
                    "Starcoder2ForCausalLM",
                    "PhiForCausalLM",
                    "NemotronForCausalLM",
                    "ArceeForCausalLM",
                    "Jais2ForCausalLM",
                    "HunYuanDenseV1ForCausalLM",
                    "NanoChatForCausalLM",
                    "CwmForCausalLM",
                    "GPTNeoXForCausalLM",
                    "PersimmonForCausalLM",
                    "GPT2LMHeadModel",
                    "OPTForCausalLM",
                    "GPTBigCodeForCausalLM",
                    "BloomForCausalLM",
                    "GPTJForCausalLM",
                    "GPTNeoForCausalLM",
                    "FalconForCausalLM",
                    "MptForCausalLM",
                    "CodeGenForCausalLM",
                    "MixtralForCausalLM",
                    "Qwen3MoeForCausalLM",
                    "OlmoeForCausalLM",
                    "FlexOlmoForCausalLM",
                    "Qwen2MoeForCausalLM",
                    "GptOssForCausalLM",
                    "GraniteMoeForCausalLM",
                    "GraniteMoeSharedForCausalLM",
                    "Glm4MoeForCausalLM",
                    "Dots1ForCausalLM",
                    "ApertusForCausalLM",
                    "Ernie4_5_MoeForCausalLM");

    /** The MLP's activation, by its transformers name. */
    public enum Activation {
        SILU("silu"),
        GELU("gelu"),
        GELU_TANH("gelu_pytorch_tanh"),
        RELU("relu"),
        RELU2("relu2"),
        QUICK_GELU("quick_gelu"),
        /**
         * Apertus's xIELU (XIELUActivation): learned per layer, its parameters and constants loaded
         * from each MLP's {@code act_fn}.
         */
        XIELU("xielu");

        private final String hfName;

        Activation(String hfName) {
            this.hfName = hfName;
        }

        static Activation byName(String name, String source) {
            if (name.equals("swish")) {
                return SILU; // ACT2FN["swish"] is the same SiLU module
            }
            if (name.equals("gelu_new") || name.equals("gelu_fast")) {
                // ACT2FN["gelu_new"] (NewGELUActivation) is the tanh approximation written out:
                // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), as GELU_TANH computes it.
                // ACT2FN["gelu_fast"] (FastGELUActivation, GPT-NeoX-20B's) is the same formula
                // with sqrt(2 / pi) written as 0.7978845608 and the cube factored: within a float
                // rounding of the others (2.4e-7 apart on 1e6 draws of N(0, 16)).
                return GELU_TANH;
            }
            for (Activation a : values()) {
                if (a.hfName.equals(name)) {
                    return a;
                }
            }
            throw new ModelFormatException(
                    source
                            + ": unsupported activation '"
                            + name
                            + "' (supported: silu, swish, gelu, gelu_pytorch_tanh, gelu_new,"
                            + " gelu_fast, relu, relu2, quick_gelu; xielu for Apertus)");
        }
    }

    /**
     * How a decoder block computes beyond the Llama shape: Gemma scales embeddings by sqrt(hidden),
     * uses RMSNorm weights as (1 + w), GeGLU, and Gemma 2 and 3 add norms after attention and
     * around the MLP, a query scale from {@code query_pre_attn_scalar} and tanh soft-capping of
     * attention scores and final logits (0: none). Granite scales embeddings by {@code
     * embedding_multiplier}, queries by {@code attention_multiplier}, each block's attention and
     * MLP output by {@code residual_multiplier} before its residual add ({@code residualScale}) and
     * divides the logits by {@code logits_scaling} ({@code logitsScaling}). OLMo 2 has no norm
     * before attention or the MLP: it norms their outputs before each residual add, and its q/k
     * norms span the whole projection rather than each head ({@code postNormsOnly}). Cohere runs
     * attention and the MLP side by side on one mean-centred LayerNorm ({@code parallel}, {@code
     * layerNorm}) and multiplies the logits by {@code logit_scale} ({@code logitScale}). StableLM's
     * LayerNorms add a bias ({@code normBias}). OLMo clamps q, k and v to {@code [-clipQkv,
     * clipQkv]} after their projections (0: no clamp).
     */
    public record Block(
            Activation activation,
            float embedScale,
            boolean normPlusOne,
            boolean sandwichNorms,
            double attentionScale,
            double attentionSoftcap,
            double finalSoftcap,
            double residualScale,
            double logitsScaling,
            boolean postNormsOnly,
            boolean interleavedRotary,
            boolean parallel,
            boolean layerNorm,
            boolean normBias,
            double logitScale,
            double clipQkv,
            boolean twoNormParallel,
            boolean inverseLayerScale,
            boolean postLayerNorm,
            boolean finalNorm,
            boolean residualFromNorm) {
        public static Block llama(int headDim) {
            return llama(headDim, Activation.SILU);
        }

        /** The plain block with the config's {@code hidden_act}. */
        public static Block llama(int headDim, Activation activation) {
            return Block.of(
                    activation, 1f, false, false, 1.0 / Math.sqrt(headDim), 0, 0, 1, 1, false);
        }

        /**
         * A block in the shapes the plain, Gemma, Granite and OLMo 2 blocks vary (the others come
         * from the withers): no parallel block, RMSNorms, no logit scale or clamp.
         */
        static Block of(
                Activation activation,
                float embedScale,
                boolean normPlusOne,
                boolean sandwichNorms,
                double attentionScale,
                double attentionSoftcap,
                double finalSoftcap,
                double residualScale,
                double logitsScaling,
                boolean postNormsOnly) {
            return new Block(
                    activation,
                    embedScale,
                    normPlusOne,
                    sandwichNorms,
                    attentionScale,
                    attentionSoftcap,
                    finalSoftcap,
                    residualScale,
                    logitsScaling,
                    postNormsOnly,
                    false,
                    false,
                    false,
                    false,
                    1.0,
                    0,
                    false,
                    false,
                    false,
                    true,
                    false);
        }

        /** The same block with q, k and v clamped to {@code [-clip, clip]} (0: not clamped). */
        public Block withClipQkv(double clip) {
            return with(
                    sandwichNorms,
                    interleavedRotary,
                    parallel,
                    layerNorm,
                    normBias,
                    logitScale,
                    clip);
        }

        /** The same block with a norm after attention and around the MLP (GLM-4). */
        public Block withSandwichNorms() {
            return with(
                    true, interleavedRotary, parallel, layerNorm, normBias, logitScale, clipQkv);
        }

        /**
         * Cohere's block: attention and MLP read one LayerNorm of the residual stream and both add
         * to it; mean-centred LayerNorms without bias; a rotary over adjacent pairs; logits times
         * {@code logit_scale}.
         */
        public Block withCohere(double logitScale) {
            return with(sandwichNorms, true, true, true, false, logitScale, clipQkv);
        }

        /**
         * StableLM's block: LayerNorms with a bias, and with {@code use_parallel_residual}
         * attention and the MLP side by side on the input norm (no norm before the MLP).
         */
        public Block withStableLm(boolean parallelResidual) {
            return with(
                    sandwichNorms,
                    interleavedRotary,
                    parallelResidual,
                    true,
                    true,
                    logitScale,
                    clipQkv);
        }

        /** The same block behind LayerNorms with a bias (Starcoder2, Nemotron). */
        public Block withBiasedLayerNorms() {
            return with(
                    sandwichNorms, interleavedRotary, parallel, true, true, logitScale, clipQkv);
        }

        /**
         * OLMo's block: LayerNorms without weight or bias, and q, k and v clamped to {@code [-clip,
         * clip]} (0: not clamped).
         */
        public Block withOlmo(double clip) {
            return with(sandwichNorms, interleavedRotary, parallel, true, false, logitScale, clip);
        }

        /**
         * The same block rotating adjacent pairs of each head's dimensions (GPT-J style: Helium,
         * ERNIE 4.5, GLM) instead of its two halves.
         */
        public Block withInterleavedRotary() {
            return with(sandwichNorms, true, parallel, layerNorm, normBias, logitScale, clipQkv);
        }

        private Block with(
                boolean sandwich,
                boolean interleaved,
                boolean parallelBlock,
                boolean layerNorms,
                boolean biasedNorms,
                double scale,
                double clip) {
            return new Block(
                    activation,
                    embedScale,
                    normPlusOne,
                    sandwich,
                    attentionScale,
                    attentionSoftcap,
                    finalSoftcap,
                    residualScale,
                    logitsScaling,
                    postNormsOnly,
                    interleaved,
                    parallelBlock,
                    layerNorms,
                    biasedNorms,
                    scale,
                    clip,
                    twoNormParallel,
                    inverseLayerScale,
                    postLayerNorm,
                    finalNorm,
                    residualFromNorm);
        }

        /**
         * Bloom's {@code apply_residual_connection_post_layernorm}: each sublayer's output joins
         * its input norm's output, not the residual stream it read.
         */
        public Block withResidualFromNorm() {
            return withLayerForm(inverseLayerScale, postLayerNorm, finalNorm, true);
        }

        /**
         * GPT-NeoX's block: LayerNorms with a bias, and with {@code use_parallel_residual}
         * attention and the MLP side by side, each behind its own norm of the residual stream
         * ({@code input_layernorm}, {@code post_attention_layernorm}).
         */
        public Block withGptNeoX(boolean parallelResidual) {
            return new Block(
                    activation,
                    embedScale,
                    normPlusOne,
                    sandwichNorms,
                    attentionScale,
                    attentionSoftcap,
                    finalSoftcap,
                    residualScale,
                    logitsScaling,
                    postNormsOnly,
                    interleavedRotary,
                    false,
                    true,
                    true,
                    logitScale,
                    clipQkv,
                    parallelResidual,
                    inverseLayerScale,
                    postLayerNorm,
                    finalNorm,
                    residualFromNorm);
        }

        /**
         * The same block with layer {@code l}'s attention scale divided by {@code l + 1} (GPT-2's
         * {@code scale_attn_by_inverse_layer_idx}).
         */
        public Block withInverseLayerScale() {
            return withLayerForm(true, postLayerNorm, finalNorm, residualFromNorm);
        }

        /**
         * OPT's block: with {@code postLayerNorm} ({@code do_layer_norm_before} false) each
         * sublayer reads the residual stream as it is and the sum is normed after its residual add;
         * without {@code finalNorm} no norm stands before the output head.
         */
        public Block withOpt(boolean postLayerNorm, boolean finalNorm) {
            return withLayerForm(inverseLayerScale, postLayerNorm, finalNorm, residualFromNorm);
        }

        private Block withLayerForm(
                boolean inverse, boolean postNorm, boolean finalNormed, boolean normResidual) {
            return new Block(
                    activation,
                    embedScale,
                    normPlusOne,
                    sandwichNorms,
                    attentionScale,
                    attentionSoftcap,
                    finalSoftcap,
                    residualScale,
                    logitsScaling,
                    postNormsOnly,
                    interleavedRotary,
                    parallel,
                    layerNorm,
                    normBias,
                    logitScale,
                    clipQkv,
                    twoNormParallel,
                    inverse,
                    postNorm,
                    finalNormed,
                    normResidual);
        }
    }

    // Per architecture, the fields whose explicit null transformers 5's config class refuses
    // (generated by make_config_defaults_cases.py from transformers itself).
    private static volatile JsonNode nonNullable;

    /**
     * Refuses an explicit null where transformers refuses it: reading it as an absent field would
     * serve a model transformers does not load.
     */
    private static void refuseNulls(JsonNode root, String arch, String source) {
        JsonNode table = nonNullable;
        if (table == null) {
            try (java.io.InputStream in =
                    ModelConfig.class.getResourceAsStream(
                            "transformers-non-nullable-config-fields.json")) {
                table = new ObjectMapper().readTree(in);
            } catch (IOException | IllegalArgumentException e) {
                throw new IllegalStateException(
                        "transformers-non-nullable-config-fields.json is missing from the engine jar",
                        e);
            }
            nonNullable = table;
        }
        List<String> nulls = new ArrayList<>();
        for (JsonNode f : table.path(arch)) {
            if (root.has(f.asText()) && root.get(f.asText()).isNull()) {
                nulls.add(f.asText());
            }
        }
        if (!nulls.isEmpty()) {
            throw new ModelFormatException(
                    source
                            + ": "
                            + nulls
                            + " may not be null for "
                            + arch
                            + " (transformers 5 refuses the config); give a value or leave the"
                            + " field out");
        }
    }

    /**
     * Granite's four multipliers (GraniteConfig defaults 1.0 each): embeddings times {@code
     * embedding_multiplier}, attention scores scaled by {@code attention_multiplier} in place of
     * head_dim^-1/2, attention and MLP outputs times {@code residual_multiplier} before each
     * residual add, logits divided by {@code logits_scaling}.
     */
    private static Block graniteBlock(JsonNode root, String source, Activation act) {
        double embedding = ConfigReader.number(root, "embedding_multiplier", source, 1.0);
        double attention = ConfigReader.number(root, "attention_multiplier", source, 1.0);
        double residual = ConfigReader.number(root, "residual_multiplier", source, 1.0);
        double logits = ConfigReader.number(root, "logits_scaling", source, 1.0);
        for (double v : new double[] {embedding, attention, residual, logits}) {
            if (!Double.isFinite(v)) {
                throw new ModelFormatException(
                        source + ": Granite's multipliers must be finite numbers");
            }
        }
        if (logits == 0) {
            throw new ModelFormatException(
                    source + ": logits_scaling 0 divides the logits by zero");
        }
        return Block.of(
                act, (float) embedding, false, false, attention, 0, 0, residual, logits, false);
    }

    /** Class defaults of the transformers config for fields a config.json may leave out. */
    /**
     * The config class's defaults; {@code originalMaxPositions} is its own top-level {@code
     * original_max_position_embeddings} attribute (Phi3Config: 4096), null where the class has
     * none.
     */
    private record Defaults(
            Integer kvHeads,
            Integer headDim,
            int maxPositions,
            boolean tied,
            String activation,
            double rmsNormEps,
            Integer originalMaxPositions) {
        static Defaults of(String arch) {
            return switch (arch) {
                case "HeliumForCausalLM" -> new Defaults(20, 128, 4096, false, "silu", 1e-8, null);
                case "SeedOssForCausalLM" ->
                        new Defaults(8, 128, 524288, false, "silu", 1e-6, null);
                case "GlmForCausalLM", "Glm4ForCausalLM" ->
                        new Defaults(2, 128, 131072, false, "silu", 1.5625e-7, null);
                case "Exaone4ForCausalLM" ->
                        new Defaults(32, null, 2048, false, "silu", 1e-5, null);
                case "CohereForCausalLM", "Cohere2ForCausalLM" ->
                        new Defaults(null, null, 8192, true, "silu", 1e-5, null);
                case "StableLmForCausalLM" ->
                        new Defaults(32, null, 4096, false, "silu", 1e-5, null);
                // OlmoLayerNorm's epsilon is fixed at 1e-5; OlmoConfig has no field for it
                case "OlmoForCausalLM" -> new Defaults(null, null, 2048, false, "silu", 1e-5, null);
                case "Starcoder2ForCausalLM" ->
                        new Defaults(2, null, 4096, true, "gelu_pytorch_tanh", 1e-5, null);
                case "PhiForCausalLM" ->
                        new Defaults(null, null, 2048, false, "gelu_new", 1e-5, null);
                case "GPTNeoXForCausalLM" ->
                        new Defaults(null, null, 2048, false, "gelu", 1e-5, null);
                case "PersimmonForCausalLM" ->
                        new Defaults(null, null, 16384, false, "relu2", 1e-5, null);
                // GPT2Names fills GPT2Config's own defaults before these are read
                case "GPT2LMHeadModel" ->
                        new Defaults(null, null, 1024, true, "gelu_new", 1e-5, null);
                case "OPTForCausalLM" -> new Defaults(null, null, 2048, true, "relu", 1e-5, null);
                // Bloom's ALiBi has no position limit of its own: the engine serves 2048 positions
                // (BLOOM's training length) unless max_position_embeddings sets another bound
                case "BloomForCausalLM" ->
                        new Defaults(null, null, 2048, true, "gelu_pytorch_tanh", 1e-5, null);
                // CodeGenConfig's defaults are GPTJConfig's
                case "GPTJForCausalLM", "CodeGenForCausalLM" ->
                        new Defaults(null, null, 2048, false, "gelu_new", 1e-5, null);
                case "GPTBigCodeForCausalLM" ->
                        new Defaults(null, null, 1024, true, "gelu_pytorch_tanh", 1e-5, null);
                case "GPTNeoForCausalLM" ->
                        new Defaults(null, null, 2048, true, "gelu_new", 1e-5, null);
                case "FalconForCausalLM" ->
                        new Defaults(null, null, 2048, true, "gelu", 1e-5, null);
                case "MptForCausalLM" -> new Defaults(null, null, 2048, true, "gelu", 1e-5, null);
                case "NemotronForCausalLM", "ArceeForCausalLM" ->
                        new Defaults(null, null, 4096, false, "relu2", 1e-5, null);
                case "Jais2ForCausalLM" ->
                        new Defaults(null, null, 8192, false, "relu2", 1e-5, null);
                case "HunYuanDenseV1ForCausalLM" ->
                        new Defaults(null, null, 2048, false, "silu", 1e-5, null);
                case "CwmForCausalLM" -> new Defaults(8, 128, 131072, false, "silu", 1e-5, null);
                case "NanoChatForCausalLM" ->
                        new Defaults(null, null, 2048, false, "relu2", 1e-6, null);
                case "Ernie4_5ForCausalLM" ->
                        new Defaults(2, 128, 131072, true, "silu", 1e-5, null);
                // Ernie4_5_MoeConfig has no head_dim (its attention: hidden_size / heads)
                case "Ernie4_5_MoeForCausalLM" ->
                        new Defaults(4, null, 131072, true, "silu", 1e-5, null);
                case "MistralForCausalLM", "MinistralForCausalLM" ->
                        new Defaults(8, null, 131072, false, "silu", 1e-6, null);
                case "Ministral3ForCausalLM" ->
                        new Defaults(8, 128, 262144, false, "silu", 1e-5, null);
                case "MixtralForCausalLM" ->
                        new Defaults(8, null, 131072, false, "silu", 1e-5, null);
                case "Qwen3MoeForCausalLM" ->
                        new Defaults(4, null, 32768, false, "silu", 1e-6, null);
                case "Glm4MoeForCausalLM" ->
                        new Defaults(8, null, 131072, false, "silu", 1e-5, null);
                case "Dots1ForCausalLM" -> new Defaults(32, null, 2048, false, "silu", 1e-6, null);
                case "ApertusForCausalLM" ->
                        new Defaults(null, null, 65536, false, "xielu", 1e-5, null);
                case "Qwen2MoeForCausalLM" ->
                        new Defaults(16, null, 32768, false, "silu", 1e-6, null);
                case "GptOssForCausalLM" -> new Defaults(8, 64, 131072, false, "silu", 1e-5, null);
                case "FlexOlmoForCausalLM" ->
                        new Defaults(null, null, 4096, false, "silu", 1e-6, null);
                case "OlmoeForCausalLM" ->
                        new Defaults(null, null, 4096, false, "silu", 1e-5, null);
                case "Qwen2ForCausalLM" -> new Defaults(32, null, 32768, false, "silu", 1e-6, null);
                case "Qwen3ForCausalLM" -> new Defaults(32, 128, 32768, false, "silu", 1e-6, null);
                case "GemmaForCausalLM" ->
                        new Defaults(16, 256, 8192, true, "gelu_pytorch_tanh", 1e-6, null);
                case "Gemma2ForCausalLM", "VaultGemmaForCausalLM" ->
                        new Defaults(4, 256, 8192, true, "gelu_pytorch_tanh", 1e-6, null);
                case "Gemma3ForCausalLM" ->
                        new Defaults(4, 256, 131072, true, "gelu_pytorch_tanh", 1e-6, null);
                case "Phi3ForCausalLM" -> new Defaults(null, null, 4096, false, "silu", 1e-5, 4096);
                case "SmolLM3ForCausalLM" -> new Defaults(4, null, 32768, true, "silu", 1e-6, null);
                case "Olmo2ForCausalLM", "Olmo3ForCausalLM" ->
                        new Defaults(null, null, 2048, false, "silu", 1e-5, null);
                default -> new Defaults(null, null, 2048, false, "silu", 1e-6, null);
            };
        }
    }

    /**
     * Architectures whose transformers config class refuses a hidden_size that is not a multiple of
     * num_attention_heads (validate_architecture), even with an explicit head_dim.
     */
    private static final Set<String> HEADS_DIVIDE_HIDDEN =
            Set.of(
                    "LlamaForCausalLM",
                    "Gemma2ForCausalLM",
                    "Gemma3ForCausalLM",
                    "VaultGemmaForCausalLM",
                    "ArceeForCausalLM",
                    "CwmForCausalLM",
                    "Jais2ForCausalLM");

    // Bounds far above any real model; they stop a hostile config from sizing huge allocations.
    private static final int MAX_DIM = 1 << 17;
    private static final int MAX_LAYERS = 1024;
    private static final int MAX_VOCAB = 1 << 22;
    private static final int MAX_POSITIONS = 1 << 21;

    public ModelConfig {
        eosTokenIds = List.copyOf(eosTokenIds);
        slidingLayers = List.copyOf(slidingLayers);
        rotaryLayers = List.copyOf(rotaryLayers);
    }

    /** Every layer rotates its queries and keys. */
    public static List<Boolean> allRotary(int layers) {
        return java.util.Collections.nCopies(layers, true);
    }

    /** Whether layer {@code l} applies the rotary embedding to its queries and keys. */
    public boolean rotates(int l) {
        return rotaryLayers.get(l);
    }

    /** A config with full attention in every layer. */
    public static List<Boolean> noSlidingLayers(int layers) {
        return java.util.Collections.nCopies(layers, false);
    }

    /** Whether q/k/v are stored fused ({@code qkv_proj}), as in Phi-3. */
    public boolean fusedQkv() {
        return architecture.equals("Phi3ForCausalLM");
    }

    /**
     * GPT-NeoX (Pythia): a model root {@code gpt_neox.} ({@code embed_in}, {@code
     * final_layer_norm}), q, k and v fused in {@code attention.query_key_value} one head after
     * another, {@code attention.dense} (o), an MLP without a gate ({@code dense_h_to_4h}, {@code
     * dense_4h_to_h}), all with biases, and the output head saved as {@code embed_out}.
     */
    public boolean gptNeoX() {
        return architecture.equals("GPTNeoXForCausalLM");
    }

    /**
     * Persimmon: GPT-NeoX's fused {@code query_key_value} (q, k and v one head after another) and
     * MLP names ({@code dense_h_to_4h}, {@code dense_4h_to_h}) under Llama's root and {@code
     * self_attn}, Phi's {@code dense} (o), per-head q/k LayerNorms ({@code qk_layernorm}) and
     * {@code final_layernorm}; every linear module but the head carries a bias.
     */
    public boolean persimmon() {
        return architecture.equals("PersimmonForCausalLM");
    }

    /**
     * GPT-2: a model root {@code transformer.} ({@code wte}, learned positions {@code wpe}, {@code
     * h.N}, {@code ln_f}), Conv1D modules stored {@code [in, out]}: q, k and v fused in {@code
     * attn.c_attn}, {@code attn.c_proj} (o), an MLP without a gate ({@code mlp.c_fc}, {@code
     * mlp.c_proj}), all with biases, behind LayerNorms with a bias; no rotary embedding.
     */
    public boolean gpt2() {
        return architecture.equals("GPT2LMHeadModel");
    }

    /**
     * OPT: a decoder under {@code model.decoder.} ({@code embed_tokens}, learned positions {@code
     * embed_positions} offset by two rows, {@code final_layer_norm}), Llama's q, k and v with
     * {@code out_proj} (o), an MLP without a gate ({@code fc1}, {@code fc2}), LayerNorms with a
     * bias ({@code self_attn_layer_norm}, {@code final_layer_norm}); no rotary embedding.
     */
    public boolean opt() {
        return architecture.equals("OPTForCausalLM");
    }

    /**
     * GPT-BigCode (StarCoder 1, SantaCoder): GPT-2's module tree and config names with nn.Linear
     * modules, and one key and value head with {@code multi_query} (default): c_attn holds q, then
     * k and v one head wide; without it, q, k and v one head after another.
     */
    public boolean gptBigCode() {
        return architecture.equals("GPTBigCodeForCausalLM");
    }

    /**
     * Bloom: a model root {@code transformer.} ({@code word_embeddings} followed by a LayerNorm,
     * {@code h.N}, {@code ln_f}), q, k and v fused per head in {@code
     * self_attention.query_key_value}, {@code self_attention.dense}, an MLP without a gate ({@code
     * dense_h_to_4h}, its tanh GELU, {@code dense_4h_to_h}), biases everywhere, LayerNorms with a
     * bias, and ALiBi: no position embedding, a per-head linear bias on the attention scores.
     */
    public boolean bloom() {
        return architecture.equals("BloomForCausalLM");
    }

    /**
     * GPT-J: GPT-2's root and config names; attention ({@code attn.q_proj}, {@code k_proj}, {@code
     * v_proj}, {@code out_proj}, no biases) and an MLP without a gate ({@code mlp.fc_in}, {@code
     * fc_out}, with biases) side by side on one LayerNorm ({@code ln_1}), the leading {@code
     * rotary_dim} dimensions of each head rotating in adjacent pairs, an output head with a bias.
     */
    public boolean gptj() {
        return architecture.equals("GPTJForCausalLM");
    }

    /**
     * CodeGen: GPT-J's block, names and rotary, with q, k and v fused in {@code attn.qkv_proj} as
     * four model-parallel shards, each holding its quarter of the heads' q, then v, then k.
     */
    public boolean codegen() {
        return architecture.equals("CodeGenForCausalLM");
    }

    /**
     * GPT-Neo: GPT-2's root, names and learned positions with nn.Linear modules: q, k and v (no
     * biases) and {@code out_proj} under {@code attn.attention.}, an MLP without a gate ({@code
     * mlp.c_fc}, {@code mlp.c_proj}, with biases); unscaled attention scores, and layers that
     * attend globally or through a window ({@code attention_types}, {@code window_size}).
     */
    public boolean gptNeo() {
        return architecture.equals("GPTNeoForCausalLM");
    }

    /**
     * Whether the model has GPT-2's module tree: {@code transformer.} with {@code wte}, {@code h.N}
     * layers normed by {@code ln_1} (and {@code ln_2}), and {@code ln_f} (GPT-2, GPT-BigCode,
     * GPT-J, GPT-Neo).
     */
    public boolean gpt2Tree() {
        return gpt2() || gptBigCode() || gptj() || gptNeo() || codegen();
    }

    /**
     * Falcon: Bloom's root ({@code transformer.word_embeddings}, {@code h.N}, {@code ln_f}) with no
     * embedding norm, q, k and v fused in {@code self_attention.query_key_value} by key-value group
     * (each group's query heads, then its key and value head), {@code self_attention.dense}, an MLP
     * without a gate ({@code dense_h_to_4h}, {@code dense_4h_to_h}), {@code bias} on all four, a
     * rotary embedding over whole heads; attention and the MLP side by side ({@code parallel_attn},
     * on one norm or, in the new decoder architecture, on {@code ln_attn} and {@code ln_mlp}) or in
     * sequence.
     */
    public boolean falcon() {
        return architecture.equals("FalconForCausalLM");
    }

    /**
     * MPT: a model root {@code transformer.} ({@code wte}, {@code blocks.N}, {@code norm_f}), q, k
     * and v fused in {@code attn.Wqkv} (q | k | v), {@code attn.out_proj}, an MLP without a gate
     * ({@code ffn.up_proj}, exact GELU, {@code ffn.down_proj}), no biases, LayerNorms without bias
     * ({@code norm_1}, {@code norm_2}), ALiBi with MPT's slopes, and {@code clip_qkv}.
     */
    public boolean mpt() {
        return architecture.equals("MptForCausalLM");
    }

    /**
     * Whether attention scores take ALiBi's per-head bias (slope x key position): Bloom's and MPT's
     * (the same slopes: MPT's recipe at its alibi_bias_max of 8 gives Bloom's).
     */
    public boolean alibi() {
        return bloom() || mpt();
    }

    /** Whether a LayerNorm follows the token embedding (Bloom's word_embeddings_layernorm). */
    public boolean embeddingNorm() {
        return bloom() || nanoChat();
    }

    /**
     * The prefix of the decoder's modules (transformers' {@code base_model_prefix} and a dot):
     * {@code gpt_neox.}, {@code transformer.} (GPT-2) or {@code model.}.
     */
    public String modelRoot() {
        return opt() ? "model.decoder." : basePrefix();
    }

    /**
     * transformers' {@code base_model_prefix} and a dot: what a checkpoint saved from the bare
     * model leaves out of every name ({@code gpt_neox.}, {@code transformer.} or {@code model.}).
     */
    public String basePrefix() {
        return gptNeoX()
                ? "gpt_neox."
                : gpt2Tree() || bloom() || falcon() || mpt() ? "transformer." : "model.";
    }

    /**
     * Whether positions enter as a learned table added to the token embeddings (GPT-2's wpe, OPT's
     * embed_positions).
     */
    public boolean learnedPositions() {
        return gpt2() || gptBigCode() || gptNeo() || opt();
    }

    /** The learned position table's tensor name. */
    public String positionTableName() {
        return opt() ? "model.decoder.embed_positions.weight" : "transformer.wpe.weight";
    }

    /** The row of position 0 in {@link #positionTableName} (OPT offsets its positions by 2). */
    public int positionTableOffset() {
        return opt() ? 2 : 0;
    }

    /** Layer {@code l}'s attention scale (GPT-2 may divide it by {@code l + 1}). */
    public double attentionScale(int l) {
        return block.inverseLayerScale()
                ? block.attentionScale() / (l + 1)
                : block.attentionScale();
    }

    /**
     * The input embedding's module path, as {@code named_modules} lists it: {@code
     * gpt_neox.embed_in} for GPT-NeoX, {@code transformer.wte} for GPT-2, {@code
     * model.embed_tokens} elsewhere.
     */
    public String embeddingModule() {
        return gptNeoX()
                ? "gpt_neox.embed_in"
                : bloom() || falcon()
                        ? "transformer.word_embeddings"
                        : gpt2Tree() || mpt()
                                ? "transformer.wte"
                                : opt() ? "model.decoder.embed_tokens" : "model.embed_tokens";
    }

    /**
     * The input embedding's own name ({@code embed_in}, {@code embed_tokens}): what an adapter's
     * {@code target_modules}, {@code modules_to_save} and {@code trainable_token_indices} name.
     */
    public String embeddingName() {
        String path = embeddingModule();
        return path.substring(path.lastIndexOf('.') + 1);
    }

    /** Whether gate/up are stored fused ({@code gate_up_proj}), as in Phi-3 and GLM. */
    public boolean fusedGateUp() {
        return fusedQkv()
                || architecture.equals("GlmForCausalLM")
                || architecture.equals("Glm4ForCausalLM");
    }

    /**
     * Whether each attention head has a learned sink logit ({@code self_attn.sinks}, GPT-OSS): it
     * joins the softmax's denominator and takes no value.
     */
    /**
     * The module holding a sparse layer's router and experts: {@code mlp}, GraniteMoE's {@code
     * block_sparse_moe}.
     */
    public String expertsBlock() {
        return graniteMoe() ? "block_sparse_moe" : "mlp";
    }

    /** GraniteMoE or GraniteMoeShared: Granite's block with block_sparse_moe's experts. */
    public boolean graniteMoe() {
        return architecture.equals("GraniteMoeForCausalLM")
                || architecture.equals("GraniteMoeSharedForCausalLM");
    }

    public boolean attentionSinks() {
        return architecture.equals("GptOssForCausalLM");
    }

    /**
     * Whether the q/k norms span the whole projection (OLMo 2 and 3) rather than each head (Qwen3,
     * Gemma 3, EXAONE 4).
     */
    /**
     * Whether the per-head q/k norms apply after the rotary (HunYuan's query_layernorm and
     * key_layernorm) rather than before it.
     */
    public boolean qkNormsAfterRotary() {
        return hunYuanDense() || nanoChat();
    }

    /** HunYuan (dense): its q/k norms are query_layernorm and key_layernorm. */
    public boolean hunYuanDense() {
        return architecture.equals("HunYuanDenseV1ForCausalLM");
    }

    /**
     * NanoChat: RMSNorms without weights everywhere (one after the embeddings too), q/k norms after
     * a rotary turning the other way (its rotate_half is cat(x2, -x1)), fc1 / fc2 around the
     * activation, the final logits soft-capped.
     */
    public boolean nanoChat() {
        return architecture.equals("NanoChatForCausalLM");
    }

    /**
     * The name of the norm before the MLP: VaultGemma keeps Gemma 2's pre_feedforward_layernorm
     * (without the post-norms around it); the others' post_attention_layernorm.
     */
    public String mlpNormName() {
        return architecture.equals("VaultGemmaForCausalLM")
                ? "pre_feedforward_layernorm"
                : apertus() ? "feedforward_layernorm" : "post_attention_layernorm";
    }

    /** The norm before attention: Llama's {@code input_layernorm}, Apertus's own name. */
    public String attentionNormName() {
        return apertus() ? "attention_layernorm" : "input_layernorm";
    }

    /**
     * Apertus: Llama's attention (attention_bias on q, k, v and o) with per-head q/k RMSNorms
     * before the rotary, {@code attention_layernorm} and {@code feedforward_layernorm}, and an MLP
     * without a gate whose activation (xIELU by default) carries learned parameters.
     */
    public boolean apertus() {
        return architecture.equals("ApertusForCausalLM");
    }

    public boolean wholeQkNorms() {
        return architecture.equals("Olmo2ForCausalLM")
                || architecture.equals("Olmo3ForCausalLM")
                || architecture.equals("OlmoeForCausalLM")
                || architecture.equals("FlexOlmoForCausalLM");
    }

    /** Whether the norms carry a weight (OLMo's LayerNorms have neither weight nor bias). */
    public boolean normsHaveWeights() {
        return !architecture.equals("OlmoForCausalLM") && !nanoChat();
    }

    /** Whether any projection is stored fused with another. */
    public boolean fusedProjections() {
        return fusedQkv()
                || fusedGateUp()
                || gptNeoX()
                || persimmon()
                || gpt2()
                || gptBigCode()
                || bloom()
                || falcon()
                || mpt()
                || codegen();
    }

    /**
     * Whether the MLP gates ({@code act(gate) * up}, then down). Starcoder2's, Phi's, Nemotron's
     * and Arcee's have no gate: {@code down(act(up(x)))}, up and down under their own module names
     * (c_fc / c_proj, fc1 / fc2, up_proj / down_proj).
     */
    public boolean gatedMlp() {
        return !architecture.equals("Starcoder2ForCausalLM")
                && !phi()
                && !upDownMlp()
                && !gptNeoX()
                && !persimmon()
                && !gpt2()
                && !gptBigCode()
                && !bloom()
                && !gptj()
                && !codegen()
                && !gptNeo()
                && !falcon()
                && !mpt()
                && !opt()
                && !nanoChat();
    }

    /**
     * Whether the MLP is up and down around the activation under Llama's names, no gate
     * (Nemotron's, which Arcee reuses).
     */
    public boolean upDownMlp() {
        return architecture.equals("NemotronForCausalLM")
                || architecture.equals("ArceeForCausalLM")
                || apertus()
                || architecture.equals("Jais2ForCausalLM");
    }

    /**
     * Phi (1, 1.5, 2): q, k, v and {@code dense} (o), an MLP without a gate ({@code fc1}, {@code
     * fc2}), all with biases, a final {@code final_layernorm} and an output head with a bias.
     */
    public boolean phi() {
        return architecture.equals("PhiForCausalLM");
    }

    /** Whether the output head adds a bias (Phi's, kept when the weight is tied). */
    public boolean headBias() {
        // ERNIE 4.5's MoE: use_bias reaches the output head too (the dense model's never)
        return phi()
                || gptj()
                || codegen()
                || (architecture.equals("Ernie4_5_MoeForCausalLM") && qkvBias);
    }

    /**
     * Whether each projection the model has is a module of its own under Llama's name ({@code
     * q_proj} ... {@code down_proj}): tools that write adapters per projection need it.
     */
    public boolean llamaModuleNames() {
        return !fusedProjections() && gatedMlp();
    }

    /** The linear modules of layer {@code l} as the checkpoint and PEFT name them. */
    public List<LinearModule> linearModules(int l) {
        return LinearModule.of(this, l);
    }

    /** Whether layer {@code l} attends through the sliding window. */
    public boolean slides(int l) {
        return slidingWindow > 0 && slidingLayers.get(l);
    }

    /** Reads and validates {@code config.json} in a model folder. */
    public static ModelConfig read(Path modelDir) {
        Path file = modelDir.resolve("config.json");
        if (!Files.isRegularFile(file)) {
            throw new ModelFormatException("no config.json in model folder " + modelDir);
        }
        JsonNode root;
        try {
            if (Files.size(file) > 1 << 20) {
                throw new ModelFormatException(file + " is larger than 1 MiB; not a model config");
            }
            root = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new ModelFormatException("cannot parse " + file + ": " + e.getMessage(), e);
        }
        return parse(root, file.toString());
    }

    /** Validates an already parsed {@code config.json}; {@code source} names it in errors. */
    public static ModelConfig parse(JsonNode root, String source) {
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(source + ": config must be a JSON object");
        }
        JsonNode archs = root.get("architectures");
        if (archs == null || !archs.isArray() || archs.size() != 1 || !archs.get(0).isTextual()) {
            throw new ModelFormatException(
                    source + ": field 'architectures' must be a list of one architecture name");
        }
        String arch = archs.get(0).asText();
        if (arch.equals("MPTForCausalLM") && "mpt".equals(root.path("model_type").asText(null))) {
            // MosaicML's remote-code class name, which the hub's MPT configs name: without
            // trust_remote_code, AutoModelForCausalLM builds transformers' own class for model_type
            // mpt
            arch = "MptForCausalLM";
        }
        if (!SUPPORTED_ARCHITECTURES.contains(arch)) {
            throw new ModelFormatException(
                    source
                            + ": unsupported architecture '"
                            + arch
                            + "' (supported: "
                            + String.join(", ", SUPPORTED_ARCHITECTURES.stream().sorted().toList())
                            + ")");
        }
        ModelFields.refuseUnknown(root, arch, source);
        refuseNulls(root, arch, source);
        boolean gpt2 = arch.equals("GPT2LMHeadModel");
        boolean opt = arch.equals("OPTForCausalLM");
        boolean bigcode = arch.equals("GPTBigCodeForCausalLM");
        boolean bloom = arch.equals("BloomForCausalLM");
        // CodeGen reads as GPT-J (its config names, defaults, block and rotary); only its fused
        // q, k, v differ (LinearModule)
        boolean codegen = arch.equals("CodeGenForCausalLM");
        boolean gptj = arch.equals("GPTJForCausalLM") || codegen;
        boolean neo = arch.equals("GPTNeoForCausalLM");
        boolean falcon = arch.equals("FalconForCausalLM");
        boolean mpt = arch.equals("MptForCausalLM");
        if (falcon) {
            checkFalcon(root, source);
        }
        // GPT-J rotates the leading rotary_dim dimensions of each head (read before the names
        // change; GPTJConfig types it as an int)
        int gptjRotaryDim =
                gptj ? ConfigReader.intField(root, "rotary_dim", source, 64, MAX_DIM) : 0;
        if (bloom) {
            checkBloom(root, source);
        }
        if ((gpt2 || bigcode) && ConfigReader.bool(root, "add_cross_attention", source, false)) {
            throw new ModelFormatException(
                    source
                            + ": add_cross_attention true is not supported (its crossattention"
                            + " modules need encoder states; a decoder-only model has none)");
        }
        if (opt) {
            checkOpt(root, source);
        }
        if (gpt2 || opt || bigcode || gptj || bloom || neo || falcon || mpt) {
            // GPT-Neo's attention_types and window_size come back as layer_types and
            // sliding_window
            root = OwnConfigNames.toCommonNames(arch, root, source);
        }
        // from here on, GPT-BigCode reads as GPT-2 (its key and value heads are set above)
        gpt2 |= bigcode;
        Defaults defaults = Defaults.of(arch);
        boolean gemma3 = arch.equals("Gemma3ForCausalLM");
        // Gemma 3's block is Gemma 2's (sandwich norms, query_pre_attn_scalar, optional caps)
        // with per-head q/k norms and a rotary embedding per layer type.
        // VaultGemma's is Gemma 2's without the norms after attention and the MLP.
        boolean vaultGemma = arch.equals("VaultGemmaForCausalLM");
        boolean gemma2 = arch.equals("Gemma2ForCausalLM") || gemma3 || vaultGemma;
        boolean gemma = gemma2 || arch.equals("GemmaForCausalLM");
        // GPT-OSS's experts compute their own clamped SwiGLU: hidden_act is unread there
        Activation act =
                arch.equals("GptOssForCausalLM")
                        ? Activation.SILU
                        : Activation.byName(
                                ConfigReader.text(
                                        root,
                                        gemma2 ? "hidden_activation" : "hidden_act",
                                        source,
                                        defaults.activation()),
                                source);
        // Apertus: Llama's attention with per-head q/k norms, its own norm names, an MLP without a
        // gate (up, xIELU, down)
        boolean apertus = arch.equals("ApertusForCausalLM");
        if (apertus) {
            // fields the hub's Apertus configs carry that ApertusConfig does not declare and its
            // model never reads: served at what the model computes, refused otherwise
            checkLoose(
                    root,
                    "qk_norm",
                    BooleanNode.TRUE,
                    arch,
                    "it always norms q and k per head",
                    source);
            checkLoose(
                    root,
                    "post_norm",
                    BooleanNode.FALSE,
                    arch,
                    "its norms come before attention and the MLP",
                    source);
            checkLoose(root, "mlp_bias", BooleanNode.FALSE, arch, "its MLP has no biases", source);
        }
        if (act == Activation.XIELU && !apertus) {
            // ACT2FN["xielu"] would add learned parameters (bfloat16 by default) to the MLP, which
            // only Apertus's checkpoints are known to carry
            throw new ModelFormatException(
                    source + ": hidden_act xielu is supported for ApertusForCausalLM only");
        }
        if (arch.equals("GemmaForCausalLM") && act == Activation.GELU) {
            // GemmaConfig rewrites the legacy "gelu" of the official releases to the tanh
            // approximation.
            act = Activation.GELU_TANH;
        }
        if (arch.equals("GemmaForCausalLM")) {
            checkLegacyGemmaActivation(root, act, source);
        }
        int hidden = ConfigReader.intField(root, "hidden_size", source, null, MAX_DIM);
        int inter = ConfigReader.intField(root, "intermediate_size", source, null, MAX_DIM * 8);
        int layers = ConfigReader.intField(root, "num_hidden_layers", source, null, MAX_LAYERS);
        int heads = ConfigReader.intField(root, "num_attention_heads", source, null, MAX_DIM);
        // Absent: the class default; an explicit null (where the class accepts one): the configs'
        // __post_init__ sets num_attention_heads (Qwen2's and SmolLM3's defaults are not that).
        boolean kvNull =
                root.has("num_key_value_heads") && root.get("num_key_value_heads").isNull();
        int kvHeads =
                ConfigReader.intField(
                        root,
                        "num_key_value_heads",
                        source,
                        defaults.kvHeads() != null && !kvNull ? defaults.kvHeads() : heads,
                        MAX_DIM);
        // Their config classes' validate_architecture refuses the config whatever head_dim is.
        boolean headsMustDivide = HEADS_DIVIDE_HIDDEN.contains(arch);
        if (hidden % heads != 0
                && (headsMustDivide
                        || (!ConfigReader.has(root, "head_dim") && defaults.headDim() == null))) {
            throw new ModelFormatException(
                    source
                            + ": hidden_size "
                            + hidden
                            + " is not a multiple of num_attention_heads "
                            + heads
                            + (headsMustDivide
                                    ? " (" + arch + "'s config class refuses it)"
                                    : " and no head_dim is given"));
        }
        if (arch.equals("MinistralForCausalLM")
                && (!root.has("head_dim") || root.get("head_dim").isNull())) {
            // MinistralConfig leaves head_dim None and MinistralAttention reads it as it is.
            throw new ModelFormatException(
                    source
                            + ": MinistralForCausalLM needs head_dim (transformers 5's"
                            + " MinistralAttention fails without it)");
        }
        // Qwen3-MoE's attention is Qwen3's (per-head q/k norms, attention_bias)
        boolean qwen3MoE = arch.equals("Qwen3MoeForCausalLM");
        // dots.llm1: Qwen3's attention (per-head q/k norms, attention_bias on q, k, v and o, its
        // sliding layers) with GLM-4-MoE's experts
        boolean dots1 = arch.equals("Dots1ForCausalLM");
        boolean qwen3 = arch.equals("Qwen3ForCausalLM") || qwen3MoE || dots1;
        // GLM-4-MoE: Llama's attention (attention_bias on q, k and v; use_qk_norm's per-head
        // RMSNorms, as Qwen3's) rotating the leading half of each head, DeepSeek-V3's experts
        boolean glm4Moe = arch.equals("Glm4MoeForCausalLM");
        // ERNIE 4.5's MoE: the dense model's attention and MLPs with its own experts
        boolean ernieMoe = arch.equals("Ernie4_5_MoeForCausalLM");
        if ((glm4Moe || dots1 || apertus || ernieMoe)
                && root.has("head_dim")
                && root.get("head_dim").isNull()) {
            // Their config classes have no head_dim field: a loose null is what their attention
            // reads
            throw new ModelFormatException(
                    source
                            + ": head_dim null is not supported for "
                            + arch
                            + " (transformers 5's attention reads it as it is and fails)");
        }
        // OLMo 3's block is OLMo 2's, with sliding layers and a rotary embedding per layer type.
        boolean olmo3 = arch.equals("Olmo3ForCausalLM");
        // FlexOlmo's block is OLMo 2's (its MoE layers below are OLMoE's)
        boolean flexOlmo = arch.equals("FlexOlmoForCausalLM");
        boolean olmo2 = arch.equals("Olmo2ForCausalLM") || olmo3 || flexOlmo;
        boolean exaone4 = arch.equals("Exaone4ForCausalLM");
        // Cohere 2's block is Cohere's (no q/k norms), with sliding layers that alone rotate.
        boolean cohere2 = arch.equals("Cohere2ForCausalLM");
        boolean cohere = arch.equals("CohereForCausalLM") || cohere2;
        boolean stablelm = arch.equals("StableLmForCausalLM");
        boolean olmo1 = arch.equals("OlmoForCausalLM");
        boolean starcoder2 = arch.equals("Starcoder2ForCausalLM");
        boolean phi = arch.equals("PhiForCausalLM");
        boolean nemotron = arch.equals("NemotronForCausalLM");
        // Jais 2: Llama's modules with Nemotron's gate-less MLP behind plain LayerNorms with a bias
        boolean jais2 = arch.equals("Jais2ForCausalLM");
        boolean hunyuan = arch.equals("HunYuanDenseV1ForCausalLM");
        if (hunyuan && !ConfigReader.has(root, "head_dim")) {
            // HunYuanDenseV1Config leaves head_dim None, and its attention reads it as it is
            throw new ModelFormatException(
                    source
                            + ": HunYuanDenseV1ForCausalLM needs head_dim (transformers 5's"
                            + " HunYuanDenseV1Attention fails without it)");
        }
        boolean neox = arch.equals("GPTNeoXForCausalLM");
        if (neox) {
            // GPTNeoXAttention sizes its heads as hidden_size / num_attention_heads, all of them
            // with their own keys and values; a config asking otherwise would be read differently.
            for (String f : List.of("num_key_value_heads", "head_dim")) {
                if (ConfigReader.has(root, f)) {
                    throw new ModelFormatException(
                            source
                                    + ": "
                                    + f
                                    + " is not a GPTNeoXConfig field (its attention uses"
                                    + " hidden_size / num_attention_heads and one key and value"
                                    + " head per query head)");
                }
            }
        }
        boolean persimmon = arch.equals("PersimmonForCausalLM");
        if (persimmon) {
            // PersimmonConfig has neither field: one in config.json is a loose attribute. Its
            // attention keeps hidden_size / num_attention_heads and a key and value head per query
            // head whatever they say, while its rotary embedding reads a head_dim attribute: a
            // value that differs would be read differently here.
            String why =
                    "its attention uses hidden_size / num_attention_heads per head and a key and"
                            + " value head per query head";
            checkLoose(root, "num_key_value_heads", IntNode.valueOf(heads), arch, why, source);
            checkLoose(root, "head_dim", IntNode.valueOf(hidden / heads), arch, why, source);
        }
        if (nemotron && !ConfigReader.has(root, "num_key_value_heads")) {
            // NemotronAttention divides by config.num_key_value_heads as it is (None by default).
            throw new ModelFormatException(
                    source
                            + ": NemotronForCausalLM needs num_key_value_heads (transformers 5's"
                            + " NemotronAttention fails without it)");
        }
        // OLMoE: Llama's pre-norm block with OLMo 2's q/k norms over whole projections, clamped
        // after them by clip_qkv
        boolean olmoe = arch.equals("OlmoeForCausalLM");
        boolean qkNorm =
                qwen3
                        || olmoe
                        || hunyuan
                        || arch.equals("NanoChatForCausalLM")
                        || gemma3
                        || olmo2
                        || exaone4
                        || (cohere
                                && !cohere2
                                && ConfigReader.bool(root, "use_qk_norm", source, false))
                        || ((stablelm || phi)
                                && ConfigReader.bool(root, "qk_layernorm", source, false))
                        || (persimmon && ConfigReader.bool(root, "qk_layernorm", source, true))
                        || (glm4Moe && ConfigReader.bool(root, "use_qk_norm", source, false))
                        || apertus;
        // An explicit null (where the class accepts one) is hidden_size / num_attention_heads, as
        // the configs' __post_init__ and attention modules compute it (ERNIE 4.5's default is 128).
        boolean headDimNull = root.has("head_dim") && root.get("head_dim").isNull();
        int headDim =
                ConfigReader.intField(
                        root,
                        "head_dim",
                        source,
                        defaults.headDim() != null && !headDimNull
                                ? defaults.headDim()
                                : hidden / heads,
                        MAX_DIM);
        if (headDim % 2 != 0 && !gpt2 && !opt && !bloom && !neo && !mpt) {
            throw new ModelFormatException(
                    source + ": head_dim " + headDim + " must be even for rotary embeddings");
        }
        if (stablelm && (long) headDim * heads != hidden) {
            // StableLmAttention sizes its heads as hidden_size // num_attention_heads, while its
            // rotary embedding reads a head_dim attribute: they disagree on such a config.
            throw new ModelFormatException(
                    source
                            + ": StableLmForCausalLM needs head_dim ("
                            + headDim
                            + ") x num_attention_heads ("
                            + heads
                            + ") = hidden_size ("
                            + hidden
                            + "): its attention computes head_dim as hidden_size /"
                            + " num_attention_heads");
        }
        if (heads % kvHeads != 0) {
            throw new ModelFormatException(
                    source
                            + ": num_attention_heads "
                            + heads
                            + " is not a multiple of num_key_value_heads "
                            + kvHeads);
        }
        int vocab = ConfigReader.intField(root, "vocab_size", source, null, MAX_VOCAB);
        checkPadToken(root, arch, vocab, source);
        int maxPos =
                ConfigReader.intField(
                        root,
                        "max_position_embeddings",
                        source,
                        defaults.maxPositions(),
                        MAX_POSITIONS);
        boolean smol = arch.equals("SmolLM3ForCausalLM");
        List<Boolean> rotary =
                smol
                        ? smolRotaryLayers(root, layers, source)
                        : gpt2 || opt || bloom || neo || mpt
                                ? java.util.Collections.nCopies(layers, false)
                                : allRotary(layers);
        List<Boolean> sliding =
                smol
                        ? smolSlidingLayers(root, layers, rotary, source)
                        : exaone4
                                ? exaoneSlidingLayers(root, layers, source)
                                : cohere2
                                        ? cohere2SlidingLayers(root, layers, source)
                                        : neo
                                                ? slidingTypes(root, layers, source)
                                                : slidingLayers(root, arch, layers, source);
        if (exaone4 && !(root.has("sliding_window") && root.get("sliding_window").isNull())) {
            // EXAONE 4 rotates only its sliding layers when it has a window: full ones are NoPE.
            rotary = sliding;
        }
        if (cohere2) {
            // Cohere2Attention rotates only where it windows: its full-attention layers are NoPE.
            rotary = sliding;
        }
        int window =
                sliding.contains(true)
                        ? ConfigReader.intField(
                                root,
                                "sliding_window",
                                source,
                                arch.equals("GptOssForCausalLM")
                                        ? 128
                                        : arch.equals("CwmForCausalLM") ? 8192 : 4096,
                                MAX_POSITIONS)
                        : 0;
        if (window == 0) {
            sliding = noSlidingLayers(layers);
        }
        // OLMo's LayerNorm hard-codes 1e-5 and reads no config field (an rms_norm_eps is unused).
        double eps =
                olmo1
                        ? defaults.rmsNormEps()
                        : ConfigReader.number(
                                root,
                                cohere || stablelm || phi || neox || gpt2 || opt || bloom || gptj
                                                || neo || falcon || mpt || jais2 || persimmon
                                        ? "layer_norm_eps"
                                        : starcoder2
                                                ? "norm_epsilon"
                                                : nemotron ? "norm_eps" : "rms_norm_eps",
                                source,
                                defaults.rmsNormEps());
        if (!(eps > 0)) {
            throw new ModelFormatException(source + ": rms_norm_eps must be positive");
        }
        RopeParameters rope;
        RopeParameters slidingRope = null;
        if (gemma3 || olmo3) {
            RopeParameters[] both = RopeParameters.perLayerType(root, source, maxPos, arch);
            rope = both[0];
            if (sliding.contains(true) && !both[1].equals(rope)) {
                slidingRope = both[1];
                slidingRope.checkHeadDim(headDim, source);
            }
        } else {
            rope =
                    RopeParameters.read(
                            root,
                            source,
                            maxPos,
                            switch (arch) { // the config classes' default_theta
                                case "SmolLM3ForCausalLM" -> 2_000_000.0;
                                case "HeliumForCausalLM" -> 100_000.0;
                                case "Ernie4_5ForCausalLM",
                                        "Ernie4_5_MoeForCausalLM",
                                        "CohereForCausalLM" ->
                                        500_000.0;
                                case "MixtralForCausalLM" -> 1_000_000.0;
                                case "FlexOlmoForCausalLM" -> 500_000.0;
                                case "CwmForCausalLM" -> 1_000_000.0;
                                case "ApertusForCausalLM" -> 12_000_000.0;
                                case "GptOssForCausalLM" -> 150_000.0;
                                // Cohere 2 and GPT-NeoX keep PreTrainedConfig's default
                                default -> 10000.0;
                            },
                            arch,
                            defaults.originalMaxPositions());
        }
        if (codegen && heads % 4 != 0) {
            // CodeGenAttention splits its fused q, k, v into four shards of whole heads
            throw new ModelFormatException(
                    source
                            + ": n_head "
                            + heads
                            + " is not a multiple of 4 (CodeGen's qkv_proj holds four shards of"
                            + " whole heads; transformers fails on it)");
        }
        if (gptj) {
            rope = gptjRope(gptjRotaryDim, headDim, source);
        }
        if (!gpt2 && !opt && !bloom && !neo && !mpt) {
            // GPT-NeoX, Phi-3, GLM, GLM-4 and Nemotron rotate cos.shape[-1] dimensions: an odd
            // count rounds up there (Phi, StableLM and Persimmon slice q at it and fail)
            rope.checkHeadDim(
                    headDim,
                    source,
                    neox
                            || arch.equals("Phi3ForCausalLM")
                            || arch.equals("GlmForCausalLM")
                            || arch.equals("Glm4ForCausalLM")
                            || glm4Moe
                            || nemotron);
        }
        boolean tied = ConfigReader.bool(root, "tie_word_embeddings", source, defaults.tied());
        // GraniteMoE is Granite's block (multipliers, modules) with a sparse MLP
        // GraniteMoeShared: GraniteMoE with a shared MLP beside the experts
        boolean graniteMoe =
                arch.equals("GraniteMoeForCausalLM") || arch.equals("GraniteMoeSharedForCausalLM");
        boolean granite = arch.equals("GraniteForCausalLM") || graniteMoe;
        // Granite's and SmolLM3's modules are Llama's (attention_bias and mlp_bias included).
        // Arcee's modules are Llama's with Nemotron's gate-less MLP (up, relu2, down).
        // HunYuan's modules are Llama's (its MLP never has biases, see below), as are CWM's.
        boolean llama =
                arch.equals("LlamaForCausalLM")
                        || granite
                        || smol
                        || hunyuan
                        || arch.equals("CwmForCausalLM")
                        || arch.equals("ArceeForCausalLM");
        boolean gptOss = arch.equals("GptOssForCausalLM");
        // GPT-OSS: q, k, v and o biased unless attention_bias says otherwise
        boolean attentionBias =
                gptOss
                        ? ConfigReader.bool(root, "attention_bias", source, true)
                        : (llama || qwen3 || gemma || olmo2 || olmo1 || olmoe || apertus)
                                && ConfigReader.bool(root, "attention_bias", source, false);
        if (gemma && ConfigReader.bool(root, "use_bidirectional_attention", source, false)) {
            throw new ModelFormatException(
                    source + ": use_bidirectional_attention true is not supported (causal only)");
        }
        Block block = Block.llama(headDim, act);
        if (gemma) {
            // transformers: embed_scale = tensor(hidden ** 0.5) in the weights' dtype (float32
            // here).
            float embedScale = (float) Math.sqrt(hidden);
            double scale =
                    gemma2
                            ? Math.pow(
                                    ConfigReader.number(root, "query_pre_attn_scalar", source, 256),
                                    -0.5)
                            : 1.0 / Math.sqrt(headDim);
            // Gemma2Config caps at 50 and 30 by default, Gemma3TextConfig not at all.
            double attnCap =
                    gemma2
                            ? ConfigReader.number(
                                    root, "attn_logit_softcapping", source, gemma3 ? 0 : 50.0)
                            : 0;
            double finalCap =
                    gemma2
                            ? ConfigReader.number(
                                    root, "final_logit_softcapping", source, gemma3 ? 0 : 30.0)
                            : 0;
            if (gemma2
                    && root.has("attn_logit_softcapping")
                    && root.get("attn_logit_softcapping").isNull()) {
                attnCap = 0;
            }
            if (gemma3 && attnCap != 0) {
                // Gemma3Attention (transformers 5.18) keeps the value but never passes it to its
                // attention function; Google's Gemma 3 code caps. The two disagree: refused.
                throw new ModelFormatException(
                        source
                                + ": attn_logit_softcapping "
                                + root.get("attn_logit_softcapping")
                                + " is not supported for Gemma 3: transformers 5 ignores it while"
                                + " Google's implementation applies it (leave it null)");
            }
            if (gemma2
                    && root.has("final_logit_softcapping")
                    && root.get("final_logit_softcapping").isNull()) {
                finalCap = 0;
            }
            if (attnCap < 0 || finalCap < 0 || !(scale > 0)) {
                throw new ModelFormatException(
                        source
                                + ": soft-capping values and query_pre_attn_scalar must be positive");
            }
            block =
                    Block.of(
                            act,
                            embedScale,
                            true,
                            gemma2 && !vaultGemma,
                            scale,
                            attnCap,
                            finalCap,
                            1,
                            1,
                            false);
        }
        if (granite) {
            block = graniteBlock(root, source, act);
        }
        if (olmoe) {
            requireHeadsSpanHidden(
                    heads,
                    headDim,
                    hidden,
                    source,
                    arch + "'s q_norm is hidden_size wide; transformers fails");
            block = block.withClipQkv(clipQkv(root, source));
        }
        if (olmo2 || exaone4) {
            // EXAONE 4's decoder layer is OLMo 2's (its q/k norms are per head, see wholeQkNorms)
            block = Block.of(act, 1f, false, false, 1.0 / Math.sqrt(headDim), 0, 0, 1, 1, true);
        }
        // Qwen2-MoE's q, k and v carry a bias unless qkv_bias says otherwise (o_proj never)
        boolean qkvBias =
                arch.equals("Qwen2ForCausalLM")
                        || attentionBias
                        || (arch.equals("Qwen2MoeForCausalLM")
                                && ConfigReader.bool(root, "qkv_bias", source, true));
        boolean oBias = attentionBias;
        boolean mlpBias = llama && ConfigReader.bool(root, "mlp_bias", source, false);
        if (arch.equals("HeliumForCausalLM")) {
            // Llama's modules rotating adjacent pairs; attention_bias reaches q, k and v only, and
            // o_proj is [hidden, hidden] whatever head_dim is.
            requireHeadsSpanHidden(
                    heads, headDim, hidden, source, "its o_proj maps hidden_size to hidden_size");
            block = block.withInterleavedRotary();
            qkvBias = ConfigReader.bool(root, "attention_bias", source, false);
            oBias = false;
            mlpBias = ConfigReader.bool(root, "mlp_bias", source, false);
        }
        if (cohere) {
            // Llama's modules (attention_bias on q, k, v and o) in Cohere's parallel block.
            double scale = ConfigReader.number(root, "logit_scale", source, 0.0625);
            if (!Double.isFinite(scale)) {
                throw new ModelFormatException(source + ": logit_scale must be a finite number");
            }
            block = block.withCohere(scale);
            qkvBias = ConfigReader.bool(root, "attention_bias", source, false);
            oBias = qkvBias;
        }
        if (olmo1) {
            // Llama's modules (attention_bias on q, k, v and o) behind LayerNorms without weight or
            // bias; clip_qkv clamps q, k and v after their projections.
            block = block.withOlmo(clipQkv(root, source));
        }
        if (stablelm) {
            // Llama's modules (use_qkv_bias on q, k and v) behind LayerNorms with a bias.
            block =
                    block.withStableLm(
                            ConfigReader.bool(root, "use_parallel_residual", source, false));
            qkvBias = ConfigReader.bool(root, "use_qkv_bias", source, false);
            oBias = false;
            mlpBias = false;
        }
        if (nemotron) {
            // Llama's modules with a gate-less MLP (up, relu2, down) behind LayerNorm1Ps:
            // LayerNorms with a bias whose weight is stored less one, as Gemma's RMSNorms.
            block =
                    Block.of(act, 1f, true, false, 1.0 / Math.sqrt(headDim), 0, 0, 1, 1, false)
                            .withBiasedLayerNorms();
            qkvBias = ConfigReader.bool(root, "attention_bias", source, false);
            oBias = qkvBias;
            mlpBias = ConfigReader.bool(root, "mlp_bias", source, false);
        }
        if (arch.equals("NanoChatForCausalLM")) {
            // Qwen3's attention modules (attention_bias on q, k, v and o) and CLIP's MLP (fc1, act,
            // fc2) without biases; Gemma 2's final soft-cap (default 15, null: none).
            double finalCap =
                    root.has("final_logit_softcapping")
                                    && root.get("final_logit_softcapping").isNull()
                            ? 0
                            : ConfigReader.number(root, "final_logit_softcapping", source, 15.0);
            if (ConfigReader.has(root, "final_logit_softcapping") && !(finalCap > 0)) {
                throw new ModelFormatException(
                        source + ": final_logit_softcapping must be positive or null");
            }
            block =
                    Block.of(
                            act,
                            1f,
                            false,
                            false,
                            1.0 / Math.sqrt(headDim),
                            0,
                            finalCap,
                            1,
                            1,
                            false);
            qkvBias = ConfigReader.bool(root, "attention_bias", source, false);
            oBias = qkvBias;
            mlpBias = false;
        }
        if (arch.equals("CwmForCausalLM")) {
            // CwmAttention: q, k, v and o without biases (CwmConfig has no attention_bias);
            // Llama's MLP with mlp_bias.
            qkvBias = false;
            oBias = false;
        }
        if (hunyuan) {
            // HunYuanDenseV1MLP builds gate, up and down without biases (it has no mlp_bias).
            mlpBias = false;
        }
        if (jais2) {
            // Llama's modules (attention_bias on q, k, v and o; mlp_bias on up and down, both
            // true by default) behind nn.LayerNorms with a bias.
            block = Block.llama(headDim, act).withBiasedLayerNorms();
            qkvBias = ConfigReader.bool(root, "attention_bias", source, true);
            oBias = qkvBias;
            mlpBias = ConfigReader.bool(root, "mlp_bias", source, true);
        }
        if (phi) {
            // Attention and the MLP side by side on one LayerNorm with a bias; every linear module
            // (the output head too) carries a bias.
            block = block.withStableLm(true);
            qkvBias = true;
            oBias = true;
            mlpBias = true;
        }
        if (persimmon) {
            // attention, then the MLP, each behind its own LayerNorm with a bias; biases on
            // query_key_value, dense and the MLP (the output head has none).
            block = Block.llama(headDim, act).withBiasedLayerNorms();
            qkvBias = true;
            oBias = true;
            mlpBias = true;
        }
        if (neox) {
            // attention_bias (default true) on query_key_value and dense; the MLP always has
            // biases.
            block =
                    block.withGptNeoX(
                            ConfigReader.bool(root, "use_parallel_residual", source, true));
            qkvBias = ConfigReader.bool(root, "attention_bias", source, true);
            oBias = qkvBias;
            mlpBias = true;
        }
        if (gpt2) {
            // Conv1D modules with biases behind LayerNorms with a bias; the attention scale is
            // head_dim^-1/2 only with scale_attn_weights, divided by layer + 1 with
            // scale_attn_by_inverse_layer_idx.
            double scale =
                    ConfigReader.bool(root, "scale_attn_weights", source, true)
                            ? 1.0 / Math.sqrt(headDim)
                            : 1.0;
            block =
                    Block.of(act, 1f, false, false, scale, 0, 0, 1, 1, false)
                            .withBiasedLayerNorms();
            if (ConfigReader.bool(root, "scale_attn_by_inverse_layer_idx", source, false)) {
                block = block.withInverseLayerScale();
            }
            qkvBias = true;
            oBias = true;
            mlpBias = true;
        }
        if (gptj) {
            // attention (no biases) and the MLP (with biases) side by side on ln_1, a LayerNorm
            // with a bias; adjacent pairs rotate
            block = Block.llama(headDim, act).withInterleavedRotary().withStableLm(true);
            qkvBias = false;
            oBias = false;
            mlpBias = true;
        }
        if (mpt) {
            // no biases, LayerNorms without bias, q, k and v clamped to clip_qkv (0: not clamped),
            // scores scaled by softmax_scale (OwnConfigNames.mptNames: attention_scale) or
            // head_dim^-1/2
            double scale =
                    root.has("attention_scale")
                            ? root.get("attention_scale").asDouble()
                            : 1.0 / Math.sqrt(headDim);
            double clip = root.has("clip_qkv") ? root.get("clip_qkv").asDouble() : 0;
            block = Block.of(act, 1f, false, false, scale, 0, 0, 1, 1, false).withOlmo(clip);
            qkvBias = false;
            oBias = false;
            mlpBias = false;
        }
        if (falcon) {
            // bias on query_key_value, dense and the MLP, behind LayerNorms with a bias: attention
            // and the MLP side by side on one norm or (new decoder architecture) each on its own,
            // or in sequence without parallel_attn
            boolean newArch = ConfigReader.bool(root, "new_decoder_architecture", source, false);
            JsonNode norms = root.get("num_ln_in_parallel_attn");
            boolean twoNorms = newArch && (norms == null || norms.isNull() || norms.asInt() == 2);
            boolean parallel = newArch || ConfigReader.bool(root, "parallel_attn", source, true);
            Block plain = Block.llama(headDim, act);
            block =
                    twoNorms
                            ? plain.withGptNeoX(true)
                            : parallel ? plain.withStableLm(true) : plain.withBiasedLayerNorms();
            qkvBias = ConfigReader.bool(root, "bias", source, false);
            oBias = qkvBias;
            mlpBias = qkvBias;
        }
        if (neo) {
            // q, k and v without biases, out_proj and the MLP with them, behind LayerNorms with a
            // bias; GPTNeoSelfAttention does not scale its scores
            block = Block.of(act, 1f, false, false, 1.0, 0, 0, 1, 1, false).withBiasedLayerNorms();
            qkvBias = false;
            oBias = true;
            mlpBias = true;
        }
        if (bloom) {
            // fused per-head q, k, v, dense, a gate-less MLP, all with biases, behind LayerNorms
            // with a bias; the attention scale is head_dim^-1/2 (inv_norm_factor)
            block =
                    Block.of(act, 1f, false, false, 1.0 / Math.sqrt(headDim), 0, 0, 1, 1, false)
                            .withBiasedLayerNorms();
            if (ConfigReader.bool(
                    root, "apply_residual_connection_post_layernorm", source, false)) {
                block = block.withResidualFromNorm();
            }
            qkvBias = true;
            oBias = true;
            mlpBias = true;
        }
        if (opt) {
            // Llama's attention modules (out_proj for o) and a gate-less MLP (fc1, fc2), all with
            // enable_bias, behind LayerNorms with a bias: before each sublayer, or with
            // do_layer_norm_before false after each residual add (and then no final norm, as with
            // _remove_final_layer_norm).
            boolean before = ConfigReader.bool(root, "do_layer_norm_before", source, true);
            boolean removeFinal =
                    ConfigReader.bool(root, "_remove_final_layer_norm", source, false);
            block =
                    Block.of(act, 1f, false, false, 1.0 / Math.sqrt(headDim), 0, 0, 1, 1, false)
                            .withBiasedLayerNorms()
                            .withOpt(!before, before && !removeFinal);
            qkvBias = ConfigReader.bool(root, "enable_bias", source, true);
            oBias = qkvBias;
            mlpBias = qkvBias;
        }
        if (starcoder2) {
            // Llama's attention modules and a gate-less MLP (c_fc, c_proj), use_bias on all six,
            // behind LayerNorms with a bias.
            block = block.withBiasedLayerNorms();
            qkvBias = ConfigReader.bool(root, "use_bias", source, true);
            oBias = qkvBias;
            mlpBias = qkvBias;
        }
        if (arch.equals("SeedOssForCausalLM")) {
            // Llama's modules; attention_bias (default true) on q, k and v, attention_out_bias on
            // o.
            qkvBias = ConfigReader.bool(root, "attention_bias", source, true);
            oBias = ConfigReader.bool(root, "attention_out_bias", source, false);
            mlpBias = ConfigReader.bool(root, "mlp_bias", source, false);
        }
        if (arch.equals("Ernie4_5ForCausalLM") || arch.equals("Ernie4_5_MoeForCausalLM")) {
            // Llama's modules rotating adjacent pairs; use_bias puts biases on all seven.
            block = block.withInterleavedRotary();
            qkvBias = ConfigReader.bool(root, "use_bias", source, false);
            oBias = qkvBias;
            mlpBias = qkvBias;
        }
        // The ids as config.json gives them: without generation_config.json, transformers' generate
        // reads config.json itself as its generation config, so an absent eos_token_id stops on
        // nothing there, whatever the config class's default (which only the model config holds).
        int bos =
                ConfigReader.has(root, "bos_token_id")
                        ? ConfigReader.intField(root, "bos_token_id", source, null, MAX_VOCAB)
                        : -1;
        List<Integer> eos = tokenIds(root.get("eos_token_id"), source, "eos_token_id");
        if (arch.equals("GlmForCausalLM") || arch.equals("Glm4ForCausalLM")) {
            // Llama's attention rotating adjacent pairs of the leading dimensions, attention_bias
            // (default true) on q, k and v but not o; Phi-3's fused gate_up_proj. GLM-4 adds a
            // norm after attention and after the MLP, each before its residual add.
            block = block.withInterleavedRotary();
            if (arch.equals("Glm4ForCausalLM")) {
                block = block.withSandwichNorms();
            }
            qkvBias = ConfigReader.bool(root, "attention_bias", source, true);
            oBias = false;
            mlpBias = false;
            // GlmConfig.__post_init__ sets its three EOS ids on the model config only: generate
            // reads config.json itself, so a file without eos_token_id stops on none of them.
        }
        if (glm4Moe) {
            // attention_bias (default false) reaches q, k and v; o_proj and the MLPs have none
            qkvBias = ConfigReader.bool(root, "attention_bias", source, false);
            oBias = false;
            mlpBias = false;
        }
        Experts experts =
                arch.equals("MixtralForCausalLM")
                        ? mixtralExperts(root, inter, layers, source)
                        : qwen3MoE
                                ? qwenMoeExperts(root, layers, false, source)
                                : arch.equals("Qwen2MoeForCausalLM")
                                        ? qwenMoeExperts(root, layers, true, source)
                                        : olmoe
                                                ? olmoeExperts(root, inter, layers, 64, 8, source)
                                                : flexOlmo
                                                        ? olmoeExperts(
                                                                root, inter, layers, 7, 5, source)
                                                        : gptOss
                                                                ? gptOssExperts(
                                                                        root, inter, layers, source)
                                                                : graniteMoe
                                                                        ? graniteMoeExperts(
                                                                                root,
                                                                                inter,
                                                                                layers,
                                                                                arch.equals(
                                                                                        "GraniteMoeSharedForCausalLM"),
                                                                                source)
                                                                        : glm4Moe || dots1
                                                                                ? glm4MoeExperts(
                                                                                        root,
                                                                                        layers,
                                                                                        dots1,
                                                                                        source)
                                                                                : ernieMoe
                                                                                        ? ernieMoeExperts(
                                                                                                root,
                                                                                                layers,
                                                                                                source)
                                                                                        : null;
        if (ernieMoe && experts != null && !experts.sparse().contains(false)) {
            // use_bias reaches the dense layers' MLP only: with none, there is none to bias
            mlpBias = false;
        }
        return new ModelConfig(
                arch,
                hidden,
                inter,
                layers,
                heads,
                kvHeads,
                headDim,
                vocab,
                maxPos,
                eps,
                rope,
                tied,
                qkvBias,
                oBias,
                mlpBias,
                qkNorm,
                window,
                sliding,
                block,
                bos,
                eos,
                slidingRope,
                rotary,
                opt ? optEmbeddingWidth(root, hidden, source) : hidden,
                experts);
    }

    /**
     * Mixtral's experts: {@code num_local_experts} (default 8; {@code num_experts} is its alias in
     * MixtralConfig's attribute_map) and {@code num_experts_per_tok} (default 2), the picked
     * experts' weights always renormalized (MixtralTopKRouter).
     */
    private static Experts mixtralExperts(JsonNode root, int inter, int layers, String source) {
        return Experts.everyLayer(
                countAndPerToken(root, expertCountName(root, source), 8, 2, source),
                true,
                inter,
                true,
                layers,
                false,
                Experts.Routing.SOFTMAX_THEN_TOP_K);
    }

    /**
     * The expert count under {@code countName} and {@code num_experts_per_tok}, with the config
     * class's defaults, checked as torch.topk needs them.
     */
    private static int[] countAndPerToken(
            JsonNode root, String countName, int countDefault, int perTokenDefault, String source) {
        int count = ConfigReader.intField(root, countName, source, countDefault, 1 << 16);
        int perToken =
                ConfigReader.intField(
                        root, "num_experts_per_tok", source, perTokenDefault, 1 << 16);
        checkPerToken(count, perToken, countName, source);
        return new int[] {count, perToken};
    }

    /**
     * Qwen3-MoE's experts: {@code num_experts} (default 128; {@code num_local_experts} its alias),
     * {@code num_experts_per_tok} (default 8) {@code moe_intermediate_size} wide (default 768), the
     * picked weights renormalized only with {@code norm_topk_prob} (default false) and cast back to
     * the compute dtype; a layer routes through them unless {@code mlp_only_layers} lists it or
     * {@code decoder_sparse_step} skips it (layer l is sparse when (l + 1) % step == 0), as
     * Qwen3MoeDecoderLayer decides. Qwen2-MoE's ({@code qwen2}): the same rules with its defaults
     * (60 experts, 4 per token, 1408 wide), no alias of {@code num_experts}, and a shared expert
     * {@code shared_expert_intermediate_size} wide (default 5632) in every sparse layer.
     */
    private static Experts qwenMoeExperts(JsonNode root, int layers, boolean qwen2, String source) {
        String countName = qwen2 ? "num_experts" : expertCountName(root, source);
        int count = ConfigReader.intField(root, countName, source, qwen2 ? 60 : 128, 1 << 16);
        int perToken =
                ConfigReader.intField(root, "num_experts_per_tok", source, qwen2 ? 4 : 8, 1 << 16);
        int inter =
                ConfigReader.intField(
                        root, "moe_intermediate_size", source, qwen2 ? 1408 : 768, MAX_DIM);
        int shared =
                qwen2
                        ? ConfigReader.intField(
                                root, "shared_expert_intermediate_size", source, 5632, MAX_DIM * 8)
                        : 0;
        int step = ConfigReader.intField(root, "decoder_sparse_step", source, 1, MAX_LAYERS);
        boolean normalize = ConfigReader.bool(root, "norm_topk_prob", source, false);
        java.util.Set<Integer> denseOnly = new java.util.HashSet<>();
        JsonNode only = root.get("mlp_only_layers");
        if (only != null && !only.isNull()) {
            if (!only.isArray()) {
                throw new ModelFormatException(
                        source + ": mlp_only_layers must be a list of layer indices, got " + only);
            }
            for (JsonNode n : only) {
                if (!n.isIntegralNumber()) {
                    throw new ModelFormatException(
                            source + ": mlp_only_layers must hold layer indices, got " + n);
                }
                denseOnly.add(n.asInt());
            }
        }
        List<Boolean> sparse = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            sparse.add(!denseOnly.contains(l) && count > 0 && (l + 1) % step == 0);
        }
        if (!sparse.contains(true)) {
            return null; // every layer dense (no experts, or every layer in mlp_only_layers)
        }
        checkPerToken(count, perToken, countName, source);
        return new Experts(
                count,
                perToken,
                normalize,
                inter,
                false,
                sparse,
                shared,
                false,
                false,
                Experts.Routing.SOFTMAX_THEN_TOP_K,
                null,
                0,
                false);
    }

    /**
     * GLM-4-MoE's experts (Glm4MoeMoE): {@code n_routed_experts} (default 128; {@code
     * num_local_experts} its alias), {@code num_experts_per_tok} (default 8) {@code
     * moe_intermediate_size} wide (default 1408) in the layers from {@code first_k_dense_replace}
     * on (default 1; the layers before it keep the dense MLP), beside a shared expert {@code
     * n_shared_experts} x moe_intermediate_size wide (default 1) every token passes, added ungated;
     * picked by the group-limited sigmoid router ({@code n_group} and {@code topk_group}, default
     * 1, {@code routed_scaling_factor} default 1, {@code norm_topk_prob} default true). The configs
     * transformers fails on, or routes through masked experts, are refused by name.
     */
    private static Experts glm4MoeExperts(JsonNode root, int layers, boolean dots1, String source) {
        if (!dots1) {
            // DeepSeek-V3-style fields some GLM-4.5 conversions carry, which Glm4MoeConfig does
            // not declare and its model never reads: served at the routing it computes, refused
            // otherwise
            String arch = "Glm4MoeForCausalLM";
            checkLoose(
                    root,
                    "topk_method",
                    TextNode.valueOf("noaux_tc"),
                    arch,
                    "it routes by the corrected scores within the best groups",
                    source);
            checkLoose(
                    root,
                    "scoring_func",
                    TextNode.valueOf("sigmoid"),
                    arch,
                    "its scores are sigmoids",
                    source);
            checkLoose(
                    root,
                    "moe_router_dtype",
                    TextNode.valueOf("float32"),
                    arch,
                    "its router computes in float32",
                    source);
            JsonNode step = root.get("decoder_sparse_step");
            if (step != null
                    && !step.isNull()
                    && !(step.isIntegralNumber() && step.asLong() == 1)) {
                throw new ModelFormatException(
                        source
                                + ": decoder_sparse_step "
                                + step
                                + " is not a Glm4MoeConfig field: Glm4MoeForCausalLM routes every"
                                + " layer from first_k_dense_replace on (only 1 is served)");
            }
        }
        if (ConfigReader.has(root, "n_routed_experts")
                && ConfigReader.has(root, "num_local_experts")) {
            throw new ModelFormatException(
                    source
                            + ": both n_routed_experts and num_local_experts are given (the config"
                            + " maps num_local_experts onto n_routed_experts; which one wins depends"
                            + " on the order transformers sets them)");
        }
        String countName =
                ConfigReader.has(root, "num_local_experts")
                        ? "num_local_experts"
                        : "n_routed_experts";
        int count = ConfigReader.intField(root, countName, source, 128, 1 << 16);
        int perToken = ConfigReader.intField(root, "num_experts_per_tok", source, 8, 1 << 16);
        int inter = ConfigReader.intField(root, "moe_intermediate_size", source, 1408, MAX_DIM);
        // Dots1Config: no dense layers and no renormalization by default
        int firstSparse =
                ConfigReader.intField(
                        root, "first_k_dense_replace", source, dots1 ? 0 : 1, MAX_LAYERS * 64);
        List<Boolean> sparse = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            sparse.add(l >= firstSparse);
        }
        if (!sparse.contains(true)) {
            return null; // every layer dense: Glm4MoeDecoderLayer builds no router or experts
        }
        if (dots1) {
            // Dots1Config's None defaults: its experts cannot be built without them
            for (String f : List.of(countName, "num_experts_per_tok", "n_shared_experts")) {
                if (!ConfigReader.has(root, f)) {
                    throw new ModelFormatException(
                            source
                                    + ": Dots1ForCausalLM needs "
                                    + f
                                    + " (Dots1Config's default is None; transformers 5 fails"
                                    + " building its experts without it)");
                }
            }
        }
        checkPerToken(count, perToken, countName, source);
        int shared = ConfigReader.intField(root, "n_shared_experts", source, 1, 1 << 16);
        int groups = ConfigReader.intField(root, "n_group", source, 1, 1 << 16);
        int topKGroups = ConfigReader.intField(root, "topk_group", source, 1, 1 << 16);
        double scale = ConfigReader.number(root, "routed_scaling_factor", source, 1.0);
        if (count % groups != 0 || count / groups < 2 || topKGroups > groups) {
            // Glm4MoeTopkRouter views the scores as [groups, experts / groups], takes each group's
            // best two and then the best topk_group groups: torch fails otherwise
            throw new ModelFormatException(
                    source
                            + ": n_group "
                            + groups
                            + " and topk_group "
                            + topKGroups
                            + " with "
                            + countName
                            + " "
                            + count
                            + " are not supported (needs n_group to divide the experts into groups"
                            + " of at least two, and topk_group <= n_group; transformers fails"
                            + " otherwise)");
        }
        if ((long) perToken > (long) topKGroups * (count / groups)) {
            throw new ModelFormatException(
                    source
                            + ": num_experts_per_tok "
                            + perToken
                            + " exceeds the "
                            + (long) topKGroups * (count / groups)
                            + " experts of the topk_group best groups (transformers would then"
                            + " pick experts its group mask excludes)");
        }
        long sharedWidth = (long) shared * inter;
        if (shared < 1 || sharedWidth > MAX_DIM * 8L) {
            throw new ModelFormatException(
                    source
                            + ": n_shared_experts "
                            + shared
                            + " is not supported (the shared expert is n_shared_experts x"
                            + " moe_intermediate_size wide; 0 builds a zero-width MLP the engine"
                            + " does not load)");
        }
        return new Experts(
                count,
                perToken,
                ConfigReader.bool(root, "norm_topk_prob", source, !dots1),
                inter,
                true, // float32 weights times the experts' outputs, as Mixtral's
                sparse,
                (int) sharedWidth,
                false,
                false,
                Experts.Routing.SIGMOID_GROUPED_TOP_K,
                new Experts.Grouped(groups, topKGroups, scale),
                0,
                false);
    }

    /**
     * ERNIE 4.5's experts (Ernie4_5_MoeSparseMoeBlock): {@code moe_num_experts} (default 64; {@code
     * num_experts} its alias), {@code moe_k} (default 6; {@code num_experts_per_tok} its alias)
     * {@code moe_intermediate_size} wide (default 1536), in the layers l with (l + 1) % {@code
     * moe_layer_interval} == 0 from {@code moe_layer_start_index} (default 1) to {@code
     * moe_layer_end_index} (default -1: the last); shared experts {@code moe_num_shared_experts} x
     * moe_intermediate_size wide (default 2; 0: none); the picked weights divided by their sum, at
     * least {@code moe_norm_min} (default 1e-12).
     */
    private static Experts ernieMoeExperts(JsonNode root, int layers, String source) {
        String countName = aliasOf(root, "moe_num_experts", "num_experts", source);
        String perTokenName = aliasOf(root, "moe_k", "num_experts_per_tok", source);
        int count = ConfigReader.intField(root, countName, source, 64, 1 << 16);
        int perToken = ConfigReader.intField(root, perTokenName, source, 6, 1 << 16);
        int inter = ConfigReader.intField(root, "moe_intermediate_size", source, 1536, MAX_DIM);
        int start =
                ConfigReader.intField(root, "moe_layer_start_index", source, 1, MAX_LAYERS * 64);
        int interval =
                ConfigReader.intField(root, "moe_layer_interval", source, 1, MAX_LAYERS * 64);
        JsonNode endNode = root.get("moe_layer_end_index");
        long end = layers - 1;
        if (endNode != null && !endNode.isNull()) {
            if (!endNode.isIntegralNumber()) {
                throw new ModelFormatException(
                        source + ": moe_layer_end_index must be an integer, got " + endNode);
            }
            // Ernie4_5_MoeConfig turns -1 into the last layer; other values are compared as they
            // are
            end = endNode.asLong() == -1 ? layers - 1 : endNode.asLong();
        }
        List<Boolean> sparse = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            sparse.add((l + 1) % interval == 0 && l >= start && l <= end);
        }
        if (!sparse.contains(true)) {
            return null; // every layer dense
        }
        checkPerToken(count, perToken, countName, source);
        int shared = ConfigReader.intField(root, "moe_num_shared_experts", source, 2, 1 << 16);
        long sharedWidth = (long) shared * inter;
        if (sharedWidth > MAX_DIM * 8L) {
            throw new ModelFormatException(
                    source + ": moe_num_shared_experts " + shared + " is out of range");
        }
        double normMin = ConfigReader.number(root, "moe_norm_min", source, 1e-12);
        return new Experts(
                count,
                perToken,
                true,
                inter,
                false, // the weights cast to the compute dtype before they scale the outputs
                sparse,
                (int) sharedWidth,
                false,
                false,
                Experts.Routing.SOFTMAX_CORRECTED_TOP_K,
                null,
                normMin,
                // use_bias reaches the shared experts' projections (not the routed experts')
                shared > 0 && ConfigReader.bool(root, "use_bias", source, false));
    }

    /**
     * The field holding a value a config class's attribute_map also reads under {@code alias}; a
     * file giving both is refused.
     */
    private static String aliasOf(JsonNode root, String field, String alias, String source) {
        if (ConfigReader.has(root, field) && ConfigReader.has(root, alias)) {
            throw new ModelFormatException(
                    source
                            + ": both "
                            + field
                            + " and "
                            + alias
                            + " are given (the config maps "
                            + alias
                            + " onto "
                            + field
                            + "; which one wins depends on the order transformers sets them)");
        }
        return ConfigReader.has(root, alias) ? alias : field;
    }

    /**
     * GPT-OSS's experts: {@code num_local_experts} (default 128; {@code num_experts} its alias) and
     * {@code num_experts_per_tok} (default 4), {@code intermediate_size} wide, in every layer; its
     * router picks by logits and softmaxes the picked ones (GptOssTopKRouter), its experts carry
     * biases and a clamped SwiGLU ({@link Experts#gptOss}).
     */
    private static Experts gptOssExperts(JsonNode root, int inter, int layers, String source) {
        return Experts.everyLayer(
                countAndPerToken(root, expertCountName(root, source), 128, 4, source),
                false,
                inter,
                false,
                layers,
                true,
                Experts.Routing.TOP_K_THEN_SOFTMAX);
    }

    /**
     * GraniteMoE's experts: {@code num_local_experts} (default 8) and {@code num_experts_per_tok}
     * (default 2), {@code intermediate_size} wide, in every layer; its router picks by float32
     * logits and softmaxes the picked ones in float32, cast to the compute dtype
     * (GraniteMoeTopKRouter). GraniteMoeShared's ({@code shared}) add a shared MLP {@code
     * shared_intermediate_size} wide (default 0: none) to every layer.
     */
    private static Experts graniteMoeExperts(
            JsonNode root, int inter, int layers, boolean shared, String source) {
        Experts experts =
                Experts.everyLayer(
                        countAndPerToken(root, "num_local_experts", 8, 2, source),
                        false,
                        inter,
                        false,
                        layers,
                        false,
                        Experts.Routing.TOP_K_THEN_FLOAT32_SOFTMAX);
        return shared
                ? experts.withFusedShared(
                        ConfigReader.intField(
                                root, "shared_intermediate_size", source, 0, MAX_DIM * 8))
                : experts;
    }

    /**
     * OLMo's and OLMoE's {@code clip_qkv}: absent or null is no clamp (0 here); otherwise a
     * positive number (transformers would clamp to [-0, 0] at 0, which the engine's 0 does not
     * mean).
     */
    private static double clipQkv(JsonNode root, String source) {
        if (!ConfigReader.has(root, "clip_qkv")) {
            return 0;
        }
        double clip = ConfigReader.number(root, "clip_qkv", source, 0);
        if (!(clip > 0 && Double.isFinite(clip))) {
            throw new ModelFormatException(
                    source + ": clip_qkv must be a positive number or null, got " + clip);
        }
        return clip;
    }

    /** Refuses a head_dim whose heads do not span hidden_size where the model needs them to. */
    private static void requireHeadsSpanHidden(
            int heads, int headDim, int hidden, String source, String why) {
        if ((long) heads * headDim != hidden) {
            throw new ModelFormatException(
                    source
                            + ": num_attention_heads x head_dim ("
                            + heads
                            + " x "
                            + headDim
                            + ") must equal hidden_size ("
                            + hidden
                            + "): "
                            + why);
        }
    }

    /**
     * OLMoE's experts: {@code num_experts} (default 64; {@code num_local_experts} its alias),
     * {@code num_experts_per_tok} (default 8; FlexOlmo's defaults 7 and 5) {@code
     * intermediate_size} wide, in every layer, the picked weights renormalized only with {@code
     * norm_topk_prob} (default false) and cast back to the compute dtype (OlmoeTopKRouter is
     * Qwen3-MoE's).
     */
    private static Experts olmoeExperts(
            JsonNode root,
            int inter,
            int layers,
            int defaultCount,
            int defaultPerToken,
            String source) {
        int[] countAndPerToken =
                countAndPerToken(
                        root, expertCountName(root, source), defaultCount, defaultPerToken, source);
        return Experts.everyLayer(
                countAndPerToken,
                ConfigReader.bool(root, "norm_topk_prob", source, false),
                inter,
                false,
                layers,
                false,
                Experts.Routing.SOFTMAX_THEN_TOP_K);
    }

    /**
     * The field holding the expert count: {@code num_local_experts}, or {@code num_experts}, which
     * the config classes' attribute_map makes its alias; a file giving both is refused.
     */
    private static String expertCountName(JsonNode root, String source) {
        if (ConfigReader.has(root, "num_experts") && ConfigReader.has(root, "num_local_experts")) {
            throw new ModelFormatException(
                    source
                            + ": both num_experts and num_local_experts are given (the config maps"
                            + " num_experts onto num_local_experts; which one wins depends on the"
                            + " order transformers sets them)");
        }
        return ConfigReader.has(root, "num_local_experts") ? "num_local_experts" : "num_experts";
    }

    private static void checkPerToken(int count, int perToken, String countName, String source) {
        if (count < 1 || perToken < 1 || perToken > count) {
            // torch.topk fails on k > the number of experts; zero experts build no router
            throw new ModelFormatException(
                    source
                            + ": num_experts_per_tok "
                            + perToken
                            + " with "
                            + countName
                            + " "
                            + count
                            + " is not supported (needs 1 <= num_experts_per_tok <= experts; torch.topk"
                            + " fails otherwise)");
        }
    }

    /**
     * Refuses the Falcon configs transformers 5 computes differently from what the engine does, or
     * fails on: ALiBi, the new decoder architecture without parallel attention, and a count of
     * parallel-attention norms its decoder layer does not build.
     */
    private static void checkFalcon(JsonNode root, String source) {
        if (ConfigReader.bool(root, "alibi", source, false)) {
            throw new ModelFormatException(
                    source
                            + ": alibi true is not supported for FalconForCausalLM (transformers"
                            + " 5's eager and SDPA attention disagree on it: eager adds the ALiBi"
                            + " bias twice, to the scores and through the mask; only rotary Falcon"
                            + " models are served)");
        }
        boolean newArch = ConfigReader.bool(root, "new_decoder_architecture", source, false);
        boolean parallel = ConfigReader.bool(root, "parallel_attn", source, true);
        JsonNode n = root.get("num_ln_in_parallel_attn");
        if (n != null && !n.isNull() && !n.isIntegralNumber()) {
            throw new ModelFormatException(
                    source + ": num_ln_in_parallel_attn must be an integer or null, got " + n);
        }
        Integer norms = n == null || n.isNull() ? null : n.asInt();
        if (newArch && !parallel) {
            throw new ModelFormatException(
                    source
                            + ": new_decoder_architecture with parallel_attn false is not supported"
                            + " (FalconDecoderLayer then reads norms it did not build; transformers"
                            + " fails)");
        }
        if (newArch && norms != null && norms != 1 && norms != 2) {
            throw new ModelFormatException(
                    source
                            + ": num_ln_in_parallel_attn "
                            + norms
                            + " is not supported (1 or 2; transformers fails on others)");
        }
        if (!newArch && parallel && norms != null && norms == 2) {
            throw new ModelFormatException(
                    source
                            + ": num_ln_in_parallel_attn 2 without new_decoder_architecture is not"
                            + " supported (FalconDecoderLayer builds ln_attn and ln_mlp but reads"
                            + " input_layernorm; transformers fails)");
        }
    }

    /** Whether the decoder maps embeddings in and out of its width (OPT's project_in / out). */
    public boolean projectsEmbeddings() {
        return embeddingWidth != hiddenSize;
    }

    /**
     * GPT-J's rotary embedding: the default one (theta 10000, create_sinusoidal_positions) over the
     * leading rotary_dim dimensions of each head.
     */
    private static RopeParameters gptjRope(int rotaryDim, int headDim, String source) {
        if (rotaryDim <= 0 || rotaryDim > headDim || rotaryDim % 2 != 0) {
            throw new ModelFormatException(
                    source
                            + ": rotary_dim "
                            + rotaryDim
                            + " must be even and at most the head width "
                            + headDim);
        }
        RopeParameters rope =
                new RopeParameters(
                        "default", 10000, 1, 1, 1, 0, null, null, rotaryDim / (double) headDim);
        if (rope.rotaryDim(headDim) != rotaryDim) {
            throw new IllegalStateException("rotary_dim " + rotaryDim + " of " + headDim);
        }
        return rope;
    }

    /** Bloom's fields this server does not compute, refused by name. */
    private static void checkBloom(JsonNode root, String source) {
        if (ConfigReader.bool(root, "slow_but_exact", source, false)) {
            throw new ModelFormatException(
                    source + ": slow_but_exact true is not supported for BloomForCausalLM");
        }
    }

    /** OPT's fields this server does not compute, refused by name. */
    private static void checkOpt(JsonNode root, String source) {
        if (!ConfigReader.bool(root, "layer_norm_elementwise_affine", source, true)) {
            throw new ModelFormatException(
                    source
                            + ": layer_norm_elementwise_affine false is not supported for"
                            + " OPTForCausalLM (LayerNorms without weight and bias)");
        }
    }

    /** OPT's word_embed_proj_dim (null: hidden_size, as OPTConfig.__post_init__ sets it). */
    private static int optEmbeddingWidth(JsonNode root, int hidden, String source) {
        JsonNode proj = root.get("word_embed_proj_dim");
        return proj == null || proj.isNull()
                ? hidden
                : ConfigReader.intField(root, "word_embed_proj_dim", source, null, MAX_DIM);
    }

    /**
     * Every supported model builds its token embedding with {@code padding_idx = pad_token_id},
     * which PyTorch refuses outside {@code [-vocab_size, vocab_size)}: such a config is refused by
     * name, as transformers 5 cannot build the model. Absent, the config class's default (Phi-3
     * 32000, SmolLM3 128004, GLM 151329, FlexOlmo 100277, Helium 3, OLMo 2 and 3, Seed-OSS and
     * NanoChat 1, Gemma and ERNIE 4.5 0, none elsewhere).
     */
    /**
     * A field the config class does not declare and its model ignores (Persimmon's
     * num_key_value_heads and head_dim, GLM-4-MoE's DeepSeek-V3 fields, Apertus's qk_norm and
     * post_norm): served only null or at the value that describes what the model computes ({@code
     * used}), refused by name otherwise.
     */
    private static void checkLoose(
            JsonNode root, String field, JsonNode used, String arch, String why, String source) {
        JsonNode v = root.get(field);
        if (v != null && !v.isNull() && !v.equals(used)) {
            throw new ModelFormatException(
                    source
                            + ": "
                            + field
                            + " "
                            + v
                            + " is not supported for "
                            + arch
                            + ": its config class has no such field and transformers ignores it ("
                            + why
                            + "; only "
                            + used
                            + " is served)");
        }
    }

    private static void checkPadToken(JsonNode root, String arch, int vocab, String source) {
        JsonNode pad = root.get("pad_token_id");
        long id;
        if (pad == null) {
            id =
                    switch (arch) {
                        case "Phi3ForCausalLM" -> 32000;
                        case "SmolLM3ForCausalLM" -> 128004;
                        case "OlmoForCausalLM", "Olmo2ForCausalLM", "Olmo3ForCausalLM" -> 1;
                        case "HeliumForCausalLM" -> 3;
                        case "SeedOssForCausalLM" -> 1;
                        case "GlmForCausalLM", "Glm4ForCausalLM" -> 151329;
                        case "CohereForCausalLM", "Cohere2ForCausalLM" -> 0;
                        case "FlexOlmoForCausalLM" -> 100277;
                        case "NanoChatForCausalLM" -> 1;
                        case "OPTForCausalLM" -> 1;
                        case "Ministral3ForCausalLM" -> 11;
                        case "ApertusForCausalLM" -> 3;
                        default -> 0; // Gemma's 0, or none: always inside
                    };
        } else if (pad.isNull()) {
            return;
        } else if (pad.isIntegralNumber()) {
            id = pad.asLong();
        } else {
            throw new ModelFormatException(source + ": pad_token_id must be an integer or null");
        }
        if (id >= vocab || id < -vocab) {
            throw new ModelFormatException(
                    source
                            + ": pad_token_id "
                            + id
                            + (pad == null ? " (the config class's default)" : "")
                            + " is outside the vocabulary of "
                            + vocab
                            + " tokens; transformers 5 cannot build the model's embedding with it");
        }
    }

    /**
     * Gemma's {@code hidden_activation}: transformers 4 applied it when set, transformers 5 reads
     * {@code hidden_act} only (legacy {@code gelu} as the tanh approximation). Official Gemma
     * configs carry both; they agree there, and where they do not the two versions compute
     * different models, so the config is refused by name.
     */
    private static void checkLegacyGemmaActivation(JsonNode root, Activation act, String source) {
        JsonNode legacy = root.get("hidden_activation");
        if (legacy == null || legacy.isNull()) {
            return;
        }
        if (!legacy.isTextual() || Activation.byName(legacy.asText(), source) != act) {
            throw new ModelFormatException(
                    source
                            + ": hidden_activation "
                            + legacy
                            + " differs from the hidden_act transformers 5 applies ("
                            + act.hfName
                            + "); transformers 4 applied hidden_activation, so the two compute"
                            + " different models");
        }
    }

    /**
     * Which layers attend through a sliding window, as transformers decides it: Mistral windows
     * every layer when {@code sliding_window} is set; Qwen2, Qwen3 and Qwen2-MoE window the layers
     * whose {@code layer_types} entry is {@code sliding_attention} (derived from {@code
     * max_window_layers} when absent), and only with {@code use_sliding_window} and a {@code
     * sliding_window}.
     */
    private static List<Boolean> slidingLayers(
            JsonNode root, String arch, int layers, String source) {
        List<Boolean> out = new ArrayList<>(noSlidingLayers(layers));
        if (arch.equals("Qwen3MoeForCausalLM")) {
            // Qwen3MoeConfig keeps sliding_window (default 4096) only with use_sliding_window, and
            // then every layer windows (it has no layer_types or max_window_layers).
            boolean nullWindow = root.has("sliding_window") && root.get("sliding_window").isNull();
            if (ConfigReader.bool(root, "use_sliding_window", source, false) && !nullWindow) {
                java.util.Collections.fill(out, true);
            }
            return out;
        }
        if (arch.equals("MistralForCausalLM")
                || arch.equals("Phi3ForCausalLM")
                || arch.equals("Starcoder2ForCausalLM")
                || arch.equals("MixtralForCausalLM")
                || arch.equals("Ministral3ForCausalLM")) {
            // MistralConfig's sliding_window defaults to 4096 (an explicit null turns it off);
            // Phi3Config's, Starcoder2Config's, MixtralConfig's and Ministral3Config's to null.
            boolean mistralDefault =
                    arch.equals("MistralForCausalLM") && !root.has("sliding_window");
            if (ConfigReader.has(root, "sliding_window") || mistralDefault) {
                java.util.Collections.fill(out, true);
            }
            return out;
        }
        boolean gemma3 = arch.equals("Gemma3ForCausalLM");
        boolean olmo3 = arch.equals("Olmo3ForCausalLM");
        // Gemma 2 and 3 and OLMo 3 have no use_sliding_window switch: their sliding_window
        // (default 4096) applies to the layers typed sliding_attention.
        boolean ministral = arch.equals("MinistralForCausalLM");
        // GPT-OSS too (default window 128): without layer_types its even layers slide
        // CWM: layer types of Qwen2's attention on Llama's block, a window always built
        boolean cwm = arch.equals("CwmForCausalLM");
        boolean typedOnly =
                arch.equals("Gemma2ForCausalLM")
                        || arch.equals("VaultGemmaForCausalLM")
                        || cwm
                        || gemma3
                        || olmo3
                        || ministral
                        || arch.equals("GptOssForCausalLM");
        boolean qwen2Moe = arch.equals("Qwen2MoeForCausalLM");
        // Dots1Config has no use_sliding_window: its window (default 4096, null: none) always
        // applies, from max_window_layers (default 62) on
        boolean dots1 = arch.equals("Dots1ForCausalLM");
        if (!arch.equals("Qwen2ForCausalLM")
                && !arch.equals("Qwen3ForCausalLM")
                && !qwen2Moe
                && !dots1
                && !typedOnly) {
            return out;
        }
        // Without layer_types every pattern-th layer is full attention and the others slide:
        // Gemma 2 every other layer, Gemma 3 sliding_window_pattern (default 6), OLMo 3 every
        // fourth; Ministral slides every layer (when it has a window).
        int pattern =
                gemma3
                        ? ConfigReader.intField(
                                root, "sliding_window_pattern", source, 6, MAX_LAYERS)
                        : olmo3 ? 4 : ministral ? Integer.MAX_VALUE : 2;
        boolean use =
                typedOnly || dots1 || ConfigReader.bool(root, "use_sliding_window", source, false);
        // An absent sliding_window is the class default (4096 for Qwen2 and Qwen3 too, kept with
        // use_sliding_window); only an explicit null means none.
        boolean window =
                use && !(root.has("sliding_window") && root.get("sliding_window").isNull());
        if (typedOnly && root.has("sliding_window") && root.get("sliding_window").isNull()) {
            // Their models build the sliding-window mask for every forward pass, whatever the
            // layer types: transformers 5 fails on any input without a window.
            throw new ModelFormatException(
                    source
                            + ": sliding_window null is not supported for "
                            + arch
                            + " (transformers 5 builds its sliding-window mask on every forward"
                            + " pass and fails without a window)");
        }
        int maxWindowLayers =
                ConfigReader.intField(
                        root, "max_window_layers", source, dots1 ? 62 : 28, MAX_LAYERS);
        List<Boolean> typed = slidingTypes(root, layers, source);
        if (typed != null) {
            for (int l = 0; l < layers; l++) {
                if (typed.get(l) && !window) {
                    // transformers 5 keeps the layer type but drops the window (use_sliding_window
                    // false or absent, or sliding_window null): its forward and generate then fail.
                    throw new ModelFormatException(
                            source
                                    + ": layer_types marks layer "
                                    + l
                                    + " sliding_attention but the model has no sliding window"
                                    + " (use_sliding_window false or absent, or sliding_window"
                                    + " null); transformers 5 fails on such a model too");
                }
                out.set(l, typed.get(l));
            }
        } else {
            for (int l = 0; l < layers; l++) {
                // Qwen2MoeConfig slides the even layers below max_window_layers; Qwen2Config
                // and Qwen3Config the layers from max_window_layers on
                out.set(
                        l,
                        window
                                && (cwm
                                        ? l % 4 != 0 // CwmConfig: layers 0, 4, 8 ... full
                                        : typedOnly
                                                ? (l + 1) % pattern != 0
                                                : qwen2Moe
                                                        ? l % 2 == 0 && l < maxWindowLayers
                                                        : l >= maxWindowLayers));
            }
        }
        return out;
    }

    /**
     * EXAONE 4's sliding layers: {@code layer_types}, or without it every {@code
     * sliding_window_pattern}-th layer (default 4) full and the others sliding. Exaone4Config
     * derives the types by {@code (i + 1) % pattern}, which fails for a pattern of 0 (what a null
     * window sets), null or a string, so those are refused without {@code layer_types}; a sliding
     * type without a window fails its mask and is refused too.
     */
    private static List<Boolean> exaoneSlidingLayers(JsonNode root, int layers, String source) {
        boolean window = !(root.has("sliding_window") && root.get("sliding_window").isNull());
        List<Boolean> typed = slidingTypes(root, layers, source);
        if (typed == null) {
            JsonNode p = root.get("sliding_window_pattern");
            if (!window || (p != null && !p.isInt())) {
                throw new ModelFormatException(
                        source
                                + ": without layer_types, Exaone4Config derives the layer types from"
                                + " an integer sliding_window_pattern and a window (got"
                                + " sliding_window_pattern "
                                + p
                                + ", sliding_window "
                                + root.get("sliding_window")
                                + "); transformers 5 fails on this config");
            }
            int pattern =
                    ConfigReader.intField(root, "sliding_window_pattern", source, 4, MAX_LAYERS);
            if (pattern == 0) {
                throw new ModelFormatException(
                        source + ": sliding_window_pattern 0 (Exaone4Config divides by it)");
            }
            typed = new ArrayList<>(layers);
            for (int l = 0; l < layers; l++) {
                typed.add((l + 1) % pattern != 0);
            }
        }
        if (typed.contains(true) && !window) {
            throw new ModelFormatException(
                    source
                            + ": layer_types has sliding layers but sliding_window is null;"
                            + " transformers 5 fails on such a model");
        }
        return typed;
    }

    /**
     * Cohere 2's sliding layers: {@code layer_types}, or without it every {@code
     * sliding_window_pattern}-th layer (a constructor argument, default 4) full and the others
     * sliding. Its model builds the sliding-window mask on every forward pass, so a null {@code
     * sliding_window} is refused (transformers 5 fails on it).
     */
    private static List<Boolean> cohere2SlidingLayers(JsonNode root, int layers, String source) {
        if (root.has("sliding_window") && root.get("sliding_window").isNull()) {
            throw new ModelFormatException(
                    source
                            + ": sliding_window null is not supported for Cohere2ForCausalLM"
                            + " (transformers 5 builds its sliding-window mask on every forward"
                            + " pass and fails without a window)");
        }
        List<Boolean> typed = slidingTypes(root, layers, source);
        if (typed != null) {
            return typed;
        }
        int pattern = ConfigReader.intField(root, "sliding_window_pattern", source, 4, MAX_LAYERS);
        if (pattern == 0) {
            throw new ModelFormatException(
                    source + ": sliding_window_pattern 0 (Cohere2Config divides by it)");
        }
        List<Boolean> out = new ArrayList<>(layers);
        for (int l = 0; l < layers; l++) {
            out.add((l + 1) % pattern != 0);
        }
        return out;
    }

    /**
     * SmolLM3's {@code no_rope_layers}: per layer 1 (rotary) or 0 (no position embedding); absent,
     * every {@code no_rope_layer_interval}-th layer (default 4) goes without, as SmolLM3Config
     * derives it.
     */
    private static List<Boolean> smolRotaryLayers(JsonNode root, int layers, String source) {
        List<Boolean> out = new ArrayList<>(layers);
        JsonNode list = root.get("no_rope_layers");
        if (list == null || list.isNull()) {
            int interval =
                    ConfigReader.intField(root, "no_rope_layer_interval", source, 4, MAX_LAYERS);
            if (interval < 1) {
                throw new ModelFormatException(
                        source + ": no_rope_layer_interval must be at least 1");
            }
            for (int l = 0; l < layers; l++) {
                out.add((l + 1) % interval != 0);
            }
            return out;
        }
        if (!list.isArray() || list.size() < layers) {
            throw new ModelFormatException(
                    source
                            + ": no_rope_layers must list 0 or 1 for each of the "
                            + layers
                            + " layers");
        }
        for (int l = 0; l < layers; l++) {
            JsonNode v = list.get(l);
            if (!v.isInt() || (v.asInt() != 0 && v.asInt() != 1)) {
                throw new ModelFormatException(
                        source + ": no_rope_layers entries must be 0 or 1, got " + v);
            }
            out.add(v.asInt() == 1);
        }
        return out;
    }

    /**
     * SmolLM3's sliding layers: those {@code layer_types} marks sliding_attention, or without it
     * the NoPE layers when {@code use_sliding_window} and {@code sliding_window} are set (as
     * SmolLM3Config derives them). A sliding type without {@code use_sliding_window} is refused:
     * SmolLM3's eager and sdpa attention would still slide (the mask follows the type) while its
     * flash attention would not.
     */
    private static List<Boolean> smolSlidingLayers(
            JsonNode root, int layers, List<Boolean> rotary, String source) {
        boolean use = ConfigReader.bool(root, "use_sliding_window", source, false);
        boolean window = ConfigReader.has(root, "sliding_window");
        List<Boolean> out = new ArrayList<>(noSlidingLayers(layers));
        List<Boolean> typed = slidingTypes(root, layers, source);
        if (typed == null) {
            for (int l = 0; l < layers; l++) {
                out.set(l, use && window && !rotary.get(l));
            }
            return out;
        }
        for (int l = 0; l < layers; l++) {
            if (typed.get(l) && !(use && window)) {
                throw new ModelFormatException(
                        source
                                + ": layer_types marks layer "
                                + l
                                + " sliding_attention but use_sliding_window is not true or"
                                + " sliding_window is null; SmolLM3's attention implementations"
                                + " disagree on such a layer");
            }
            out.set(l, typed.get(l));
        }
        return out;
    }

    /**
     * {@code layer_types} read as per layer whether it is typed sliding_attention, or null when the
     * field is absent; a list of the wrong length or another type is refused by name.
     */
    private static List<Boolean> slidingTypes(JsonNode root, int layers, String source) {
        JsonNode types = root.get("layer_types");
        if (types == null || types.isNull()) {
            return null;
        }
        if (!types.isArray() || types.size() != layers) {
            throw new ModelFormatException(
                    source + ": layer_types must list one type per layer (" + layers + ")");
        }
        List<Boolean> out = new ArrayList<>(layers);
        for (int l = 0; l < layers; l++) {
            String t = types.get(l).asText("");
            if (!t.equals("full_attention") && !t.equals("sliding_attention")) {
                throw new ModelFormatException(
                        source
                                + ": layer type '"
                                + types.get(l)
                                + "' is not supported (full_attention, sliding_attention)");
            }
            out.add(t.equals("sliding_attention"));
        }
        return out;
    }

    /** Parses an {@code eos_token_id} style field: absent, an int, or a list of ints. */
    public static List<Integer> tokenIds(JsonNode node, String source, String field) {
        List<Integer> ids = new ArrayList<>();
        if (node == null || node.isNull()) {
            return ids;
        }
        if (node.isInt()) {
            ids.add(node.asInt());
        } else if (node.isArray()) {
            for (JsonNode n : node) {
                if (!n.isInt()) {
                    throw new ModelFormatException(source + ": '" + field + "' must hold integers");
                }
                ids.add(n.asInt());
            }
        } else {
            throw new ModelFormatException(
                    source + ": '" + field + "' must be an integer or a list of integers");
        }
        return ids;
    }

    /** Number of query heads sharing one key/value head. */
    public int groupSize() {
        return numHeads / numKvHeads;
    }
}
