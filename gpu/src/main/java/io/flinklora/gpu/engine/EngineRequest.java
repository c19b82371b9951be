package io.flinklora.gpu.engine;

import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.List;

/**
 * One generation request as the engine sees it: tokenized prompt, adapters, sampling.
 *
 * @param promptIds the prompt's token ids, used as given (BOS included when wanted)
 * @param adapters adapters mixed for this request; empty for the base model
 * @param generatedIds tokens generated before a restart; the engine re-prefills them and continues
 * @param choices candidate labels: when not empty, the engine scores each label as a continuation of
 *     the prompt and answers with the most likely one instead of generating
 * @param scoreIds teacher forcing: when not empty, the engine scores these token ids as the prompt's
 *     continuation (the sum of their log-probabilities, as one candidate of a constrained request) and
 *     generates nothing; exclusive with {@code choices}
 */
public record EngineRequest(String id, int[] promptIds, List<AdapterRef> adapters, SamplingParams params,
                            int[] generatedIds, List<String> choices, int[] scoreIds) {
    public EngineRequest {
        adapters = adapters == null ? List.of() : List.copyOf(adapters);
        generatedIds = generatedIds == null ? new int[0] : generatedIds;
        // Copied without List.copyOf so that a null entry reaches validation as a coded error, not an NPE here.
        choices = choices == null ? List.of() : java.util.Collections.unmodifiableList(new ArrayList<>(choices));
        scoreIds = scoreIds == null ? new int[0] : scoreIds.clone();
    }

    public EngineRequest(String id, int[] promptIds, List<AdapterRef> adapters, SamplingParams params,
                         int[] generatedIds, List<String> choices) {
        this(id, promptIds, adapters, params, generatedIds, choices, null);
    }

    /** A teacher-forced request: the log-probability of {@code continuation} after the prompt, nothing generated. */
    public static EngineRequest score(String id, int[] promptIds, List<AdapterRef> adapters, int[] continuation) {
        return new EngineRequest(id, promptIds, adapters, SamplingParams.greedy(1), null, null, continuation);
    }

    public EngineRequest(String id, int[] promptIds, List<AdapterRef> adapters, SamplingParams params,
                         int[] generatedIds) {
        this(id, promptIds, adapters, params, generatedIds, List.of(), null);
    }

    public EngineRequest(String id, int[] promptIds, List<AdapterRef> adapters, SamplingParams params) {
        this(id, promptIds, adapters, params, null, List.of(), null);
    }

    /** Whether this is a constrained request (labels scored rather than text generated). */
    public boolean hasChoices() {
        return !choices.isEmpty();
    }

    /** Whether this is a teacher-forced request (a given continuation scored rather than text generated). */
    public boolean scoresContinuation() {
        return scoreIds.length > 0;
    }
}
