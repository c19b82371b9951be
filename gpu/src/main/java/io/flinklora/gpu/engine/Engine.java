package io.flinklora.gpu.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import io.flinklora.annotation.Internal;
import io.flinklora.annotation.PublicEvolving;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import io.flinklora.gpu.errors.RequestFailure;
import io.flinklora.gpu.kv.BlockManager;
import io.flinklora.gpu.kv.KvBlockPool;
import io.flinklora.gpu.lora.AdapterMix;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.lora.AdapterRegistry;
import io.flinklora.gpu.lora.AdapterStats;
import io.flinklora.gpu.lora.BaseWeights;
import io.flinklora.gpu.lora.LoraAdapter;
import io.flinklora.gpu.lora.LoraBatch;
import io.flinklora.gpu.model.GenerationDefaults;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.NativeArrays;
import io.flinklora.gpu.model.ProjectionDelta;
import io.flinklora.gpu.sampling.Sampler;
import io.flinklora.gpu.sampling.SamplingParams;
import io.flinklora.gpu.sampling.TokenLogprobs;
import io.flinklora.gpu.tokenizer.Tokenizer;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The inference engine: accepts requests, and on each {@link #step()} runs one batched forward pass
 * over every running sequence (continuous batching), samples their next tokens and reports them.
 *
 * <p>Not thread-safe: one thread (a Flink task thread, a CLI loop) drives it. Every array a step
 * creates lives in an {@link NDScope} closed at the end of the step; the model weights and the KV
 * cache pool are allocated once.
 */
@PublicEvolving
public final class Engine implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Engine.class);

    private final EngineConfig config;
    private final NDManager manager;
    private final LlamaModel model;
    private final Tokenizer tokenizer;
    private int arraysLastStep;
    private final KvBlockPool cache;
    private final BlockManager blocks;
    // LongRoPE models key cached blocks by rotary table rows too (see blockContent).
    private final boolean longRope;
    private final Scheduler scheduler;
    private final ModelRunner runner;
    private final AdapterRegistry adapters;
    private final Map<String, Sequence> inFlight = new HashMap<>();
    private final OutputProcessor outputs;
    private final Set<Integer> eosIds;
    private final GenerationDefaults generationDefaults;
    private final int maxSequenceLength;
    private final SecureRandom seeds = new SecureRandom();
    private long steps;
    private long generatedTokens;
    private long prefillTokens;
    private long completed;
    private int lastRows;

    private Engine(EngineConfig config) {
        this.config = config;
        this.manager = NDManager.newBaseManager(config.device());
        try {
            this.tokenizer = Tokenizer.load(config.modelDir());
            this.generationDefaults =
                    config.modelGenerationDefaults()
                            ? GenerationDefaults.load(config.modelDir())
                            : GenerationDefaults.NONE;
            ModelConfig mc = ModelConfig.read(config.modelDir());
            int contextLength = Math.min(config.maxSequenceLength(), mc.maxPositions());
            int bs = config.kvBlockSize();
            long blockBytes =
                    KvBlockPool.blockBytes(
                            mc.numLayers(), mc.numKvHeads(), mc.headDim(), bs, config.dtype());
            long usable =
                    config.kvCacheBytes() > 0
                            ? config.kvCacheBytes() / blockBytes
                            // Whole sequences: each holds its last block whole, so a pool of
                            // slots * ceil(length / bs) blocks is what kvSlots sequences of the
                            // longest length take (the decode copy, sized like the pool, rounds
                            // rows to blocks the same way).
                            : (long) config.kvSlots() * ((contextLength + bs - 1) / bs);
            if (usable < 1 || usable >= Integer.MAX_VALUE) {
                throw new IllegalArgumentException(
                        "a KV cache of "
                                + config.kvCacheBytes()
                                + " bytes holds "
                                + usable
                                + " blocks of "
                                + blockBytes
                                + " bytes; give it at least one block and under 2^31");
            }
            // A sequence must fit the whole pool alone, or it could never finish.
            this.maxSequenceLength = (int) Math.min(contextLength, usable * bs);
            this.model =
                    LlamaModel.load(
                            config.modelDir(),
                            manager,
                            config.device(),
                            config.dtype(),
                            maxSequenceLength);
            this.cache =
                    new KvBlockPool(
                            manager,
                            mc.numLayers(),
                            mc.numKvHeads(),
                            mc.headDim(),
                            (int) usable + 1,
                            bs,
                            config.dtype(),
                            config.device());
            if (config.decodeKvCopy()) {
                cache.enableDecodeCopy(config.maxRunning(), maxSequenceLength);
            }
            this.blocks = new BlockManager((int) usable + 1, bs, config.prefixCaching());
            this.longRope = mc.rope().longRope() != null;
            this.scheduler =
                    new Scheduler(
                            blocks,
                            config.maxRunning(),
                            config.maxTokensPerStep(),
                            this::blockContent);
            this.runner = new ModelRunner(model, cache);
            this.adapters =
                    config.adapterRoot() == null
                            ? null
                            : AdapterRegistry.builder(
                                            config.adapterRoot(), mc, manager, config.dtype())
                                    .maxOnDevice(config.adapters().maxOnDevice())
                                    .maxDeviceBytes(config.adapters().maxDeviceBytes())
                                    .maxLoaded(config.adapters().maxLoaded())
                                    .preload(config.adapters().preload())
                                    .baseWeights(BaseWeights.of(model))
                                    .build();
            // What generate stops on, and only that: a tokenizer's eos_token, or config.json's ids
            // beside a generation_config.json, would end sequences transformers continues.
            this.eosIds = Set.copyOf(GenerationDefaults.eosTokenIds(config.modelDir()));
            this.outputs = new OutputProcessor(tokenizer);
            if (!generationDefaults.isEmpty()) {
                LOG.info("Requests' unset sampling fields default to {}", generationDefaults);
            }
            LOG.info(
                    "Engine ready: max batch {}, {} tokens/step, KV cache {} blocks x {} positions ({} MiB, {} tokens;"
                            + " prefix caching {}), sequences up to {} tokens",
                    config.maxRunning(),
                    config.maxTokensPerStep(),
                    usable,
                    bs,
                    cache.bytes() >> 20,
                    usable * bs,
                    config.prefixCaching() ? "on" : "off",
                    maxSequenceLength);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * What a block of a sequence holds for the prefix cache: its token ids, and for LongRoPE models
     * the rotary table row of each token too (the table a prompt token used depends on the prompt's
     * length).
     */
    private int[] blockContent(Sequence s, int block) {
        int bs = blocks.blockSize();
        int[] out = new int[longRope ? 2 * bs : bs];
        for (int i = 0; i < bs; i++) {
            int p = block * bs + i;
            if (p >= s.length()) {
                // Past the sequence (a partial match's last block): no token id or table row is
                // negative.
                out[i] = -1;
                if (longRope) {
                    out[bs + i] = -1;
                }
                continue;
            }
            out[i] = s.token(p);
            if (longRope) {
                out[bs + i] = (int) runner.ropeRow(s, p);
            }
        }
        return out;
    }

    /** Loads the model and tokenizer and preallocates the KV cache. */
    public static Engine open(EngineConfig config) {
        return new Engine(config);
    }

    /** What requests that leave a sampling field unset get from the model folder. */
    public GenerationDefaults generationDefaults() {
        return generationDefaults;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Internal
    public ModelConfig modelConfig() {
        return model.config();
    }

    public EngineConfig config() {
        return config;
    }

    /** Longest sequence (prompt plus generated tokens) this engine serves. */
    public int maxSequenceLength() {
        return maxSequenceLength;
    }

    /**
     * Accepts a request the front end ({@code frontend.RequestProcessor}) has tokenized and
     * checked, or refuses it at once with a coded {@link RequestException} for what depends on this
     * engine's state (its id already in flight, adapters it cannot serve); an accepted request will
     * finish (tokens) or fail (a {@link RequestFailure}) in later steps.
     */
    public void submit(EngineRequest request) {
        if (inFlight.containsKey(request.id())) {
            throw new RequestException(
                    ErrorCode.DUPLICATE_REQUEST,
                    "request '" + request.id() + "' is already in flight");
        }
        if (!request.adapters().isEmpty() && adapters == null) {
            throw new RequestException(
                    ErrorCode.UNKNOWN_ADAPTER,
                    "adapter '"
                            + request.adapters().get(0).name()
                            + "' requested but this engine has no adapter root (base model only)");
        }
        ChoiceTree choices =
                request.hasChoices()
                        ? new ChoiceTree(request.choices().labels(), request.choices().tokenIds())
                        : null;
        checkInvariants(request, choices);
        SamplingParams params = request.params();
        long seed = params.seed() != null ? params.seed() : seeds.nextLong();
        Set<Integer> stopIds = new HashSet<>(params.stopTokenIds());
        if (!params.ignoreEos()) {
            stopIds.addAll(eosIds);
        }
        List<AdapterRegistry.Version> leases = new ArrayList<>();
        try {
            for (AdapterRef ref : request.adapters()) {
                leases.add(adapters.acquire(ref.name()));
            }
        } catch (RuntimeException e) {
            leases.forEach(adapters::release);
            throw e;
        }
        Sequence s = new Sequence(request, seed, stopIds, leases, choices);
        outputs.add(request);
        inFlight.put(request.id(), s);
        scheduler.add(s);
    }

    /**
     * What the core cannot run safely whoever built the request (the front end checks all of it
     * with its own messages first): token ids inside the vocabulary (an id past it would index the
     * embedding out of bounds in native code) and a sequence that fits the KV pool alone (one that
     * does not could never be scheduled and would stall the queue behind it).
     */
    private void checkInvariants(EngineRequest r, ChoiceTree choices) {
        int vocab = model.config().vocabSize();
        checkIds(r.promptIds(), vocab);
        checkIds(r.generatedIds(), vocab);
        if (choices != null) {
            for (int[] ids : r.choices().tokenIds()) {
                checkIds(ids, vocab);
            }
        }
        long longest =
                choices != null
                        ? (long) r.promptIds().length + choices.treeLength()
                        : (long) r.promptIds().length + r.params().maxNewTokens();
        if (r.promptIds().length == 0 || longest > maxSequenceLength) {
            throw new RequestException(
                    ErrorCode.CONTEXT_LENGTH_EXCEEDED,
                    "request '"
                            + r.id()
                            + "' needs "
                            + longest
                            + " positions; this engine serves 1.."
                            + maxSequenceLength);
        }
    }

    private static void checkIds(int[] ids, int vocab) {
        for (int id : ids) {
            if (id < 0 || id >= vocab) {
                throw new RequestException(
                        ErrorCode.INVALID_TOKEN,
                        "token id " + id + " is outside the vocabulary (0.." + (vocab - 1) + ")");
            }
        }
    }

    /** Whether any request is running or waiting. */
    public boolean hasWork() {
        return !scheduler.isIdle();
    }

    /**
     * Steps until no request is running or waiting, handing each step's result to {@code onStep}
     * (which may submit more); returns the token events the steps emitted. The one driver for "run
     * these to completion": callers keep only what they do with a step.
     */
    public long runToCompletion(java.util.function.Consumer<StepResult> onStep) {
        long events = 0;
        while (hasWork()) {
            StepResult step = step();
            events += step.events().size();
            onStep.accept(step);
        }
        return events;
    }

    /** Drops a request in flight; returns false if it is unknown or already finished. */
    public boolean abort(String requestId) {
        Sequence s = inFlight.get(requestId);
        if (s == null) {
            return false;
        }
        end(s);
        outputs.remove(requestId);
        return true;
    }

    /** Drops every request in flight (their KV blocks stay in the prefix cache until evicted). */
    public void abortAll() {
        for (Sequence s : List.copyOf(inFlight.values())) {
            end(s);
        }
        outputs.clear();
    }

    /**
     * Runs one forward pass over every running sequence: samples the next token of each generating
     * sequence, and scores the candidate labels of constrained ones.
     */
    public StepResult step() {
        long t0 = System.nanoTime();
        if (longRope) {
            for (Sequence s : scheduler.runningSequences()) {
                if (runner.ropeTableChanged(s)) {
                    scheduler.recompute(s, admission);
                }
            }
        }
        Batch batch = scheduler.schedule(admission);
        List<RequestFailure> failures = new ArrayList<>();
        for (Sequence s : batch.failed()) {
            String unmixable = unmixable(s);
            if (unmixable != null) {
                failures.add(new RequestFailure(s.id(), ErrorCode.INVALID_REQUEST, unmixable));
            } else {
                String why =
                        s.adapters().stream()
                                .map(adapters::failure)
                                .filter(m -> !m.isEmpty())
                                .findFirst()
                                .orElse("");
                failures.add(
                        new RequestFailure(
                                s.id(),
                                ErrorCode.ADAPTER_LOAD_FAILED,
                                "adapter could not be loaded: " + why));
            }
            end(s);
            outputs.remove(s.id());
        }
        if (batch.isEmpty()) {
            return failures.isEmpty()
                    ? StepResult.IDLE
                    : new StepResult(List.of(), failures, 0, 0, System.nanoTime() - t0);
        }
        // Logit rows come back in batch order; sort them into sampling rows and scoring (row,
        // target) pairs.
        List<Batch.Chunk> samplers = new ArrayList<>();
        List<Integer> samplerRows = new ArrayList<>();
        Scoring scoring = new Scoring();
        List<Sequence> promptDone = new ArrayList<>();
        int row = 0;
        for (Batch.Chunk c : batch.chunks()) {
            Sequence s = c.sequence();
            if (c.scoresTree()) {
                for (int i = 0; i < c.length(); i++, row++) {
                    int j = c.start() + i - s.promptLength();
                    scoring.add(row, s.choices().target(j), s, j);
                }
            } else if (c.samples() && s.choices() != null) {
                for (int k = 0; k < s.choices().size(); k++) {
                    scoring.add(row, s.choices().firstToken(k), s, -1 - k);
                }
                promptDone.add(s);
                row++;
            } else if (c.samples()) {
                samplers.add(c);
                samplerRows.add(row++);
            }
        }
        int[] next;
        TokenLogprobs[] logprobs = new TokenLogprobs[samplers.size()];
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray logits = forward(batch);
            if (scoring.isEmpty()) {
                next = choose(logits, samplers, logprobs);
            } else {
                next =
                        samplers.isEmpty()
                                ? new int[0]
                                : choose(
                                        logits.get(
                                                manager.create(
                                                        samplerRows.stream()
                                                                .mapToLong(Integer::longValue)
                                                                .toArray())),
                                        samplers,
                                        logprobs);
                scoring.gather(logits, manager);
            }
            // Each array a step creates is one native call (an op, a view or an upload): on a GPU,
            // a launch.
            arraysLastStep = NativeArrays.inScope(scope) + model.arraysLastForward();
        }
        List<TokenEvent> events = new ArrayList<>(samplers.size());
        for (Batch.Chunk c : batch.chunks()) {
            c.sequence().advance(c.length());
            prefillTokens +=
                    c.samples() && c.sequence().choices() == null ? c.length() - 1 : c.length();
            if (c.length() > 0) {
                scheduler.computed(c.sequence());
            }
        }
        scoring.apply();
        for (Sequence s : promptDone) {
            if (s.choices().treeLength() > 0) {
                s.startTree();
            }
        }
        for (int i = 0; i < samplers.size(); i++) {
            Sequence s = samplers.get(i).sequence();
            TokenEvent e = s.append(next[i], logprobs[i]);
            generatedTokens++;
            events.add(e);
            if (e.finished()) {
                end(s);
                completed++;
            }
        }
        for (Batch.Chunk c : batch.chunks()) {
            Sequence s = c.sequence();
            if (s.choices() != null
                    && c.length() > 0
                    && s.finishReason() == null
                    && s.computed() == s.length()
                    && (s.inTree() || s.choices().treeLength() == 0)) {
                events.add(s.finishChoice());
                end(s);
                completed++;
            }
        }
        if (!config.reuseKvCache()) {
            for (Batch.Chunk c : batch.chunks()) {
                if (c.sequence().finishReason() == null && c.sequence().choices() == null) {
                    c.sequence().forgetCache();
                }
            }
        }
        // The core's events carry ids; text and stop strings come from the output processor, and a
        // stop
        // string ends its sequence in the core before the next step (as vLLM aborts on one).
        List<String> stopped = new ArrayList<>();
        events = outputs.process(events, stopped);
        for (String id : stopped) {
            Sequence s = inFlight.get(id);
            s.stopOnString();
            end(s);
            completed++;
        }
        steps++;
        lastRows = batch.chunks().size();
        return new StepResult(events, failures, lastRows, batch.tokens(), System.nanoTime() - t0);
    }

    /**
     * Log-probabilities a step must read for constrained requests: (logit row, target token) pairs.
     * Log-softmax runs on the device over the rows involved only, and just one float per pair comes
     * back to the host.
     */
    private static final class Scoring {
        private final List<int[]> pairs = new ArrayList<>();
        private final List<Sequence> owners = new ArrayList<>();
        private float[] values;

        /**
         * {@code slot} is the tree index of a tree token, or {@code -1 - c} for candidate c's first
         * token.
         */
        void add(int row, int target, Sequence s, int slot) {
            pairs.add(new int[] {row, target, slot});
            owners.add(s);
        }

        boolean isEmpty() {
            return pairs.isEmpty();
        }

        void gather(NDArray logits, NDManager manager) {
            java.util.LinkedHashMap<Integer, Integer> rows = new java.util.LinkedHashMap<>();
            for (int[] p : pairs) {
                rows.putIfAbsent(p[0], rows.size());
            }
            int vocab = (int) logits.getShape().get(1);
            long[] rowIdx = rows.keySet().stream().mapToLong(Integer::longValue).toArray();
            long[] flat = new long[pairs.size()];
            for (int i = 0; i < flat.length; i++) {
                int[] p = pairs.get(i);
                flat[i] = (long) rows.get(p[0]) * vocab + p[1];
            }
            NDArray lp = logits.get(manager.create(rowIdx)).logSoftmax(1).reshape(-1);
            values = lp.get(manager.create(flat)).toFloatArray();
        }

        void apply() {
            for (int i = 0; i < pairs.size(); i++) {
                int slot = pairs.get(i)[2];
                ChoiceTree t = owners.get(i).choices();
                if (slot < 0) {
                    t.addFirst(-1 - slot, values[i]);
                } else {
                    t.add(slot, values[i]);
                }
            }
        }
    }

    private final Scheduler.Admission admission =
            new Scheduler.Admission() {
                @Override
                public Verdict check(Sequence s) {
                    Verdict worst = Verdict.READY;
                    for (AdapterRegistry.Version v : s.adapters()) {
                        Verdict vd =
                                switch (adapters.ready(v)) {
                                    case READY -> Verdict.READY;
                                    case LOADING -> Verdict.LOADING;
                                    case NO_CAPACITY -> Verdict.NO_CAPACITY;
                                    case FAILED -> Verdict.FAIL;
                                };
                        if (vd.ordinal() > worst.ordinal()) {
                            worst = vd;
                        }
                    }
                    // Only once every adapter is ready (loads finish on other threads): checking
                    // before would let a
                    // load that completes between the two checks admit an unmixable request
                    // unrefused.
                    if (worst == Verdict.READY && unmixable(s) != null) {
                        return Verdict.FAIL;
                    }
                    return worst;
                }

                @Override
                public String cacheSalt(Sequence s) {
                    if (s.adapters().isEmpty()) {
                        return "";
                    }
                    // The loaded versions (not names: a file replaced on disk is another version)
                    // and their weights.
                    StringBuilder salt = new StringBuilder();
                    for (int i = 0; i < s.adapters().size(); i++) {
                        salt.append(s.adapters().get(i).serial())
                                .append('*')
                                .append(
                                        Double.doubleToLongBits(
                                                s.request().adapters().get(i).weight()))
                                .append(';');
                    }
                    // An activated LoRA's keys and values depend on where it starts acting.
                    int from = activatesFrom(s);
                    return from == 0 ? salt.toString() : salt.append('@').append(from).toString();
                }

                @Override
                public void preempted(Sequence s) {
                    if (s.mix() != null) {
                        for (AdapterRegistry.Version v : s.adapters()) {
                            adapters.unpin(v);
                        }
                        s.setMix(null);
                    }
                }

                @Override
                public void admitted(Sequence s) {
                    if (s.adapters().isEmpty()) {
                        return;
                    }
                    List<AdapterMix.Part> parts = new ArrayList<>();
                    for (int i = 0; i < s.adapters().size(); i++) {
                        AdapterRegistry.Version v = s.adapters().get(i);
                        adapters.pin(v);
                        parts.add(
                                new AdapterMix.Part(
                                        adapters.adapter(v),
                                        s.request().adapters().get(i).weight()));
                    }
                    s.setMix(new AdapterMix(parts), activatesFrom(s));
                }
            };

    /**
     * The first position a running sequence's adapters act on: 0, or an activated LoRA's start in
     * the prompt (such an adapter runs alone). Its adapters are loaded.
     */
    private int activatesFrom(Sequence s) {
        int from = 0;
        for (AdapterRegistry.Version v : s.adapters()) {
            from = Math.max(from, adapters.adapter(v).activatesFrom(s.request().promptIds()));
        }
        return from;
    }

    /**
     * Why a sequence's adapter list cannot run, or null: a DoRA adapter or one that saves whole
     * modules must be used alone at weight 1 (its effect is not a delta that scales or adds). Known
     * once loaded.
     */
    private String unmixable(Sequence s) {
        List<AdapterRegistry.Version> vs = s.adapters();
        for (int i = 0; i < vs.size(); i++) {
            if (adapters.ready(vs.get(i)) != AdapterRegistry.Readiness.READY) {
                continue;
            }
            LoraAdapter a = adapters.adapter(vs.get(i));
            if (!a.mixable() && (vs.size() > 1 || s.request().adapters().get(i).weight() != 1.0)) {
                return "adapter '"
                        + a.name()
                        + "' (DoRA, modules_to_save, trainable_token_indices, trained base"
                        + " biases, activated LoRA, OLoRA or PiSSA) can only be used alone"
                        + " with weight 1";
            }
        }
        return null;
    }

    /**
     * Removes a sequence (finished, aborted or failed) and gives back its KV blocks and adapter
     * leases.
     */
    private void end(Sequence s) {
        inFlight.remove(s.id());
        scheduler.remove(s);
        for (AdapterRegistry.Version v : s.adapters()) {
            if (s.mix() != null) {
                adapters.unpin(v);
            }
            adapters.release(v);
        }
    }

    /**
     * The step's adapter deltas: one mix per token row, or nothing when every row is base-model.
     */
    private io.flinklora.gpu.model.ProjectionDelta loraFor(Batch batch) {
        boolean any = false;
        for (Batch.Chunk c : batch.chunks()) {
            any |= c.sequence().mix() != null && c.length() > 0;
        }
        if (!any) {
            return ProjectionDelta.NONE; // a base-only step builds no per-token rows
        }
        any = false;
        List<AdapterMix> rows = new ArrayList<>(batch.tokens());
        for (Batch.Chunk c : batch.chunks()) {
            Sequence s = c.sequence();
            for (int i = 0; i < c.length(); i++) {
                // An activated LoRA leaves the positions before its invocation to the base model.
                AdapterMix mix = c.start() + i >= s.adapterFrom() ? s.mix() : null;
                any |= mix != null;
                rows.add(mix);
            }
        }
        if (!any) {
            return ProjectionDelta.NONE;
        }
        return new LoraBatch(rows, manager, config.dtype(), config.adapters().strategy());
    }

    /** The forward pass of a planned batch, after zeroing blocks handed out for the first time. */
    private NDArray forward(Batch batch) {
        cache.zero(blocks.drainFresh());
        // After zeroing: a destination may be fresh; a source is referenced until now, so it is
        // not.
        cache.copy(blocks.drainCopies());
        try (ProjectionDelta delta = loraFor(batch)) {
            return runner.run(batch, manager, delta);
        }
    }

    /** Admits and plans a step without running it (tests inspect the forward pass through this). */
    Batch scheduleForTest() {
        return scheduler.schedule(admission);
    }

    /**
     * Runs the forward pass of a planned batch and returns each sampling row's logits, advancing
     * nothing.
     */
    float[][] logitsForTest(Batch batch) {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray logits = forward(batch);
            int rows = (int) logits.getShape().get(0);
            int vocab = (int) logits.getShape().get(1);
            float[] all = logits.toFloatArray();
            float[][] out = new float[rows][];
            for (int i = 0; i < rows; i++) {
                out[i] = java.util.Arrays.copyOfRange(all, i * vocab, (i + 1) * vocab);
            }
            return out;
        }
    }

    /** The running sequences (tests check what they hold). */
    List<Sequence> runningForTest() {
        return scheduler.runningSequences();
    }

    /** Adapter cache counters, or null when this engine serves no adapters. */
    public AdapterStats adapterStats() {
        return adapters == null ? null : adapters.stats();
    }

    /**
     * Chooses each sampling row's next token; fills {@code logprobs} for the requests that asked
     * for them.
     */
    private int[] choose(NDArray logits, List<Batch.Chunk> samplers, TokenLogprobs[] logprobs) {
        int n = samplers.size();
        int[] next = new int[n];
        if (n == 0) {
            return next;
        }
        boolean allGreedy = true;
        for (Batch.Chunk c : samplers) {
            Sequence s = c.sequence();
            allGreedy &= !s.request().params().needsHostLogits(s.generatedCount());
        }
        if (allGreedy) {
            // Only n ids cross to the host instead of n * vocab logits.
            long[] ids = logits.argMax(1).toLongArray();
            for (int i = 0; i < n; i++) {
                next[i] = (int) ids[i];
            }
            return next;
        }
        float[] all = logits.toFloatArray();
        int vocab = (int) logits.getShape().get(1);
        for (int i = 0; i < n; i++) {
            Sequence s = samplers.get(i).sequence();
            SamplingParams p = s.request().params();
            next[i] =
                    Sampler.choose(
                            all,
                            i * vocab,
                            vocab,
                            p,
                            s.seed(),
                            s.generatedCount(),
                            s.tokenBuffer(),
                            s.promptLength(),
                            s.length(),
                            s.generatedCount() < p.minTokens() ? minTokensBan(s) : Set.of());
            if (p.logprobs() != null) {
                logprobs[i] = Sampler.logprobs(all, i * vocab, vocab, next[i], p.logprobs());
            }
        }
        return next;
    }

    /**
     * What min_tokens bans: the request's stop_token_ids and the model's EOS ids, the latter even
     * when the request ignores EOS (vLLM adds them to the ids its min_tokens processor bans in
     * either case; transformers' min_new_tokens bans EOS).
     */
    private Set<Integer> minTokensBan(Sequence s) {
        Set<Integer> ban = new HashSet<>(s.stopIds());
        ban.addAll(eosIds);
        return ban;
    }

    /** Device bytes of the decoding sequences' KV copy (0 when it is off or never used). */
    long decodeCopyBytes() {
        return cache.decodeCopy() == null ? 0 : cache.decodeCopy().bytes();
    }

    /** Steps whose decode rows read the decoding sequences' KV copy. */
    long decodeCopyReads() {
        return runner.copyReads();
    }

    /** Spans those steps read, all together: more than the steps when rows split by length. */
    long decodeCopySpans() {
        return runner.copySpans();
    }

    /** Overrides the copy's span and re-sort costs (see {@link DecodeKvCopy#overrideCosts}). */
    void decodeCopyCosts(long spanRowPositions, int paybackSteps) {
        if (cache.decodeCopy() != null) {
            cache.decodeCopy().overrideCosts(spanRowPositions, paybackSteps);
        }
    }

    /** Times the decoding sequences' KV copy was re-sorted longest row first. */
    long decodeCopyResorts() {
        return cache.decodeCopy() == null ? 0 : cache.decodeCopy().resorts();
    }

    public EngineStats stats() {
        long held = 0;
        for (Sequence s : scheduler.runningSequences()) {
            held += s.computed();
        }
        return new EngineStats(
                steps,
                generatedTokens,
                prefillTokens,
                completed,
                scheduler.runningCount(),
                scheduler.waitingCount(),
                blocks.used(),
                blocks.total(),
                blocks.blockSize(),
                held,
                lastRows,
                scheduler.promptTokens(),
                scheduler.cachedPromptTokens(),
                scheduler.preemptions(),
                blocks.cachedBlocks());
    }

    /**
     * Native arrays the last step created (each one native call; on a GPU, roughly one kernel
     * launch).
     */
    @Internal
    public int arraysLastStep() {
        return arraysLastStep;
    }

    /**
     * Native arrays owned by the engine (weights, cache, tables): constant while serving unless
     * something leaks.
     */
    @Internal
    public int liveArrays() {
        return manager.getManagedArrays().size();
    }

    /** The model, for tests and tools that drive the forward pass directly. */
    @Internal
    public LlamaModel model() {
        return model;
    }

    @Override
    public void close() {
        inFlight.clear();
        outputs.clear();
        try {
            if (adapters != null) {
                adapters.close();
            }
            tokenizer.close();
        } finally {
            manager.close();
        }
    }
}
