package io.flinklora.gpu.frontend;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.gpu.engine.Choices;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineRequest;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.model.GenerationDefaults;
import io.flinklora.gpu.model.ModelFormatException;
import io.flinklora.gpu.sampling.RequestLimits;
import io.flinklora.gpu.sampling.SamplingParams;
import io.flinklora.gpu.tokenizer.Tokenizer;
import io.flinklora.gpu.tokenizer.TokenizerException;
import io.flinklora.schemas.GenerationRequest;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The request front end (vLLM's input processor): tokenizes a request's prompt and candidate labels
 * and checks everything that does not depend on the engine's state, so the engine core sees token
 * ids only. The one place the CLI, the streaming operator and the labelling job turn requests into
 * engine requests.
 */
@PublicEvolving
public final class RequestProcessor {
    private final Tokenizer tokenizer;
    private final int vocabSize;
    private final int maxSequenceLength;
    private final RequestLimits limits;
    private final GenerationDefaults defaults;

    /**
     * @param vocabSize token ids run from 0 to vocabSize - 1
     * @param maxSequenceLength longest prompt plus generated (or candidate) tokens the engine
     *     serves
     * @param defaults what wire requests that leave a sampling field unset get from the model
     */
    public RequestProcessor(
            Tokenizer tokenizer,
            int vocabSize,
            int maxSequenceLength,
            RequestLimits limits,
            GenerationDefaults defaults) {
        this.tokenizer = tokenizer;
        this.vocabSize = vocabSize;
        this.maxSequenceLength = maxSequenceLength;
        this.limits = limits;
        this.defaults = defaults;
        checkModelDefaults();
    }

    /**
     * A default from the model that every request relying on it would be refused for is the model's
     * fault: refused once, by name. (The engine's own defaults are not checked here: a
     * --max-new-tokens limit under 64 refuses the requests that rely on 64, as before.)
     */
    private void checkModelDefaults() {
        if (defaults.isEmpty()) {
            return;
        }
        GenerationRequest.Builder probe = GenerationRequest.newBuilder().setRequestId("defaults");
        if (defaults.maxNewTokens() == null && defaults.maxLength() == null) {
            probe.setMaxNewTokens(1);
        }
        try {
            RequestSampling.of(
                            probe.build(),
                            defaults,
                            1,
                            Math.max(1, Math.min(limits.maxNewTokens(), maxSequenceLength - 1)),
                            true)
                    .validate(vocabSize, limits);
        } catch (RequestException e) {
            throw new ModelFormatException(defaults.source() + ": " + e.getMessage(), e);
        }
    }

    /**
     * The front end of an engine: its tokenizer, vocabulary, context length and configured limits.
     */
    public static RequestProcessor of(Engine engine) {
        return new RequestProcessor(
                engine.tokenizer(),
                engine.modelConfig().vocabSize(),
                engine.maxSequenceLength(),
                engine.config().limits(),
                engine.generationDefaults());
    }

    /**
     * A wire request's sampling parameters for a prompt of {@code promptLength} tokens: the fields
     * it leaves unset take the model's generation defaults ({@link RequestSampling}). A request
     * with {@code choices} generates nothing, so the model's length defaults do not apply to it.
     */
    public SamplingParams sampling(GenerationRequest r, int promptLength, List<String> choices) {
        int lengthCap = Math.min(limits.maxNewTokens(), maxSequenceLength - promptLength);
        return RequestSampling.of(r, defaults, promptLength, lengthCap, choices.isEmpty());
    }

    /**
     * Tokenizes and checks a request, then hands it to the engine (refused at once with a coded
     * error).
     */
    public static void submit(Engine engine, PromptRequest request) {
        engine.submit(of(engine).process(request));
    }

    /**
     * A prompt's token ids, as generation sees them (the tokenizer's BOS and specials included).
     */
    public int[] encodePrompt(String text) {
        if (text == null) {
            throw new RequestException(ErrorCode.INVALID_REQUEST, "the prompt is missing");
        }
        try {
            return tokenizer.encode(text);
        } catch (TokenizerException e) {
            throw new RequestException(ErrorCode.INVALID_TOKEN, "prompt: " + e.getMessage(), e);
        }
    }

    /**
     * Tokenizes and checks a request; throws a coded {@link RequestException} for anything wrong
     * with it.
     */
    public EngineRequest process(PromptRequest r) {
        if (r.id() == null || r.id().isEmpty()) {
            throw new RequestException(
                    ErrorCode.INVALID_REQUEST, "request id must be a non-empty string");
        }
        if (r.params() == null) {
            throw new RequestException(
                    ErrorCode.INVALID_REQUEST, "sampling parameters are missing");
        }
        if (r.prompt() != null && r.promptIds() != null) {
            throw new RequestException(
                    ErrorCode.INVALID_REQUEST,
                    "request '"
                            + r.id()
                            + "' has both a prompt and prompt ids; send one or the other");
        }
        r.params().validate(vocabSize, limits);
        int[] prompt =
                r.promptIds() != null
                        ? r.promptIds()
                        : r.prompt() != null ? encodePrompt(r.prompt()) : null;
        if (prompt == null || prompt.length == 0) {
            throw new RequestException(ErrorCode.INVALID_REQUEST, "the prompt has no tokens");
        }
        if (prompt.length > limits.maxPromptTokens()) {
            throw new RequestException(
                    ErrorCode.LIMIT_EXCEEDED,
                    "prompt of "
                            + prompt.length
                            + " tokens exceeds the limit of "
                            + limits.maxPromptTokens());
        }
        checkIds(prompt, "prompt");
        checkIds(r.generatedIds(), "resumed");
        checkShape(r, prompt.length);
        checkAdapters(r.adapters());
        Choices choices =
                r.hasChoices()
                        ? choices(r.choices(), prompt.length)
                        : r.scoresContinuation() ? continuation(r.scoreIds(), prompt.length) : null;
        return new EngineRequest(
                r.id(), prompt, r.adapters(), r.params(), r.generatedIds(), choices, r.priority());
    }

    /**
     * What fits together: length against the context, choices or scoring or resuming, tokens left
     * to generate.
     */
    private void checkShape(PromptRequest r, int promptLength) {
        long total = (long) promptLength + r.params().maxNewTokens();
        if (!r.hasChoices() && !r.scoresContinuation() && total > maxSequenceLength) {
            throw new RequestException(
                    ErrorCode.CONTEXT_LENGTH_EXCEEDED,
                    "prompt of "
                            + promptLength
                            + " tokens plus max_new_tokens "
                            + r.params().maxNewTokens()
                            + " exceeds the context length of "
                            + maxSequenceLength
                            + " tokens");
        }
        if (r.hasChoices() && r.scoresContinuation()) {
            throw new RequestException(
                    ErrorCode.INVALID_REQUEST,
                    "request '"
                            + r.id()
                            + "' has both choices and a continuation to score; send one or the other");
        }
        if (r.scoresContinuation() && r.generatedIds().length > 0) {
            throw new RequestException(
                    ErrorCode.INVALID_REQUEST,
                    "request '"
                            + r.id()
                            + "' scores a continuation and has generated tokens; a scoring request has nothing to resume");
        }
        if (r.hasChoices() && r.generatedIds().length > 0) {
            throw new RequestException(
                    ErrorCode.INVALID_REQUEST,
                    "request '"
                            + r.id()
                            + "' has choices and generated tokens; a constrained request has nothing to resume");
        }
        if (r.generatedIds().length >= r.params().maxNewTokens()) {
            throw new RequestException(
                    ErrorCode.INVALID_REQUEST,
                    "request '"
                            + r.id()
                            + "' already has "
                            + r.generatedIds().length
                            + " of its "
                            + r.params().maxNewTokens()
                            + " tokens");
        }
    }

    /**
     * How many adapters, each once, with a sane weight; whether they exist is the engine's to say.
     */
    private void checkAdapters(List<AdapterRef> adapters) {
        if (adapters.size() > limits.maxAdapters()) {
            throw new RequestException(
                    ErrorCode.LIMIT_EXCEEDED,
                    adapters.size()
                            + " adapters exceed the limit of "
                            + limits.maxAdapters()
                            + " per request");
        }
        Set<String> names = new HashSet<>();
        for (AdapterRef a : adapters) {
            if (!names.add(a.name())) {
                throw new RequestException(
                        ErrorCode.INVALID_PARAMETER, "adapter '" + a.name() + "' is listed twice");
            }
            if (!Double.isFinite(a.weight()) || Math.abs(a.weight()) > 100) {
                throw new RequestException(
                        ErrorCode.INVALID_PARAMETER,
                        "adapter weight "
                                + a.weight()
                                + " must be a finite number within [-100, 100]");
            }
        }
    }

    /**
     * Tokenizes and checks a constrained request's candidate labels: each is encoded as a word that
     * follows the prompt ({@link Tokenizer#encodeContinuation}); the prompt plus every candidate's
     * tokens must fit one cache slot.
     */
    private Choices choices(List<String> labels, int promptLength) {
        if (labels.size() > limits.maxChoices()) {
            throw new RequestException(
                    ErrorCode.LIMIT_EXCEEDED,
                    labels.size() + " choices exceed the limit of " + limits.maxChoices());
        }
        Set<String> seen = new HashSet<>();
        int[][] ids = new int[labels.size()][];
        Set<String> sequences = new HashSet<>();
        for (int c = 0; c < ids.length; c++) {
            String label = labels.get(c);
            if (label == null || label.isBlank()) {
                throw new RequestException(
                        ErrorCode.INVALID_PARAMETER, "choice " + c + " is empty");
            }
            if (!seen.add(label)) {
                throw new RequestException(
                        ErrorCode.INVALID_PARAMETER, "choice '" + label + "' is listed twice");
            }
            // Before tokenizing: a label far longer than its token limit could allow costs nothing
            // to refuse.
            if (label.length() > limits.maxChoiceTokens() * 64L) {
                throw new RequestException(
                        ErrorCode.LIMIT_EXCEEDED,
                        "choice "
                                + c
                                + " of "
                                + label.length()
                                + " characters is longer than "
                                + limits.maxChoiceTokens()
                                + " tokens can be");
            }
            try {
                ids[c] = tokenizer.encodeContinuation(label);
            } catch (TokenizerException e) {
                throw new RequestException(
                        ErrorCode.INVALID_TOKEN, "choice '" + label + "': " + e.getMessage(), e);
            }
            if (ids[c].length == 0) {
                throw new RequestException(
                        ErrorCode.INVALID_PARAMETER, "choice '" + label + "' has no tokens");
            }
            if (ids[c].length > limits.maxChoiceTokens()) {
                throw new RequestException(
                        ErrorCode.LIMIT_EXCEEDED,
                        "choice '"
                                + label
                                + "' has "
                                + ids[c].length
                                + " tokens, over the limit of "
                                + limits.maxChoiceTokens());
            }
            if (!sequences.add(Arrays.toString(ids[c]))) {
                throw new RequestException(
                        ErrorCode.INVALID_PARAMETER,
                        "choice '"
                                + label
                                + "' tokenizes like an earlier choice, so the two cannot be told apart");
            }
            checkIds(ids[c], "choice");
        }
        Choices out = new Choices(labels, ids);
        if (promptLength + out.treeTokens() > maxSequenceLength) {
            throw new RequestException(
                    ErrorCode.CONTEXT_LENGTH_EXCEEDED,
                    "prompt of "
                            + promptLength
                            + " tokens plus "
                            + out.treeTokens()
                            + " candidate tokens exceeds the context length of "
                            + maxSequenceLength
                            + " tokens");
        }
        return out;
    }

    /**
     * A teacher-forced request as a one-candidate tree: the continuation's ids, scored as given (no
     * re-tokenization), must fit one cache slot after the prompt; they count against the prompt
     * limit since they are computed, not generated.
     */
    private Choices continuation(int[] ids, int promptLength) {
        checkIds(ids, "continuation");
        if (ids.length > limits.maxPromptTokens()) {
            throw new RequestException(
                    ErrorCode.LIMIT_EXCEEDED,
                    "continuation of "
                            + ids.length
                            + " tokens exceeds the limit of "
                            + limits.maxPromptTokens());
        }
        if ((long) promptLength + ids.length - 1 > maxSequenceLength) {
            throw new RequestException(
                    ErrorCode.CONTEXT_LENGTH_EXCEEDED,
                    "prompt of "
                            + promptLength
                            + " tokens plus a continuation of "
                            + ids.length
                            + " exceeds the context length of "
                            + maxSequenceLength
                            + " tokens");
        }
        return new Choices(List.of(tokenizer.decode(ids)), new int[][] {ids});
    }

    private void checkIds(int[] ids, String what) {
        for (int id : ids) {
            if (id < 0 || id >= vocabSize) {
                throw new RequestException(
                        ErrorCode.INVALID_TOKEN,
                        what
                                + " token id "
                                + id
                                + " is outside the vocabulary (0.."
                                + (vocabSize - 1)
                                + ")");
            }
        }
    }
}
