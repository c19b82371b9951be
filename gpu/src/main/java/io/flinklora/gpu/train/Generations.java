package io.flinklora.gpu.train;

import io.flinklora.annotation.Internal;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.TokenEvent;
import io.flinklora.gpu.frontend.PromptRequest;
import io.flinklora.gpu.frontend.RequestProcessor;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs a list of prompts through a real {@link Engine} (continuous batching, adapters by name) and
 * returns each one's generated text (or constrained label) in prompt order: the base model's
 * samples that training data is made from, and the served outputs that evaluation measures.
 */
@Internal
public final class Generations {
    private Generations() {}

    /**
     * @param adapter adapter folder name under the engine's adapter root, or null for the base
     *     model
     * @param params sampling; request {@code i} gets seed {@code seed + i} so each text is
     *     reproducible
     */
    public static List<String> run(
            Engine engine, List<String> prompts, String adapter, SamplingParams params, long seed) {
        return runMix(
                engine,
                prompts,
                adapter == null ? List.of() : List.of(new AdapterRef(adapter, 1.0)),
                params,
                seed);
    }

    /** As above, under an adapter mix ({@code refs} empty: the base model). */
    public static List<String> runMix(
            Engine engine,
            List<String> prompts,
            List<AdapterRef> refs,
            SamplingParams params,
            long seed) {
        Map<String, StringBuilder> text = new HashMap<>();
        java.util.Set<String> finished = new java.util.HashSet<>();
        for (int i = 0; i < prompts.size(); i++) {
            String id = "g" + i;
            RequestProcessor.submit(
                    engine,
                    PromptRequest.text(id, prompts.get(i), refs, params.withSeed(seed + i), null));
            text.put(id, new StringBuilder());
        }
        engine.runToCompletion(
                step -> {
                    if (!step.failures().isEmpty()) {
                        throw new IllegalStateException("generation failed: " + step.failures());
                    }
                    for (TokenEvent e : step.events()) {
                        text.get(e.requestId()).append(e.text());
                        if (e.finished()) {
                            finished.add(e.requestId());
                        }
                    }
                });
        if (finished.size() != prompts.size()) {
            throw new IllegalStateException(
                    finished.size() + " of " + prompts.size() + " generations finished");
        }
        List<String> out = new ArrayList<>(prompts.size());
        for (int i = 0; i < prompts.size(); i++) {
            out.add(text.get("g" + i).toString());
        }
        return out;
    }

    /**
     * The engine's constrained label for each prompt: the most likely of {@code choices} after the
     * prompt, scored as served ({@code "choices"} in a request).
     *
     * @param adapter adapter folder name under the engine's adapter root, or null for the base
     *     model
     */
    public static List<String> choose(
            Engine engine, List<String> prompts, String adapter, List<String> choices) {
        List<AdapterRef> refs = adapter == null ? List.of() : List.of(new AdapterRef(adapter, 1.0));
        Map<String, String> chosen = new HashMap<>();
        for (int i = 0; i < prompts.size(); i++) {
            RequestProcessor.submit(
                    engine,
                    PromptRequest.text(
                            "c" + i, prompts.get(i), refs, SamplingParams.greedy(1), choices));
        }
        engine.runToCompletion(
                step -> {
                    if (!step.failures().isEmpty()) {
                        throw new IllegalStateException("labelling failed: " + step.failures());
                    }
                    for (TokenEvent e : step.events()) {
                        if (e.choice() != null) {
                            chosen.put(e.requestId(), e.choice().label());
                        }
                    }
                });
        List<String> out = new ArrayList<>(prompts.size());
        for (int i = 0; i < prompts.size(); i++) {
            String label = chosen.get("c" + i);
            if (label == null) {
                throw new IllegalStateException("no label for prompt " + i);
            }
            out.add(label);
        }
        return out;
    }
}
