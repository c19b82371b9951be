package io.flinklora.gpu.lora;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.ExpertParameter;
import io.flinklora.gpu.model.LinearModule;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.safetensors.WeightIndex;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One PEFT LoRA adapter loaded for serving: per adapted projection, {@code A [r, in]} and {@code B
 * [out, r]} with the adapter's scale already folded into B, so a delta is two products.
 *
 * <p>Its weights live either on the device (ready to serve) or as host copies (evicted); the
 * registry moves it between the two. Ranks are whatever the files hold, module by module.
 */
@Internal
public final class LoraAdapter implements AutoCloseable {
    /** A LayerNorm bias under GPT-2's names ({@code ln_1}, {@code ln_2}, {@code ln_f}). */
    private static final java.util.regex.Pattern LN_BIAS =
            java.util.regex.Pattern.compile("(^|\\.)ln_[a-z0-9]+\\.bias$");

    private static final String[] PREFIXES = {"base_model.model.", "base_model.", ""};

    private final String name;
    private final long version;
    private final AdapterConfig config;
    private final Module[][] modules;

    /** LoRA on sparse layers' parameters, [layer][ExpertParameter], or null when none. */
    private final ParameterLora[][] parameters;

    private final long bytes;
    private final Extras extras;

    /**
     * Base biases PEFT saved with {@code bias = all / lora_only}, as deltas from the base model's
     * [layer][projection] (null where equal to it), or null when none differs.
     */
    private final float[][][] hostBaseBias;

    /**
     * Per sparse layer, the trained router bias's difference from the model's [experts], or null.
     */
    private final float[][] hostRouterBias;

    private NDArray[] routerBiasOnDevice;

    private NDArray[][] baseBiasOnDevice;
    private AdapterPool placedIn;
    private NDManager extrasOnDevice;
    private NDArray embedAT;
    private NDArray embedBT;
    private NDArray savedEmbed;
    private NDArray savedLmHead;
    private NDArray savedLmHeadBias;
    private NDArray headAT;
    private NDArray tokenRowsOnDevice;
    private NDArray headBT;

    private NDArray headBias;

    private NDArray headDoraScale;

    /**
     * What an adapter holds besides per-projection LoRA: embedding LoRA ({@code lora_embedding_A}
     * [r, vocab], {@code lora_embedding_B} [hidden, r] with the scale folded in) and whole saved
     * modules [vocab, hidden]; each null when absent.
     */
    record Extras(
            int embedRank,
            float[] embedA,
            float[] embedB,
            float[] savedEmbed,
            float[] savedLmHead,
            float[] savedLmHeadBias,
            int headRank,
            float[] headA,
            float[] headB,
            float[] headBias,
            float[] headDoraScale,
            int[] tokenIds,
            float[] tokenRows,
            boolean tiedHead,
            int vocab,
            int hidden) {
        static final Extras NONE =
                new Extras(
                        0, null, null, null, null, null, 0, null, null, null, null, null, null,
                        false, 0, 0);

        long bytes() {
            long n = 0;
            for (float[] a :
                    new float[][] {
                        embedA,
                        embedB,
                        savedEmbed,
                        savedLmHead,
                        savedLmHeadBias,
                        headA,
                        headB,
                        headBias,
                        headDoraScale,
                        tokenRows
                    }) {
                n += a == null ? 0 : 4L * a.length;
            }
            return n;
        }

        /** The same extras with DoRA's row scales of the output head. */
        Extras withHeadDoraScale(float[] scale) {
            return new Extras(
                    embedRank,
                    embedA,
                    embedB,
                    savedEmbed,
                    savedLmHead,
                    savedLmHeadBias,
                    headRank,
                    headA,
                    headB,
                    headBias,
                    scale,
                    tokenIds,
                    tokenRows,
                    tiedHead,
                    vocab,
                    hidden);
        }
    }

    /**
     * One adapted projection: device arrays while resident; host copies while not resident, and
     * while resident only where the device copy is not exact (a float16 or bfloat16 pool).
     */
    static final class Module {
        final int rank;
        final int in;
        final int out;

        /**
         * A [rank, in] and B [out, rank] row-major, or null while a float32 device slot holds them
         * exactly.
         */
        float[] hostA;

        float[] hostB;

        /** {@code lora_bias}: the bias of lora_B times the scale, or null. */
        final float[] hostBias;

        /** DoRA: magnitude / ||W + s B A|| - 1 per output row, or null for plain LoRA. */
        float[] doraScale;

        /**
         * Device copies of {@code hostBias} and {@code doraScale} [1, out] while resident, else
         * null.
         */
        NDArray bias;

        NDArray dora;
        NDArray a;

        /** B transposed, {@code [r, out]}: a view of the pool slot. */
        NDArray bT;

        AdapterPool.RankPool pool;
        int slot = -1;

        Module(int rank, int in, int out, float[] hostA, float[] hostB, float[] hostBias) {
            this.rank = rank;
            this.in = in;
            this.out = out;
            this.hostA = hostA;
            this.hostB = hostB;
            this.hostBias = hostBias;
        }

        void place(AdapterPool.RankPool p, int s, NDArray viewA, NDArray viewBT) {
            this.pool = p;
            this.slot = s;
            this.a = viewA;
            this.bT = viewBT;
        }

        /** A as a host array: the host copy, or the device slot's. */
        float[] a() {
            return hostA != null ? hostA : a.toFloatArray();
        }

        /** B as a host array: the host copy, or the device slot's. */
        float[] b() {
            return hostB != null ? hostB : bT.transpose().toFloatArray();
        }

        void unplace() {
            this.pool = null;
            this.slot = -1;
            this.a = null;
            this.bT = null;
        }
    }

    private LoraAdapter(
            String name,
            long version,
            AdapterConfig config,
            Module[][] modules,
            long bytes,
            Extras extras,
            float[][][] hostBaseBias,
            float[][] hostRouterBias,
            ParameterLora[][] parameters) {
        this.name = name;
        this.version = version;
        this.config = config;
        this.extras = extras;
        this.modules = modules;
        this.parameters = parameters;
        if (parameters != null) {
            for (ParameterLora[] layer : parameters) {
                for (ParameterLora p : layer) {
                    bytes += p == null ? 0 : p.bytes();
                }
            }
        }
        this.hostBaseBias = hostBaseBias;
        this.hostRouterBias = hostRouterBias;
        long biasBytes = 0;
        if (hostRouterBias != null) {
            for (float[] delta : hostRouterBias) {
                biasBytes += delta == null ? 0 : 4L * delta.length;
            }
        }
        if (hostBaseBias != null) {
            for (float[][] layer : hostBaseBias) {
                for (float[] delta : layer) {
                    biasBytes += delta == null ? 0 : 4L * delta.length;
                }
            }
        }
        this.bytes = bytes + extras.bytes() + biasBytes;
    }

    /**
     * Reads and checks an adapter folder against the base model's shapes. The result holds host
     * copies only; {@link #upload} puts it on the device.
     */
    public static LoraAdapter read(String name, long version, Path dir, ModelConfig model) {
        return read(name, version, dir, model, null);
    }

