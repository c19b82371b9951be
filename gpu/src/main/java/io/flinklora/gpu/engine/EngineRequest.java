package io.flinklora.gpu.engine;

import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.SamplingParams;
import java.util.List;

/**
 * One generation request as the engine sees it: tokenized prompt, adapters, sampling.
 *
 * @param promptIds the prompt's token ids, used as given (BOS included when wanted)
 * @param adapters adapters mixed for this request; empty for the base model
 * @param generatedIds tokens generated before a restart; the engine re-prefills them and continues
 */
public record EngineRequest(String id, int[] promptIds, List<AdapterRef> adapters, SamplingParams params,
                            int[] generatedIds) {
    public EngineRequest {
        adapters = adapters == null ? List.of() : List.copyOf(adapters);
        generatedIds = generatedIds == null ? new int[0] : generatedIds;
    }

    public EngineRequest(String id, int[] promptIds, List<AdapterRef> adapters, SamplingParams params) {
        this(id, promptIds, adapters, params, null);
    }
}
