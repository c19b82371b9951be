package io.flinklora.gpu.engine;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.SamplingParams;
import java.util.List;

/**
 * One request as the engine core sees it: token ids only, already checked by the front end ({@code
 * frontend.RequestProcessor}); the core re-checks only what depends on its own state (a duplicate
 * id in flight, adapters it can load).
 *
 * @param promptIds the prompt's token ids, used as given (BOS included when wanted)
 * @param adapters adapters mixed for this request; empty for the base model
 * @param generatedIds tokens generated before a restart; the engine re-prefills them and continues
 * @param choices when not null, the engine scores each candidate as a continuation of the prompt
 *     and answers with the most likely one instead of generating (teacher forcing: one candidate)
 * @param priority lower values are served first, as vLLM's {@code priority}: a waiting request
 *     starts before waiting requests of higher values, and takes the place of running requests of
 *     higher values (newest first) when the batch or the KV cache is full; requests of equal
 *     priority are first come, first served (0 for all: plain FCFS)
 */
@PublicEvolving
public record EngineRequest(
        String id,
        int[] promptIds,
        List<AdapterRef> adapters,
        SamplingParams params,
        int[] generatedIds,
        Choices choices,
        int priority) {
    public EngineRequest {
        adapters = adapters == null ? List.of() : List.copyOf(adapters);
        generatedIds = generatedIds == null ? new int[0] : generatedIds;
    }

    public EngineRequest(
            String id,
            int[] promptIds,
            List<AdapterRef> adapters,
            SamplingParams params,
            int[] generatedIds,
            Choices choices) {
        this(id, promptIds, adapters, params, generatedIds, choices, 0);
    }

    public EngineRequest(
            String id,
            int[] promptIds,
            List<AdapterRef> adapters,
            SamplingParams params,
            int[] generatedIds) {
        this(id, promptIds, adapters, params, generatedIds, null);
    }

    public EngineRequest(
            String id, int[] promptIds, List<AdapterRef> adapters, SamplingParams params) {
        this(id, promptIds, adapters, params, null, null);
    }

    /** This request with another {@link #priority()}. */
    public EngineRequest withPriority(int newPriority) {
        return new EngineRequest(
                id, promptIds, adapters, params, generatedIds, choices, newPriority);
    }

    /**
     * Whether this is a constrained or teacher-forced request (candidates scored rather than text
     * generated).
     */
    public boolean hasChoices() {
        return choices != null;
    }
}