    /**
     * As {@link #read(String, long, Path, ModelConfig)}, with the base weights DoRA adapters need
     * for their row norms (a DoRA adapter read without them is refused).
     */
    public static LoraAdapter read(
            String name, long version, Path dir, ModelConfig model, BaseWeights baseWeights) {
        String configFile = dir.resolve("adapter_config.json").toString();
        // PEFT rewrites transformers 4's expert and router targets before it injects anything
        AdapterConfig config = ParameterTargets.convert(AdapterConfig.read(dir), model, configFile);
        config.checkModules(model, configFile);
        Path file = dir.resolve("adapter_model.safetensors");
        if (!Files.isRegularFile(file)) {
            throw new AdapterFormatException(
                    "no adapter_model.safetensors in "
                            + dir
                            + " (only the safetensors format is read)");
        }
        try (WeightIndex w = WeightIndex.openFile(file);
                NDManager scratch = NDManager.newBaseManager(Device.cpu())) {
            Map<String, String> byKey = new HashMap<>();
            for (String t : w.names()) {
                byKey.put(normalize(t), t);
            }
            Set<String> consumed = new HashSet<>();
            Module[][] modules = new Module[model.numLayers()][Projection.values().length];
            long bytes = 0;
            for (int l = 0; l < model.numLayers(); l++) {
                for (LinearModule m : model.linearModules(l)) {
                    if (!config.matches(m.path())) {
                        continue;
                    }
                    String base = m.path();
                    String aName = byKey.get(base + ".lora_A.weight");
                    String bName = byKey.get(base + ".lora_B.weight");
                    if (aName == null || bName == null) {
                        throw new AdapterFormatException(
                                file
                                        + ": missing tensor '"
                                        + base
                                        + ".lora_"
                                        + (aName == null ? "A" : "B")
                                        + ".weight' for a target module");
                    }
                    int rank = config.rankOf(base);
                    int in = m.inFeatures();
                    int out = m.outFeatures();
                    check(file, aName, w.info(aName).shape(), rank, in);
                    check(file, bName, w.info(bName).shape(), out, rank);
                    float[] a = load(w, aName, scratch);
                    // B's rows (and the bias's) follow the module's output rows: slice order
                    float[] b = m.toSliceOrder(load(w, bName, scratch), rank);
                    consumed.add(aName);
                    consumed.add(bName);
                    float scale = (float) config.scaleOf(base);
                    for (int i = 0; i < b.length; i++) {
                        b[i] *= scale;
                    }
                    float[] bias =
                            config.loraBias()
                                    ? m.toSliceOrder(
                                            loraBias(
                                                    file, w, byKey, consumed, base, out, scale,
                                                    scratch),
                                            1)
                                    : null;
                    if (config.baseRewrite() != AdapterConfig.BaseRewrite.NONE) {
                        BaseRewriteFactors.Factors d =
                                rewriteFactors(config, baseWeights, l, m, rank, scale, dir);
                        // A' = [A; a0], B' = [s B, -b0]: s B A x - b0 a0 x on the untouched base
                        a = stack(a, d.a());
                        b = sideBySide(b, rank, negate(d.b()), d.rank(), out);
                        rank += d.rank();
                    }
                    // A fused module's delta B A x splits by output rows like its weight: each
                    // projection
                    // gets A and its rows of B (and of the bias).
                    for (LinearModule.Slice sl : m.slices()) {
                        float[] partB =
                                Arrays.copyOfRange(
                                        b, sl.offset() * rank, (sl.offset() + sl.rows()) * rank);
                        float[] partBias =
                                bias == null
                                        ? null
                                        : Arrays.copyOfRange(
                                                bias, sl.offset(), sl.offset() + sl.rows());
                        float[] partA = m.slices().size() == 1 ? a : a.clone();
                        modules[l][sl.projection().ordinal()] =
                                new Module(rank, in, sl.rows(), partA, partB, partBias);
                        bytes +=
                                4L
                                        * (partA.length
                                                + partB.length
                                                + (partBias == null ? 0 : partBias.length));
                    }
                }
            }
            ParameterLora[][] parameters =
                    parameterLora(file, w, byKey, consumed, config, model, scratch);
            // With DoRA too: its term (g - 1)(out - bias) takes the base bias back out, so the
            // replaced bias's difference is added after it (LoraBatch), as PEFT's sum gives.
            float[][][] baseBias =
                    baseBiases(file, w, byKey, consumed, modules, model, baseWeights, scratch);
            float[][] routerBias =
                    routerBiases(file, w, byKey, consumed, model, baseWeights, scratch);
            if ((baseBias != null || routerBias != null) && config.activated()) {
                // PEFT's loaded biases act on every token, its activated LoRA after the invocation.
                throw new AdapterFormatException(
                        dir
                                + ": alora_invocation_tokens with trained base biases (bias = all or"
                                + " lora_only) is not supported");
            }
            if (config.useDora()) {
                if (baseWeights == null) {
                    throw new AdapterFormatException(
                            dir + ": a DoRA adapter needs the base weights (not available here)");
                }
                doraScales(file, w, byKey, consumed, modules, model, baseWeights, scratch);
                sharedDoraScales(file, w, byKey, consumed, parameters, model, baseWeights, scratch);
            }
            Extras extras = extras(file, w, byKey, consumed, config, model, scratch);
            if (config.useDora() && extras.headA() != null) {
                extras =
                        extras.withHeadDoraScale(
                                headDoraScale(
                                        file,
                                        w,
                                        byKey,
                                        consumed,
                                        extras,
                                        baseWeights.outputHead(),
                                        scratch));
            }
            String savedBase = byKey.get(model.embeddingModule() + ".base_layer.weight");
            if (savedBase != null && extras.embedA() != null) {
                // PEFT saves the targeted embedding beside an embedding LoRA
                // (save_embedding_layers="auto"):
                // it must be the base model's own, or the adapter was trained on another base.
                checkSavedBase(
                        file,
                        w,
                        savedBase,
                        baseWeights == null ? null : baseWeights.embedding(),
                        model.embeddingName(),
                        scratch);
                consumed.add(savedBase);
            }
            String savedHead = byKey.get(AdapterConfig.HEAD + ".base_layer.weight");
            if (savedHead != null && extras.headA() != null) {
                // ... and the output head beside a LoRA on lm_head, under the same rule.
                checkSavedBase(
                        file,
                        w,
                        savedHead,
                        baseWeights == null ? null : baseWeights.outputHead(),
                        "lm_head",
                        scratch);
                consumed.add(savedHead);
                String savedHeadBias = byKey.get(AdapterConfig.HEAD + ".base_layer.bias");
                if (savedHeadBias != null) {
                    // Phi's head has a bias, saved beside its weight.
                    checkSavedBase(
                            file,
                            w,
                            savedHeadBias,
                            baseWeights == null ? null : baseWeights.outputHeadBias(),
                            "lm_head bias",
                            scratch);
                    consumed.add(savedHeadBias);
                }
            }
            // save_pretrained(save_embedding_layers=True) writes the whole embedding and output
            // head beside any adapter, and PEFT's loader writes them over the model's: served
            // when they are the model's own (a tied head is the embedding).
            for (String module : List.of(model.embeddingModule(), AdapterConfig.HEAD)) {
                String copy = byKey.get(module + ".weight");
                if (copy != null && !consumed.contains(copy) && !config.saves(module)) {
                    NDArray own =
                            baseWeights == null
                                    ? null
                                    : module.equals(AdapterConfig.HEAD)
                                            ? baseWeights.outputHead()
                                            : baseWeights.embedding();
                    checkSavedBase(
                            file,
                            w,
                            copy,
                            own,
                            module.equals(AdapterConfig.HEAD) ? "lm_head" : model.embeddingName(),
                            scratch);
                    consumed.add(copy);
                    String copyBias = byKey.get(module + ".bias");
                    if (module.equals(AdapterConfig.HEAD) && copyBias != null) {
                        // Phi's head bias, saved with the whole head.
                        checkSavedBase(
                                file,
                                w,
                                copyBias,
                                baseWeights == null ? null : baseWeights.outputHeadBias(),
                                "lm_head bias",
                                scratch);
                        consumed.add(copyBias);
                    }
                }
            }
            List<String> unused = new ArrayList<>();
            for (String t : w.names()) {
                if (!consumed.contains(t)) {
                    unused.add(t);
                }
            }
            // GPT-2's, GPT-J's and CodeGen's LayerNorms are ln_1, ln_2 and ln_f
            List<String> normBiases =
                    unused.stream()
                            .filter(t -> t.endsWith("norm.bias") || LN_BIAS.matcher(t).find())
                            .sorted()
                            .toList();
            if (!normBiases.isEmpty()) {
                // PEFT's bias = all trains every bias of the model, a LayerNorm's too (StableLM's
                // norms carry one), and its loader writes them over the base model's.
                throw new AdapterFormatException(
                        file
                                + ": tensor(s) "
                                + firstOf(normBiases, 4)
                                + " are LayerNorm biases trained with PEFT's bias = all; per-adapter"
                                + " norm biases are not supported (linear layers' biases are)");
            }
            List<String> headBiases =
                    unused.stream().filter(t -> t.endsWith(AdapterConfig.HEAD + ".bias")).toList();
            if (!headBiases.isEmpty()) {
                // Phi's, GPT-J's and CodeGen's output head has a bias, which bias = all trains too
                throw new AdapterFormatException(
                        file
                                + ": tensor "
                                + headBiases.get(0)
                                + " is the output head's bias trained with PEFT's bias = all; a"
                                + " per-adapter head bias is not supported (linear layers' biases"
                                + " are)");
            }
            if (!unused.isEmpty()) {
                Collections.sort(unused);
                throw new AdapterFormatException(
                        file
                                + ": tensor(s) "
                                + firstOf(unused, 8)
                                + " are not used by the adapter's config (a feature not implemented, or a config that"
                                + " does not match the weights); refusing rather than ignoring them"
                                + (unused.stream().anyMatch(t -> t.endsWith(".bias"))
                                        ? " (a base bias is read as `<module>.base_layer.bias` on a"
                                                + " target module and `<module>.bias` elsewhere, as"
                                                + " PEFT saves them)"
                                        : ""));
            }
            return new LoraAdapter(
                    name,
                    version,
                    config,
                    modules,
                    bytes,
                    extras,
                    baseBias,
                    routerBias,
                    parameters);
        } catch (IOException e) {
            throw new AdapterFormatException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * LoRA on the sparse layers' parameters ({@code target_parameters}), read as PEFT's
     * ParamWrapper saves it; null when the adapter targets none.
     */
    private static ParameterLora[][] parameterLora(
            Path file,
            WeightIndex w,
            Map<String, String> byKey,
            Set<String> consumed,
            AdapterConfig config,
            ModelConfig model,
            NDManager scratch)
            throws IOException {
        ModelConfig.Experts x = model.experts();
        if (x == null) {
            return null; // target_parameters are checked to need experts
        }
        int hidden = model.hiddenSize();
        ParameterLora[][] out =
                new ParameterLora[model.numLayers()][ExpertParameter.values().length];
        boolean any = false;
        for (int l = 0; l < model.numLayers(); l++) {
            if (!x.sparse(l)) {
                continue;
            }
            ParameterTargets.Layer t = ParameterTargets.of(config, model, l);
            // transformers 4's per-expert tensors, read only where PEFT 0.21's conversion of them
            // was checked (Mixtral, Qwen3-MoE, OLMoE); elsewhere they stay unused and are refused
            boolean perExpert = ParameterTargets.convertible(model);
            String oldBlock = ParameterTargets.oldBlock(model, l);
            if (t.gateUp() != null) {
                out[l][ExpertParameter.GATE_UP.ordinal()] =
                        parameterLora(
                                file,
                                w,
                                byKey,
                                consumed,
                                config,
                                scratch,
                                t.gateUp(),
                                ParameterTargets.gateUpKey(model, l),
                                x.count(),
                                hidden,
                                2 * x.intermediate(),
                                perExpert ? oldBlock + ".experts." : null,
                                ParameterTargets.fusedGateUp(model));
            }
            if (t.down() != null) {
                out[l][ExpertParameter.DOWN.ordinal()] =
                        parameterLora(
                                file,
                                w,
                                byKey,
                                consumed,
                                config,
                                scratch,
                                t.down(),
                                ParameterTargets.downKey(model, l),
                                x.count(),
                                x.intermediate(),
                                hidden,
                                perExpert ? oldBlock + ".experts." : null,
                                List.of(ParameterTargets.oldDown(model)));
            }
            if (t.router() != null) {
                // transformers 4's Mixtral router sat in block_sparse_moe: PEFT renames its keys
                String router =
                        !perExpert || byKey.containsKey(t.router() + ".lora_A.weight")
                                ? t.router()
                                : oldBlock + ".gate";
                out[l][ExpertParameter.ROUTER.ordinal()] =
                        parameterLora(
                                file,
                                w,
                                byKey,
                                consumed,
                                config,
                                scratch,
                                router,
                                ParameterTargets.routerKey(model, l),
                                1,
                                hidden,
                                x.count(),
                                null,
                                List.of());
            }
            any |= t.any();
            int shared = x.sharedIntermediate();
            if (shared > 0) {
                // the shared expert's modules, nn.Linear: plain LoRA on each matched
                for (var e : ParameterTargets.sharedModules(model, l).entrySet()) {
                    if (!config.matches(e.getValue())) {
                        continue;
                    }
                    int in = e.getKey() == ExpertParameter.SHARED_DOWN_PROJ ? shared : hidden;
                    int outF =
                            switch (e.getKey()) {
                                case SHARED_DOWN_PROJ -> hidden;
                                case SHARED_EXPERT_GATE -> 1;
                                case SHARED_GATE_UP -> 2 * shared;
                                default -> shared;
                            };
                    ParameterLora lora =
                            parameterLora(
                                    file,
                                    w,
                                    byKey,
                                    consumed,
                                    config,
                                    scratch,
                                    e.getValue(),
                                    e.getValue(),
                                    1,
                                    in,
                                    outF,
                                    null,
                                    List.of());
                    if (config.loraBias()) {
                        // lora_B's bias, scaled with B: PEFT adds lora_B(lora_A(x)) * scaling
                        lora.hostBias =
                                loraBias(
                                        file,
                                        w,
                                        byKey,
                                        consumed,
                                        e.getValue(),
                                        outF,
                                        (float) config.scaleOf(e.getValue()),
                                        scratch);
                    }
                    out[l][e.getKey().ordinal()] = lora;
                    any = true;
                }
            }
        }
        return any ? out : null;
    }

    /**
     * One ParamWrapper's tensors: {@code <module>.lora_A.weight [r * experts, in]} and {@code
     * <module>.lora_B.weight [out, r * experts]}, rank and scale from the patterns matched against
     * the parameter's path, as PEFT matches them.
     */
    private static ParameterLora parameterLora(
            Path file,
            WeightIndex w,
            Map<String, String> byKey,
            Set<String> consumed,
            AdapterConfig config,
            NDManager scratch,
            String module,
            String parameterPath,
            int experts,
            int in,
            int out,
            String perExpertPrefix,
            List<String> perExpertParts)
            throws IOException {
        String aName = byKey.get(module + ".lora_A.weight");
        String bName = byKey.get(module + ".lora_B.weight");
        if (aName == null
                && bName == null
                && perExpertPrefix != null
                && byKey.containsKey(
                        perExpertPrefix + "0." + perExpertParts.get(0) + ".lora_A.weight")) {
            return perExpertLora(
                    file,
                    w,
                    byKey,
                    consumed,
                    config,
                    scratch,
                    parameterPath,
                    experts,
                    in,
                    out,
                    perExpertPrefix,
                    perExpertParts);
        }
        if (aName == null || bName == null) {
            throw new AdapterFormatException(
                    file
                            + ": missing tensor '"
                            + module
                            + ".lora_"
                            + (aName == null ? "A" : "B")
                            + ".weight' for target parameter "
                            + parameterPath);
        }
        int rank = config.rankOf(parameterPath);
        check(file, aName, w.info(aName).shape(), (long) rank * experts, in);
        check(file, bName, w.info(bName).shape(), out, (long) rank * experts);
        consumed.add(aName);
        consumed.add(bName);
        return ParameterLora.fromPeft(
                experts,
                rank,
                in,
                out,
                load(w, aName, scratch),
                load(w, bName, scratch),
                (float) config.scaleOf(parameterPath));
    }

    /**
     * A parameter's LoRA saved as transformers 4's per-expert modules (an adapter trained before
     * transformers 5 fused the experts), assembled as PEFT 0.21's loader converts it: expert {@code
     * e}'s A is its parts' A stacked ({@code [A_w1; A_w3]}, w1 first) and its B their block
     * diagonal, laid out as ParamWrapper's {@code lora_A [r * experts, in]} and {@code lora_B [out,
     * r * experts]} (its MergeModulelist, Concatenate and PeftConcatenate); {@code r} is the
     * config's rank for the parameter, split evenly over the parts.
     */
    private static ParameterLora perExpertLora(
            Path file,
            WeightIndex w,
            Map<String, String> byKey,
            Set<String> consumed,
            AdapterConfig config,
            NDManager scratch,
            String parameterPath,
            int experts,
            int in,
            int out,
            String prefix,
            List<String> parts)
            throws IOException {
        int rank = config.rankOf(parameterPath);
        int n = parts.size();
        if (rank % n != 0) {
            throw new AdapterFormatException(
                    file
                            + ": target parameter "
                            + parameterPath
                            + " has rank "
                            + rank
                            + " in the config, which its "
                            + n
                            + " per-expert modules "
                            + parts
                            + " cannot share evenly");
        }
        int partRank = rank / n;
        int partOut = out / n;
        int cols = rank * experts;
        float[] a = new float[rank * experts * in];
        float[] b = new float[out * cols];
        for (int e = 0; e < experts; e++) {
            for (int p = 0; p < n; p++) {
                String module = prefix + e + "." + parts.get(p);
                String aName = byKey.get(module + ".lora_A.weight");
                String bName = byKey.get(module + ".lora_B.weight");
                if (aName == null || bName == null) {
                    throw new AdapterFormatException(
                            file
                                    + ": missing tensor '"
                                    + module
                                    + ".lora_"
                                    + (aName == null ? "A" : "B")
                                    + ".weight' for target parameter "
                                    + parameterPath
                                    + " (saved per expert, as transformers 4 held them)");
                }
                check(file, aName, w.info(aName).shape(), partRank, in);
                check(file, bName, w.info(bName).shape(), partOut, partRank);
                consumed.add(aName);
                consumed.add(bName);
                float[] pa = load(w, aName, scratch);
                float[] pb = load(w, bName, scratch);
                System.arraycopy(pa, 0, a, (e * rank + p * partRank) * in, partRank * in);
                for (int o = 0; o < partOut; o++) {
                    for (int k = 0; k < partRank; k++) {
                        b[(p * partOut + o) * cols + (p * partRank + k) * experts + e] =
                                pb[o * partRank + k];
                    }
                }
            }
        }
        return ParameterLora.fromPeft(
                experts, rank, in, out, a, b, (float) config.scaleOf(parameterPath));
    }

    /**
     * The part PEFT's OLoRA / PiSSA loader takes out of module {@code m}'s base weight (the fused
     * weight for a fused module, as PEFT sees it).
     */
    private static BaseRewriteFactors.Factors rewriteFactors(
            AdapterConfig config,
            BaseWeights base,
            int layer,
            LinearModule m,
            int rank,
            float scale,
            Path dir) {
        if (base == null) {
            throw new AdapterFormatException(
                    dir
                            + ": init_lora_weights "
                            + config.baseRewrite().name().toLowerCase(java.util.Locale.ROOT)
                            + " needs the base model's weights (not available here)");
        }
        int in = m.inFeatures();
        float[] w = new float[m.outFeatures() * in];
        for (LinearModule.Slice sl : m.slices()) {
            NDArray weight = base.weight(layer, sl.projection());
            float[] rows;
            if (weight.getDataType() == DataType.FLOAT32) {
                rows = weight.toFloatArray();
            } else {
                // the copy would otherwise live with the model's manager
                try (NDArray f = weight.toType(DataType.FLOAT32, true)) {
                    rows = f.toFloatArray();
                }
            }
            System.arraycopy(rows, 0, w, sl.offset() * in, sl.rows() * in);
        }
        String where = dir + ": " + m.path();
        return config.baseRewrite() == AdapterConfig.BaseRewrite.OLORA
                ? BaseRewriteFactors.olora(w, m.outFeatures(), in, rank, scale, where)
                : BaseRewriteFactors.pissa(w, m.outFeatures(), in, rank, where);
    }

    private static float[] stack(float[] top, float[] bottom) {
        float[] out = Arrays.copyOf(top, top.length + bottom.length);
        System.arraycopy(bottom, 0, out, top.length, bottom.length);
        return out;
    }

    /** [rows, leftCols] and [rows, rightCols] row-major, side by side. */
    private static float[] sideBySide(
            float[] left, int leftCols, float[] right, int rightCols, int rows) {
        int cols = leftCols + rightCols;
        float[] out = new float[rows * cols];
        for (int i = 0; i < rows; i++) {
            System.arraycopy(left, i * leftCols, out, i * cols, leftCols);
            System.arraycopy(right, i * rightCols, out, i * cols + leftCols, rightCols);
        }
        return out;
    }

    private static float[] negate(float[] v) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = -v[i];
        }
        return out;
    }

