package io.flinklora.operators;

import ai.djl.Device;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.StepResult;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import io.flinklora.gpu.errors.RequestFailure;
import io.flinklora.gpu.frontend.PromptRequest;
import io.flinklora.gpu.frontend.RequestProcessor;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.model.ModelFormatException;
import io.flinklora.gpu.route.Router;
import io.flinklora.gpu.route.RouterFile;
import io.flinklora.gpu.sampling.SamplingParams;
import io.flinklora.gpu.sampling.TokenLogprobs;
import io.flinklora.gpu.tokenizer.TokenizerException;
import io.flinklora.schemas.AdapterWeight;
import io.flinklora.schemas.ChoiceScore;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.Logprob;
import io.flinklora.schemas.Route;
import io.flinklora.schemas.TokenEvent;
import io.flinklora.schemas.codec.DecodeException;
import io.flinklora.schemas.codec.StateCodec;
import io.flinklora.schemas.state.AdapterShare;
import io.flinklora.schemas.state.EmittedLogprobs;
import io.flinklora.schemas.state.RouteState;
import io.flinklora.schemas.state.SequenceState;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.flink.api.common.externalresource.ExternalResourceInfo;
import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeutils.base.array.BytePrimitiveArraySerializer;
import org.apache.flink.runtime.execution.SuppressRestartsException;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * The keyed generation operator: requests in, token events out (completions and errors on side
 * outputs). One {@link Engine} per subtask batches the requests of all its keys; engine steps run
 * as processing-time callbacks (mailbox mails) on the task thread, between input records and
 * checkpoint work, so barriers are never starved and no thread of ours outlives the task. When more
 * requests wait than {@code maxQueued}, processing of input pauses (yielding to the steps) until
 * one starts: back pressure instead of an unbounded buffer.
 *
 * <p>Keyed state holds, per in-flight request, a {@link SequenceState} (what resuming needs: prompt
 * ids, adapters, sampling, the tokens emitted so far; not the wire request), written at each
 * checkpoint through the versioned {@link StateCodec}. After a restore the engine re-prefills them
 * (the KV cache is derived) and generation continues at the next index, so with a transactional
 * sink each (request, index) is delivered exactly once.
 *
 * <p>With a router file ({@link GenerationSettings.Builder#router}), a request with {@code "route":
 * "auto"} is routed once, when accepted: its adapters are the router's choice for its prompt, and
 * the choice is kept in its state, so a restored request resumes with the same adapters and reports
 * the same route.
 */
@Internal
public final class GenerationOperator extends AbstractStreamOperator<TokenEvent>
        implements OneInputStreamOperator<GenerationRequest, TokenEvent>, BoundedOneInput {
    private static final long serialVersionUID = 1L;
    private static final String STATE = "sequence";

    private final GenerationSettings settings;
    private final transient MailboxExecutor mailbox;
    private transient Engine engine;

    /** Tokenizes and checks requests for the engine (the front end shared with the CLI). */
    private transient RequestProcessor front;

    private transient boolean engineHealthy = true;

    /** Null when the job has no router file: requests with route "auto" are refused. */
    private transient Router router;

    private transient ValueState<byte[]> state;
    private transient Map<String, InFlight> inFlight;
    private transient List<SequenceState> restored;
    private transient boolean stepScheduled;
    private transient GenerationMetrics metrics;
    private transient long emittedTokens;

    /** Failure drill: in-flight count and tokens emitted at each pending checkpoint's snapshot. */
    private transient Map<Long, long[]> pendingCheckpoints;

    /** Tokens emitted when the checkpoint that armed the drill was taken; -1 while not armed. */
    private transient long drillArmedAt = -1;

    /**
     * A request being generated: its state record as accepted, plus the ids and text emitted so
     * far.
     */
    private static final class InFlight {
        final SequenceState accepted;
        final int[] promptIds;
        final List<Integer> ids = new ArrayList<>();
        final StringBuilder text = new StringBuilder();
        final String adapters;
        final List<EmittedLogprobs> logprobs = new ArrayList<>();
        Long firstTokenAt;

        InFlight(SequenceState accepted) {
            this.accepted = accepted;
            this.promptIds = accepted.getPromptIds().stream().mapToInt(Integer::intValue).toArray();
            this.adapters =
                    accepted.getAdapters().stream()
                            .map(AdapterShare::getName)
                            .collect(Collectors.joining("+"));
            this.ids.addAll(accepted.getGeneratedIds());
            this.text.append(accepted.getText());
            this.firstTokenAt = accepted.getFirstTokenAt();
            this.logprobs.addAll(accepted.getEmittedLogprobs());
        }

        String requestId() {
            return accepted.getRequestId();
        }

        /** What recovery needs, as of the last emitted token. */
        SequenceState state() {
            return SequenceState.newBuilder(accepted)
                    .setGeneratedIds(new ArrayList<>(ids))
                    .setText(text.toString())
                    .setFirstTokenAt(firstTokenAt)
                    .setEmittedLogprobs(new ArrayList<>(logprobs))
                    .build();
        }
    }

    GenerationOperator(
            StreamOperatorParameters<TokenEvent> parameters, GenerationSettings settings) {
        super(parameters);
        this.settings = settings;
        this.mailbox = parameters.getMailboxExecutor();
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        state =
                getPartitionedState(
                        new ValueStateDescriptor<>(STATE, BytePrimitiveArraySerializer.INSTANCE));
        restored = new ArrayList<>();
        if (context.isRestored()) {
            try (Stream<Object> keys =
                    getKeyedStateBackend().getKeys(STATE, VoidNamespace.INSTANCE)) {
                for (Object key : (Iterable<Object>) keys::iterator) {
                    setCurrentKey(key);
                    byte[] bytes = state.value();
                    if (bytes != null) {
                        restored.add(decodeState(key, bytes));
                    }
                }
            }
        }
    }

    @Override
    public void open() throws Exception {
        super.open();
        Device device = chooseDevice();
        try {
            engine = EnginePool.acquire(settings.engineConfig(device), Engine::open);
            front = RequestProcessor.of(engine);
        } catch (ModelFormatException | TokenizerException e) {
            // The model folder itself is refused (an unsupported field, architecture or file):
            // every attempt would fail alike, so the job fails once with the reason instead of
            // restarting forever.
            throw new SuppressRestartsException(e);
        }
        if (settings.routerFile != null) {
            // Embeds the router's example prompts once per subtask, with this engine's base model.
            router =
                    Router.open(
                            RouterFile.read(java.nio.file.Path.of(settings.routerFile)), engine);
        }
        inFlight = new LinkedHashMap<>();
        pendingCheckpoints = new java.util.TreeMap<>();
        metrics = new GenerationMetrics(getMetricGroup(), engine);
        for (SequenceState s : restored) {
            resume(s);
        }
        if (!restored.isEmpty()) {
            LOG.info("Resumed {} in-flight requests from state", restored.size());
        }
        restored = null;
        scheduleStep();
    }

    /** The slot's GPU when Flink's GPU external resource gives one, else the configured device. */
    private Device chooseDevice() {
        if (settings.device.equals("cpu")) {
            return Device.cpu();
        }
        for (ExternalResourceInfo info : getRuntimeContext().getExternalResourceInfos("gpu")) {
            var index = info.getProperty("index");
            if (index.isPresent()) {
                return Device.gpu(Integer.parseInt(index.get()));
            }
        }
        return settings.device.equals("gpu") ? Device.gpu() : Device.cpu();
    }

    @Override
    public void processElement(StreamRecord<GenerationRequest> element) throws Exception {
        if (element.getValue().getCancel()) {
            cancel(element.getValue().getRequestId());
            return;
        }
        accept(element.getValue());
        scheduleStep();
        // Back pressure: stop taking input while the queue is full; the steps keep running
        // meanwhile.
        while (engine.stats().waiting() >= settings.maxQueued()) {
            mailbox.yield();
        }
    }

    private void accept(GenerationRequest r) {
        String id = r.getRequestId();
        try {
            checkRoute(r);
            int[] prompt =
                    r.getPromptIds() != null
                            ? r.getPromptIds().stream().mapToInt(Integer::intValue).toArray()
                            : front.encodePrompt(r.getPrompt());
            Router.Route route = r.getRoute() == null ? null : route(prompt);
            submit(new InFlight(accepted(r, prompt, System.currentTimeMillis(), route)));
            metrics.accepted();
        } catch (RequestException e) {
            emitError(id, r.getReplyTopic(), e.code().name(), e.getMessage());
        } catch (RuntimeException e) {
            LOG.warn("Request {} failed unexpectedly", id, e);
            emitError(id, r.getReplyTopic(), "INTERNAL", "the request could not be started: " + e);
        }
    }

    /**
     * {@code route}: "auto" (only with a router, and without adapters) or null; anything else is
     * refused.
     */
    private void checkRoute(GenerationRequest r) {
        if (r.getRoute() == null) {
            return;
        }
        if (!r.getRoute().equals("auto")) {
            throw new RequestException(
                    ErrorCode.INVALID_PARAMETER,
                    "route must be \"auto\" (the router picks the"
                            + " adapters) or null, got \""
                            + r.getRoute()
                            + "\"");
        }
        if (!r.getAdapters().isEmpty()) {
            throw new RequestException(
                    ErrorCode.INVALID_REQUEST, "give adapters or \"route\": \"auto\", not both");
        }
        if (router == null) {
            throw new RequestException(
                    ErrorCode.INVALID_REQUEST,
                    "\"route\": \"auto\" needs a router file: start"
                            + " the job with --router FILE");
        }
    }

    /**
     * The router's choice for a prompt; one the embedder cannot take (longer than the model's
     * positions) is coded.
     */
    private Router.Route route(int[] prompt) {
        try {
            return router.route(prompt);
        } catch (IllegalArgumentException e) {
            throw new RequestException(ErrorCode.LIMIT_EXCEEDED, "cannot route: " + e.getMessage());
        }
    }

    /**
     * The state record of a request just accepted: what resuming it needs, nothing of the wire
     * format.
     */
    static SequenceState accepted(GenerationRequest r, int[] prompt, long acceptedAt) {
        return accepted(r, prompt, acceptedAt, null);
    }

    /**
     * As above; a routed request ({@code route} not null) gets the route's adapters, and keeps the
     * route.
     */
    static SequenceState accepted(
            GenerationRequest r, int[] prompt, long acceptedAt, Router.Route route) {
        List<AdapterShare> adapters = new ArrayList<>();
        if (route == null) {
            for (AdapterWeight a : r.getAdapters()) {
                adapters.add(new AdapterShare(a.getName(), a.getWeight()));
            }
        } else {
            for (AdapterRef a : route.adapters()) {
                adapters.add(new AdapterShare(a.name(), a.weight()));
            }
        }
        RouteState routeState = null;
        if (route != null) {
            Map<String, Double> similarity = new LinkedHashMap<>();
            route.scores().forEach(sc -> similarity.put(sc.task(), sc.similarity()));
            routeState = new RouteState(route.task(), similarity);
        }
        List<Integer> promptIds = new ArrayList<>(prompt.length);
        for (int t : prompt) {
            promptIds.add(t);
        }
        long seed = r.getSeed() != null ? r.getSeed() : stableSeed(r.getRequestId());
        return SequenceState.newBuilder()
                .setRequestId(r.getRequestId())
                .setAdapters(adapters)
                .setPromptIds(promptIds)
                .setChoices(r.getChoices())
                .setSamplingRequest(StateCodec.samplingRequest(r, seed))
                .setMetadata(r.getMetadata())
                .setCreatedAt(r.getCreatedAt())
                .setGeneratedIds(List.of())
                .setText("")
                .setAcceptedAt(acceptedAt)
                .setFirstTokenAt(null)
                .setReplyTopic(r.getReplyTopic())
                .setRoute(routeState)
                .build();
    }

    /**
     * A client gave up on a request (its timeout, or an explicit cancel): the engine drops it, its
     * KV and batch room are free from the next step, and its completion says cancelled. A cancel
     * for a request that is unknown here or already finished does nothing.
     */
    private void cancel(String requestId) {
        InFlight f = inFlight.remove(requestId);
        if (f == null) {
            LOG.debug("Cancel of {}: not in flight", requestId);
            return;
        }
        engine.abort(requestId);
        setCurrentKey(requestId);
        state.clear();
        metrics.cancelled();
        long now = System.currentTimeMillis();
        output.collect(Outputs.COMPLETIONS, new StreamRecord<>(completion(f, "cancelled", now)));
    }

    private void resume(SequenceState s) {
        InFlight f = new InFlight(s);
        try {
            submit(f);
            metrics.resumed();
        } catch (RequestException e) {
            // E.g. its adapter was removed while the job was down: report it rather than lose it.
            emitError(
                    f.requestId(),
                    f.accepted.getReplyTopic(),
                    e.code().name(),
                    "cannot resume: " + e.getMessage());
            setCurrentKey(f.requestId());
            state.clear();
        }
    }

    private void submit(InFlight f) {
        SequenceState s = f.accepted;
        List<AdapterRef> adapters = new ArrayList<>();
        for (AdapterShare a : s.getAdapters()) {
            adapters.add(new AdapterRef(a.getName(), a.getWeight()));
        }
        // New and restored requests alike run the sampling the state holds.
        SamplingParams params;
        int priority;
        try {
            GenerationRequest kept = StateCodec.samplingRequest(s);
            // Fields the request left unset take the model's generation defaults, for the prompt.
            params = front.sampling(kept, f.promptIds.length, s.getChoices());
            priority = kept.getPriority(); // kept with the sampling fields: it survives a restore
        } catch (DecodeException e) {
            throw new IllegalStateException(
                    "state of request " + f.requestId() + " is unreadable: " + e.getMessage(), e);
        }
        int[] generated = f.ids.stream().mapToInt(Integer::intValue).toArray();
        engine.submit(
                front.process(
                        new PromptRequest(
                                        f.requestId(),
                                        f.promptIds,
                                        adapters,
                                        params,
                                        generated,
                                        s.getChoices())
                                .withPriority(priority)));
        inFlight.put(f.requestId(), f);
    }

    /**
     * Schedules the next step as a processing-time timer firing now: it runs as a mail on the task
     * thread, and when Flink quiesces the timer service (stop-with-savepoint, cancellation) no
     * further step is scheduled, so the requests in flight stay in the savepoint instead of being
     * drained.
     */
    private void scheduleStep() {
        if (!stepScheduled && engine.hasWork()) {
            stepScheduled = true;
            // A time in the past fires at once (a timer for "now" would wait a millisecond).
            getProcessingTimeService()
                    .registerTimer(
                            getProcessingTimeService().getCurrentProcessingTime() - 1,
                            timestamp -> step());
        }
    }

    /**
     * One engine step; it schedules the next while work remains, leaving input and checkpoints
     * their turn.
     */
    private void step() {
        stepScheduled = false;
        StepResult result;
        try {
            result = engine.step();
        } catch (RuntimeException e) {
            // A step that failed half-way may leave the engine inconsistent: the next attempt opens
            // a new one.
            engineHealthy = false;
            throw e;
        }
        long now = System.currentTimeMillis();
        for (io.flinklora.gpu.engine.TokenEvent e : result.events()) {
            InFlight f = inFlight.get(e.requestId());
            if (e.choice() != null) {
                for (int id : e.choice().tokenIds()) {
                    f.ids.add(id);
                }
            } else {
                f.ids.add(e.tokenId());
            }
            List<Logprob> top = new ArrayList<>();
            if (e.logprobs() != null) {
                List<Integer> topIds = new ArrayList<>();
                List<Double> topLogprobs = new ArrayList<>();
                for (TokenLogprobs.Alternative a : e.logprobs().top()) {
                    top.add(new Logprob(a.tokenId(), a.logprob()));
                    topIds.add(a.tokenId());
                    topLogprobs.add(a.logprob());
                }
                f.logprobs.add(new EmittedLogprobs(e.logprobs().logprob(), topIds, topLogprobs));
            }
            f.text.append(e.text());
            if (f.firstTokenAt == null) {
                f.firstTokenAt = now;
                metrics.firstToken(now - f.accepted.getAcceptedAt());
            }
            output.collect(
                    new StreamRecord<>(
                            TokenEvent.newBuilder()
                                    .setRequestId(e.requestId())
                                    .setIndex(e.index())
                                    .setTokenId(e.tokenId())
                                    .setText(e.text())
                                    .setFinished(e.finished())
                                    .setFinishReason(
                                            e.finished() ? e.finishReason().wireName() : null)
                                    .setAdapters(f.adapters)
                                    .setLogprob(
                                            e.logprobs() == null ? null : e.logprobs().logprob())
                                    .setTopLogprobs(top)
                                    .setReplyTopic(f.accepted.getReplyTopic())
                                    .setRequestCreatedAt(f.accepted.getCreatedAt())
                                    .setEmittedAt(java.time.Instant.ofEpochMilli(now))
                                    .build()));
            emittedTokens++;
            if (e.finished()) {
                inFlight.remove(e.requestId());
                output.collect(Outputs.COMPLETIONS, new StreamRecord<>(completion(f, e, now)));
                setCurrentKey(e.requestId());
                state.clear();
            }
        }
        for (RequestFailure failure : result.failures()) {
            InFlight f = inFlight.remove(failure.requestId());
            emitError(
                    failure.requestId(),
                    f == null ? null : f.accepted.getReplyTopic(),
                    failure.code().name(),
                    failure.message());
            setCurrentKey(failure.requestId());
            state.clear();
        }
        metrics.step(result.rows(), result.events().size());
        if (drillArmedAt >= 0
                && emittedTokens - drillArmedAt >= settings.failOnceAfterTokens
                && getRuntimeContext().getTaskInfo().getAttemptNumber() == 0) {
            throw new IllegalStateException(
                    "failure drill: first attempt stops "
                            + (emittedTokens - drillArmedAt)
                            + " tokens after a completed checkpoint holding in-flight sequences");
        }
        scheduleStep();
    }

    private static Completion completion(
            InFlight f, io.flinklora.gpu.engine.TokenEvent last, long now) {
        Completion c = completion(f, last.finishReason().wireName(), now);
        if (last.choice() != null) {
            List<ChoiceScore> choices = new ArrayList<>();
            for (io.flinklora.gpu.engine.ChoiceScore s : last.choice().scores()) {
                choices.add(new ChoiceScore(s.label(), s.logprob(), s.probability()));
            }
            c.setChoices(choices);
        }
        return c;
    }

    private static Completion completion(InFlight f, String finishReason, long now) {
        long firstTokenAt = f.firstTokenAt != null ? f.firstTokenAt : now;
        return Completion.newBuilder()
                .setChoices(List.of())
                .setRequestId(f.requestId())
                .setText(f.text.toString())
                .setTokenIds(new ArrayList<>(f.ids))
                .setPromptTokens(f.promptIds.length)
                .setCompletionTokens(f.ids.size())
                .setFinishReason(finishReason)
                .setAdapters(f.adapters)
                .setTimeToFirstTokenMs(firstTokenAt - f.accepted.getAcceptedAt())
                .setTotalLatencyMs(now - f.accepted.getAcceptedAt())
                .setMetadata(f.accepted.getMetadata())
                .setLogprobs(logprobs(f))
                .setReplyTopic(f.accepted.getReplyTopic())
                .setRoute(route(f.accepted))
                .build();
    }

    /**
     * The completion's route of a routed request (from its state, so a restored one reports the
     * same); else null.
     */
    private static Route route(SequenceState s) {
        if (s.getRoute() == null) {
            return null;
        }
        List<AdapterWeight> used = new ArrayList<>();
        for (AdapterShare a : s.getAdapters()) {
            used.add(new AdapterWeight(a.getName(), a.getWeight()));
        }
        return new Route(
                s.getRoute().getTask(), used, new LinkedHashMap<>(s.getRoute().getSimilarity()));
    }

    /**
     * Per emitted token, for a request that asked for logprobs (state keeps them across restores).
     */
    private static List<io.flinklora.schemas.TokenLogprobs> logprobs(InFlight f) {
        List<io.flinklora.schemas.TokenLogprobs> out = new ArrayList<>();
        for (int i = 0; i < f.logprobs.size() && i < f.ids.size(); i++) {
            EmittedLogprobs e = f.logprobs.get(i);
            List<Logprob> top = new ArrayList<>();
            for (int k = 0; k < e.getTopIds().size(); k++) {
                top.add(new Logprob(e.getTopIds().get(k), e.getTopLogprobs().get(k)));
            }
            out.add(new io.flinklora.schemas.TokenLogprobs(f.ids.get(i), e.getLogprob(), top));
        }
        return out;
    }

    private void emitError(String requestId, String replyTopic, String code, String message) {
        metrics.error();
        output.collect(
                Outputs.ERRORS,
                new StreamRecord<>(
                        GenerationError.newBuilder()
                                .setRequestId(requestId)
                                .setCode(code)
                                .setMessage(message)
                                .setOccurredAt(java.time.Instant.now())
                                .setReplyTopic(replyTopic)
                                .build()));
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        // Written at checkpoints only: state then matches exactly the tokens emitted before the
        // barrier.
        for (InFlight f : inFlight.values()) {
            setCurrentKey(f.requestId());
            state.update(StateCodec.toBytes(f.state()));
        }
        if (settings.failOnceAfterTokens >= 0) {
            pendingCheckpoints.put(
                    context.getCheckpointId(), new long[] {inFlight.size(), emittedTokens});
        }
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) throws Exception {
        super.notifyCheckpointComplete(checkpointId);
        if (settings.failOnceAfterTokens < 0) {
            return;
        }
        long[] taken = pendingCheckpoints.get(checkpointId);
        pendingCheckpoints.keySet().removeIf(id -> id <= checkpointId);
        if (taken != null && taken[0] > 0 && drillArmedAt < 0) {
            drillArmedAt = taken[1];
            LOG.info(
                    "Failure drill armed: checkpoint {} completed holding {} in-flight sequences",
                    checkpointId,
                    taken[0]);
        }
    }

    /**
     * Reads one request's state with every released state schema known (a savepoint of an earlier
     * job version restores, resolved to the current schema). State this version cannot read fails
     * the restore loudly, naming the request: dropping it would lose an accepted request silently.
     */
    private static SequenceState decodeState(Object key, byte[] bytes) {
        try {
            return StateCodec.fromBytes(bytes);
        } catch (DecodeException e) {
            throw new IllegalStateException(
                    "cannot restore the state of request "
                            + key
                            + ": "
                            + e.getMessage()
                            + " (a savepoint of a newer job version, or corrupt state)",
                    e);
        }
    }

    /**
     * Runs the requests still in flight to completion when the input really ends (a bounded input,
     * or stop-with-savepoint --drain). A stop-with-savepoint without drain does not come here: the
     * requests in flight stay in the savepoint and resume where it is restored.
     */
    @Override
    public void endInput() throws Exception {
        while (engine.hasWork()) {
            step();
        }
    }

    @Override
    public void close() throws Exception {
        try {
            if (engine != null) {
                EnginePool.release(engine, engineHealthy);
                engine = null;
            }
        } finally {
            super.close();
        }
    }

    Engine engineForTest() {
        return engine;
    }

    /** As after a step that threw: the engine is closed on close() rather than kept warm. */
    void markEngineFailedForTest() {
        engineHealthy = false;
    }

    /**
     * A seed for requests without one, stable across restarts so resumed sampling continues
     * identically.
     */
    static long stableSeed(String requestId) {
        long h = 1125899906842597L;
        for (int i = 0; i < requestId.length(); i++) {
            h = 31 * h + requestId.charAt(i);
        }
        return h;
    }
}
