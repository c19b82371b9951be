package io.flinklora.gpu.engine;

import io.flinklora.annotation.Internal;
import io.flinklora.gpu.kv.BlockTable;
import io.flinklora.gpu.lora.AdapterMix;
import io.flinklora.gpu.lora.AdapterRegistry;
import io.flinklora.gpu.sampling.TokenLogprobs;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * A request in flight in the engine core: its token ids so far, the KV blocks that hold them and
 * how many are computed (text is the {@link OutputProcessor}'s).
 */
@Internal
public final class Sequence {
    private final EngineRequest request;
    private final long seed;
    private final int promptLength;
    private final Set<Integer> stopIds;
    private final long arrivalNanos;
    private final List<AdapterRegistry.Version> adapters;
    private final ChoiceTree choices;
    private boolean inTree;
    private AdapterMix mix;
    private int adapterFrom;
    private int[] tokens;
    private int length;
    private int computed;
    private int ropeLength;
    private final BlockTable blocks = new BlockTable();
    private String cacheSalt;
    private FinishReason finishReason;
    private long firstTokenNanos;

    Sequence(
            EngineRequest request,
            long seed,
            Set<Integer> stopIds,
            List<AdapterRegistry.Version> adapters) {
        this(request, seed, stopIds, adapters, null);
    }

    Sequence(
            EngineRequest request,
            long seed,
            Set<Integer> stopIds,
            List<AdapterRegistry.Version> adapters,
            ChoiceTree choices) {
        this.request = request;
        this.choices = choices;
        this.seed = seed;
        this.promptLength = request.promptIds().length;
        this.stopIds = stopIds;
        this.adapters = adapters == null ? List.of() : List.copyOf(adapters);
        this.arrivalNanos = System.nanoTime();
        int[] gen = request.generatedIds();
        this.tokens =
                Arrays.copyOf(request.promptIds(), Math.max(16, promptLength + gen.length + 16));
        System.arraycopy(gen, 0, tokens, promptLength, gen.length);
        this.length = promptLength + gen.length;
    }

    public String id() {
        return request.id();
    }

    public EngineRequest request() {
        return request;
    }

    long seed() {
        return seed;
    }

    public int promptLength() {
        return promptLength;
    }

    /** The ids that end this sequence: its stop_token_ids, and EOS unless it ignores EOS. */
    Set<Integer> stopIds() {
        return stopIds;
    }

    /** All tokens so far: prompt then generated. */
    public int length() {
        return length;
    }

    public int generatedCount() {
        return length - promptLength;
    }

    int token(int position) {
        return tokens[position];
    }

    /**
     * The token buffer: positions 0 .. length() - 1 hold the prompt, then the generated tokens
     * (read-only).
     */
    int[] tokenBuffer() {
        return tokens;
    }

    /** Tokens whose keys and values are in the cache. */
    public int computed() {
        return computed;
    }

    /** Tokens still to run through the model before the next one can be sampled. */
    int pending() {
        return length - computed;
    }

    void advance(int n) {
        computed += n;
    }

    /**
     * The sequence length whose rotary table the cached tokens were computed with (LongRoPE picks
     * its table by it); 0 before any compute.
     */
    int ropeLength() {
        return ropeLength;
    }

    void setRopeLength(int n) {
        ropeLength = n;
    }

    /**
     * Drops what the cache holds so the next step recomputes every token (the no-cache baseline).
     */
    void forgetCache() {
        computed = 0;
    }

    /**
     * Starts from a cached prefix of {@code n} tokens (prefix caching), or from nothing after
     * preemption.
     */
    void resetComputed(int n) {
        computed = n;
    }

    /** The KV blocks holding this sequence's positions. */
    BlockTable blocks() {
        return blocks;
    }

    /**
     * What besides the tokens decides this sequence's keys and values (its adapter mix); set on
     * admission.
     */
    String cacheSalt() {
        return cacheSalt;
    }

    void setCacheSalt(String salt) {
        this.cacheSalt = salt;
    }

    /**
     * Leases on the adapter versions this sequence uses, in request order (empty for the base
     * model).
     */
    List<AdapterRegistry.Version> adapters() {
        return adapters;
    }

    /**
     * The loaded adapters and weights, set when the sequence starts running; null for the base
     * model.
     */
    AdapterMix mix() {
        return mix;
    }

    void setMix(AdapterMix mix) {
        setMix(mix, 0);
    }

    /** As {@link #setMix(AdapterMix)}, the mix acting on positions {@code from} on only. */
    void setMix(AdapterMix mix, int from) {
        this.mix = mix;
        this.adapterFrom = from;
    }

    /**
     * The first position the mix acts on: 0, or for an activated LoRA the start of its invocation
     * tokens in the prompt ({@link Integer#MAX_VALUE} when the prompt lacks them).
     */
    int adapterFrom() {
        return adapterFrom;
    }

    public int[] generatedIds() {
        return Arrays.copyOfRange(tokens, promptLength, length);
    }

    /** The candidate labels of a constrained request, or null for ordinary generation. */
    ChoiceTree choices() {
        return choices;
    }

    /** Whether the prompt is done and the candidates' tree tokens are being computed. */
    boolean inTree() {
        return inTree;
    }

    /** Appends the candidates' tree tokens after the prompt: the next chunks compute them. */
    void startTree() {
        int[] tree = choices.treeTokens();
        tokens = Arrays.copyOf(tokens, Math.max(tokens.length, length + tree.length));
        System.arraycopy(tree, 0, tokens, length, tree.length);
        length += tree.length;
        inTree = true;
    }

    /** Rotary position of the token at cache position {@code p} (they differ only in the tree). */
    int rotaryPosition(int p) {
        return p < promptLength || !inTree
                ? p
                : choices.rotaryPosition(promptLength, p - promptLength);
    }

    /**
     * First cache position, at or after the prompt, that the token at {@code p} attends to besides
     * the prompt itself: p's own candidate's start in the tree; for prompt tokens, p+1 (causal
     * only).
     */
    int ownBranchStart(int p) {
        return p < promptLength || !inTree
                ? p + 1
                : promptLength + choices.candidateStart(p - promptLength);
    }

    /** Ends a constrained request: its single event carries the chosen label and the scores. */
    TokenEvent finishChoice() {
        ChoiceResult r = choices.result();
        finishReason = FinishReason.CHOICE;
        firstTokenNanos = System.nanoTime();
        return new TokenEvent(
                request.id(), 0, r.tokenIds()[0], r.label(), finishReason, promptLength, r);
    }

    public FinishReason finishReason() {
        return finishReason;
    }

    /** Lower values are served first ({@link EngineRequest#priority()}). */
    int priority() {
        return request.priority();
    }

    long arrivalNanos() {
        return arrivalNanos;
    }

    long firstTokenNanos() {
        return firstTokenNanos;
    }

    /** Ends the sequence on a stop string the output processor found in its text. */
    void stopOnString() {
        finishReason = FinishReason.STOP;
    }

    /**
     * Appends a sampled token and returns its event (finished on a stop id or at max_new_tokens).
     */
    TokenEvent append(int token) {
        return append(token, null);
    }

    /**
     * Appends a chosen token with its log-probabilities (null when the request asked for none); the
     * event's text is empty until the {@link OutputProcessor} fills it.
     */
    TokenEvent append(int token, TokenLogprobs logprobs) {
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, tokens.length * 2);
        }
        tokens[length++] = token;
        int index = generatedCount() - 1;
        if (index == 0) {
            firstTokenNanos = System.nanoTime();
        }
        // vLLM checks no stop before min_tokens tokens (the sampler bans the ids until then).
        if (stopIds.contains(token) && generatedCount() >= request.params().minTokens()) {
            finishReason = FinishReason.STOP;
        } else if (generatedCount() >= request.params().maxNewTokens()) {
            finishReason = FinishReason.LENGTH;
        }
        return new TokenEvent(
                request.id(), index, token, "", finishReason, promptLength, null, logprobs);
    }
}