    /**
     * The base biases PEFT saves with {@code bias = all} (every module's) or {@code lora_only} (the
     * target modules'): {@code <module>.base_layer.bias} on a target module, {@code <module>.bias}
     * elsewhere. PEFT's loader writes them over the base model's biases whatever the config says,
     * so they are read whenever present; each is kept as its difference from the base bias, per
     * projection, and none is kept where they are equal.
     */
    private static float[][][] baseBiases(
            Path file,
            WeightIndex w,
            Map<String, String> byKey,
            Set<String> consumed,
            Module[][] modules,
            ModelConfig model,
            BaseWeights base,
            NDManager scratch)
            throws IOException {
        float[][][] out = null;
        for (int l = 0; l < model.numLayers(); l++) {
            for (LinearModule m : model.linearModules(l)) {
                boolean target = modules[l][m.slices().get(0).projection().ordinal()] != null;
                String name = byKey.get(m.path() + (target ? ".base_layer.bias" : ".bias"));
                if (name == null) {
                    continue;
                }
                long[] shape = w.info(name).shape();
                if (shape.length != 1 || shape[0] != m.outFeatures()) {
                    throw new AdapterFormatException(
                            file
                                    + ": base bias '"
                                    + name
                                    + "' has shape "
                                    + Arrays.toString(shape)
                                    + ", expected ["
                                    + m.outFeatures()
                                    + "]");
                }
                if (base == null) {
                    throw new AdapterFormatException(
                            file
                                    + ": tensor '"
                                    + name
                                    + "' is a base bias trained with PEFT's bias = all or"
                                    + " lora_only; serving it needs the base model's biases (not"
                                    + " available here)");
                }
                float[] saved = m.toSliceOrder(load(w, name, scratch), 1);
                consumed.add(name);
                for (LinearModule.Slice sl : m.slices()) {
                    NDArray b = base.bias(l, sl.projection());
                    if (b == null) {
                        throw new AdapterFormatException(
                                file
                                        + ": tensor '"
                                        + name
                                        + "' is a bias of "
                                        + m.path()
                                        + ", which has no bias in the base model");
                    }
                    float[] baseValues = b.toType(DataType.FLOAT32, false).toFloatArray();
                    float[] delta = new float[sl.rows()];
                    boolean differs = false;
                    for (int i = 0; i < delta.length; i++) {
                        delta[i] = saved[sl.offset() + i] - baseValues[i];
                        differs |= delta[i] != 0;
                    }
                    if (differs) {
                        if (out == null) {
                            out = new float[model.numLayers()][Projection.values().length][];
                        }
                        out[l][sl.projection().ordinal()] = delta;
                    }
                }
            }
        }
        return out;
    }

