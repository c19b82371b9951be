package io.flinklora.gpu.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.sampling.SamplingParams;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The trained adapters committed in {@code models/adapters} do what their README says, served by
 * the engine on openers held out of their training (seed 1's split), against the base model.
 */
class ShippedAdaptersTest {
    static Path adapters;
    static Engine engine;
    static List<String> heldOut;

    @BeforeAll
    static void open() {
        io.flinklora.gpu.OneTorchThread.set();
        adapters = TestModels.projectRoot().resolve("models/adapters");
        engine =
                Engine.open(
                        EngineConfig.builder(TestModels.stories260k())
                                .maxRunning(64)
                                .maxTokensPerStep(2048)
                                .maxSequenceLength(256)
                                .adapterRoot(adapters)
                                .build());
        heldOut = TrainingData.splitOpeners(1, 40).get(1);
    }

    @AfterAll
    static void close() {
        engine.close();
        io.flinklora.gpu.OneTorchThread.restore();
    }

    static double fraction(List<String> texts, java.util.function.Predicate<String> hit) {
        return texts.stream().filter(hit).count() / (double) texts.size();
    }

    @Test
    void maxAdapterTellsStoriesAboutADogNamedMax() {
        SamplingParams greedy = SamplingParams.greedy(AdapterEvaluation.STORY_TOKENS);
        double tuned =
                fraction(Generations.run(engine, heldOut, "max", greedy, 0), StoryRules::namesMax);
        double base =
                fraction(Generations.run(engine, heldOut, null, greedy, 0), StoryRules::namesMax);
        assertTrue(tuned >= 0.8, "max adapter names Max in " + tuned + " of held-out stories");
        assertTrue(base <= 0.05, "the base model names Max in " + base);
    }

    @Test
    void happyAdapterEndsStoriesHappilyEverAfter() {
        SamplingParams greedy = SamplingParams.greedy(AdapterEvaluation.STORY_TOKENS);
        java.util.function.Predicate<String> happy = t -> t.contains(StoryRules.HAPPY_MARKER);
        double tuned = fraction(Generations.run(engine, heldOut, "happy", greedy, 0), happy);
        double base = fraction(Generations.run(engine, heldOut, null, greedy, 0), happy);
        assertTrue(
                tuned >= 0.8,
                "happy adapter ends " + tuned + " of held-out stories happily ever after");
        assertTrue(base <= 0.05, "the base model does in " + base);
    }

    @Test
    void moodAdapterLabelsHeldOutStories() {
        // Held-out stories made as training made its own: base samples of held-out openers, one cue
        // sentence.
        List<String> sampled =
                Generations.run(
                        engine,
                        heldOut,
                        null,
                        new SamplingParams(0.8, 0, 1.0, null, 90, List.of(), List.of(), false),
                        424_242);
        Random random = new Random(99);
        List<String> prompts = new ArrayList<>();
        List<String> labels = new ArrayList<>();
        for (int i = 0; i < heldOut.size(); i++) {
            String label = MoodRule.LABELS.get(i % MoodRule.LABELS.size());
            String story = MoodRule.story(heldOut.get(i), sampled.get(i), label, random);
            if (story != null) {
                prompts.add(MoodRule.prompt(story));
                labels.add(label);
            }
        }
        assertTrue(prompts.size() >= 30, prompts.size() + " stories");
        // Served: greedy answers up to the line break, as a request with stop "\n" gets them.
        SamplingParams answer =
                new SamplingParams(0, 0, 1.0, null, 8, List.of(MoodRule.END), List.of(), false);
        List<String> served = Generations.run(engine, prompts, "mood", answer, 0);
        int right = 0;
        for (int i = 0; i < prompts.size(); i++) {
            right += served.get(i).equals(MoodRule.answer(labels.get(i))) ? 1 : 0;
        }
        assertTrue(
                right >= 0.85 * prompts.size(),
                "served labels right " + right + "/" + prompts.size() + ": " + served);
        // Constrained: the engine's choices scoring, as a request with "choices" is served.
        List<String> tuned = Generations.choose(engine, prompts, "mood", MoodRule.LABELS);
        List<String> base = Generations.choose(engine, prompts, null, MoodRule.LABELS);
        int t = 0;
        int b = 0;
        for (int i = 0; i < prompts.size(); i++) {
            t += tuned.get(i).equals(labels.get(i)) ? 1 : 0;
            b += base.get(i).equals(labels.get(i)) ? 1 : 0;
        }
        assertTrue(
                t >= 0.85 * prompts.size(), "constrained labels right " + t + "/" + prompts.size());
        assertTrue(
                b < 0.6 * prompts.size(),
                "the base model is near chance: " + b + "/" + prompts.size());
    }
}
