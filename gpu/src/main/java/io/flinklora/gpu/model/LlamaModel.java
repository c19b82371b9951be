package io.flinklora.gpu.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.safetensors.WeightIndex;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Llama-family decoder (Llama, Mistral, Qwen2, Qwen3, Gemma, Gemma 2) over DJL's PyTorch engine:
 * weights loaded from a Hugging Face folder, and one batched forward pass over a step's tokens
 * against the paged KV cache ({@link PagedKv}).
 *
 * <p>The forward pass computes every projection for all tokens of the step in one matrix product
 * (prefill chunks and decode tokens alike); only attention is laid out per sequence, in the step's
 * {@link AttentionGroup}s: rows with chunks of similar length attend together, padded only among
 * themselves, and their outputs are gathered back into token order before the output projection.
 * Every array it creates belongs to the caller's scope.
 */
@Internal
public final class LlamaModel implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(LlamaModel.class);
    private static final float MASKED = -1e30f;

    private final ModelConfig config;
    private final NDManager manager;
    private int arraysLastForward;
    private final DataType dtype;
    private final Device device;
    // Padded rows worth running one expert alone (SlotPlan). A GPU pays a launch per product, so
    // its experts share padded batched products (64 rows, the LoRA layout's figure; not measured on
    // a GPU). On the benchmark Mixtral (hidden 512, 8 experts, two CPU threads) a decode step's
    // padded batch ran no faster than one product per expert (the padding costs compute a CPU does
    // not have spare; 1,700-2,000 against 1,900-2,800 tok/s, same tokens): a CPU runs each alone.
    private int expertHeavyCost;
    private final NDArray embed;
    // GPT-2's learned position embeddings (wpe), added to the token embeddings; null elsewhere
    private final NDArray positionTable;
    // OPT's project_in [hidden, E] and project_out [E, hidden] when its embeddings are E wide
    // (word_embed_proj_dim); null elsewhere
    private final NDArray projectIn;
    private final NDArray projectOut;
    // Bloom's word_embeddings_layernorm (weight, bias) after the token embedding; null elsewhere
    private final NDArray[] embeddingNorm;
    // ALiBi's per-head slopes [heads] (Bloom); null elsewhere
    private final NDArray alibiSlopes;
    private final NDArray lmHead;

    /** Phi's output head bias, or null. */
    private final NDArray lmHeadBias;

    private final NDArray finalNorm;
    private final NDArray finalNormBias;
    private final Layer[] layers;
    private final NDArray ropeCos;
    private final NDArray ropeSin;

    /** Gemma 3's sliding layers' own rotary tables, or null where every layer uses the above. */
    private final NDArray localCos;

    private final NDArray localSin;

    /**
     * Ministral 3's query scale per rotary table row, {@code [rows, 1]}; null elsewhere (see {@link
     * RopeParameters.QueryScale}).
     */
    private final NDArray queryScales;

    private final NDArray rotateHalf;
    private final int maxPositions;
    private final Constants constants;

    /**
     * The numbers the forward pass multiplies by, made once as DJL would make them from the Java
     * number (same dtype, so the same arithmetic) but in memory PyTorch owns: DJL frees a number's
     * array as soon as the operation returns, while autograd keeps it for the backward pass when
     * the trainer differentiates through {@link #logitsCausal}.
     */
    private record Constants(
            NDArray embedScale,
            NDArray rmsEps,
            NDArray minusHalf,
            NDArray[] attentionScales,
            NDArray attentionCap,
            NDArray finalCap,
            NDArray half,
            NDArray three,
            NDArray geluCubic,
            NDArray geluScale,
            NDArray quickGelu,
            NDArray one,
            NDArray residualScale,
            NDArray logitsScaling,
            NDArray logitScale) {
        static Constants of(ModelConfig c, NDManager m) {
            ModelConfig.Block b = c.block();
            return new Constants(
                    owned(m.create(b.embedScale())),
                    owned(m.create(c.rmsNormEps())),
                    owned(m.create(-0.5)),
                    java.util.stream.IntStream.range(0, c.numLayers())
                            .mapToObj(l -> owned(m.create(c.attentionScale(l))))
                            .toArray(NDArray[]::new),
                    owned(m.create((float) b.attentionSoftcap())),
                    owned(m.create((float) b.finalSoftcap())),
                    owned(m.create(0.5f)),
                    owned(m.create(3)),
                    owned(m.create(0.044715f)),
                    owned(m.create((float) Math.sqrt(2 / Math.PI))),
                    owned(m.create(1.702f)),
                    owned(m.create(1f)),
                    owned(m.create((float) b.residualScale())),
                    owned(m.create((float) b.logitsScaling())),
                    owned(m.create((float) b.logitScale())));
        }

        /** Layer {@code l}'s query scale. */
        NDArray attentionScale(int l) {
            return attentionScales[l];
        }
    }

    /**
     * Weights of one decoder layer, in the compute dtype on the device; biases and q/k norms may be
     * null (StableLM's input and post-attention LayerNorms alone carry biases).
     */
    record Layer(
            NDArray inputNorm,
            NDArray[] proj,
            NDArray[] bias,
            NDArray postNorm,
            NDArray qNorm,
            NDArray kNorm,
            NDArray qNormBias,
            NDArray kNormBias,
            NDArray preFfnNorm,
            NDArray postFfnNorm,
            NDArray inputNormBias,
            NDArray postNormBias,
            ExpertWeights experts,
            NDArray sinks,
            Xielu xielu) {
        NDArray w(Projection p) {
            return proj[p.ordinal()];
        }

        NDArray b(Projection p) {
            return bias[p.ordinal()];
        }
    }

    /**
     * One layer's xIELU (Apertus's XIELUActivation), as its forward computes it from the loaded
     * {@code act_fn}: {@code alphaP = softplus(alpha_p)}, {@code alphaN = beta + softplus(alpha_n)}
     * ({@code [1]} each), {@code beta} and {@code eps} (0-dimensional buffers, read as saved: a
     * bfloat16 checkpoint's eps is not -1e-6).
     */
    record Xielu(NDArray alphaP, NDArray alphaN, NDArray beta, NDArray eps) {}

    /**
     * A sparse layer's mixture-of-experts weights: the router {@code [experts, hidden]}, and per
     * expert its gate and up projections stacked {@code [2 * intermediate, hidden]} (gate first, as
     * transformers 5 fuses them into gate_up_proj; Mixtral's w1 and w3) and its down projection
     * {@code [hidden, intermediate]} (Mixtral's w2), as views of the experts' stacks; the same
     * stacks as batched-product operands ({@code gateUpBatch [experts, hidden, 2 * intermediate]},
     * {@code downBatch [experts, intermediate, hidden]}, biases {@code [experts, 1, out]}).
     *
     * <p>Qwen2-MoE adds a shared expert every token passes: its gate and up projections stacked
     * {@code [2 * shared, hidden]}, its down projection {@code [hidden, shared]} and its gate
     * {@code [1, hidden]}; null elsewhere. GLM-4-MoE's shared experts have no gate, and its router
     * a float32 score correction {@code [experts]}.
     */
    record ExpertWeights(
            NDArray router,
            NDArray[] gateUp,
            NDArray[] down,
            NDArray sharedGateUp,
            NDArray sharedDown,
            NDArray sharedGate,
            NDArray routerBias,
            NDArray[] gateUpBias,
            NDArray[] downBias,
            NDArray gateUpBatch,
            NDArray downBatch,
            NDArray gateUpBiasBatch,
            NDArray downBiasBatch,
            NDArray scoreCorrection,
            NDArray sharedGateUpBias,
            NDArray sharedDownBias) {

        /**
         * The same experts with a router's per-expert score correction ({@code
         * e_score_correction_bias}, float32 {@code [experts]}: GLM-4-MoE's, dots.llm1's, ERNIE
         * 4.5's) and the shared experts' biases (ERNIE 4.5's use_bias; null elsewhere).
         */
        ExpertWeights corrected(
                NDArray correction, NDArray sharedGateUpBias, NDArray sharedDownBias) {
            return new ExpertWeights(
                    router,
                    gateUp,
                    down,
                    sharedGateUp,
                    sharedDown,
                    sharedGate,
                    routerBias,
                    gateUpBias,
                    downBias,
                    gateUpBatch,
                    downBatch,
                    gateUpBiasBatch,
                    downBiasBatch,
                    correction,
                    sharedGateUpBias,
                    sharedDownBias);
        }

        /**
         * From the experts' stacks: {@code [experts, out, in]}, or with {@code inOut} {@code
         * [experts, in, out]} (GPT-OSS); biases {@code [experts, out]} or null.
         */
        static ExpertWeights stacked(
                NDArray router,
                NDArray routerBias,
                NDArray gateUp,
                NDArray down,
                boolean inOut,
                NDArray gateUpBias,
                NDArray downBias,
                NDArray sharedGateUp,
                NDArray sharedDown,
                NDArray sharedGate) {
            int n = (int) gateUp.getShape().get(0);
            NDArray[] gu = new NDArray[n];
            NDArray[] dn = new NDArray[n];
            NDArray[] gub = gateUpBias == null ? null : new NDArray[n];
            NDArray[] db = downBias == null ? null : new NDArray[n];
            for (int e = 0; e < n; e++) {
                gu[e] = inOut ? gateUp.get(e).transpose() : gateUp.get(e);
                dn[e] = inOut ? down.get(e).transpose() : down.get(e);
                if (gub != null) {
                    gub[e] = gateUpBias.get(e);
                }
                if (db != null) {
                    db[e] = downBias.get(e);
                }
            }
            return new ExpertWeights(
                    router,
                    gu,
                    dn,
                    sharedGateUp,
                    sharedDown,
                    sharedGate,
                    routerBias,
                    gub,
                    db,
                    inOut ? gateUp : gateUp.transpose(0, 2, 1),
                    inOut ? down : down.transpose(0, 2, 1),
                    gateUpBias == null ? null : gateUpBias.expandDims(1),
                    downBias == null ? null : downBias.expandDims(1),
                    null,
                    null,
                    null);
        }
    }

    private LlamaModel(
            ModelConfig config,
            NDManager manager,
            DataType dtype,
            Device device,
            NDArray embed,
            NDArray positionTable,
            NDArray[] projections,
            NDArray[] embeddingNorm,
            NDArray lmHead,
            NDArray lmHeadBias,
            NDArray finalNorm,
            NDArray finalNormBias,
            Layer[] layers,
            int maxPositions) {
        this.config = config;
        this.manager = manager;
        this.dtype = dtype;
        this.device = device;
        this.expertHeavyCost = device.isGpu() ? 64 : 0;
        this.embed = embed;
        this.positionTable = positionTable;
        this.projectIn = projections[0];
        this.projectOut = projections[1];
        this.embeddingNorm = embeddingNorm;
        // MPT's build_mpt_alibi_tensor (1 / 2^(i x 8 / n) over the power of two n at or above the
        // head count, odd-indexed slopes first) gives Bloom's slopes at its alibi_bias_max of 8,
        // the only value MptModel uses
        this.alibiSlopes = config.alibi() ? alibiSlopes(config.numHeads(), manager, dtype) : null;
        this.lmHead = lmHead;
        this.lmHeadBias = lmHeadBias;
        this.finalNorm = finalNorm;
        this.finalNormBias = finalNormBias;
        this.layers = layers;
        this.maxPositions = maxPositions;
        this.constants = Constants.of(config, manager);
        float[][] tables = ropeTables(config, maxPositions);
        int d = config.headDim();
        this.ropeCos =
                manager.create(tables[0], new Shape(tables[0].length / d, d)).toType(dtype, false);
        this.ropeSin =
                manager.create(tables[1], new Shape(tables[1].length / d, d)).toType(dtype, false);
        if (config.slidingRope() != null) {
            float[][] local = ropeTables(config, config.slidingRope(), maxPositions);
            this.localCos =
                    manager.create(local[0], new Shape(local[0].length / d, d))
                            .toType(dtype, false);
            this.localSin =
                    manager.create(local[1], new Shape(local[1].length / d, d))
                            .toType(dtype, false);
        } else {
            this.localCos = null;
            this.localSin = null;
        }
        RopeParameters.QueryScale queryScale = config.rope().queryScale();
        if (queryScale != null) {
            int rows = tables[0].length / d;
            float[] scales = new float[rows];
            for (int r = 0; r < rows; r++) {
                scales[r] = queryScale.at(r % maxPositions); // LongRoPE's rows repeat positions
            }
            this.queryScales = manager.create(scales, new Shape(rows, 1)).toType(dtype, false);
        } else {
            this.queryScales = null;
        }
        float[] rot = new float[d * d];
        int rotary = config.rope().rotaryWidth(d);
        int half = rotary / 2;
        for (int j = 0; j < rotary; j++) {
            if (config.block().interleavedRotary()) {
                // rotate_half(x) = stack(-x[1::2], x[0::2]).flatten(): adjacent pairs (Helium,
                // ERNIE 4.5)
                if (j % 2 == 0) {
                    rot[(j + 1) * d + j] = -1f;
                } else {
                    rot[(j - 1) * d + j] = 1f;
                }
                continue;
            }
            // rotate_half(x) = cat(-x[half:], x[:half]) written as x @ R, on the rotary dimensions
            // only: the columns of the dimensions that pass through stay zero (their sin is 0).
            if (j < half) {
                rot[(j + half) * d + j] = -1f;
            } else {
                rot[(j - half) * d + j] = 1f;
            }
        }
        if (config.nanoChat()) {
            // NanoChat's rotate_half is cat(x2, -x1): the other way round
            for (int i = 0; i < rot.length; i++) {
                rot[i] = -rot[i];
            }
        }
        this.rotateHalf = manager.create(rot, new Shape(d, d)).toType(dtype, false);
    }

    /**
     * Loads a Hugging Face model folder ({@code config.json} + {@code model.safetensors} or a
     * sharded index).
     *
     * @param maxPositions positions to prepare rotary tables for (at most the model's context)
     */
    public static LlamaModel load(
            Path dir, NDManager parent, Device device, DataType dtype, int maxPositions) {
        ModelConfig config = ModelConfig.read(dir);
        int positions = Math.min(maxPositions, config.maxPositions());
        NDManager manager = parent.newSubManager(device);
        long t0 = System.nanoTime();
        try (WeightIndex weights = WeightIndex.open(dir)) {
            Loader loader =
                    new Loader(
                            weights,
                            config.basePrefix(),
                            manager,
                            dtype,
                            device,
                            config.block().normPlusOne());
            int h = config.hiddenSize();
            // GPT-NeoX's root is gpt_neox. (embed_in), and transformers 5 saves its head under
            // the old name embed_out.
            boolean neox = config.gptNeoX();
            // GPT-BigCode, GPT-J and GPT-Neo: GPT-2's names
            boolean gpt2 = config.gpt2Tree();
            String root = config.modelRoot();
            String embedName = config.embeddingModule() + ".weight";
            String headName = neox ? "embed_out.weight" : "lm_head.weight";
            int e = config.embeddingWidth();
            NDArray embed = loader.load(embedName, config.vocabSize(), e);
            NDArray[] projections =
                    config.projectsEmbeddings()
                            ? new NDArray[] {
                                loader.load(root + "project_in.weight", h, e),
                                loader.load(root + "project_out.weight", e, h)
                            }
                            : new NDArray[2];
            NDArray positionTable =
                    config.learnedPositions() ? positionTable(loader, config) : null;
            // Bloom's word_embeddings_layernorm; NanoChat's model.norm, weightless as all its norms
            NDArray[] embeddingNorm =
                    !config.embeddingNorm()
                            ? null
                            : !config.normsHaveWeights()
                                    ? new NDArray[2]
                                    : new NDArray[] {
                                        loader.loadNorm(
                                                root + "word_embeddings_layernorm.weight", e),
                                        loader.load(root + "word_embeddings_layernorm.bias", e)
                                    };
            NDArray lmHead;
            if (config.tieWordEmbeddings()) {
                lmHead = embed;
                if (weights.contains(headName)) {
                    // Tied models are saved without it; one that carries it must carry the same
                    // matrix.
                    NDArray stored = loader.load(headName, config.vocabSize(), e);
                    if (!stored.contentEquals(embed)) {
                        throw new ModelFormatException(
                                "tie_word_embeddings is true but tensor '"
                                        + headName
                                        + "' differs from '"
                                        + embedName
                                        + "'");
                    }
                    stored.close();
                }
            } else {
                lmHead = loader.load(headName, config.vocabSize(), e);
            }
            // Phi's output head has a bias, kept when the weight is tied.
            NDArray lmHeadBias =
                    config.headBias() ? loader.load("lm_head.bias", config.vocabSize()) : null;
            // OLMo's LayerNorms have no weight: null weights are not multiplied.
            boolean weighted = config.normsHaveWeights();
            String finalNormName =
                    neox
                            ? "gpt_neox.final_layer_norm"
                            : gpt2
                                    ? "transformer.ln_f"
                                    : config.opt()
                                            ? "model.decoder.final_layer_norm"
                                            : config.bloom() || config.falcon()
                                                    ? "transformer.ln_f"
                                                    : config.mpt()
                                                            ? "transformer.norm_f"
                                                            : config.phi() || config.persimmon()
                                                                    ? "model.final_layernorm"
                                                                    : "model.norm";
            // OPT without a final norm (post-LayerNorm blocks, _remove_final_layer_norm)
            boolean finalNorm = config.block().finalNorm();
            NDArray norm =
                    weighted && finalNorm ? loader.loadNorm(finalNormName + ".weight", h) : null;
            boolean normBias = config.block().normBias();
            NDArray normBiasArray =
                    normBias && finalNorm ? loader.load(finalNormName + ".bias", h) : null;
            Layer[] layers = new Layer[config.numLayers()];
            for (int l = 0; l < layers.length; l++) {
                NDArray[] proj = new NDArray[Projection.values().length];
                NDArray[] bias = new NDArray[proj.length];
                for (LinearModule m : config.linearModules(l)) {
                    split(m, loader.linearWeight(m), proj);
                    if (hasBias(config, m.slices().get(0).projection())) {
                        // Under the module's own name (Starcoder2's mlp.c_fc.bias).
                        split(m, loader.load(m.path() + ".bias", m.outFeatures()), bias);
                    }
                }
                String attn = root + "layers." + l + ".self_attn.";
                String pre =
                        root
                                + (gpt2 || config.bloom() || config.falcon()
                                        ? "h."
                                        : config.mpt() ? "blocks." : "layers.")
                                + l
                                + ".";
                // Falcon's new decoder architecture: ln_attn before attention, ln_mlp before the
                // MLP
                boolean falconTwoNorms = config.falcon() && config.block().twoNormParallel();
                // GPT-2 names the norm of attention ln_1 and the MLP's ln_2; OPT
                // self_attn_layer_norm and final_layer_norm
                String inputNorm =
                        config.mpt()
                                ? "norm_1"
                                : gpt2
                                        ? "ln_1"
                                        : config.opt()
                                                ? "self_attn_layer_norm"
                                                : falconTwoNorms
                                                        ? "ln_attn"
                                                        : config.attentionNormName();
                String postAttentionNorm =
                        config.mpt()
                                ? "norm_2"
                                : gpt2
                                        ? "ln_2"
                                        : config.opt()
                                                ? "final_layer_norm"
                                                : falconTwoNorms ? "ln_mlp" : config.mlpNormName();
                boolean sandwich = config.block().sandwichNorms();
                // GLM-4 names Gemma 2's norms after its own positions: post_self_attn_layernorm
                // after attention, post_attention_layernorm before the MLP, post_mlp_layernorm
                // after it.
                boolean glm4 = config.architecture().equals("Glm4ForCausalLM");
                boolean postOnly = config.block().postNormsOnly();
                boolean parallel = config.block().parallel();
                layers[l] =
                        new Layer(
                                postOnly || !weighted
                                        ? null
                                        : loader.loadNorm(pre + inputNorm + ".weight", h),
                                proj,
                                bias,
                                parallel || !weighted
                                        ? null // Cohere: one norm feeds attention and the MLP
                                        : loader.loadNorm(
                                                pre
                                                        + (glm4
                                                                ? "post_self_attn_layernorm"
                                                                : postAttentionNorm)
                                                        + ".weight",
                                                h),
                                qkNorm(config, loader, attn, Projection.Q),
                                qkNorm(config, loader, attn, Projection.K),
                                phiQkNormBias(config, loader, attn, "q"),
                                phiQkNormBias(config, loader, attn, "k"),
                                sandwich
                                        ? loader.loadNorm(
                                                pre
                                                        + (glm4
                                                                ? "post_attention_layernorm"
                                                                : "pre_feedforward_layernorm")
                                                        + ".weight",
                                                h)
                                        : null,
                                sandwich || postOnly
                                        ? loader.loadNorm(
                                                pre
                                                        + (glm4
                                                                ? "post_mlp_layernorm"
                                                                : "post_feedforward_layernorm")
                                                        + ".weight",
                                                h)
                                        : null,
                                normBias ? loader.load(pre + inputNorm + ".bias", h) : null,
                                normBias && !parallel
                                        ? loader.load(pre + postAttentionNorm + ".bias", h)
                                        : null,
                                config.experts() == null || !config.experts().sparse(l)
                                        ? null
                                        : loader.experts(config, pre),
                                config.attentionSinks()
                                        ? loader.load(pre + "self_attn.sinks", config.numHeads())
                                        : null,
                                config.block().activation() == ModelConfig.Activation.XIELU
                                        ? xielu(loader, pre + "mlp.act_fn.")
                                        : null);
            }
            loader.refuseUnconsumed(config);
            LOG.info(
                    "Loaded {} ({} layers, hidden {}, vocab {}) from {} as {} on {} in {} ms",
                    config.architecture(),
                    config.numLayers(),
                    h,
                    config.vocabSize(),
                    dir,
                    dtype,
                    device,
                    (System.nanoTime() - t0) / 1_000_000);
            return new LlamaModel(
                    config,
                    manager,
                    dtype,
                    device,
                    embed,
                    positionTable,
                    projections,
                    embeddingNorm,
                    lmHead,
                    lmHeadBias,
                    norm,
                    normBiasArray,
                    layers,
                    positions);
        } catch (IOException e) {
            manager.close();
            throw new ModelFormatException(
                    "cannot read weights of " + dir + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * ALiBi's slopes as Bloom's build_alibi_tensor computes them: powers of {@code 2^(-2^-(log2(n)
     * - 3))} for the closest power of two n at or below the head count, then odd powers of the next
     * base for the remaining heads; float32 as there, then the compute dtype.
     */
    private static NDArray alibiSlopes(int heads, NDManager m, DataType dtype) {
        int closest = Integer.highestOneBit(heads);
        // the bases are Python floats made float32 tensors; the powers run in float32 (torch.pow)
        float base = (float) Math.pow(2, -Math.pow(2, -(log2(closest) - 3)));
        float extraBase = (float) Math.pow(2, -Math.pow(2, -(log2(2 * closest) - 3)));
        int remaining = Math.min(closest, heads - closest);
        float[] bases = new float[heads];
        float[] powers = new float[heads];
        for (int h = 0; h < closest; h++) {
            bases[h] = base;
            powers[h] = h + 1;
        }
        for (int i = 0; i < remaining; i++) {
            bases[closest + i] = extraBase;
            powers[closest + i] = 2 * i + 1;
        }
        try (NDArray b = m.create(bases);
                NDArray p = m.create(powers);
                NDArray slopes = b.pow(p)) {
            return owned(slopes.toType(dtype, true));
        }
    }

    private static double log2(int n) {
        return 31 - Integer.numberOfLeadingZeros(n); // n is a power of two
    }

    /**
     * ALiBi's bias on the scores of keys {@code 0 .. keyLen - 1}: {@code slope_h x key position},
     * shaped {@code [1, kvHeads, 1, group, keyLen]} to add to {@code [rows, kvHeads, qLen, group,
     * keyLen]} scores (softmax ignores the query's own offset, as Bloom's tensor does).
     */
    private NDArray alibi(int keyLen) {
        NDManager m = alibiSlopes.getManager();
        NDArray positions = m.arange(0f, (float) keyLen, 1f, dtype);
        return alibiSlopes
                .reshape(1, config.numKvHeads(), 1, config.groupSize(), 1)
                .mul(positions.reshape(1, 1, 1, 1, keyLen));
    }

    /**
     * The learned position table from position 0 on, contiguous: OPT's first two rows (the offset
     * its positions skip) are dropped here so the forward pass gathers by position.
     */
    private static NDArray positionTable(Loader loader, ModelConfig config) throws IOException {
        int offset = config.positionTableOffset();
        NDArray stored =
                loader.load(
                        config.positionTableName(),
                        config.maxPositions() + offset,
                        config.hiddenSize());
        if (offset == 0) {
            return stored;
        }
        NDArray rows = stored.get(offset + ":");
        NDArray table = rows.duplicate();
        rows.close();
        stored.close();
        return table;
    }

    /**
     * One layer's q or k norm weight as the forward pass applies it (null without q/k norms):
     * StableLM's per-head modules stacked to [heads, d], Cohere's [heads, d] tensor, or one RMSNorm
     * weight over a head (Qwen3, Gemma 3, EXAONE 4) or the whole projection (OLMo 2 and 3).
     */
    private static NDArray qkNorm(ModelConfig config, Loader loader, String attn, Projection p)
            throws IOException {
        if (!config.qkNorm() || !config.normsHaveWeights()) {
            return null; // NanoChat's q/k norms have no weight
        }
        String side = p == Projection.Q ? "q" : "k";
        int heads = p == Projection.Q ? config.numHeads() : config.numKvHeads();
        if (config.architecture().equals("StableLmForCausalLM")) {
            return loader.perHeadNorms(attn + side + "_layernorm", heads, config.headDim());
        }
        if (config.phi() || config.persimmon()) {
            return loader.loadNorm(attn + side + "_layernorm.weight", config.headDim());
        }
        if (config.block().parallel()) {
            return loader.load(attn + side + "_norm.weight", heads, config.headDim());
        }
        if (config.hunYuanDense()) {
            // HunYuan: query_layernorm / key_layernorm, one RMSNorm over a head each
            return loader.loadNorm(
                    attn + (p == Projection.Q ? "query" : "key") + "_layernorm.weight",
                    config.headDim());
        }
        return loader.loadNorm(
                attn + side + "_norm.weight",
                config.wholeQkNorms() ? p.outFeatures(config) : config.headDim());
    }

    /** Apertus's xIELU of one layer, from its {@code act_fn}'s parameters and buffers. */
    private static Xielu xielu(Loader loader, String act) throws IOException {
        NDArray beta = loader.load(act + "beta");
        return new Xielu(
                softplus(loader.load(act + "alpha_p", 1)),
                beta.add(softplus(loader.load(act + "alpha_n", 1))),
                beta,
                loader.load(act + "eps"));
    }

    /**
     * torch's softplus (F.softplus, beta 1, threshold 20: x above it as it is), on the device as
     * XIELUActivation computes it.
     */
    private static NDArray softplus(NDArray x) {
        return NDArrays.where(x.gt(20f), x, ai.djl.nn.Activation.softPlus(x));
    }

    /**
     * Phi's {@code qk_layernorm}: the bias of its q or k LayerNorm (one over a head); else null.
     */
    private static NDArray phiQkNormBias(
            ModelConfig config, Loader loader, String attn, String side) throws IOException {
        return config.qkNorm() && (config.phi() || config.persimmon())
                ? loader.load(attn + side + "_layernorm.bias", config.headDim())
                : null;
    }

    /**
     * Loads named tensors with a shape check that names the tensor on mismatch, and remembers what
     * it loaded: a tensor the model does not consume means a feature this server does not
     * implement.
     */
    private static final class Loader {
        // Buffers older transformers saved that hold nothing the forward pass needs (recomputed
        // from the config).
        private static final java.util.regex.Pattern HARMLESS =
                java.util.regex.Pattern.compile(
                        "(model\\.)?(layers\\.\\d+\\.self_attn\\.)?rotary_emb\\.inv_freq"
                                // GPT-NeoX checkpoints' causal-mask buffers, which transformers
                                // ignores on load (_keys_to_ignore_on_load_unexpected)
                                + "|gpt_neox\\.layers\\.\\d+\\.attention\\."
                                + "(bias|masked_bias|rotary_emb\\.inv_freq)"
                                + "|gpt_neox\\.rotary_emb\\.inv_freq"
                                // GPT-2's, likewise (attn.bias is in its
                                // _keys_to_ignore_on_load_unexpected; masked_bias, which older
                                // checkpoints carry, is a constant -1e4 nothing reads)
                                + "|transformer\\.h\\.\\d+\\.attn\\.(bias|masked_bias)");
        // GLM-4.5's and GLM-4.5-Air's multi-token prediction layer, which Glm4MoeForCausalLM
        // skips on load (its _keys_to_ignore_on_load_unexpected, searched as re.search does)
        private static final java.util.regex.Pattern GLM4_MOE_MTP =
                java.util.regex.Pattern.compile("model\\.layers\\.92|model\\.layers\\.46");
        private final WeightIndex weights;
        private final NDManager manager;
        private final DataType dtype;
        private final Device device;
        private final java.util.Set<String> consumed = new java.util.HashSet<>();

        private final boolean normPlusOne;
        private final String root;

        Loader(
                WeightIndex weights,
                String root,
                NDManager manager,
                DataType dtype,
                Device device,
                boolean normPlusOne) {
            this.weights = weights;
            this.root = root;
            this.manager = manager;
            this.dtype = dtype;
            this.device = device;
            this.normPlusOne = normPlusOne;
        }

        /**
         * An RMSNorm weight as the forward pass multiplies it: Gemma stores w and computes with (1
         * + w).
         */
        NDArray loadNorm(String name, long size) throws IOException {
            NDArray w = load(name, size);
            return normPlusOne ? w.add(1f) : w;
        }

        /**
         * StableLM's per-head q/k LayerNorms, one module per head ({@code prefix.norms.i.weight},
         * [d] each), stacked into one [heads, d] weight.
         */
        NDArray perHeadNorms(String prefix, int heads, int d) throws IOException {
            NDList rows = new NDList(heads);
            for (int i = 0; i < heads; i++) {
                rows.add(load(prefix + ".norms." + i + ".weight", d));
            }
            NDArray stacked = NDArrays.stack(rows);
            rows.close();
            return stacked;
        }

        /**
         * A linear module's weight as {@code [out, in]}: a Conv1D's stored {@code [in, out]} is
         * transposed into a contiguous copy once, here, so every product reads one layout.
         */
        NDArray linearWeight(LinearModule m) throws IOException {
            String name = m.path() + ".weight";
            if (!m.conv1d()) {
                return load(name, m.outFeatures(), m.inFeatures());
            }
            NDArray stored = load(name, m.inFeatures(), m.outFeatures());
            NDArray flat = stored.transpose().reshape(-1); // reshape copies the transposed view
            NDArray weight = flat.reshape(m.outFeatures(), m.inFeatures());
            stored.close();
            flat.close();
            return weight;
        }

        /**
         * A sparse layer's experts, as the hub's checkpoints and transformers 5's save_pretrained
         * store them (Mixtral: {@code block_sparse_moe.gate} and {@code
         * block_sparse_moe.experts.e.w1 / w3 / w2}; Qwen3-MoE: {@code mlp.gate} and {@code
         * mlp.experts.e.gate_proj / up_proj / down_proj}), or as transformers 5's modules hold them
         * ({@code mlp.gate} and the stacked {@code mlp.experts.gate_up_proj} / {@code down_proj}),
         * which it loads as they are.
         */
        ExpertWeights experts(ModelConfig c, String layer) throws IOException {
            int n = c.experts().count();
            int h = c.hiddenSize();
            int inter = c.experts().intermediate();
            if (c.experts().gptOss()) {
                // GPT-OSS: mlp.router (weight, bias), the experts stacked [experts, in, out] with
                // biases; each expert's weights kept as [out, in] views for linear()
                NDArray router = load(layer + "mlp.router.weight", n, h);
                NDArray routerBias = load(layer + "mlp.router.bias", n);
                NDArray stackedGateUp = load(layer + "mlp.experts.gate_up_proj", n, h, 2L * inter);
                NDArray stackedGateUpBias =
                        load(layer + "mlp.experts.gate_up_proj_bias", n, 2L * inter);
                NDArray stackedDown = load(layer + "mlp.experts.down_proj", n, inter, h);
                NDArray stackedDownBias = load(layer + "mlp.experts.down_proj_bias", n, h);
                return ExpertWeights.stacked(
                        router,
                        routerBias,
                        stackedGateUp,
                        stackedDown,
                        true,
                        stackedGateUpBias,
                        stackedDownBias,
                        null,
                        null,
                        null);
            }
            if (c.graniteMoe()) {
                // GraniteMoE: save_pretrained and the hub write block_sparse_moe.input_linear /
                // output_linear / router.layer; transformers 5's modules hold them as
                // experts.gate_up_proj / experts.down_proj / router.weight (the same layouts)
                String moe = layer + "block_sparse_moe.";
                boolean hub = weights.contains(resolve(moe + "input_linear.weight"));
                NDArray router = load(moe + (hub ? "router.layer.weight" : "router.weight"), n, h);
                NDArray stackedGateUp =
                        load(
                                moe + (hub ? "input_linear.weight" : "experts.gate_up_proj"),
                                n,
                                2L * inter,
                                h);
                NDArray stackedDown =
                        load(
                                moe + (hub ? "output_linear.weight" : "experts.down_proj"),
                                n,
                                h,
                                inter);
                // GraniteMoeShared's shared MLP: input_linear holds gate then up (chunk(2)), as
                // the shared expert's concatenated gate and up do
                int shared = c.experts().sharedIntermediate();
                String mlp = layer + "shared_mlp.";
                return ExpertWeights.stacked(
                        router,
                        null,
                        stackedGateUp,
                        stackedDown,
                        false,
                        null,
                        null,
                        shared == 0 ? null : load(mlp + "input_linear.weight", 2L * shared, h),
                        shared == 0 ? null : load(mlp + "output_linear.weight", h, shared),
                        null);
            }
            if (weights.contains(resolve(layer + "mlp.experts.gate_up_proj"))) {
                NDArray router = load(layer + "mlp.gate.weight", n, h);
                NDArray stackedGateUp = load(layer + "mlp.experts.gate_up_proj", n, 2L * inter, h);
                NDArray stackedDown = load(layer + "mlp.experts.down_proj", n, h, inter);
                return withShared(c, layer, router, stackedGateUp, stackedDown);
            }
            boolean mixtral = c.architecture().equals("MixtralForCausalLM");
            String moe = layer + (mixtral ? "block_sparse_moe." : "mlp.");
            String[] names =
                    mixtral
                            ? new String[] {"w1", "w3", "w2"}
                            : new String[] {"gate_proj", "up_proj", "down_proj"};
            NDArray router = load(moe + "gate.weight", n, h);
            NDList gateUps = new NDList(n);
            NDList downs = new NDList(n);
            for (int e = 0; e < n; e++) {
                String expert = moe + "experts." + e + ".";
                NDArray gate = load(expert + names[0] + ".weight", inter, h);
                NDArray up = load(expert + names[1] + ".weight", inter, h);
                gateUps.add(NDArrays.concat(new NDList(gate, up)));
                gate.close();
                up.close();
                downs.add(load(expert + names[2] + ".weight", h, inter));
            }
            // One stack per layer, as transformers 5 holds them: batched products read it whole.
            NDArray stackedGateUp = NDArrays.stack(gateUps);
            NDArray stackedDown = NDArrays.stack(downs);
            gateUps.close();
            downs.close();
            return withShared(c, layer, router, stackedGateUp, stackedDown);
        }

        /**
         * Qwen2-MoE's shared expert and its gate ({@code mlp.shared_expert.*}, {@code
         * mlp.shared_expert_gate}); GLM-4-MoE's ungated shared experts ({@code
         * mlp.shared_experts.*}) and its router's score correction ({@code
         * mlp.gate.e_score_correction_bias}, float32 as transformers keeps it).
         */
        private ExpertWeights withShared(
                ModelConfig c, String layer, NDArray router, NDArray gateUp, NDArray down)
                throws IOException {
            int shared = c.experts().sharedIntermediate();
            if (c.experts().corrected()) {
                int h = c.hiddenSize();
                int n = c.experts().count();
                String pre = layer + "mlp.shared_experts.";
                NDArray sharedGateUp = null;
                NDArray sharedDown = null;
                NDArray sharedGateUpBias = null;
                NDArray sharedDownBias = null;
                if (shared > 0) {
                    sharedGateUp = gateThenUp(pre, shared, h);
                    sharedDown = load(pre + "down_proj.weight", h, shared);
                    if (c.experts().sharedBias()) {
                        // ERNIE 4.5's use_bias reaches its shared experts' projections
                        NDArray gateBias = load(pre + "gate_proj.bias", shared);
                        NDArray upBias = load(pre + "up_proj.bias", shared);
                        sharedGateUpBias = NDArrays.concat(new NDList(gateBias, upBias));
                        gateBias.close();
                        upBias.close();
                        sharedDownBias = load(pre + "down_proj.bias", h);
                    }
                }
                NDArray correction;
                if (c.experts().grouped() != null) {
                    correction = loadFloat32(layer + "mlp.gate.e_score_correction_bias", n);
                } else {
                    // ERNIE 4.5: the hub's and save_pretrained's mlp.moe_statics, or the module's
                    // own mlp.gate.moe_statics ([1, experts])
                    String hub = layer + "mlp.moe_statics.e_score_correction_bias";
                    correction =
                            loadFloat32(
                                            weights.contains(resolve(hub))
                                                    ? hub
                                                    : layer
                                                            + "mlp.gate.moe_statics.e_score_correction_bias",
                                            1,
                                            n)
                                    .reshape(n);
                }
                return ExpertWeights.stacked(
                                router,
                                null,
                                gateUp,
                                down,
                                false,
                                null,
                                null,
                                sharedGateUp,
                                sharedDown,
                                null)
                        .corrected(correction, sharedGateUpBias, sharedDownBias);
            }
            if (shared == 0) {
                return ExpertWeights.stacked(
                        router, null, gateUp, down, false, null, null, null, null, null);
            }
            int h = c.hiddenSize();
            String pre = layer + "mlp.shared_expert.";
            NDArray sharedGateUp = gateThenUp(pre, shared, h);
            return ExpertWeights.stacked(
                    router,
                    null,
                    gateUp,
                    down,
                    false,
                    null,
                    null,
                    sharedGateUp,
                    load(pre + "down_proj.weight", h, shared),
                    load(layer + "mlp.shared_expert_gate.weight", 1, h));
        }

        /**
         * A shared expert's gate_proj and up_proj stacked {@code [2 * width, hidden]}, gate first.
         */
        private NDArray gateThenUp(String pre, int width, int hidden) throws IOException {
            NDArray gate = load(pre + "gate_proj.weight", width, hidden);
            NDArray up = load(pre + "up_proj.weight", width, hidden);
            NDArray both = NDArrays.concat(new NDList(gate, up));
            gate.close();
            up.close();
            return both;
        }

        /** A tensor kept in float32 whatever the compute dtype (GLM-4-MoE's score correction). */
        NDArray loadFloat32(String name, long... shape) throws IOException {
            return load(name, DataType.FLOAT32, shape);
        }

        NDArray load(String name, long... shape) throws IOException {
            return load(name, dtype, shape);
        }

        private NDArray load(String name, DataType type, long... shape) throws IOException {
            name = resolve(name);
            if (!weights.contains(name)) {
                throw new ModelFormatException("missing tensor '" + name + "'");
            }
            long[] actual = weights.info(name).shape();
            if (!Arrays.equals(actual, shape)) {
                throw new ModelFormatException(
                        "tensor '"
                                + name
                                + "' has shape "
                                + Arrays.toString(actual)
                                + ", expected "
                                + Arrays.toString(shape));
            }
            consumed.add(name);
            NDArray a = weights.load(name, manager, type);
            if (!a.getDevice().equals(device)) {
                NDArray moved = a.toDevice(device, false);
                a.close();
                a = moved;
            }
            return a;
        }

        /**
         * The stored name of {@code name}: itself, or without the model root when the checkpoint
         * was saved from the bare model (GPT-2's hub checkpoints: {@code h.0.attn.c_attn.weight}
         * for {@code transformer.h.0.attn.c_attn.weight}), as transformers adds its {@code
         * base_model_prefix} on load.
         */
        private String resolve(String name) {
            if (weights.contains(name) || !name.startsWith(root)) {
                return name;
            }
            String bare = name.substring(root.length());
            return weights.contains(bare) ? bare : name;
        }

        void refuseUnconsumed(ModelConfig config) {
            List<String> left = new ArrayList<>();
            boolean glm4Moe = config.architecture().equals("Glm4MoeForCausalLM");
            // ERNIE 4.5's multi-token prediction weights (Ernie4_5_MoeForCausalLM skips every
            // name holding "mtp")
            boolean ernieMoe = config.architecture().equals("Ernie4_5_MoeForCausalLM");
            for (String n : weights.names()) {
                if (!consumed.contains(n)
                        && !HARMLESS.matcher(n).matches()
                        && !HARMLESS.matcher(root + n).matches()
                        && !(glm4Moe && GLM4_MOE_MTP.matcher(n).find())
                        && !(ernieMoe && n.contains("mtp"))) {
                    left.add(n);
                }
            }
            if (!left.isEmpty()) {
                java.util.Collections.sort(left);
                throw new ModelFormatException(
                        "the model files hold tensor(s) this server does not use: "
                                + (left.size() > 8
                                        ? left.subList(0, 8) + " and " + (left.size() - 8) + " more"
                                        : left)
                                + " (a feature of the checkpoint that is not implemented; refusing rather than ignoring it)");
            }
        }
    }

    /**
     * Builds cos and sin tables [positions, headDim] as transformers does: float32 inverse
     * frequencies (with the config's rope type), float32 angles, then the rope type's attention
     * scaling.
     */
    static float[][] ropeTables(ModelConfig c, int positions) {
        return ropeTables(c, c.rope(), positions);
    }

    private static float[][] ropeTables(ModelConfig c, RopeParameters rope, int positions) {
        int d = c.headDim();
        // Frequencies over the rotary dimension count, the rotation over its even width.
        float[] shortFreq = rope.inverseFrequencies(rope.rotaryDim(d));
        float[] longFreq = rope.longInverseFrequencies(rope.rotaryDim(d));
        int rotary = rope.rotaryWidth(d);
        int rows = longFreq == null ? positions : 2 * positions;
        float[] cos = new float[rows * d];
        float[] sin = new float[rows * d];
        boolean pairs = c.block().interleavedRotary();
        fill(cos, sin, 0, positions, d, rotary, pairs, shortFreq, (float) rope.attentionScaling());
        if (longFreq != null) {
            // LongRoPE: rows positions .. 2 * positions - 1 hold the long-factor table (see
            // ropeRowOffset).
            fill(
                    cos,
                    sin,
                    positions,
                    positions,
                    d,
                    rotary,
                    pairs,
                    longFreq,
                    (float) rope.attentionScaling());
        }
        return new float[][] {cos, sin};
    }

    /**
     * Rows of cos and sin: the first {@code rotary} dimensions of a head rotate (cos and sin
     * scaled); the rest pass through unchanged (cos 1, sin 0), as Phi3's partial rotary does.
     * Frequency i sits at dimensions i and i + rotary / 2, or with {@code pairs} at 2i and 2i + 1
     * ({@code cos[..., :half].repeat_interleave(2)} in Helium's and ERNIE 4.5's rotary).
     */
    private static void fill(
            float[] cos,
            float[] sin,
            int firstRow,
            int positions,
            int d,
            int rotary,
            boolean pairs,
            float[] invFreq,
            float scale) {
        int half = rotary / 2;
        for (int p = 0; p < positions; p++) {
            int row = (firstRow + p) * d;
            for (int j = rotary; j < d; j++) {
                cos[row + j] = 1f;
            }
            for (int i = 0; i < half; i++) {
                float a = (float) p * invFreq[i];
                float cv = (float) Math.cos(a) * scale;
                float sv = (float) Math.sin(a) * scale;
                int a0 = pairs ? 2 * i : i;
                int a1 = pairs ? 2 * i + 1 : i + half;
                cos[row + a0] = cv;
                cos[row + a1] = cv;
                sin[row + a0] = sv;
                sin[row + a1] = sv;
            }
        }
    }

    /**
     * Added to a token's rotary position to pick its table row: LongRoPE tokens computed in a
     * forward pass whose sequence reaches past {@code original_max_position_embeddings} use the
     * long table, as transformers switches per forward pass. 0 for every other rope type.
     */
    public int ropeRowOffset(int sequenceLength) {
        return config.rope().usesLongFactors(sequenceLength) ? maxPositions : 0;
    }

    /**
     * One forward pass over a step's tokens: writes their keys and values into the cache and
     * returns float32 next-token logits {@code [R, vocab]} for the batch's {@link
     * ForwardBatch#logitRows()}.
     */
    public NDArray forward(ForwardBatch batch, PagedKv cache, ProjectionDelta delta) {
        NDArray x = embedTokens(batch.tokenIds(), batch.positions(), delta);
        NDArray cos = ropeCos.get(batch.positions()).expandDims(1);
        NDArray sin = ropeSin.get(batch.positions()).expandDims(1);
        NDArray cosLocal = localCos == null ? null : localCos.get(batch.positions()).expandDims(1);
        NDArray sinLocal = localSin == null ? null : localSin.get(batch.positions()).expandDims(1);
        NDArray qScale =
                queryScales == null ? null : queryScales.get(batch.positions()).expandDims(1);
        int arrays = 0;
        for (int l = 0; l < layers.length; l++) {
            // Each layer's intermediates die with the layer (its scope), not with the step: a step
            // would
            // otherwise hold every layer's activations at once (about 75 MB a layer for a 512-token
            // chunk of
            // a 110M model). Only the residual stream leaves the scope, back into the caller's.
            NDArray in = x;
            try (NDScope layerScope = new NDScope()) {
                x =
                        decoderLayer(
                                l,
                                in,
                                (i, w, h) ->
                                        local(i)
                                                ? attention(
                                                        i, w, h, batch, cache, cosLocal, sinLocal,
                                                        qScale, delta)
                                                : attention(
                                                        i, w, h, batch, cache, cos, sin, qScale,
                                                        delta),
                                delta);
                NDScope.unregister(x);
                arrays += NativeArrays.inScope(layerScope) + 1;
            }
            NDScope.register(x);
            if (l > 0) {
                in.close(); // the previous layer's output, read by nothing after this layer
            }
        }
        arraysLastForward = arrays;
        NDArray last =
                batch.logitRows().size() == batch.tokens() ? x : Rows.of(x, batch.logitRows());
        return head(headInput(last), batch.logitTokenRows(), delta);
    }

    /**
     * A cache-free forward pass over whole sequences with full causal attention, for work that
     * needs every position at once (training adapters, embedding prompts for routing): the same
     * layers, adapter hooks and architecture features as {@link #forward}, its keys and values
     * attended directly instead of written to the cache.
     *
     * @param tokens [rows, T] int64 token ids; rows may be right-padded (a real token never sees
     *     the padding after it)
     * @param lengths each row's real tokens, which pick LongRoPE's table per row as {@link
     *     #forward} does for a prompt; null when every row is T tokens long
     * @param delta per-token adapter changes; its rows are the {@code rows * T} tokens, row-major
     * @param layers decoder layers to run: all of them give the final-normed hidden states (what
     *     the output head reads), fewer the residual stream after that many (0: the scaled
     *     embeddings)
     * @return [rows * T, hidden] row-major by (row, position); all layers: [rows * T, embedding
     *     width] (OPT's project_out maps the final states to word_embed_proj_dim)
     */
    public NDArray hiddenCausal(NDArray tokens, int[] lengths, ProjectionDelta delta, int layers) {
        if (layers < 0 || layers > this.layers.length) {
            throw new IllegalArgumentException(
                    "layer " + layers + " is outside 0.." + this.layers.length);
        }
        Shape shape = tokens.getShape();
        if (shape.dimension() != 2) {
            throw new IllegalArgumentException("tokens must be [rows, T], got " + shape);
        }
        int rows = (int) shape.get(0);
        int len = (int) shape.get(1);
        if (len > maxPositions) {
            throw new IllegalArgumentException(
                    "sequence of " + len + " tokens exceeds " + maxPositions + " positions");
        }
        if (lengths != null && lengths.length != rows) {
            throw new IllegalArgumentException(lengths.length + " lengths for " + rows + " rows");
        }
        NDManager m = tokens.getManager();
        long[] rotary = new long[rows * len];
        for (int r = 0; r < rows; r++) {
            int offset = ropeRowOffset(lengths == null ? len : lengths[r]);
            for (int p = 0; p < len; p++) {
                rotary[r * len + p] = p + offset;
            }
        }
        NDArray positions = owned(m.create(rotary, new Shape(rotary.length)));
        NDArray cos = Rows.of(ropeCos, positions).expandDims(1);
        NDArray sin = Rows.of(ropeSin, positions).expandDims(1);
        NDArray cosLocal = localCos == null ? null : Rows.of(localCos, positions).expandDims(1);
        NDArray sinLocal = localSin == null ? null : Rows.of(localSin, positions).expandDims(1);
        NDArray qScale = queryScales == null ? null : Rows.of(queryScales, positions).expandDims(1);
        NDArray mask = causalMask(m, len, 0);
        NDArray windowMask =
                config.slidingWindow() > 0 ? causalMask(m, len, config.slidingWindow()) : null;
        NDArray x = embedTokens(tokens.reshape(-1), positions, delta);
        for (int l = 0; l < layers; l++) {
            x =
                    decoderLayer(
                            l,
                            x,
                            (i, w, h) ->
                                    causalAttention(
                                            i,
                                            w,
                                            h,
                                            rows,
                                            len,
                                            local(i) ? cosLocal : cos,
                                            local(i) ? sinLocal : sin,
                                            qScale,
                                            config.slides(i) ? windowMask : mask,
                                            delta),
                            delta);
        }
        return layers == this.layers.length ? headInput(x) : x;
    }

    /**
     * Float32 next-token logits at every position of {@link #hiddenCausal}'s rows: {@code [rows *
     * T, vocab]}, through the same output head, adapter head hook and soft-capping as {@link
     * #forward}.
     */
    public NDArray logitsCausal(NDArray tokens, int[] lengths, ProjectionDelta delta) {
        NDArray normed = hiddenCausal(tokens, lengths, delta, layers.length);
        long[] tokenRows = new long[(int) normed.getShape().get(0)];
        for (int i = 0; i < tokenRows.length; i++) {
            tokenRows[i] = i;
        }
        return head(normed, tokenRows, delta);
    }

    /** Whether layer {@code l} rotates with the sliding layers' own tables (Gemma 3). */
    private boolean local(int l) {
        return localCos != null && config.slidingLayers().get(l);
    }

    /**
     * One layer's attention over the normed input {@code h} (the cached or the cache-free kind).
     */
    @FunctionalInterface
    private interface Attention {
        NDArray apply(int l, Layer w, NDArray h);
    }

    /**
     * The token embeddings, with the adapters' embedding changes, the learned positions (GPT-2's
     * {@code inputs_embeds + wpe(position_ids)}) and the architecture's scale.
     */
    private NDArray embedTokens(NDArray tokenIds, NDArray positions, ProjectionDelta delta) {
        NDArray x = delta.embed(tokenIds, Rows.of(embed, tokenIds));
        if (projectIn != null) {
            x = linear(x, projectIn, null); // OPT: embedding width -> the decoder's
        }
        if (embeddingNorm != null) {
            x = norm(x, embeddingNorm[0], embeddingNorm[1]); // Bloom's word_embeddings_layernorm
        }
        if (positionTable != null) {
            x = x.add(Rows.of(positionTable, positions));
        }
        return config.block().embedScale() != 1f ? x.mul(constants.embedScale()) : x;
    }

    /**
     * One decoder layer on the residual stream {@code x}: attention and MLP, each with its norms
     * and residual add.
     */
    private NDArray decoderLayer(int l, NDArray x, Attention attention, ProjectionDelta delta) {
        Layer layer = layers[l];
        if (config.block().postLayerNorm()) {
            return postNormLayer(l, layer, x, attention, delta);
        }
        if (config.block().postNormsOnly()) {
            // OLMo 2: attention and MLP read the residual stream as it is; their outputs are
            // normed.
            x = x.add(norm(attention.apply(l, layer, x), layer.postNorm()));
            return x.add(norm(mlp(l, layer, x, delta), layer.postFfnNorm()));
        }
        NDArray h = norm(x, layer.inputNorm(), layer.inputNormBias());
        NDArray attn = attention.apply(l, layer, h);
        if (config.block().twoNormParallel()) {
            // GPT-NeoX: the MLP reads its own norm of the residual stream; summed as
            // mlp + attention + residual, in that order.
            NDArray h2 = norm(x, layer.postNorm(), layer.postNormBias());
            return mlp(l, layer, h2, delta).add(attn).add(x);
        }
        if (config.block().parallel()) {
            // Cohere: the MLP reads the same normed input; both join the residual stream.
            return x.add(attn).add(mlp(l, layer, h, delta));
        }
        if (config.block().sandwichNorms()) {
            // Gemma 2: norms after attention and around the MLP, each before its residual add.
            x = x.add(norm(attn, layer.postNorm()));
            h = norm(x, layer.preFfnNorm());
            return x.add(norm(mlp(l, layer, h, delta), layer.postFfnNorm()));
        }
        if (config.block().residualFromNorm()) {
            // Bloom's apply_residual_connection_post_layernorm: each norm's output is the residual.
            x = h.add(attn);
            h = norm(x, layer.postNorm(), layer.postNormBias());
            return h.add(mlp(l, layer, h, delta));
        }
        x = x.add(residual(attn));
        h = norm(x, layer.postNorm(), layer.postNormBias());
        return x.add(residual(mlp(l, layer, h, delta)));
    }

    /**
     * OPT's post-LayerNorm layer ({@code do_layer_norm_before} false): attention and the MLP read
     * the residual stream as it is; each sum is normed after its residual add.
     */
    private NDArray postNormLayer(
            int l, Layer layer, NDArray x, Attention attention, ProjectionDelta delta) {
        x = norm(x.add(attention.apply(l, layer, x)), layer.inputNorm(), layer.inputNormBias());
        return norm(x.add(mlp(l, layer, x, delta)), layer.postNorm(), layer.postNormBias());
    }

    /** A block's output as it joins the residual stream: Granite's residual_multiplier. */
    private NDArray residual(NDArray out) {
        return config.block().residualScale() != 1 ? out.mul(constants.residualScale()) : out;
    }

    /**
     * Float32 logits of final-normed rows: the output head, the adapters' heads, the final
     * soft-cap.
     */
    private NDArray head(NDArray normed, long[] tokenRows, ProjectionDelta delta) {
        NDArray logits = delta.logits(normed, linear(normed, lmHead, lmHeadBias), tokenRows);
        if (config.block().logitsScaling() != 1) {
            // Granite: divided in the model's dtype, as GraniteForCausalLM divides its head's
            // output.
            logits = logits.div(constants.logitsScaling());
        }
        if (config.block().logitScale() != 1) {
            // Cohere: multiplied in the model's dtype, after the adapters' head deltas.
            logits = logits.mul(constants.logitScale());
        }
        if (logits.getDataType() != DataType.FLOAT32) {
            logits = logits.toType(DataType.FLOAT32, false);
        }
        return config.block().finalSoftcap() > 0 ? softcap(logits, constants.finalCap()) : logits;
    }

    /**
     * Queries, keys and values of {@code tokens} rows: q {@code [tokens, heads, d]} rotated and
     * scaled, k {@code [tokens, kvHeads, d]} rotated, v {@code [tokens, kvHeads, d]}.
     */
    private NDArray[] queryKeyValue(
            int l,
            Layer w,
            NDArray h,
            long tokens,
            NDArray cos,
            NDArray sin,
            NDArray qScale,
            ProjectionDelta delta) {
        int d = config.headDim();
        boolean wholeNorms = config.wholeQkNorms();
        NDArray q = project(l, Projection.Q, w, h, delta);
        NDArray k = project(l, Projection.K, w, h, delta);
        if (wholeNorms) {
            // OLMo 2 and OLMoE: RMSNorm over the whole projection, before the heads split (and
            // before OLMoE's clip_qkv).
            q = norm(q, w.qNorm());
            k = norm(k, w.kNorm());
        }
        q = clipQkv(q);
        k = clipQkv(k);
        q = q.reshape(tokens, config.numHeads(), d);
        k = k.reshape(tokens, config.numKvHeads(), d);
        boolean normsFirst = w.qNorm() != null && !wholeNorms && !config.qkNormsAfterRotary();
        if (normsFirst) {
            // Qwen3: RMSNorm over each head's dimensions, before rotary (Phi: a LayerNorm with a
            // bias).
            q = norm(q, w.qNorm(), w.qNormBias());
            k = norm(k, w.kNorm(), w.kNormBias());
        }
        NDArray v =
                clipQkv(project(l, Projection.V, w, h, delta))
                        .reshape(tokens, config.numKvHeads(), d);
        if (!config.rotates(l)) {
            // SmolLM3's NoPE layers: queries and keys as projected (out of place: autograd may
            // keep q).
            return new NDArray[] {q.mul(constants.attentionScale(l)), k, v};
        }
        NDArray qr = rope(q, cos, sin);
        NDArray kr = rope(k, cos, sin);
        if (config.qkNorm() && config.qkNormsAfterRotary()) {
            // HunYuan and NanoChat: RMSNorm over each head's dimensions after the rotary
            qr = norm(qr, w.qNorm());
            kr = norm(kr, w.kNorm());
        }
        if (qScale != null) {
            // Ministral 3: each token's query times its position's scale, after the rotary
            qr = qr.muli(qScale);
        }
        return new NDArray[] {qr.muli(constants.attentionScale(l)), kr, v};
    }

    /** OLMo's clip_qkv: a projection's output, adapters' deltas included, clamped. */
    private NDArray clipQkv(NDArray x) {
        double clip = config.block().clipQkv();
        return clip > 0 ? x.clip(-clip, clip) : x;
    }

    /**
     * Attention of whole sequences {@code [rows * len, hidden]} among themselves, in the cached
     * attention's grouped-query layout: {@code [rows, kvHeads, len * group, d]} against {@code
     * [rows, kvHeads, len, d]}.
     */
    private NDArray causalAttention(
            int l,
            Layer w,
            NDArray h,
            int rows,
            int len,
            NDArray cos,
            NDArray sin,
            NDArray qScale,
            NDArray mask,
            ProjectionDelta delta) {
        int kvHeads = config.numKvHeads();
        int d = config.headDim();
        int group = config.groupSize();
        long tokens = (long) rows * len;
        NDArray[] qkv = queryKeyValue(l, w, h, tokens, cos, sin, qScale, delta);
        NDArray q =
                qkv[0].reshape(rows, len, kvHeads, group, d)
                        .transpose(0, 2, 1, 3, 4)
                        .reshape(rows, kvHeads, (long) len * group, d);
        NDArray keys = qkv[1].reshape(rows, len, kvHeads, d).transpose(0, 2, 1, 3);
        NDArray values = qkv[2].reshape(rows, len, kvHeads, d).transpose(0, 2, 1, 3);
        NDArray scores =
                q.matMul(keys.transpose(0, 1, 3, 2)).reshape(rows, kvHeads, len, group, len);
        if (config.block().attentionSoftcap() > 0) {
            scores = softcap(scores, constants.attentionCap());
        }
        if (alibiSlopes != null) {
            scores = scores.add(alibi(len));
        }
        NDArray probs =
                softmax(l, scores.add(mask)).reshape(rows, kvHeads, (long) len * group, len);
        NDArray out =
                probs.matMul(values)
                        .reshape(rows, kvHeads, len, group, d)
                        .transpose(0, 2, 1, 3, 4)
                        .reshape(tokens, (long) config.numHeads() * d);
        return project(l, Projection.O, w, out, delta);
    }

    /**
     * {@code [len, 1, len]} additive mask in the compute dtype: position i sees positions j <= i,
     * and with a {@code window} only those less than {@code window} back (transformers: kv_idx >
     * q_idx - window).
     */
    private NDArray causalMask(NDManager m, int len, int window) {
        float[] mask = new float[len * len];
        for (int i = 0; i < len; i++) {
            for (int j = 0; j < len; j++) {
                boolean visible = j <= i && (window == 0 || i - j < window);
                mask[i * len + j] = visible ? 0f : MASKED;
            }
        }
        NDArray a = owned(m.create(mask, new Shape(len, 1, len)));
        return a.getDataType() == dtype ? a : a.toType(dtype, false);
    }

    /**
     * A copy in memory PyTorch owns of an array DJL made from Java data (see {@link Constants}).
     */
    private static NDArray owned(NDArray wrapped) {
        NDArray copy = wrapped.duplicate();
        wrapped.close();
        return copy;
    }

    private NDArray attention(
            int l,
            Layer w,
            NDArray h,
            ForwardBatch b,
            PagedKv cache,
            NDArray cos,
            NDArray sin,
            NDArray qScale,
            ProjectionDelta delta) {
        int heads = config.numHeads();
        int kvHeads = config.numKvHeads();
        int d = config.headDim();
        long tokens = b.tokens();
        NDArray[] qkv = queryKeyValue(l, w, h, tokens, cos, sin, qScale, delta);
        NDArray q = qkv[0];
        NDArray k = qkv[1].reshape(tokens * kvHeads, d);
        NDArray v = qkv[2].reshape(tokens * kvHeads, d);
        cache.keysFlat(l).set(new NDIndex("{}", b.kvWriteIndex()), k);
        cache.valuesFlat(l).set(new NDIndex("{}", b.kvWriteIndex()), v);
        if (b.copyWrite() != null) {
            // Decoding sequences append their new token to their contiguous copy too.
            NDIndex at = new NDIndex("{}", b.copyWrite());
            if (b.copyTokens() == null) {
                cache.decodeKeysFlat(l).set(at, k);
                cache.decodeValuesFlat(l).set(at, v);
            } else {
                long n = b.copyTokens().size();
                cache.decodeKeysFlat(l)
                        .set(at, Rows.of(qkv[1], b.copyTokens()).reshape(n * kvHeads, d));
                cache.decodeValuesFlat(l)
                        .set(at, Rows.of(qkv[2], b.copyTokens()).reshape(n * kvHeads, d));
            }
        }

        List<AttentionGroup> groups = b.attention();
        NDArray out;
        if (groups.isEmpty()) {
            out = q.reshape(tokens, (long) heads * d);
        } else if (groups.size() == 1) {
            out = attend(l, groups.get(0), q, cache);
        } else {
            NDList parts = new NDList(groups.size());
            for (AttentionGroup g : groups) {
                parts.add(attend(l, g, q, cache));
            }
            out = NDArrays.concat(parts);
        }
        if (b.outputGather() != null) {
            out = Rows.of(out, b.outputGather());
        }
        return project(l, Projection.O, w, out, delta);
    }

    /**
     * Attention of one group: {@code [rows * queryLen, heads * headDim]}, padded query rows
     * included.
     */
    private NDArray attend(int l, AttentionGroup g, NDArray q, PagedKv cache) {
        int kvHeads = config.numKvHeads();
        int d = config.headDim();
        int group = config.groupSize();
        int rows = g.rows();
        int qLen = g.queryLen();
        int keyLen = g.keyLen();
        if (g.queryGather() != null) {
            q = Rows.of(q, g.queryGather());
        }
        NDArray keysRaw;
        NDArray valuesRaw;
        if (g.readsDecodeCopy()) {
            // A decode span reads its rows of the decoding sequences' copy in place.
            NDIndex span =
                    new NDIndex(g.copyFrom() + ":" + (g.copyFrom() + rows) + ", :, 0:" + keyLen);
            keysRaw = cache.decodeKeys(l).get(span);
            valuesRaw = cache.decodeValues(l).get(span);
        } else {
            // One gather per tensor reads the rows' block tables: [rows, kvHeads, keyLen, d],
            // contiguous.
            keysRaw = Rows.of(cache.keyBlocks(l), g.kvBlocks());
            valuesRaw = Rows.of(cache.valueBlocks(l), g.kvBlocks());
        }
        // [rows, qLen, kvHeads, group, d] -> [rows, kvHeads, qLen * group, d]: query heads that
        // share a
        // kv head sit together, so one batched product per (row, kv head) covers grouped-query
        // attention.
        q =
                q.reshape(rows, qLen, kvHeads, group, d)
                        .transpose(0, 2, 1, 3, 4)
                        .reshape(rows, kvHeads, (long) qLen * group, d);
        NDArray keys = keysRaw.reshape(rows, kvHeads, keyLen, d);
        NDArray values = valuesRaw.reshape(rows, kvHeads, keyLen, d);
        NDArray keysT = keys.transpose(0, 1, 3, 2);
        NDArray raw = q.matMul(keysT);
        NDArray scores = raw.reshape(rows, kvHeads, qLen, group, keyLen);
        NDArray capped =
                config.block().attentionSoftcap() > 0
                        ? softcap(scores, constants.attentionCap())
                        : scores;
        NDArray biased = alibiSlopes == null ? capped : capped.add(alibi(keyLen));
        NDArray masked = biased.add(config.slides(l) ? g.windowMask() : g.mask());
        NDArray soft = softmax(l, masked);
        NDArray probs = soft.reshape(rows, kvHeads, (long) qLen * group, keyLen);
        NDArray mixed = probs.matMul(values);
        NDArray heads = mixed.reshape(rows, kvHeads, qLen, group, d);
        NDArray byToken = heads.transpose(0, 2, 1, 3, 4);
        NDArray out = byToken.reshape((long) rows * qLen, (long) config.numHeads() * d);
        // The gathered keys and values and the scores are this layer's alone: free them now rather
        // than at the end
        // of the step, or a step would hold every layer's copies at once (they grow with rows x key
        // length).
        // Closing a handle frees storage only once no other handle (out included) refers to it.
        for (NDArray a :
                new NDArray[] {
                    keysRaw, valuesRaw, keys, values, keysT, raw, scores, capped, masked, soft,
                    probs, mixed, heads, byToken
                }) {
            if (a != out) {
                a.close();
            }
        }
        return out;
    }

    /**
     * The attention softmax over the last axis of {@code [rows, kvHeads, qLen, group, keyLen]}
     * scores; with GPT-OSS's sinks, each head's sink logit joins the softmax as one more column,
     * dropped after it (eager_attention_forward's concat, softmax and slice).
     */
    private NDArray softmax(int l, NDArray logits) {
        NDArray sinks = layers[l].sinks();
        if (sinks == null) {
            return logits.softmax(-1);
        }
        Shape s = logits.getShape();
        long keyLen = s.get(4);
        NDArray sink =
                sinks.reshape(1, s.get(1), 1, s.get(3), 1)
                        .broadcast(new Shape(s.get(0), s.get(1), s.get(2), s.get(3), 1));
        return NDArrays.concat(new NDList(logits, sink), -1)
                .softmax(-1)
                .get(new NDIndex("..., 0:" + keyLen));
    }

    private NDArray mlp(int l, Layer w, NDArray h, ProjectionDelta delta) {
        if (w.experts() != null) {
            return experts(l, w.experts(), h, delta);
        }
        if (!config.gatedMlp()) {
            // No gate (Starcoder2's c_fc / c_proj, Phi's fc1 / fc2, Nemotron's, Arcee's and
            // Apertus's up / down): down(act(up(x))).
            NDArray up = project(l, Projection.UP, w, h, delta);
            return project(
                    l,
                    Projection.DOWN,
                    w,
                    w.xielu() != null ? xielu(w.xielu(), up) : activation(up),
                    delta);
        }
        NDArray gate = project(l, Projection.GATE, w, h, delta);
        NDArray up = project(l, Projection.UP, w, h, delta);
        NDArray act = activation(gate);
        // relu's backward reads its output: multiply out of place there (the others keep their
        // input).
        NDArray gated =
                config.block().activation() == ModelConfig.Activation.RELU
                                || config.block().activation() == ModelConfig.Activation.RELU2
                        ? act.mul(up)
                        : act.muli(up);
        return project(l, Projection.DOWN, w, gated, delta);
    }

    /**
     * A sparse mixture of experts, as transformers 5 computes Mixtral's, Qwen3-MoE's and OLMoE's
     * (their TopKRouter, then the default grouped experts): the router's logits, their softmax in
     * float32, each token's top {@code perToken} experts (their probabilities renormalized where
     * the config says so; GPT-OSS, GraniteMoE, GLM-4-MoE / dots.llm1 and ERNIE 4.5 pick their own
     * way, see {@link ModelConfig.Experts.Routing}); each expert's gated MLP over the tokens routed
     * to it; its outputs times their weights, summed per token in the router's order (highest
     * probability first), in float32 or in the compute dtype ({@link
     * ModelConfig.Experts#float32Sum}).
     *
     * <p>The picked experts' ids come to the host (one copy of {@code [tokens, perToken]} per
     * layer): which rows each expert reads sizes its products, as it does transformers' grouped
     * matmul.
     */
    private NDArray experts(int l, ExpertWeights w, NDArray h, ProjectionDelta delta) {
        ModelConfig.Experts cfg = config.experts();
        Shape shape = h.getShape();
        long hidden = shape.get(shape.dimension() - 1);
        NDArray x = h.reshape(-1, hidden);
        int tokens = (int) x.getShape().get(0);
        int n = cfg.count();
        int k = cfg.perToken();
        NDArray baseLogits = linear(x, w.router(), w.routerBias());
        NDArray logits = delta.parameter(l, ExpertParameter.ROUTER, x, baseLogits, null, null);
        // a delta with nothing to add returns its argument itself
        boolean routerAdapted = logits != baseLogits;
        // Each token's top k as torch.topk picks them (largest first); only their ids come to the
        // host, where they size each expert's rows. Their weights are gathered on the device.
        NDArray index;
        NDArray picked;
        long[] expertOf;
        if (cfg.routing() == ModelConfig.Experts.Routing.SIGMOID_GROUPED_TOP_K) {
            NDArray scores = Activation.sigmoid(float32RouterLogits(w, x, logits, routerAdapted));
            expertOf = groupedTopK(scores.add(w.scoreCorrection()), tokens, n, k, cfg.grouped());
            index = x.getManager().create(expertOf, new Shape(tokens, k));
            picked = scores.gather(index, -1);
            if (cfg.normalizeTopK()) {
                picked = picked.div(picked.sum(new int[] {-1}, true).add(1e-20f));
            }
            picked = picked.mul((float) cfg.grouped().scale());
        } else if (cfg.routing() == ModelConfig.Experts.Routing.SOFTMAX_CORRECTED_TOP_K) {
            // ERNIE 4.5 (Ernie4_5_MoeTopKRouter): float32 probabilities, picked by probability
            // plus the correction, their sum clamped below at moe_norm_min, cast back
            NDArray probs = float32RouterLogits(w, x, logits, routerAdapted).softmax(-1);
            index = probs.add(w.scoreCorrection()).topK(k, -1, true, true).get(1);
            expertOf = index.toType(DataType.INT64, false).toLongArray();
            picked = probs.gather(index, -1);
            picked =
                    picked.div(picked.sum(new int[] {-1}, true).maximum((float) cfg.normMin()))
                            .toType(x.getDataType(), false);
        } else if (cfg.routing() != ModelConfig.Experts.Routing.SOFTMAX_THEN_TOP_K) {
            // GPT-OSS and GraniteMoE pick by logits and softmax the picked ones: in the logits'
            // dtype (GPT-OSS), or in float32 cast back to the compute dtype (GraniteMoE)
            NDArray scores =
                    cfg.routing() == ModelConfig.Experts.Routing.TOP_K_THEN_FLOAT32_SOFTMAX
                            ? logits.toType(DataType.FLOAT32, false)
                            : logits;
            index = scores.topK(k, -1, true, true).get(1);
            picked = scores.gather(index, -1).softmax(-1).toType(logits.getDataType(), false);
            expertOf = index.toType(DataType.INT64, false).toLongArray();
        } else {
            NDArray probs = logits.toType(DataType.FLOAT32, false).softmax(-1);
            index = probs.topK(k, -1, true, true).get(1);
            picked = probs.gather(index, -1);
            expertOf = index.toType(DataType.INT64, false).toLongArray();
            if (cfg.normalizeTopK()) {
                picked = picked.div(picked.sum(new int[] {-1}, true));
            }
        }
        int pairs = tokens * k;
        // The pairs grouped by expert (each expert's rows in token order).
        int[] count = new int[n];
        for (long e : expertOf) {
            count[(int) e]++;
        }
        int[] start = new int[n + 1];
        for (int e = 0; e < n; e++) {
            start[e + 1] = start[e] + count[e];
        }
        int[] next = Arrays.copyOf(start, n);
        long[] rowOfPair = new long[pairs]; // where each pair's output lands in the grouped order
        long[] pairOfRow = new long[pairs];
        long[] tokenOfRow = new long[pairs];
        for (int p = 0; p < pairs; p++) {
            int r = next[(int) expertOf[p]]++;
            rowOfPair[p] = r;
            pairOfRow[r] = p;
            tokenOfRow[r] = p / k;
        }
        NDManager m = x.getManager();
        NDArray grouped = Rows.of(x, m.create(tokenOfRow));
        // The experts' products over their rows: one batched product per side over the stacked
        // experts whose rows a padded batch holds without much padding (a decode step's), each
        // other expert (a prefill chunk's many rows) alone. LoRA on the experts and the activation
        // run once over all experts' rows (the same values: both are per row).
        SlotPlan plan = expertPlan(count);
        NDArray gateUp =
                delta.parameter(
                        l,
                        ExpertParameter.GATE_UP,
                        grouped,
                        expertProducts(
                                plan,
                                grouped,
                                w.gateUpBatch(),
                                w.gateUpBiasBatch(),
                                w.gateUp(),
                                w.gateUpBias()),
                        tokenOfRow,
                        start);
        long inter = gateUp.getShape().get(1) / 2;
        NDArray gated;
        if (cfg.gptOss()) {
            gated = gptOssGlu(gateUp, inter);
        } else {
            NDArray gate = gateUp.get(new NDIndex(":, 0:" + inter));
            NDArray up = gateUp.get(new NDIndex(":, " + inter + ":"));
            gated = activation(gate).mul(up);
        }
        NDArray out =
                delta.parameter(
                        l,
                        ExpertParameter.DOWN,
                        gated,
                        expertProducts(
                                plan,
                                gated,
                                w.downBatch(),
                                w.downBiasBatch(),
                                w.down(),
                                w.downBias()),
                        tokenOfRow,
                        start);
        NDArray weights = Rows.of(picked.reshape(pairs, 1), m.create(pairOfRow));
        // Mixtral multiplies and sums in float32 (its weights stay float32); Qwen3-MoE casts its
        // weights to the compute dtype first.
        DataType sumType = cfg.float32Sum() ? DataType.FLOAT32 : x.getDataType();
        NDArray weighted = out.toType(sumType, false).mul(weights.toType(sumType, false));
        NDArray summed =
                Rows.of(weighted, m.create(rowOfPair))
                        .reshape(tokens, k, hidden)
                        .sum(new int[] {1});
        NDArray routed = summed.toType(x.getDataType(), false);
        if (w.sharedGateUp() != null) {
            // Qwen2-MoE: the shared expert's gated MLP, times sigmoid of its gate, added after;
            // GraniteMoeShared: its shared MLP, whose one input_linear LoRA adapts whole, added
            // ungated
            NDArray both =
                    delta.parameter(
                            l,
                            ExpertParameter.SHARED_GATE_UP,
                            x,
                            linear(x, w.sharedGateUp(), w.sharedGateUpBias()),
                            null,
                            null);
            long shared = both.getShape().get(1) / 2;
            NDArray gate =
                    delta.parameter(
                            l,
                            ExpertParameter.SHARED_GATE_PROJ,
                            x,
                            both.get(new NDIndex(":, 0:" + shared)),
                            null,
                            null);
            NDArray up =
                    delta.parameter(
                            l,
                            ExpertParameter.SHARED_UP_PROJ,
                            x,
                            both.get(new NDIndex(":, " + shared + ":")),
                            null,
                            null);
            NDArray sharedGated = activation(gate).mul(up);
            NDArray sharedOut =
                    delta.parameter(
                            l,
                            ExpertParameter.SHARED_DOWN_PROJ,
                            sharedGated,
                            linear(sharedGated, w.sharedDown(), w.sharedDownBias()),
                            null,
                            null);
            if (w.sharedGate() == null) {
                routed = routed.add(sharedOut);
            } else {
                NDArray gateLogit =
                        delta.parameter(
                                l,
                                ExpertParameter.SHARED_EXPERT_GATE,
                                x,
                                linear(x, w.sharedGate(), null),
                                null,
                                null);
                routed = routed.add(Activation.sigmoid(gateLogit).mul(sharedOut));
            }
        }
        return routed.reshape(shape);
    }

    /**
     * The router logits in float32, as GLM-4-MoE's and ERNIE 4.5's routers compute them from
     * float32 copies of the input and the weight; where a router LoRA changed {@code logits} (the
     * compute-dtype product), those, cast (PEFT's merged weight, then float32).
     */
    private NDArray float32RouterLogits(
            ExpertWeights w, NDArray x, NDArray logits, boolean adapted) {
        if (x.getDataType() == DataType.FLOAT32) {
            return logits;
        }
        return adapted
                ? logits.toType(DataType.FLOAT32, false)
                : linear(float32(x), float32(w.router()), null);
    }

    /**
     * Each token's experts as Glm4MoeTopkRouter picks them from the corrected scores {@code choice
     * [tokens, experts]}: the experts split into equal groups, each scored by the sum of its two
     * best; the {@code topKGroups} best groups; their {@code k} best experts, best first (ties to
     * the lower index). On the host: the ids size each expert's rows there anyway, and the group
     * mask is a handful of comparisons per token.
     */
    static long[] groupedTopK(
            NDArray choice, int tokens, int n, int k, ModelConfig.Experts.Grouped grouped) {
        float[] c = choice.toFloatArray();
        int groups = grouped.groups();
        int per = n / groups;
        long[] out = new long[tokens * k];
        Integer[] order = new Integer[Math.max(groups, n)];
        float[] groupScore = new float[groups];
        boolean[] allowed = new boolean[groups];
        for (int t = 0; t < tokens; t++) {
            int row = t * n;
            for (int g = 0; g < groups; g++) {
                float best = Float.NEGATIVE_INFINITY;
                float second = Float.NEGATIVE_INFINITY;
                for (int e = g * per; e < (g + 1) * per; e++) {
                    float v = c[row + e];
                    if (v > best) {
                        second = best;
                        best = v;
                    } else if (v > second) {
                        second = v;
                    }
                }
                groupScore[g] = best + second;
            }
            java.util.Arrays.fill(allowed, false);
            for (int i = 0; i < groups; i++) {
                order[i] = i;
            }
            java.util.Arrays.sort(
                    order, 0, groups, (a, b) -> Float.compare(groupScore[b], groupScore[a]));
            for (int i = 0; i < grouped.topKGroups(); i++) {
                allowed[order[i]] = true;
            }
            int candidates = 0;
            for (int e = 0; e < n; e++) {
                if (allowed[e / per]) {
                    order[candidates++] = e;
                }
            }
            final int base = row;
            java.util.Arrays.sort(
                    order, 0, candidates, (a, b) -> Float.compare(c[base + b], c[base + a]));
            for (int j = 0; j < k; j++) {
                out[t * k + j] = order[j];
            }
        }
        return out;
    }

    /** Sets the padded rows worth running one expert alone (tests run both layouts on a CPU). */
    void expertHeavyCost(int rows) {
        this.expertHeavyCost = rows;
    }

    /**
     * Which experts' rows share a padded batched product and which run alone: the experts holding
     * rows in expert order, each in its own slot of the stack.
     */
    private SlotPlan expertPlan(int[] count) {
        int hit = 0;
        for (int c : count) {
            hit += c > 0 ? 1 : 0;
        }
        int[] ids = new int[hit];
        int[] counts = new int[hit];
        int k = 0;
        for (int e = 0; e < count.length; e++) {
            if (count[e] > 0) {
                ids[k] = e;
                counts[k++] = count[e];
            }
        }
        return SlotPlan.of(ids, counts, ids, expertHeavyCost);
    }

    /**
     * One expert product over rows grouped by expert: the plan's light experts through one batched
     * product over their range of the stack ({@code batch [experts, in, out]}, biases {@code
     * [experts, 1, out]}), each heavy expert through its own ({@code each[e] [out, in]}).
     */
    private static NDArray expertProducts(
            SlotPlan plan,
            NDArray rows,
            NDArray batch,
            NDArray biasBatch,
            NDArray[] each,
            NDArray[] eachBias) {
        NDList parts = new NDList();
        if (plan.slots() > 0) {
            NDIndex range = new NDIndex(plan.first() + ":" + (plan.first() + plan.slots()));
            NDArray y =
                    plan.padded(rows)
                            .reshape(plan.slots(), plan.depth(), rows.getShape().get(1))
                            .matMul(batch.get(range));
            if (biasBatch != null) {
                y = y.add(biasBatch.get(range));
            }
            parts.add(y.reshape((long) plan.slots() * plan.depth(), -1));
        }
        for (long[] segment : plan.heavy()) {
            int e = (int) segment[2];
            parts.add(
                    linear(
                            rows.get(new NDIndex(segment[0] + ":" + segment[1])),
                            each[e],
                            eachBias == null ? null : eachBias[e]));
        }
        return plan.back(parts);
    }

    /**
     * GPT-OSS's expert activation (GptOssExperts._apply_gate): gate and up interleave in gate_up's
     * columns; {@code (clamp(up, -7, 7) + 1) * g * sigmoid(1.702 g)} with {@code g = min(gate, 7)}.
     */
    private static NDArray gptOssGlu(NDArray gateUp, long inter) {
        NDArray pairs = gateUp.reshape(-1, inter, 2);
        NDArray gate = pairs.get(new NDIndex(":, :, 0")).minimum(GPT_OSS_LIMIT);
        NDArray up = pairs.get(new NDIndex(":, :, 1")).clip(-GPT_OSS_LIMIT, GPT_OSS_LIMIT);
        NDArray glu = gate.mul(Activation.sigmoid(gate.mul(GPT_OSS_ALPHA)));
        return up.add(1f).mul(glu);
    }

    /** GptOssExperts' limit and alpha (hard-coded there, not in the config). */
    private static final float GPT_OSS_LIMIT = 7.0f;

    private static final float GPT_OSS_ALPHA = 1.702f;

    /** The MLP's activation of {@code gate}, new array (the input is kept for autograd). */
    /**
     * Apertus's xIELU: {@code alphaP x x + beta x} where x > 0, else {@code (expm1(min(x, eps)) -
     * x) alphaN + beta x}, in XIELUActivation's order of operations. DJL 0.35 exposes no expm1:
     * {@code exp(m) - 1} stands in (within 5e-7 of torch's on 1e5 draws of N(0, 9), the outputs
     * reaching 16).
     */
    private static NDArray xielu(Xielu p, NDArray x) {
        NDArray betaX = x.mul(p.beta());
        NDArray positive = p.alphaP().mul(x).mul(x).add(betaX);
        NDArray negative = x.minimum(p.eps()).exp().sub(1f).sub(x).mul(p.alphaN()).add(betaX);
        return NDArrays.where(x.gt(0f), positive, negative);
    }

    private NDArray activation(NDArray gate) {
        return switch (config.block().activation()) {
            case SILU -> gate.mul(Activation.sigmoid(gate));
            case GELU -> Activation.gelu(gate);
            case RELU -> Activation.relu(gate);
            // relu2 (Nemotron): relu(x) squared, out of place (relu's backward reads its output)
            case RELU2 -> Activation.relu(gate).square();
            // quick_gelu (QuickGELUActivation): x * sigmoid(1.702 x)
            case QUICK_GELU -> gate.mul(Activation.sigmoid(gate.mul(constants.quickGelu())));
            // per layer, with its learned parameters: mlp() calls xielu() itself
            case XIELU -> throw new IllegalStateException("xIELU needs its layer's parameters");
            // gelu_pytorch_tanh: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
            // Out of place where autograd keeps an output for the backward pass (pow,
            // tanh).
            case GELU_TANH ->
                    gate.mul(constants.half())
                            .muli(
                                    gate.pow(constants.three())
                                            .mul(constants.geluCubic())
                                            .addi(gate)
                                            .muli(constants.geluScale())
                                            .tanh()
                                            .add(constants.one()));
        };
    }

    /**
     * Stores a module's weight (or bias) as the projections it feeds: a fused module (Phi-3's
     * qkv_proj) is split by output rows, and the fused array closed.
     */
    private static void split(LinearModule m, NDArray stored, NDArray[] byProjection) {
        long[] fileRows = m.fileRowIndex();
        if (fileRows != null) {
            // rows into slice order first (GPT-NeoX's per-head q, k, v)
            try (NDArray index = stored.getManager().create(fileRows)) {
                NDArray ordered = Rows.of(stored, index);
                stored.close();
                stored = ordered;
            }
        }
        if (m.slices().size() == 1) {
            byProjection[m.slices().get(0).projection().ordinal()] = stored;
            return;
        }
        for (LinearModule.Slice sl : m.slices()) {
            byProjection[sl.projection().ordinal()] =
                    stored.get(sl.offset() + ":" + (sl.offset() + sl.rows())).duplicate();
        }
        stored.close();
    }

    /** Whether projection {@code p} of every layer carries a bias. */
    private static boolean hasBias(ModelConfig config, Projection p) {
        return switch (p) {
            case Q, K, V -> config.qkvBias();
            case O -> config.oBias();
            case GATE, UP, DOWN -> config.mlpBias();
        };
    }

    /**
     * Gemma 2's soft-capping: {@code cap * tanh(x / cap)} (out of place: autograd keeps tanh's
     * output).
     */
    private static NDArray softcap(NDArray x, NDArray cap) {
        return x.div(cap).tanh().mul(cap);
    }

    private NDArray project(int l, Projection p, Layer w, NDArray in, ProjectionDelta delta) {
        return delta.apply(l, p, in, linear(in, w.w(p), w.b(p)), w.b(p));
    }

    private NDArray rope(NDArray x, NDArray cos, NDArray sin) {
        return x.mul(cos).addi(x.matMul(rotateHalf).muli(sin));
    }

    /**
     * The block's norm over the last dimension: RMSNorm, or a mean-centred LayerNorm (Cohere's and
     * the q/k norms without bias; StableLM's with one), in float32 as transformers computes them.
     */
    /**
     * What the output head reads of the last layer's output: the final norm (none in OPT's
     * post-LayerNorm models), then OPT's project_out back to the embedding width.
     */
    private NDArray headInput(NDArray x) {
        NDArray normed = config.block().finalNorm() ? norm(x, finalNorm, finalNormBias) : x;
        return projectOut == null ? normed : linear(normed, projectOut, null);
    }

    private NDArray norm(NDArray x, NDArray weight) {
        return norm(x, weight, null);
    }

    private NDArray norm(NDArray x, NDArray weight, NDArray bias) {
        NDArray out = config.block().layerNorm() ? layerNorm(x, weight) : rmsNorm(x, weight);
        return bias == null ? out : out.add(bias);
    }

    /** CohereLayerNorm: {@code w * (x - mean) * rsqrt(var + eps)}, var of the centred x. */
    private NDArray layerNorm(NDArray x, NDArray weight) {
        NDArray xf = float32(x);
        return scaled(xf.sub(xf.mean(new int[] {-1}, true)), weight);
    }

    private NDArray rmsNorm(NDArray x, NDArray weight) {
        return scaled(float32(x), weight);
    }

    /** {@code weight * x * rsqrt(mean(x^2) + eps)}, cast to the model's dtype before the weight. */
    private NDArray scaled(NDArray xf, NDArray weight) {
        NDArray inv =
                xf.square()
                        .mean(new int[] {-1}, true)
                        .addi(constants.rmsEps())
                        .powi(constants.minusHalf());
        NDArray normed = xf.mul(inv);
        if (normed.getDataType() != dtype) {
            normed = normed.toType(dtype, false);
        }
        return weight == null ? normed : normed.muli(weight);
    }

    private static NDArray float32(NDArray x) {
        return x.getDataType() == DataType.FLOAT32 ? x : x.toType(DataType.FLOAT32, false);
    }

    static NDArray linear(NDArray x, NDArray weight, NDArray bias) {
        return Linear.linear(x, weight, bias).singletonOrThrow();
    }

    /**
     * Native arrays the last {@link #forward}'s layers created (they live and die in per-layer
     * scopes).
     */
    public int arraysLastForward() {
        return arraysLastForward;
    }

    public ModelConfig config() {
        return config;
    }

    public DataType dtype() {
        return dtype;
    }

    public Device device() {
        return device;
    }

    /** Positions the rotary tables cover: the longest sequence this model instance serves. */
    public int maxPositions() {
        return maxPositions;
    }

    /** The output head [vocab, hidden] (the input embedding when tied). */
    public NDArray outputHead() {
        return lmHead;
    }

    /** The output head's bias [vocab] (Phi), or null. */
    public NDArray outputHeadBias() {
        return lmHeadBias;
    }

    /** The input embedding [vocab, hidden] as stored (before any embedding scale). */
    public NDArray embedding() {
        return embed;
    }

    /**
     * The base weight of a projection, for adapter tools that need it (merge, extract, shape
     * checks).
     */
    public NDArray weight(int layer, Projection p) {
        return layers[layer].w(p);
    }

    /** The base bias of a projection [out], or null when the model has none there. */
    public NDArray bias(int layer, Projection p) {
        return layers[layer].b(p);
    }

    /**
     * Weight [out, in] of one of the shared-expert modules in a sparse layer (Qwen2-MoE's gate, up
     * or down projection or shared_expert_gate; GraniteMoeShared's input_linear, gate and up fused,
     * or output_linear), or null where there is none.
     */
    public NDArray sharedWeight(int layer, ExpertParameter p) {
        ExpertWeights w = layers[layer].experts();
        if (w == null || w.sharedGateUp() == null) {
            return null;
        }
        long shared = w.sharedGateUp().getShape().get(0) / 2;
        return switch (p) {
            case SHARED_GATE_UP -> w.sharedGateUp();
            case SHARED_GATE_PROJ -> w.sharedGateUp().get(new NDIndex("0:" + shared));
            case SHARED_UP_PROJ -> w.sharedGateUp().get(new NDIndex(shared + ":"));
            case SHARED_DOWN_PROJ -> w.sharedDown();
            case SHARED_EXPERT_GATE -> w.sharedGate();
            default -> null;
        };
    }

    /** A sparse layer's router bias [experts] (GPT-OSS), or null where there is none. */
    public NDArray routerBias(int layer) {
        ExpertWeights w = layers[layer].experts();
        return w == null ? null : w.routerBias();
    }

    @Override
    public void close() {
        manager.close();
    }
}