    /**
     * GPT-OSS's router bias as PEFT saves it with {@code bias = all} ({@code mlp.router.bias}) or,
     * the router's weight in {@code target_parameters}, with {@code all} or {@code lora_only}
     * ({@code mlp.router.base_layer.bias}): its loader writes it over the model's, so it is read
     * whenever present and kept as its difference from the model's, per sparse layer.
     */
    private static float[][] routerBiases(
            Path file,
            WeightIndex w,
            Map<String, String> byKey,
            Set<String> consumed,
            ModelConfig model,
            BaseWeights base,
            NDManager scratch)
            throws IOException {
        if (base == null || model.experts() == null) {
            return null; // such tensors stay unused and are refused by name
        }
        float[][] out = null;
        for (int l = 0; l < model.numLayers(); l++) {
            NDArray b = model.experts().sparse(l) ? base.routerBias(l) : null;
            if (b == null) {
                continue;
            }
            String router = "model.layers." + l + ".mlp.router";
            String name = byKey.get(router + ".bias");
            if (name == null) {
                name = byKey.get(router + ".base_layer.bias");
            }
            if (name == null) {
                continue;
            }
            int experts = model.experts().count();
            long[] shape = w.info(name).shape();
            if (shape.length != 1 || shape[0] != experts) {
                throw new AdapterFormatException(
                        file
                                + ": router bias '"
                                + name
                                + "' has shape "
                                + Arrays.toString(shape)
                                + ", expected ["
                                + experts
                                + "]");
            }
            float[] saved = load(w, name, scratch);
            consumed.add(name);
            float[] baseValues = b.toType(DataType.FLOAT32, false).toFloatArray();
            float[] delta = new float[experts];
            boolean differs = false;
            for (int i = 0; i < experts; i++) {
                delta[i] = saved[i] - baseValues[i];
                differs |= delta[i] != 0;
            }
            if (differs) {
                if (out == null) {
                    out = new float[model.numLayers()][];
                }
                out[l] = delta;
            }
        }
        return out;
    }

