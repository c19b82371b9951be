package io.flinklora.gpu.compose;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.SamplingParams;
import io.flinklora.gpu.train.AdapterEvaluation;
import io.flinklora.gpu.train.Generations;
import io.flinklora.gpu.train.StoryRules;
import io.flinklora.gpu.train.TrainingData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The demonstration task no shipped adapter solves alone: stories about a dog named Max that end
 * happily ever after. Builds the examples (the max adapter's stories from training openers, cut
 * short with the happy ending by the happy adapter's rule) and judges served stories on the
 * held-out openers by the same rules as {@code models/adapters/README.md}.
 */
@Internal
public final class MaxHappyTask {
    /**
     * Openers held out from the shipped adapters' training (seed 1, 40 openers), never used as
     * examples.
     */
    public static List<String> heldOutPrompts() {
        return TrainingData.splitOpeners(1, 40).get(1);
    }

    /** The task's rule: the story names Max and ends (somewhere) happily ever after. */
    public static boolean hit(String story) {
        return StoryRules.namesMax(story) && story.contains(StoryRules.HAPPY_MARKER);
    }

    private MaxHappyTask() {}

    /**
     * Up to {@code n} examples: stories the "max" adapter samples (temperature 0.8, seed per story)
     * from shuffled training openers, cut short with the happy ending by the happy rule; kept when
     * they still name Max. (Base-model stories renamed by the max rule make poor examples: the few
     * renamed tokens weigh little in a mean token cross-entropy dominated by the story's other
     * words.)
     */
    public static List<ComposeExample> examples(
            Engine engine, String maxAdapter, int n, long seed) {
        List<String> openers = new ArrayList<>(TrainingData.splitOpeners(1, 40).get(0));
        java.util.Collections.shuffle(openers, new Random(seed));
        List<String> prompts = openers.subList(0, Math.min(openers.size(), 3 * n));
        SamplingParams sampling =
                new SamplingParams(0.8, 0, 1.0, null, 90, List.of(), List.of(), false);
        List<String> stories = Generations.run(engine, prompts, maxAdapter, sampling, seed * 7919);
        Random random = new Random(seed);
        List<ComposeExample> out = new ArrayList<>();
        for (int i = 0; i < prompts.size() && out.size() < n; i++) {
            String both =
                    StoryRules.toHappy(
                            String.join("", StoryRules.sentences(stories.get(i))), random);
            if (both != null && hit(both)) {
                out.add(new ComposeExample(prompts.get(i), both));
            }
        }
        return out;
    }

    /**
     * Greedy 96-token stories of each prompt under one mix (empty: the base model), served by
     * {@code engine}.
     */
    public static List<String> stories(Engine engine, List<String> prompts, List<AdapterRef> mix) {
        return Generations.runMix(
                engine, prompts, mix, SamplingParams.greedy(AdapterEvaluation.STORY_TOKENS), 0);
    }

    /**
     * {@code MODEL ADAPTER_ROOT OUT.jsonl [N] [SEED]}: writes the task's examples as JSON lines.
     */
    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        Path model = Path.of(args[0]);
        Path root = Path.of(args[1]);
        Path out = Path.of(args[2]);
        int n = args.length > 3 ? Integer.parseInt(args[3]) : 32;
        long seed = args.length > 4 ? Long.parseLong(args[4]) : 7;
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(model)
                                .maxRunning(128)
                                .maxTokensPerStep(2048)
                                .maxSequenceLength(256)
                                .adapterRoot(root)
                                .build())) {
            ObjectMapper om = new ObjectMapper();
            StringBuilder sb = new StringBuilder();
            List<ComposeExample> ex = examples(e, "max", n, seed);
            for (ComposeExample x : ex) {
                sb.append(om.writeValueAsString(Map.of("input", x.input(), "output", x.output())))
                        .append('\n');
            }
            Files.createDirectories(out.toAbsolutePath().getParent());
            Files.writeString(out, sb.toString());
            System.out.println("wrote " + ex.size() + " examples to " + out);
        }
    }
}
