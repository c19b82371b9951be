package io.flinklora.gpu.train;

import io.flinklora.annotation.Internal;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.sampling.SamplingParams;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * Measures the demo adapters' effects on held-out data as they are served: greedy stories through
 * the real {@link Engine} with the adapter folder as its adapter root (max: the story names Max;
 * happy: it ends happily ever after), and the mood labeller's accuracy with constrained labels.
 */
@Internal
public final class AdapterEvaluation {
    /** Greedy story length for the story adapters' evaluation. */
    public static final int STORY_TOKENS = 96;

    /** One measured effect: the fraction (or accuracy) with the adapter against the base model. */
    public record Effect(
            String adapter,
            String measure,
            double withAdapter,
            double base,
            int n,
            List<String> examples) {}

    private AdapterEvaluation() {}

    /** Fraction of greedy stories (base, then with the adapter) that satisfy {@code hit}. */
    public static Effect stories(
            Path model,
            Path adapterRoot,
            String adapter,
            String measure,
            List<String> prompts,
            Predicate<String> hit) {
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(model)
                                .maxRunning(192)
                                .maxTokensPerStep(2048)
                                .maxSequenceLength(256)
                                .adapterRoot(adapterRoot)
                                .build())) {
            SamplingParams greedy = SamplingParams.greedy(STORY_TOKENS);
            List<String> base = Generations.run(e, prompts, null, greedy, 0);
            List<String> tuned = Generations.run(e, prompts, adapter, greedy, 0);
            List<String> examples = new ArrayList<>();
            for (int i = 0; i < Math.min(2, prompts.size()); i++) {
                examples.add(
                        prompts.get(i)
                                + " | base:"
                                + base.get(i)
                                + " | "
                                + adapter
                                + ":"
                                + tuned.get(i));
            }
            return new Effect(
                    adapter,
                    measure,
                    fraction(tuned, hit),
                    fraction(base, hit),
                    prompts.size(),
                    examples);
        }
    }

    /**
     * Accuracy of constrained labels (the engine's {@code choices} scoring over {@link
     * MoodRule#LABELS}), base against the adapter at {@code adapterDir}, served from its parent
     * folder.
     */
    public static Effect mood(Path model, Path adapterDir, List<TrainingData.MoodItem> items) {
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(model)
                                .maxRunning(64)
                                .maxTokensPerStep(2048)
                                .maxSequenceLength(256)
                                .adapterRoot(adapterDir.getParent())
                                .build())) {
            List<String> prompts = new ArrayList<>();
            for (TrainingData.MoodItem it : items) {
                prompts.add(MoodRule.prompt(it.story()));
            }
            String name = adapterDir.getFileName().toString();
            List<String> tuned = Generations.choose(e, prompts, name, MoodRule.LABELS);
            List<String> base = Generations.choose(e, prompts, null, MoodRule.LABELS);
            int hitsTuned = 0;
            int hitsBase = 0;
            List<String> examples = new ArrayList<>();
            for (int i = 0; i < items.size(); i++) {
                String want = items.get(i).label();
                hitsTuned += tuned.get(i).equals(want) ? 1 : 0;
                hitsBase += base.get(i).equals(want) ? 1 : 0;
                if (i < 2) {
                    examples.add(
                            items.get(i).story()
                                    + " | rule:"
                                    + want
                                    + " | base:"
                                    + base.get(i)
                                    + " | mood:"
                                    + tuned.get(i));
                }
            }
            return new Effect(
                    "mood",
                    "accuracy of constrained labels (" + String.join("/", MoodRule.LABELS) + ")",
                    hitsTuned / (double) items.size(),
                    hitsBase / (double) items.size(),
                    items.size(),
                    examples);
        }
    }

    private static double fraction(List<String> texts, Predicate<String> hit) {
        long n = texts.stream().filter(hit).count();
        return texts.isEmpty() ? 0 : n / (double) texts.size();
    }
}