    /** The first {@code n} names, and how many more there are. */
    private static String firstOf(List<String> names, int n) {
        return names.size() > n
                ? names.subList(0, n) + " and " + (names.size() - n) + " more"
                : names.toString();
    }

    private static float[] load(WeightIndex w, String name, NDManager scratch) throws IOException {
        try (NDArray a = w.load(name, scratch, DataType.FLOAT32)) {
            return a.toFloatArray();
        }
    }

    private static String normalize(String tensor) {
        String t = tensor.replace(".default.weight", ".weight").replace(".default.bias", ".bias");
        for (String prefix : PREFIXES) {
            if (!prefix.isEmpty() && t.startsWith(prefix)) {
                return t.substring(prefix.length());
            }
        }
        return t;
    }

    /**
     * DoRA (PEFT's DoraLinearLayer): the output of an adapted module is {@code R + (g - 1) (R -
     * bias) + g D} with {@code g = magnitude / ||W + s B A||} over each output row (detached, so a
     * constant at inference). The norms depend only on the adapter and the base weights: computed
     * once here.
     */
    private static void doraScales(
            Path file,
            WeightIndex w,
            Map<String, String> byKey,
            Set<String> consumed,
            Module[][] modules,
            ModelConfig model,
            BaseWeights base,
            NDManager scratch)
            throws IOException {
        for (int l = 0; l < model.numLayers(); l++) {
            for (LinearModule m : model.linearModules(l)) {
                if (modules[l][m.slices().get(0).projection().ordinal()] == null) {
                    continue;
                }
                float[] magnitude =
                        m.toSliceOrder(
                                vector(
                                        file,
                                        w,
                                        magnitudeName(file, byKey, m.path()),
                                        m.outFeatures(),
                                        consumed,
                                        scratch),
                                1);
                for (LinearModule.Slice sl : m.slices()) {
                    Module mod = modules[l][sl.projection().ordinal()];
                    NDArray weight = base.weight(l, sl.projection());
                    float[] norms;
                    try (NDManager tmp = weight.getManager().newSubManager()) {
                        NDArray a =
                                tmp.create(
                                        mod.a(), new ai.djl.ndarray.types.Shape(mod.rank, mod.in));
                        NDArray b =
                                tmp.create(
                                        mod.b(), new ai.djl.ndarray.types.Shape(mod.out, mod.rank));
                        NDArray wf = weight;
                        if (weight.getDataType() != DataType.FLOAT32) {
                            wf = weight.toType(DataType.FLOAT32, true);
                            wf.attach(tmp);
                        }
                        NDArray full = b.matMul(a).add(wf);
                        norms = full.square().sum(new int[] {1}).sqrt().toFloatArray();
                    }
                    float[] scale = new float[sl.rows()];
                    for (int i = 0; i < scale.length; i++) {
                        scale[i] = magnitude[sl.offset() + i] / norms[i] - 1f;
                    }
                    mod.doraScale = scale;
                }
            }
        }
    }

    /**
     * DoRA on Qwen2-MoE's shared-expert modules (nn.Linear in PEFT, without biases): {@code
     * magnitude / ||W + s B A|| - 1} per output row, as for any DoRA linear module.
     */
    private static void sharedDoraScales(
            Path file,
            WeightIndex w,
            Map<String, String> byKey,
            Set<String> consumed,
            ParameterLora[][] parameters,
            ModelConfig model,
            BaseWeights base,
            NDManager scratch)
            throws IOException {
        if (parameters == null || model.experts() == null) {
            return;
        }
        for (int l = 0; l < model.numLayers(); l++) {
            for (var e : ParameterTargets.sharedModules(model, l).entrySet()) {
                ParameterLora lora = parameters[l][e.getKey().ordinal()];
                NDArray weight = lora == null ? null : base.sharedWeight(l, e.getKey());
                if (weight == null) {
                    continue;
                }
                float[] magnitude =
                        vector(
                                file,
                                w,
                                magnitudeName(file, byKey, e.getValue()),
                                lora.out,
                                consumed,
                                scratch);
                float[] norms;
                try (NDManager tmp = weight.getManager().newSubManager()) {
                    NDArray a = tmp.create(lora.hostA, new Shape(lora.rank, lora.in));
                    NDArray bT = tmp.create(lora.hostBT, new Shape(lora.rank, lora.out));
                    NDArray wf = weight;
                    if (weight.getDataType() != DataType.FLOAT32) {
                        wf = weight.toType(DataType.FLOAT32, true);
                        wf.attach(tmp);
                    }
                    norms =
                            bT.transpose()
                                    .matMul(a)
                                    .add(wf)
                                    .square()
                                    .sum(new int[] {1})
                                    .sqrt()
                                    .toFloatArray();
                }
                float[] scale = new float[lora.out];
                for (int i = 0; i < scale.length; i++) {
                    scale[i] = magnitude[i] / norms[i] - 1f;
                }
                lora.doraScale = scale;
            }
        }
    }

