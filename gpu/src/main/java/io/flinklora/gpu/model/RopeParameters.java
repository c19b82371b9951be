package io.flinklora.gpu.model;

import com.fasterxml.jackson.databind.JsonNode;
import io.flinklora.annotation.Internal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Rotary position embedding parameters, read from either config layout (transformers 4.x top-level
 * {@code rope_theta} + {@code rope_scaling}, or 5.x {@code rope_parameters}) and turned into
 * inverse frequencies exactly as {@code transformers.modeling_rope_utils} computes them.
 *
 * @param type {@code default}, {@code linear}, {@code llama3}, {@code yarn} or {@code dynamic}
 * @param originalMaxPositions {@code original_max_position_embeddings} (llama3, yarn), else 0
 * @param yarn yarn's extra settings, null for other types
 * @param partialRotaryFactor the share of each head's leading dimensions that rotate (1.0 but in
 *     Phi3ForCausalLM)
 * @param queryScale Ministral 3's position-dependent query scale (Llama 4's), null elsewhere
 */
@Internal
public record RopeParameters(
        String type,
        double theta,
        double factor,
        double lowFreqFactor,
        double highFreqFactor,
        int originalMaxPositions,
        Yarn yarn,
        LongRope longRope,
        double partialRotaryFactor,
        QueryScale queryScale) {

    /** The parameters without a query scale (every architecture but Ministral 3). */
    public RopeParameters(
            String type,
            double theta,
            double factor,
            double lowFreqFactor,
            double highFreqFactor,
            int originalMaxPositions,
            Yarn yarn,
            LongRope longRope,
            double partialRotaryFactor) {
        this(
                type,
                theta,
                factor,
                lowFreqFactor,
                highFreqFactor,
                originalMaxPositions,
                yarn,
                longRope,
                partialRotaryFactor,
                null);
    }

    /**
     * Ministral 3's query scale (transformers' {@code get_llama_4_attn_scale}): queries, after the
     * rotary, times {@code 1 + beta * log(1 + floor(position / originalMax))}, from the rope
     * parameters' {@code llama_4_scaling_beta} and {@code original_max_position_embeddings}.
     */
    public record QueryScale(double beta, int originalMax) {
        /** The scale at a position, in float32 as transformers computes it. */
        public float at(int position) {
            float steps = (float) Math.floor((float) position / (float) originalMax);
            float log = (float) Math.log((float) (1 + steps));
            return 1f + (float) beta * log;
        }
    }

    /** The rope types computed here; any other is refused by name. */
    public static final Set<String> TYPES =
            Set.of("default", "linear", "llama3", "yarn", "dynamic", "longrope");

    /** Keys each rope type may carry; any other key is refused rather than ignored. */
    private static final Map<String, Set<String>> KEYS =
            Map.of(
                    "default", Set.of(),
                    "linear", Set.of("factor"),
                    "dynamic", Set.of("factor"),
                    "llama3",
                            Set.of(
                                    "factor",
                                    "low_freq_factor",
                                    "high_freq_factor",
                                    "original_max_position_embeddings"),
                    "yarn",
                            Set.of(
                                    "factor",
                                    "original_max_position_embeddings",
                                    "attention_factor",
                                    "beta_fast",
                                    "beta_slow",
                                    "mscale",
                                    "mscale_all_dim",
                                    "truncate"),
                    "longrope",
                            Set.of(
                                    "short_factor",
                                    "long_factor",
                                    "factor",
                                    "attention_factor",
                                    "original_max_position_embeddings"));

    /** Keys HunYuan's dynamic rotary accepts besides factor: alpha is read, the others not. */
    private static final Set<String> HUNYUAN_DYNAMIC_KEYS =
            Set.of("alpha", "beta_fast", "beta_slow", "mscale", "mscale_all_dim");

    /**
     * Keys Ministral 3's rope parameters carry besides their type's: the query scale's beta and its
     * original_max_position_embeddings (read), and max_position_embeddings (unread:
     * Ministral3Config's ignore_keys_at_rope_validation).
     */
    private static final Set<String> MINISTRAL3_KEYS =
            Set.of(
                    "llama_4_scaling_beta",
                    "original_max_position_embeddings",
                    "max_position_embeddings");

    private static final Set<String> COMMON_KEYS =
            Set.of("rope_type", "type", "rope_theta", "partial_rotary_factor");

    /** Yarn settings; {@code attentionFactor} is the resolved scale applied to cos and sin. */
    public record Yarn(
            double betaFast, double betaSlow, double attentionFactor, boolean truncate) {}

    /**
     * LongRoPE (Phi-3): per-frequency divisors, the short ones while a forward pass's sequence
     * stays within {@code original_max_position_embeddings} and the long ones beyond it, as
     * transformers switches them.
     */
    public record LongRope(
            List<Double> shortFactor, List<Double> longFactor, double attentionFactor) {
        public LongRope {
            shortFactor = List.copyOf(shortFactor);
            longFactor = List.copyOf(longFactor);
        }
    }

    /**
     * Phi3Config's rotary types: {@code su} and {@code yarn} (earlier names) are read as {@code
     * longrope}, and any type but {@code default} and {@code longrope} is refused, as {@code
     * Phi3Config.validate_rope} refuses it. An {@code su} entry without its own {@code
     * original_max_position_embeddings} is refused too: transformers 5 standardizes the parameters
     * before renaming the type, so it copies no top-level value into them and its check fails.
     */
    private static String phi3Type(String type, JsonNode params, String source) {
        if (type.equals("su") && !present(params, "original_max_position_embeddings")) {
            throw new ModelFormatException(
                    source
                            + ": rope type 'su' needs original_max_position_embeddings inside the"
                            + " rope parameters (Phi3Config refuses it without)");
        }
        String read = type.equals("su") || type.equals("yarn") ? "longrope" : type;
        if (!read.equals("default") && !read.equals("longrope")) {
            throw new ModelFormatException(
                    source
                            + ": rope_type '"
                            + type
                            + "' is not supported for Phi3ForCausalLM (Phi3Config accepts default"
                            + " and longrope, reading su and yarn as longrope)");
        }
        return read;
    }

    /** These parameters with Ministral 3's query scale. */
    RopeParameters withQueryScale(QueryScale scale) {
        return new RopeParameters(
                type,
                theta,
                factor,
                lowFreqFactor,
                highFreqFactor,
                originalMaxPositions,
                yarn,
                longRope,
                partialRotaryFactor,
                scale);
    }

    public static RopeParameters defaults(double theta) {
        return new RopeParameters("default", theta, 1, 1, 1, 0, null, null, 1.0);
    }

    /**
     * Reads the rotary settings of a config as transformers 5 standardizes them: {@code
     * rope_scaling} (4.x) wins over {@code rope_parameters}; {@code rope_theta} inside the
     * parameters wins over the top-level one; a top-level {@code original_max_position_embeddings}
     * wins over the parameters' one, and so does the config class's own default for it ({@code
     * classOriginalMax}, Phi3Config's 4096) when the file leaves it out: {@code
     * standardize_rope_params} copies the attribute into the parameters whenever the config has it.
     * {@code architecture}: Phi-3's rotary types ({@link #phi3Type}); Phi-3, GLM, StableLM and Phi
     * apply a partial rotary ({@code partial_rotary_factor} defaults to 0.5 for GLM and Phi and
     * 0.25 for StableLM, as their configs set it), the others refuse one.
     */
    static RopeParameters read(
            JsonNode root,
            String source,
            int maxPositions,
            double defaultTheta,
            String architecture,
            Integer classOriginalMax) {
        boolean phi3 = architecture.equals("Phi3ForCausalLM");
        // GLM-4-MoE's config sets the same default (partial_rotary_factor 0.5)
        boolean glm =
                architecture.equals("GlmForCausalLM")
                        || architecture.equals("Glm4ForCausalLM")
                        || architecture.equals("Glm4MoeForCausalLM");
        boolean stablelm = architecture.equals("StableLmForCausalLM");
        // Persimmon's config sets the same default as Phi's (partial_rotary_factor 0.5)
        boolean phi =
                architecture.equals("PhiForCausalLM")
                        || architecture.equals("NemotronForCausalLM")
                        || architecture.equals("PersimmonForCausalLM");
        // GPT-NeoX: partial by default (0.25), and its 4.x fields rotary_emb_base and rotary_pct
        // seed the parameters' rope_theta and partial_rotary_factor (GPTNeoXConfig's
        // convert_rope_params_to_dict).
        boolean neox = architecture.equals("GPTNeoXForCausalLM");
        boolean partialRotary = phi3 || glm || stablelm || phi || neox;
        JsonNode params =
                present(root, "rope_scaling")
                        ? root.get("rope_scaling")
                        : root.get("rope_parameters");
        if (params != null && !params.isNull() && !params.isObject()) {
            throw new ModelFormatException(
                    source + ": rope_scaling / rope_parameters must be an object or null");
        }
        // GPTNeoXConfig seeds them from its own 4.x names only: a top-level rope_theta or
        // partial_rotary_factor is left unread there.
        double topTheta =
                neox
                        ? ConfigReader.number(root, "rotary_emb_base", source, defaultTheta)
                        : ConfigReader.number(root, "rope_theta", source, defaultTheta);
        double topPartial =
                neox
                        ? ConfigReader.number(root, "rotary_pct", source, 0.25)
                        : ConfigReader.number(
                                root,
                                "partial_rotary_factor",
                                source,
                                glm || phi ? 0.5 : stablelm ? 0.25 : 1.0);
        if ((params == null || params.isNull() || params.isEmpty())
                && architecture.equals("GptOssForCausalLM")) {
            // GptOssConfig's default: YaRN, factor 32 over 4096 positions, not truncated, theta
            // the top-level rope_theta or 150000
            params =
                    classDefault(
                                    "yarn",
                                    topTheta,
                                    32.0,
                                    4096,
                                    Map.of("beta_fast", 32.0, "beta_slow", 1.0))
                            .put("truncate", false);
        }
        if ((params == null || params.isNull()) && architecture.equals("CwmForCausalLM")) {
            // CwmConfig's default: llama3, factor 16 over 8192 positions, theta 1000000 (a
            // top-level
            // rope_theta is not read then)
            params =
                    classDefault(
                            "llama3",
                            1_000_000.0,
                            16.0,
                            8192,
                            Map.of("high_freq_factor", 4.0, "low_freq_factor", 1.0));
        }
        if ((params == null || params.isNull()) && architecture.equals("ApertusForCausalLM")) {
            // ApertusConfig's default: llama3, factor 8 over 8192 positions, theta 12000000 (a
            // top-level rope_theta is not read then, as with CwmConfig)
            params =
                    classDefault(
                            "llama3",
                            12_000_000.0,
                            8.0,
                            8192,
                            Map.of("high_freq_factor", 4.0, "low_freq_factor", 1.0));
        }
        boolean ministral3 = architecture.equals("Ministral3ForCausalLM");
        if ((params == null || params.isNull()) && ministral3) {
            // Ministral3Config's default: yarn, factor 16 over 16384 positions, theta 1000000,
            // mscale and mscale_all_dim 1 (an attention factor of 1), Llama 4's query scale with
            // beta 0.1
            params =
                    classDefault(
                            "yarn",
                            1_000_000.0,
                            16.0,
                            16384,
                            Map.of(
                                    "beta_fast", 32.0,
                                    "beta_slow", 1.0,
                                    "mscale", 1.0,
                                    "mscale_all_dim", 1.0,
                                    "llama_4_scaling_beta", 0.1));
        }
        if (ministral3
                && (params == null
                        || params.isNull()
                        || !present(params, "llama_4_scaling_beta"))) {
            throw new ModelFormatException(
                    source
                            + ": Ministral3ForCausalLM needs llama_4_scaling_beta in its rope"
                            + " parameters (transformers 5's Ministral3Attention scales queries by it"
                            + " and fails without it)");
        }
        if (params == null || params.isNull() || params.isEmpty()) {
            // A top-level original_max_position_embeddings (Phi3Config always saves one) is read by
            // llama3, yarn and longrope only: with the default rotary embedding it changes nothing.
            return check(defaults(topTheta).withPartial(topPartial, partialRotary, source), source);
        }
        params = flattenPerLayerType(root, params, source);
        String named =
                params.has("rope_type")
                        ? params.get("rope_type").asText()
                        : params.path("type").asText("default");
        String type = phi3 ? phi3Type(named, params, source) : named;
        if (!TYPES.contains(type)) {
            throw new ModelFormatException(
                    source
                            + ": unsupported rope_type '"
                            + type
                            + "' (supported: "
                            + String.join(", ", TYPES.stream().sorted().toList())
                            + ")");
        }
        // HunYuan's dynamic rotary reads alpha (HunYuanDenseV1RotaryEmbedding); its checkpoints'
        // yarn-style keys beside it are left unread there, as in every dynamic rotary.
        boolean hunyuanDynamic =
                architecture.equals("HunYuanDenseV1ForCausalLM") && type.equals("dynamic");
        List<String> unknown = new ArrayList<>();
        params.fieldNames()
                .forEachRemaining(
                        k -> {
                            if (!COMMON_KEYS.contains(k)
                                    && !KEYS.get(type).contains(k)
                                    && !(ministral3 && MINISTRAL3_KEYS.contains(k))
                                    && !(hunyuanDynamic && HUNYUAN_DYNAMIC_KEYS.contains(k))) {
                                unknown.add(k);
                            }
                        });
        if (!unknown.isEmpty()) {
            throw new ModelFormatException(
                    source
                            + ": rope parameter(s) "
                            + unknown
                            + " are not implemented for rope_type '"
                            + type
                            + "'");
        }
        // transformers 5 sets the parameters' own value by default from the top-level one.
        double partial = ConfigReader.number(params, "partial_rotary_factor", source, topPartial);
        double theta = ConfigReader.number(params, "rope_theta", source, topTheta);
        if (hunyuanDynamic && ConfigReader.has(params, "alpha")) {
            theta = hunyuanAlphaBase(root, params, theta, source);
        }
        int original = 0;
        if (type.equals("llama3") || type.equals("yarn") || type.equals("longrope")) {
            original =
                    present(root, "original_max_position_embeddings")
                            ? ConfigReader.intField(
                                    root, "original_max_position_embeddings", source, null, 1 << 24)
                            : classOriginalMax != null
                                    ? classOriginalMax
                                    : ConfigReader.intField(
                                            params,
                                            "original_max_position_embeddings",
                                            source,
                                            maxPositions,
                                            1 << 24);
        }
        // Any other type leaves a top-level original_max_position_embeddings unread, as
        // transformers 5 does (its standardize_rope_params copies it for these three types only).
        RopeParameters read =
                switch (type) {
                    case "default" -> defaults(theta);
                    case "linear", "dynamic" ->
                            new RopeParameters(
                                    type,
                                    theta,
                                    required(params, "factor", source),
                                    1,
                                    1,
                                    0,
                                    null,
                                    null,
                                    1.0);
                    case "llama3" ->
                            new RopeParameters(
                                    type,
                                    theta,
                                    required(params, "factor", source),
                                    required(params, "low_freq_factor", source),
                                    required(params, "high_freq_factor", source),
                                    original,
                                    null,
                                    null,
                                    1.0);
                    case "longrope" -> longRope(params, source, theta, original, maxPositions);
                    default -> yarn(params, source, theta, original, maxPositions);
                };
        RopeParameters checked = check(read.withPartial(partial, partialRotary, source), source);
        if (ministral3) {
            // the query scale reads the standardized parameters: llama3, yarn and longrope hold the
            // resolved original_max_position_embeddings, the other types their own entry or none
            boolean copied =
                    type.equals("llama3") || type.equals("yarn") || type.equals("longrope");
            if (!copied && !present(params, "original_max_position_embeddings")) {
                throw new ModelFormatException(
                        source
                                + ": Ministral3ForCausalLM with rope_type '"
                                + type
                                + "' needs original_max_position_embeddings in its rope parameters"
                                + " (its query scale divides by it; transformers fails without it)");
            }
            int queryMax =
                    copied
                            ? original
                            : ConfigReader.intField(
                                    params,
                                    "original_max_position_embeddings",
                                    source,
                                    null,
                                    1 << 24);
            if (queryMax < 1) {
                throw new ModelFormatException(
                        source + ": original_max_position_embeddings must be positive");
            }
            double beta = ConfigReader.number(params, "llama_4_scaling_beta", source, 0);
            if (!Double.isFinite(beta)) {
                throw new ModelFormatException(
                        source + ": llama_4_scaling_beta must be a finite number");
            }
            checked = checked.withQueryScale(new QueryScale(beta, queryMax));
        }
        return checked;
    }

    /**
     * This rotary embedding on the first {@code partial_rotary_factor} of each head only. Only the
     * attention of Phi-3, GLM and StableLM applies a partial rotary in transformers 5; the other
     * architectures' {@code apply_rotary_pos_emb} multiplies whole heads and fails on it.
     */
    private RopeParameters withPartial(double partial, boolean allowed, String source) {
        if (partial == 1.0) {
            return this;
        }
        if (!allowed) {
            throw new ModelFormatException(
                    source
                            + ": partial_rotary_factor "
                            + partial
                            + " is not supported for this architecture (only 1.0; transformers"
                            + " applies a partial rotary in Phi3ForCausalLM, GLM and StableLM"
                            + " only)");
        }
        if (!(partial > 0 && partial < 1)) {
            throw new ModelFormatException(
                    source + ": partial_rotary_factor must be in (0, 1], got " + partial);
        }
        return new RopeParameters(
                type,
                theta,
                factor,
                lowFreqFactor,
                highFreqFactor,
                originalMaxPositions,
                yarn,
                longRope,
                partial);
    }

    /**
     * The leading dimensions of a head that rotate: {@code int(head_dim * partial_rotary_factor)}
     * as transformers computes it; the rest pass through unchanged.
     */
    public int rotaryDim(int headDim) {
        return (int) (headDim * partialRotaryFactor);
    }

    /**
     * The leading dimensions the rotation covers: {@code rotaryDim}, rounded up to even, as the cos
     * and sin tables of its {@code ceil(rotaryDim / 2)} frequencies repeated are wide (the width
     * GPT-NeoX, Phi-3, GLM, GLM-4 and Nemotron rotate: {@code cos.shape[-1]}).
     */
    public int rotaryWidth(int headDim) {
        int dim = rotaryDim(headDim);
        return dim + (dim & 1);
    }

    private static RopeParameters yarn(
            JsonNode p, String source, double theta, int original, int maxPositions) {
        // As _compute_yarn_parameters: factor defaults to max / original; beta_* use `or` (0 means
        // default).
        double factor =
                present(p, "factor")
                        ? ConfigReader.number(p, "factor", source, 1)
                        : (double) maxPositions / original;
        double betaFast = ConfigReader.number(p, "beta_fast", source, 0);
        double betaSlow = ConfigReader.number(p, "beta_slow", source, 0);
        betaFast = betaFast == 0 ? 32 : betaFast;
        betaSlow = betaSlow == 0 ? 1 : betaSlow;
        double attention;
        if (present(p, "attention_factor")) {
            attention = ConfigReader.number(p, "attention_factor", source, 1);
        } else {
            double mscale = ConfigReader.number(p, "mscale", source, 0);
            double mscaleAll = ConfigReader.number(p, "mscale_all_dim", source, 0);
            attention =
                    mscale != 0 && mscaleAll != 0
                            ? yarnMscale(factor, mscale) / yarnMscale(factor, mscaleAll)
                            : yarnMscale(factor, 1);
        }
        boolean truncate = true;
        if (present(p, "truncate")) {
            if (!p.get("truncate").isBoolean()) {
                throw new ModelFormatException(
                        source + ": rope parameter 'truncate' must be true or false");
            }
            truncate = p.get("truncate").asBoolean();
        }
        if (!(attention > 0) || !Double.isFinite(attention)) {
            throw new ModelFormatException(
                    source + ": yarn attention factor must be positive, got " + attention);
        }
        return new RopeParameters(
                "yarn",
                theta,
                factor,
                1,
                1,
                original,
                new Yarn(betaFast, betaSlow, attention, truncate),
                null,
                1.0);
    }

    private static RopeParameters longRope(
            JsonNode p, String source, double theta, int original, int maxPositions) {
        // As _compute_longrope_parameters: factor defaults to max / original; the attention factor
        // to
        // sqrt(1 + ln(factor) / ln(original)) when factor > 1.
        double factor =
                present(p, "factor")
                        ? ConfigReader.number(p, "factor", source, 1)
                        : (double) maxPositions / original;
        double attention;
        if (present(p, "attention_factor")) {
            attention = ConfigReader.number(p, "attention_factor", source, 1);
        } else {
            attention = factor <= 1.0 ? 1.0 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
        }
        if (!(attention > 0) || !Double.isFinite(attention)) {
            throw new ModelFormatException(
                    source + ": longrope attention factor must be positive, got " + attention);
        }
        return new RopeParameters(
                "longrope",
                theta,
                factor,
                1,
                1,
                original,
                null,
                new LongRope(
                        factors(p, "short_factor", source),
                        factors(p, "long_factor", source),
                        attention),
                1.0);
    }

    private static List<Double> factors(JsonNode p, String key, String source) {
        JsonNode n = p.get(key);
        if (n == null || !n.isArray() || n.isEmpty()) {
            throw new ModelFormatException(
                    source + ": longrope needs '" + key + "' as a list of numbers");
        }
        List<Double> out = new ArrayList<>();
        for (JsonNode v : n) {
            if (!v.isNumber() || !(v.asDouble() > 0) || !Double.isFinite(v.asDouble())) {
                throw new ModelFormatException(
                        source + ": '" + key + "' must hold positive numbers");
            }
            out.add(v.asDouble());
        }
        return out;
    }

    /**
     * Refuses parameters that do not fit a head of {@code headDim} (longrope lists one factor per
     * frequency).
     */
    void checkHeadDim(int headDim, String source) {
        checkHeadDim(headDim, source, false);
    }

    /**
     * As {@link #checkHeadDim(int, String)}; with {@code oddRoundsUp} (an architecture that rotates
     * {@code cos.shape[-1]} dimensions) an odd rotary dimension count is served as transformers
     * computes it: its {@code ceil(n / 2)} frequencies over {@code n} rotate {@code n + 1}
     * dimensions. Only for the rotary types whose frequencies transformers computes for odd {@code
     * n}: yarn and longrope fail there.
     */
    void checkHeadDim(int headDim, String source, boolean oddRoundsUp) {
        int rotary = rotaryDim(headDim);
        boolean servedOdd =
                oddRoundsUp
                        && rotary % 2 != 0
                        && rotary + 1 <= headDim
                        && Set.of("default", "linear", "llama3", "dynamic").contains(type);
        if (!servedOdd && (rotary < 2 || rotary % 2 != 0)) {
            throw new ModelFormatException(
                    source
                            + ": head_dim "
                            + headDim
                            + " x partial_rotary_factor "
                            + partialRotaryFactor
                            + " gives "
                            + rotary
                            + " rotary dimensions; an even number >= 2 is needed");
        }
        if (longRope != null
                && (longRope.shortFactor.size() != rotary / 2
                        || longRope.longFactor.size() != rotary / 2)) {
            throw new ModelFormatException(
                    source
                            + ": longrope short_factor and long_factor need "
                            + rotary / 2
                            + " entries (rotary dimensions / 2), got "
                            + longRope.shortFactor.size()
                            + " and "
                            + longRope.longFactor.size());
        }
    }

    /**
     * Whether a forward pass whose longest sequence is {@code seqLen} uses the long table (LongRoPE
     * only).
     */
    public boolean usesLongFactors(int seqLen) {
        return longRope != null && seqLen > originalMaxPositions;
    }

    /** LongRoPE's long-sequence inverse frequencies (null for other types). */
    public float[] longInverseFrequencies(int dim) {
        return longRope == null ? null : longRopeFrequencies(dim, longRope.longFactor);
    }

    private float[] longRopeFrequencies(int dim, List<Double> ext) {
        float[] out = new float[dim / 2];
        for (int i = 0; i < out.length; i++) {
            float shape = (float) (2 * i) / dim;
            float pow = (float) Math.pow(theta, shape);
            out[i] = (float) (1.0 / ((float) (double) ext.get(i) * pow));
        }
        return out;
    }

    /**
     * Gemma 3's two rotary embeddings, {full attention, sliding attention}, as {@code
     * Gemma3TextConfig.convert_rope_params_to_dict} builds them: {@code rope_parameters} nested by
     * layer type (each missing one {@code default}), {@code rope_scaling} (4.x) merged into the
     * full-attention entry, and a missing {@code rope_theta} taken from the top-level {@code
     * rope_theta} (else 1e6) for full attention and from {@code rope_local_base_freq} (else 1e4)
     * for sliding attention. OLMo 3's ({@code Olmo3Config.convert_rope_params_to_dict}) differ in
     * the thetas only: 5e5 for both, and the top-level {@code rope_theta} reaches the
     * full-attention entry alone (that entry's {@code setdefault} pops it from the kwargs, so the
     * sliding entry's finds only the default).
     */
    static RopeParameters[] perLayerType(
            JsonNode root, String source, int maxPositions, String architecture) {
        boolean olmo3 = architecture.equals("Olmo3ForCausalLM");
        String name = olmo3 ? "OLMo 3" : "Gemma 3";
        if (present(root, "original_max_position_embeddings")) {
            // Not a Gemma3TextConfig / Olmo3Config field: whether transformers copies it into one
            // layer type's parameters or both is not something to guess.
            throw new ModelFormatException(
                    source
                            + ": a top-level original_max_position_embeddings is not supported for "
                            + name
                            + " (give it inside rope_parameters' entries)");
        }
        com.fasterxml.jackson.databind.node.ObjectNode full = JSON.createObjectNode();
        com.fasterxml.jackson.databind.node.ObjectNode sliding = JSON.createObjectNode();
        full.put("rope_type", "default");
        sliding.put("rope_type", "default");
        JsonNode params = root.get("rope_parameters");
        if (params != null && !params.isNull()) {
            if (!params.isObject()) {
                throw new ModelFormatException(source + ": rope_parameters must be an object");
            }
            List<String> other = new ArrayList<>();
            params.fieldNames()
                    .forEachRemaining(
                            k -> {
                                if (!k.equals("full_attention") && !k.equals("sliding_attention")) {
                                    other.add(k);
                                }
                            });
            if (!other.isEmpty()) {
                // transformers keeps them beside the per-layer-type entries and never reads them.
                throw new ModelFormatException(
                        source
                                + ": rope_parameters "
                                + other
                                + " outside full_attention / sliding_attention are not read by "
                                + name
                                + "'s rotary embedding; refusing rather than ignoring them");
            }
            for (String type : List.of("full_attention", "sliding_attention")) {
                JsonNode n = params.get(type);
                if (n != null && !n.isNull()) {
                    if (!n.isObject()) {
                        throw new ModelFormatException(
                                source + ": rope parameters for '" + type + "' must be an object");
                    }
                    (type.equals("full_attention") ? full : sliding)
                            .setAll((com.fasterxml.jackson.databind.node.ObjectNode) n.deepCopy());
                }
            }
        }
        JsonNode scaling = root.get("rope_scaling");
        if (scaling != null && !scaling.isNull()) {
            if (!scaling.isObject()) {
                throw new ModelFormatException(source + ": rope_scaling must be an object or null");
            }
            full.setAll((com.fasterxml.jackson.databind.node.ObjectNode) scaling.deepCopy());
        }
        if (!present(full, "rope_theta")) {
            full.put(
                    "rope_theta",
                    ConfigReader.number(
                            root, "rope_theta", source, olmo3 ? 500_000.0 : 1_000_000.0));
        }
        if (!present(sliding, "rope_theta")) {
            sliding.put(
                    "rope_theta",
                    olmo3
                            ? 500_000.0
                            : ConfigReader.number(root, "rope_local_base_freq", source, 10_000.0));
        }
        RopeParameters[] out = new RopeParameters[2];
        int i = 0;
        for (com.fasterxml.jackson.databind.node.ObjectNode p : List.of(full, sliding)) {
            com.fasterxml.jackson.databind.node.ObjectNode alone = JSON.createObjectNode();
            alone.set("rope_parameters", p);
            RopeParameters r = read(alone, source, maxPositions, 10_000.0, architecture, null);
            if (r.type().equals("longrope")) {
                throw new ModelFormatException(
                        source + ": rope_type longrope is not supported for " + name);
            }
            out[i++] = r;
        }
        return out;
    }

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON =
            new com.fasterxml.jackson.databind.ObjectMapper();

    private static double yarnMscale(double scale, double mscale) {
        return scale <= 1 ? 1.0 : 0.1 * mscale * Math.log(scale) + 1.0;
    }

    /**
     * transformers 5 may nest rope parameters by layer type ({@code {"full_attention": {...},
     * ...}}). These architectures have one rotary embedding for all layers, so nested entries must
     * agree.
     */
    private static JsonNode flattenPerLayerType(JsonNode root, JsonNode params, String source) {
        List<String> nested = new ArrayList<>();
        params.fieldNames()
                .forEachRemaining(
                        k -> {
                            if (k.equals("full_attention") || k.equals("sliding_attention")) {
                                nested.add(k);
                            }
                        });
        if (nested.isEmpty()) {
            return params;
        }
        if (nested.size() != params.size()) {
            throw new ModelFormatException(
                    source
                            + ": rope parameters mix per-layer-type entries "
                            + nested
                            + " with flat keys");
        }
        JsonNode first = params.get(nested.get(0));
        for (String k : nested) {
            JsonNode n = params.get(k);
            if (!n.isObject()) {
                throw new ModelFormatException(
                        source + ": rope parameters for '" + k + "' must be an object");
            }
            if (!n.equals(first)) {
                throw new ModelFormatException(
                        source
                                + ": rope parameters differ between layer types "
                                + nested
                                + "; per-layer-type rotary embeddings are not implemented for this architecture");
            }
        }
        return first;
    }

    private static double required(JsonNode p, String key, String source) {
        if (!present(p, key)) {
            throw new ModelFormatException(source + ": rope parameters need '" + key + "'");
        }
        return ConfigReader.number(p, key, source, 1);
    }

    private static boolean present(JsonNode n, String key) {
        return n.has(key) && !n.get(key).isNull();
    }

    private static RopeParameters check(RopeParameters r, String source) {
        if (!(r.theta > 0)) {
            throw new ModelFormatException(
                    source + ": rope_theta must be positive, got " + r.theta);
        }
        if (!(r.factor > 0)) {
            throw new ModelFormatException(
                    source + ": rope factor must be positive, got " + r.factor);
        }
        if (r.type.equals("llama3")
                && (!(r.lowFreqFactor > 0) || !(r.highFreqFactor > r.lowFreqFactor))) {
            throw new ModelFormatException(
                    source
                            + ": llama3 rope needs 0 < low_freq_factor < high_freq_factor, got "
                            + r.lowFreqFactor
                            + " and "
                            + r.highFreqFactor);
        }
        if ((r.type.equals("llama3") || r.type.equals("yarn") || r.type.equals("longrope"))
                && r.originalMaxPositions <= 0) {
            throw new ModelFormatException(
                    source + ": original_max_position_embeddings must be positive");
        }
        if (r.yarn != null && (!(r.yarn.betaFast > 0) || !(r.yarn.betaSlow > 0))) {
            throw new ModelFormatException(
                    source + ": yarn beta_fast and beta_slow must be positive");
        }
        return r;
    }

    /** A config class's own rope parameters, used when the file gives none. */
    private static com.fasterxml.jackson.databind.node.ObjectNode classDefault(
            String type, double theta, double factor, int original, Map<String, Double> more) {
        com.fasterxml.jackson.databind.node.ObjectNode p =
                com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
        p.put("rope_type", type);
        p.put("rope_theta", theta);
        p.put("factor", factor);
        p.put("original_max_position_embeddings", original);
        more.forEach(p::put);
        return p;
    }

    /**
     * HunYuan's NTK-alpha base, {@code rope_theta * alpha ** (head_dim / (head_dim - 2))} over the
     * whole head (HunYuanDenseV1RotaryEmbedding: no partial rotary, inside the model's context the
     * frequencies of a dynamic rotary at that base).
     */
    private static double hunyuanAlphaBase(
            JsonNode root, JsonNode params, double theta, String source) {
        double alpha = ConfigReader.number(params, "alpha", source, 1.0);
        int headDim = root.path("head_dim").asInt(0); // ModelConfig requires it for HunYuan
        if (!(alpha > 0) || !Double.isFinite(alpha) || headDim <= 2) {
            throw new ModelFormatException(
                    source
                            + ": HunYuan's rope alpha needs a positive finite alpha and head_dim > 2,"
                            + " got alpha "
                            + alpha
                            + " and head_dim "
                            + headDim);
        }
        return theta * Math.pow(alpha, (double) headDim / (headDim - 2));
    }

    /**
     * Inverse frequencies for a head of {@code dim}, in float32 as transformers computes them (the
     * default and dynamic types give the same values inside the model's context: dynamic NTK only
     * grows the base for sequences longer than {@code max_position_embeddings}, which are refused).
     */
    public float[] inverseFrequencies(int dim) {
        int half = (dim + 1) / 2; // torch.arange(0, dim, 2): an odd dim has (dim + 1) / 2
        float[] base = new float[half];
        for (int i = 0; i < half; i++) {
            base[i] = (float) (1.0 / Math.pow(theta, (float) (2 * i) / dim));
        }
        switch (type) {
            case "linear":
                for (int i = 0; i < half; i++) {
                    base[i] = (float) (base[i] / factor);
                }
                return base;
            case "llama3":
                return llama3(base);
            case "yarn":
                return yarnFrequencies(dim);
            case "longrope":
                return longRopeFrequencies(dim, longRope.shortFactor);
            default:
                return base;
        }
    }

    private float[] llama3(float[] invFreq) {
        double lowWavelen = originalMaxPositions / lowFreqFactor;
        double highWavelen = originalMaxPositions / highFreqFactor;
        float[] out = new float[invFreq.length];
        for (int i = 0; i < invFreq.length; i++) {
            double f = invFreq[i];
            double wavelen = 2 * Math.PI / f;
            if (wavelen > lowWavelen) {
                out[i] = (float) (f / factor);
            } else if (wavelen < highWavelen) {
                out[i] = (float) f;
            } else {
                double smooth =
                        (originalMaxPositions / wavelen - lowFreqFactor)
                                / (highFreqFactor - lowFreqFactor);
                out[i] = (float) ((1 - smooth) * f / factor + smooth * f);
            }
        }
        return out;
    }

    private float[] yarnFrequencies(int dim) {
        int half = dim / 2;
        double low = correctionDim(yarn.betaFast, dim);
        double high = correctionDim(yarn.betaSlow, dim);
        if (yarn.truncate) {
            low = Math.floor(low);
            high = Math.ceil(high);
        }
        low = Math.max(low, 0);
        high = Math.min(high, dim - 1);
        if (low == high) {
            high += 0.001; // as transformers: prevents a division by zero in the ramp
        }
        float[] out = new float[half];
        for (int i = 0; i < half; i++) {
            float posFreq = (float) Math.pow(theta, (float) (2 * i) / dim);
            double extrapolation = 1.0 / posFreq;
            double interpolation = 1.0 / (factor * posFreq);
            double ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
            double extrapolationFactor = 1 - ramp;
            out[i] =
                    (float)
                            (interpolation * (1 - extrapolationFactor)
                                    + extrapolation * extrapolationFactor);
        }
        return out;
    }

    private double correctionDim(double rotations, int dim) {
        return (dim * Math.log(originalMaxPositions / (rotations * 2 * Math.PI)))
                / (2 * Math.log(theta));
    }

    /** The factor transformers multiplies cos and sin by (yarn's attention factor; 1 otherwise). */
    public double attentionScaling() {
        return yarn != null
                ? yarn.attentionFactor
                : longRope != null ? longRope.attentionFactor : 1.0;
    }
}
