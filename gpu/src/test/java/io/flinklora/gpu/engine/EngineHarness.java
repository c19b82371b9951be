package io.flinklora.gpu.engine;

import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs requests through an engine to completion and collects each one's tokens, text and finish
 * reason.
 */
final class EngineHarness {
    record Outcome(List<Integer> ids, String text, FinishReason reason) {
        int[] idArray() {
            return ids.stream().mapToInt(Integer::intValue).toArray();
        }
    }

    private EngineHarness() {}

    static EngineRequest request(String id, int[] prompt, SamplingParams p) {
        return new EngineRequest(id, prompt, List.<AdapterRef>of(), p);
    }

    static Map<String, Outcome> runAll(Engine engine, List<EngineRequest> requests) {
        Map<String, List<Integer>> ids = new HashMap<>();
        Map<String, StringBuilder> text = new HashMap<>();
        Map<String, Outcome> done = new HashMap<>();
        for (EngineRequest r : requests) {
            engine.submit(r);
            ids.put(r.id(), new ArrayList<>());
            text.put(r.id(), new StringBuilder());
        }
        while (engine.hasWork()) {
            StepResult step = engine.step();
            for (TokenEvent e : step.events()) {
                if (e.index() != ids.get(e.requestId()).size()) {
                    throw new AssertionError(
                            "index " + e.index() + " out of order for " + e.requestId());
                }
                ids.get(e.requestId()).add(e.tokenId());
                text.get(e.requestId()).append(e.text());
                if (e.finished()) {
                    done.put(
                            e.requestId(),
                            new Outcome(
                                    ids.get(e.requestId()),
                                    text.get(e.requestId()).toString(),
                                    e.finishReason()));
                }
            }
            if (!step.failures().isEmpty()) {
                throw new AssertionError("unexpected failures " + step.failures());
            }
        }
        return done;
    }
}