    /**
     * DoRA on the output head: {@code magnitude / ||W + s B A|| - 1} per vocabulary row, with the
     * model's head as W (as for any DoRA linear module; lm_head has no bias).
     */
    private static float[] headDoraScale(
            Path file,
            WeightIndex w,
            Map<String, String> byKey,
            Set<String> consumed,
            Extras x,
            NDArray head,
            NDManager scratch)
            throws IOException {
        String magName = magnitudeName(file, byKey, AdapterConfig.HEAD);
        if (head == null) {
            throw new AdapterFormatException(
                    file + ": DoRA on lm_head needs the model's output head (not available here)");
        }
        float[] magnitude = vector(file, w, magName, x.vocab(), consumed, scratch);
        float[] norms;
        try (NDManager tmp = head.getManager().newSubManager()) {
            NDArray a = tmp.create(x.headA(), new Shape(x.headRank(), x.hidden()));
            NDArray b = tmp.create(x.headB(), new Shape(x.vocab(), x.headRank()));
            NDArray wf = head;
            if (head.getDataType() != DataType.FLOAT32) {
                wf = head.toType(DataType.FLOAT32, true);
                wf.attach(tmp);
            }
            norms = b.matMul(a).add(wf).square().sum(new int[] {1}).sqrt().toFloatArray();
        }
        float[] scale = new float[x.vocab()];
        for (int i = 0; i < scale.length; i++) {
            scale[i] = magnitude[i] / norms[i] - 1f;
        }
        return scale;
    }

    private static void checkSavedBase(
            Path file, WeightIndex w, String name, NDArray embed, String module, NDManager scratch)
            throws IOException {
        if (embed == null) {
            throw new AdapterFormatException(
                    file
                            + ": tensor '"
                            + name
                            + "' (a saved base "
                            + module
                            + ") can only be"
                            + " checked against the base model, which is not available here");
        }
        float[] saved = load(w, name, scratch);
        float[] own;
        try (NDManager tmp = embed.getManager().newSubManager()) {
            NDArray f = embed.toType(DataType.FLOAT32, true);
            f.attach(tmp);
            own = f.toFloatArray();
            if (embed.getDataType() != DataType.FLOAT32) {
                // The base was rounded to its compute dtype on load; the saved copy must be rounded
                // alike.
                saved =
                        tmp.create(saved)
                                .toType(embed.getDataType(), false)
                                .toType(DataType.FLOAT32, false)
                                .toFloatArray();
            }
        }
        if (!Arrays.equals(saved, own)) {
            throw new AdapterFormatException(
                    file
                            + ": tensor '"
                            + name
                            + "' (the "
                            + module
                            + " PEFT saved with the adapter) differs from the base model's "
                            + module
                            + ": the adapter was trained on another base");
        }
    }

    /** Embedding LoRA and saved whole modules, as PEFT names their tensors. */
    private static Extras extras(
            Path file,
            WeightIndex w,
            Map<String, String> byKey,
            Set<String> consumed,
            AdapterConfig config,
            ModelConfig model,
            NDManager scratch)
            throws IOException {
        int vocab = model.vocabSize();
        // the embedding's rows and the head's input (OPT's word_embed_proj_dim when it projects)
        int hidden = model.embeddingWidth();
        float[] embedA = null;
        float[] embedB = null;
        int embedRank = 0;
        if (config.matches(model.embeddingModule())) {
            embedRank = config.rankOf(model.embeddingModule());
            float[][] ab =
                    loraPair(
                            file,
                            w,
                            byKey,
                            consumed,
                            config,
                            model.embeddingModule(),
                            ".lora_embedding_A",
                            ".lora_embedding_B",
                            vocab,
                            hidden,
                            scratch);
            embedA = ab[0];
            embedB = ab[1];
        }
        float[] savedEmbed = null;
        float[] savedHead = null;
        if (config.saves(model.embeddingModule())) {
            savedEmbed =
                    saved(
                            file,
                            w,
                            byKey,
                            consumed,
                            model.embeddingModule(),
                            vocab,
                            hidden,
                            scratch);
        }
        float[] savedHeadBias = null;
        if (config.saves("lm_head")) {
            savedHead = saved(file, w, byKey, consumed, "lm_head", vocab, hidden, scratch);
            if (model.headBias()) {
                // Phi: the saved copy of the head carries its own bias.
                String name = byKey.get("lm_head.bias");
                if (name == null) {
                    name = byKey.get("lm_head.modules_to_save.bias");
                }
                if (name == null) {
                    throw new AdapterFormatException(
                            file
                                    + ": modules_to_save names lm_head, whose base module has a"
                                    + " bias, but tensor 'lm_head.bias' is missing");
                }
                savedHeadBias = vector(file, w, name, vocab, consumed, scratch);
            }
        }
        float[] headA = null;
        float[] headB = null;
        float[] headBias = null;
        int headRank = 0;
        if (config.matches(AdapterConfig.HEAD)) {
            // LoRA on the output head, as on any linear module: logits + s B A h.
            headRank = config.rankOf(AdapterConfig.HEAD);
            float[][] ab =
                    loraPair(
                            file,
                            w,
                            byKey,
                            consumed,
                            config,
                            AdapterConfig.HEAD,
                            ".lora_A.weight",
                            ".lora_B.weight",
                            hidden,
                            vocab,
                            scratch);
            headA = ab[0];
            headB = ab[1];
            if (config.loraBias()) {
                headBias =
                        loraBias(
                                file,
                                w,
                                byKey,
                                consumed,
                                AdapterConfig.HEAD,
                                vocab,
                                (float) config.scaleOf(AdapterConfig.HEAD),
                                scratch);
            }
        }
        int[] tokenIds = null;
        float[] tokenRows = null;
        if (!config.trainableTokens().isEmpty()) {
            // PEFT's TrainableTokens: the adapter's own rows of the embedding for these ids.
            String name =
                    byKey.get(model.embeddingModule() + ".token_adapter.trainable_tokens_delta");
            if (name == null) {
                throw new AdapterFormatException(
                        file
                                + ": trainable_token_indices is set but tensor '"
                                + model.embeddingModule()
                                + ".token_adapter.trainable_tokens_delta' is missing");
            }
            tokenIds = config.trainableTokens().stream().mapToInt(Integer::intValue).toArray();
            for (int id : tokenIds) {
                if (id >= vocab) {
                    throw new AdapterFormatException(
                            file
                                    + ": trainable_token_indices holds "
                                    + id
                                    + ", outside the model's vocabulary of "
                                    + vocab);
                }
            }
            check(file, name, w.info(name).shape(), tokenIds.length, hidden);
            tokenRows = load(w, name, scratch);
            consumed.add(name);
        }
        if (embedA == null
                && savedEmbed == null
                && savedHead == null
                && headA == null
                && tokenIds == null) {
            return Extras.NONE;
        }
        return new Extras(
                embedRank,
                embedA,
                embedB,
                savedEmbed,
                savedHead,
                savedHeadBias,
                headRank,
                headA,
                headB,
                headBias,
                null,
                tokenIds,
                tokenRows,
                model.tieWordEmbeddings(),
                vocab,
                hidden);
    }

    /**
     * A module's LoRA factors outside the decoder layers: A [r, in] and B [out, r] pre-multiplied
     * by the module's scale, as the projections' are.
     */
    private static float[][] loraPair(
            Path file,
            WeightIndex w,
            Map<String, String> byKey,
            Set<String> consumed,
            AdapterConfig config,
            String module,
            String aSuffix,
            String bSuffix,
            int in,
            int out,
            NDManager scratch)
            throws IOException {
        String aName = byKey.get(module + aSuffix);
        String bName = byKey.get(module + bSuffix);
        if (aName == null || bName == null) {
            throw new AdapterFormatException(
                    file
                            + ": target_modules adapts "
                            + module
                            + " but tensor '"
                            + module
                            + (aName == null ? aSuffix : bSuffix)
                            + "' is missing");
        }
        int rank = config.rankOf(module);
        check(file, aName, w.info(aName).shape(), rank, in);
        check(file, bName, w.info(bName).shape(), out, rank);
        float[] a = load(w, aName, scratch);
        float[] b = load(w, bName, scratch);
        float scale = (float) config.scaleOf(module);
        for (int i = 0; i < b.length; i++) {
            b[i] *= scale;
        }
        consumed.add(aName);
        consumed.add(bName);
        return new float[][] {a, b};
    }

