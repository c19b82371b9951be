package io.flinklora.gpu.frontend;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * One request as a caller gives it, before the front end tokenizes and checks it.
 *
 * @param prompt the prompt as text, tokenized by the front end; null when {@code promptIds} is
 *     given
 * @param promptIds the prompt's token ids, used as given (BOS included when wanted); null when
 *     {@code prompt} is given
 * @param adapters adapters mixed for this request; empty for the base model
 * @param generatedIds tokens generated before a restart; the engine re-prefills them and continues
 * @param choices candidate labels: when not empty, the engine scores each label as a continuation
 *     of the prompt and answers with the most likely one instead of generating
 * @param scoreIds teacher forcing: when not empty, the engine scores these token ids as the
 *     prompt's continuation (the sum of their log-probabilities, as one candidate of a constrained
 *     request) and generates nothing; exclusive with {@code choices}
 * @param priority lower values are served first ({@link
 *     io.flinklora.gpu.engine.EngineRequest#priority()}); 0 by default
 */
@PublicEvolving
public record PromptRequest(
        String id,
        String prompt,
        int[] promptIds,
        List<AdapterRef> adapters,
        SamplingParams params,
        int[] generatedIds,
        List<String> choices,
        int[] scoreIds,
        int priority) {
    public PromptRequest {
        adapters = adapters == null ? List.of() : List.copyOf(adapters);
        generatedIds = generatedIds == null ? new int[0] : generatedIds;
        // Copied without List.copyOf so that a null entry reaches validation as a coded error, not
        // an NPE here.
        choices =
                choices == null
                        ? List.of()
                        : Collections.unmodifiableList(new ArrayList<>(choices));
        scoreIds = scoreIds == null ? new int[0] : scoreIds.clone();
    }

    public PromptRequest(
            String id,
            String prompt,
            int[] promptIds,
            List<AdapterRef> adapters,
            SamplingParams params,
            int[] generatedIds,
            List<String> choices,
            int[] scoreIds) {
        this(id, prompt, promptIds, adapters, params, generatedIds, choices, scoreIds, 0);
    }

    /** This request with another {@link #priority()}. */
    public PromptRequest withPriority(int newPriority) {
        return new PromptRequest(
                id,
                prompt,
                promptIds,
                adapters,
                params,
                generatedIds,
                choices,
                scoreIds,
                newPriority);
    }

    public PromptRequest(
            String id,
            int[] promptIds,
            List<AdapterRef> adapters,
            SamplingParams params,
            int[] generatedIds,
            List<String> choices,
            int[] scoreIds) {
        this(id, null, promptIds, adapters, params, generatedIds, choices, scoreIds);
    }

    public PromptRequest(
            String id,
            int[] promptIds,
            List<AdapterRef> adapters,
            SamplingParams params,
            int[] generatedIds,
            List<String> choices) {
        this(id, null, promptIds, adapters, params, generatedIds, choices, null);
    }

    public PromptRequest(
            String id,
            int[] promptIds,
            List<AdapterRef> adapters,
            SamplingParams params,
            int[] generatedIds) {
        this(id, null, promptIds, adapters, params, generatedIds, null, null);
    }

    public PromptRequest(
            String id, int[] promptIds, List<AdapterRef> adapters, SamplingParams params) {
        this(id, null, promptIds, adapters, params, null, null, null);
    }

    /** A request whose prompt is text, tokenized by the front end. */
    public static PromptRequest text(
            String id,
            String prompt,
            List<AdapterRef> adapters,
            SamplingParams params,
            List<String> choices) {
        return new PromptRequest(id, prompt, null, adapters, params, null, choices, null);
    }

    /**
     * A teacher-forced request: the log-probability of {@code continuation} after the prompt,
     * nothing generated.
     */
    public static PromptRequest score(
            String id, int[] promptIds, List<AdapterRef> adapters, int[] continuation) {
        return new PromptRequest(
                id, null, promptIds, adapters, SamplingParams.greedy(1), null, null, continuation);
    }

    /** Whether this is a constrained request (labels scored rather than text generated). */
    public boolean hasChoices() {
        return !choices.isEmpty();
    }

    /**
     * Whether this is a teacher-forced request (a given continuation scored rather than text
     * generated).
     */
    public boolean scoresContinuation() {
        return scoreIds.length > 0;
    }
}