    /** {@code lora_B}'s bias of a module (lora_bias), scaled like B. */
    private static float[] loraBias(
            Path file,
            WeightIndex w,
            Map<String, String> byKey,
            Set<String> consumed,
            String module,
            int out,
            float scale,
            NDManager scratch)
            throws IOException {
        String biasName = byKey.get(module + ".lora_B.bias");
        if (biasName == null) {
            throw new AdapterFormatException(
                    file
                            + ": lora_bias is true but tensor '"
                            + module
                            + ".lora_B.bias' is missing");
        }
        float[] bias = vector(file, w, biasName, out, consumed, scratch);
        for (int i = 0; i < bias.length; i++) {
            bias[i] *= scale;
        }
        return bias;
    }

    private static float[] saved(
            Path file,
            WeightIndex w,
            Map<String, String> byKey,
            Set<String> consumed,
            String module,
            int vocab,
            int hidden,
            NDManager scratch)
            throws IOException {
        String name = byKey.get(module + ".weight");
        if (name == null) {
            name = byKey.get(module + ".modules_to_save.weight");
        }
        if (name == null) {
            throw new AdapterFormatException(
                    file
                            + ": modules_to_save names "
                            + module
                            + " but tensor '"
                            + module
                            + ".weight' is missing");
        }
        check(file, name, w.info(name).shape(), vocab, hidden);
        consumed.add(name);
        return load(w, name, scratch);
    }

    /** The DoRA magnitude tensor of {@code module} (PEFT saves it with or without ".weight"). */
    private static String magnitudeName(Path file, Map<String, String> byKey, String module) {
        String name = byKey.get(module + ".lora_magnitude_vector");
        if (name == null) {
            name = byKey.get(module + ".lora_magnitude_vector.weight");
        }
        if (name == null) {
            throw new AdapterFormatException(
                    file
                            + ": use_dora is true but tensor '"
                            + module
                            + ".lora_magnitude_vector' is missing");
        }
        return name;
    }

    /** A one-dimensional tensor of {@code length} values, loaded and marked consumed. */
    private static float[] vector(
            Path file,
            WeightIndex w,
            String name,
            long length,
            Set<String> consumed,
            NDManager scratch)
            throws IOException {
        long[] shape = w.info(name).shape();
        if (shape.length != 1 || shape[0] != length) {
            throw new AdapterFormatException(
                    file
                            + ": tensor '"
                            + name
                            + "' has shape "
                            + Arrays.toString(shape)
                            + ", expected ["
                            + length
                            + "]");
        }
        consumed.add(name);
        return load(w, name, scratch);
    }

    private static void check(Path file, String tensor, long[] shape, long rows, long cols) {
        if (shape.length != 2 || shape[0] != rows || shape[1] != cols) {
            throw new AdapterFormatException(
                    file
                            + ": tensor '"
                            + tensor
                            + "' has shape "
                            + Arrays.toString(shape)
                            + ", expected ["
                            + rows
                            + ", "
                            + cols
                            + "] (rank from the config, size from the base model)");
        }
    }

    /** Copies the adapter into device pool slots; false when a pool has no free slot. */
    synchronized boolean upload(AdapterPool pool) {
        if (placedIn != null) {
            return true;
        }
        if (!pool.place(this)) {
            return false;
        }
        placedIn = pool;
        if (pool.dtype() == DataType.FLOAT32) {
            // The slot holds the same floats: a second copy in host memory would double the
            // adapter's
            // footprint (on a CPU both copies sit in the same RAM). Eviction copies them back.
            for (Module[] layer : modules) {
                for (Module m : layer) {
                    if (m != null) {
                        m.hostA = null;
                        m.hostB = null;
                    }
                }
            }
        }
        boolean rowVectors = false;
        for (Module[] layer : modules) {
            for (Module m : layer) {
                rowVectors |= m != null && (m.hostBias != null || m.doraScale != null);
            }
        }
        if (extras != Extras.NONE || rowVectors || hostBaseBias != null || hostRouterBias != null) {
            // Whole matrices (saved modules, embedding LoRA) and per-row vectors (lora_bias, DoRA
            // scales) live beside the pools, owned by this adapter: steps read them, never upload
            // them.
            extrasOnDevice = pool.newExtrasManager();
            DataType dtype = pool.dtype();
            for (Module[] layer : modules) {
                for (Module m : layer) {
                    if (m != null && m.hostBias != null) {
                        m.bias =
                                extrasOnDevice
                                        .create(m.hostBias, new Shape(1, m.out))
                                        .toType(dtype, false);
                    }
                    if (m != null && m.doraScale != null) {
                        m.dora =
                                extrasOnDevice
                                        .create(m.doraScale, new Shape(1, m.out))
                                        .toType(dtype, false);
                    }
                }
            }
            if (hostRouterBias != null) {
                routerBiasOnDevice = new NDArray[hostRouterBias.length];
                for (int l = 0; l < hostRouterBias.length; l++) {
                    if (hostRouterBias[l] != null) {
                        routerBiasOnDevice[l] =
                                extrasOnDevice
                                        .create(
                                                hostRouterBias[l],
                                                new Shape(1, hostRouterBias[l].length))
                                        .toType(dtype, false);
                    }
                }
            }
            if (hostBaseBias != null) {
                baseBiasOnDevice = new NDArray[hostBaseBias.length][];
                for (int l = 0; l < hostBaseBias.length; l++) {
                    baseBiasOnDevice[l] = new NDArray[hostBaseBias[l].length];
                    for (int p = 0; p < hostBaseBias[l].length; p++) {
                        float[] delta = hostBaseBias[l][p];
                        if (delta != null) {
                            baseBiasOnDevice[l][p] =
                                    extrasOnDevice
                                            .create(delta, new Shape(1, delta.length))
                                            .toType(dtype, false);
                        }
                    }
                }
            }
            Extras x = extras;
            if (x.embedA() != null) {
                embedAT = transposedOnDevice(x.embedA(), x.embedRank(), x.vocab(), dtype);
                embedBT = transposedOnDevice(x.embedB(), x.hidden(), x.embedRank(), dtype);
            }
            if (x.savedEmbed() != null) {
                savedEmbed =
                        extrasOnDevice
                                .create(x.savedEmbed(), new Shape(x.vocab(), x.hidden()))
                                .toType(dtype, false);
            }
            if (x.headA() != null) {
                headAT = transposedOnDevice(x.headA(), x.headRank(), x.hidden(), dtype);
                headBT = transposedOnDevice(x.headB(), x.vocab(), x.headRank(), dtype);
                if (x.headBias() != null) {
                    headBias =
                            extrasOnDevice
                                    .create(x.headBias(), new Shape(1, x.vocab()))
                                    .toType(dtype, false);
                }
                if (x.headDoraScale() != null) {
                    headDoraScale =
                            extrasOnDevice
                                    .create(x.headDoraScale(), new Shape(1, x.vocab()))
                                    .toType(dtype, false);
                }
            }
            if (x.tokenRows() != null) {
                tokenRowsOnDevice =
                        extrasOnDevice
                                .create(x.tokenRows(), new Shape(x.tokenIds().length, x.hidden()))
                                .toType(dtype, false);
            }
            if (x.savedLmHead() != null) {
                savedLmHead =
                        extrasOnDevice
                                .create(x.savedLmHead(), new Shape(x.vocab(), x.hidden()))
                                .toType(dtype, false);
            }
            if (x.savedLmHeadBias() != null) {
                savedLmHeadBias = extrasOnDevice.create(x.savedLmHeadBias()).toType(dtype, false);
            }
        }
        return true;
    }

    /** A host matrix [rows, cols] as its transpose on the device, in the compute dtype. */
    private NDArray transposedOnDevice(float[] host, int rows, int cols, DataType dtype) {
        return extrasOnDevice.create(host, new Shape(rows, cols)).transpose().toType(dtype, false);
    }

    /** Frees the device slots, keeping the host copies. */
    public synchronized void evictFromDevice() {
        leaveDevice(true);
    }

    private void leaveDevice(boolean keepHostCopy) {
        if (placedIn != null) {
            if (keepHostCopy) {
                for (Module[] layer : modules) {
                    for (Module m : layer) {
                        if (m != null && m.hostA == null) {
                            m.hostA = m.a.toFloatArray();
                            m.hostB = m.bT.transpose().toFloatArray();
                        }
                    }
                }
            }
            placedIn.free(this);
            placedIn = null;
        }
        if (extrasOnDevice != null) {
            extrasOnDevice.close();
            extrasOnDevice = null;
            for (Module[] layer : modules) {
                for (Module m : layer) {
                    if (m != null) {
                        m.bias = null;
                        m.dora = null;
                    }
                }
            }
            baseBiasOnDevice = null;
            routerBiasOnDevice = null;
            embedAT = null;
            embedBT = null;
            savedEmbed = null;
            savedLmHead = null;
            savedLmHeadBias = null;
            headAT = null;
            headBT = null;
            headBias = null;
            headDoraScale = null;
            tokenRowsOnDevice = null;
        }
    }

    /**
     * Embedding LoRA on the device: A transposed [vocab, r] and scaled B transposed [r, hidden];
     * null when absent.
     */
    NDArray embedAT() {
        return embedAT;
    }

    NDArray embedBT() {
        return embedBT;
    }

    /** The adapter's own embedding table [vocab, hidden] on the device, or null. */
    NDArray savedEmbed() {
        return savedEmbed;
    }

    /**
     * LoRA on the output head on the device: A transposed [hidden, r] and scaled B transposed [r,
     * vocab]; null when absent.
     */
    NDArray headAT() {
        return headAT;
    }

    NDArray headBT() {
        return headBT;
    }

    /** lora_B's scaled bias of the output head [1, vocab] on the device (lora_bias), or null. */
    NDArray headBias() {
        return headBias;
    }

    /** DoRA's {@code g - 1} per vocabulary row of the output head [1, vocab], or null. */
    NDArray headDoraScale() {
        return headDoraScale;
    }

    /**
     * The token ids whose embedding rows this adapter replaces ({@code trainable_token_indices}),
     * or null.
     */
    int[] trainableTokens() {
        return extras.tokenIds();
    }

    /** Their rows [ids, hidden] on the device, in {@link #trainableTokens()} order. */
    NDArray trainableTokenRows() {
        return tokenRowsOnDevice;
    }

    /** Whether the model's head is its embedding, so the replaced rows are also output rows. */
    boolean tiedHead() {
        return extras.tiedHead();
    }

    NDArray savedLmHead() {
        return savedLmHead;
    }

    /** The saved head's bias (Phi), or null. */
    NDArray savedLmHeadBias() {
        return savedLmHeadBias;
    }

    /**
     * Whether rows may run this adapter at another weight or beside other adapters: not for DoRA
     * (its row scale is not linear in the adapter) nor for saved whole modules, trained base biases
     * or OLoRA / PiSSA's rewritten base weights (replacements, not deltas).
     */
    public boolean mixable() {
        return hostBaseBias == null
                && config.baseRewrite() == AdapterConfig.BaseRewrite.NONE
                && !config.activated()
                && !config.useDora()
                && extras.savedEmbed() == null
                && extras.savedLmHead() == null
                && extras.tokenIds() == null;
    }

    public synchronized boolean onDevice() {
        return placedIn != null;
    }

    /**
     * The trained base bias of (layer, projection) less the base model's, [1, out] on the device,
     * or null where the adapter leaves the bias alone.
     */
    NDArray baseBiasDelta(int layer, Projection p) {
        return baseBiasOnDevice == null ? null : baseBiasOnDevice[layer][p.ordinal()];
    }

    /**
     * The trained router bias's difference from the model's [1, experts] on the device, or null.
     */
    NDArray routerBiasDelta(int layer) {
        return routerBiasOnDevice == null ? null : routerBiasOnDevice[layer];
    }

    /**
     * The first prompt position this adapter acts on: 0, or for an activated LoRA (PEFT's {@code
     * alora_invocation_tokens}) the start of the invocation tokens' last occurrence in the prompt,
     * as PEFT's {@code calculate_alora_offsets} finds it, and {@link Integer#MAX_VALUE} (never)
     * when the prompt lacks them. Generated tokens come after it.
     */
    public int activatesFrom(int[] prompt) {
        List<Integer> inv = config.invocationTokens();
        if (inv.isEmpty()) {
            return 0;
        }
        for (int start = prompt.length - inv.size(); start >= 0; start--) {
            boolean match = true;
            for (int j = 0; j < inv.size() && match; j++) {
                match = prompt[start + j] == inv.get(j);
            }
            if (match) {
                return start;
            }
        }
        return Integer.MAX_VALUE;
    }

    /** The module of (layer, projection), or null when this adapter leaves it alone. */
    Module module(int layer, Projection p) {
        return modules[layer][p.ordinal()];
    }

    /** LoRA on parameter {@code p} of sparse layer {@code layer}, or null. */
    ParameterLora parameter(int layer, ExpertParameter p) {
        return parameters == null ? null : parameters[layer][p.ordinal()];
    }

    public String name() {
        return name;
    }

    /** Distinguishes reloads of the same name after its files changed. */
    public long version() {
        return version;
    }

    public AdapterConfig config() {
        return config;
    }

    /**
     * Bytes of the adapter's weights (float32 host copies; the device copy is the same or smaller).
     */
    public long bytes() {
        return bytes;
    }

    /** Rank of (layer, projection), or 0 when not adapted. */
    public int rank(int layer, Projection p) {
        Module m = modules[layer][p.ordinal()];
        return m == null ? 0 : m.rank;
    }

    /**
     * Whether everything this adapter changes is a projection delta {@code s B A} (what merge tools
     * fold in).
     */
    public boolean onlyProjectionDeltas() {
        return !hasBias()
                && !config.useDora()
                && extras == Extras.NONE
                && hostBaseBias == null
                && hostRouterBias == null
                && parameters == null
                && !config.activated();
    }

    /** Whether any module carries a {@code lora_bias}, which a weight-only merge cannot fold in. */
    public boolean hasBias() {
        for (Module[] layer : modules) {
            for (Module m : layer) {
                if (m != null && m.hostBias != null) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * The scaled delta {@code scale * B A} of one projection as a host matrix [out, in], for merge
     * tools.
     */
    public synchronized float[] delta(int layer, Projection p) {
        Module m = modules[layer][p.ordinal()];
        if (m == null) {
            return null;
        }
        float[] hostA = m.a();
        float[] hostB = m.b();
        float[] d = new float[m.out * m.in];
        for (int o = 0; o < m.out; o++) {
            for (int k = 0; k < m.rank; k++) {
                float bv = hostB[o * m.rank + k];
                if (bv == 0) {
                    continue;
                }
                int aRow = k * m.in;
                int dRow = o * m.in;
                for (int i = 0; i < m.in; i++) {
                    d[dRow + i] += bv * hostA[aRow + i];
                }
            }
        }
        return d;
    }

    @Override
    public synchronized void close() {
        leaveDevice(false);
    }

    @Override
    public String toString() {
        return "LoraAdapter[" + name + " v" + version + ", " + (bytes >> 10) + " KiB]";
    }
}
