package io.flinklora.gpu.train;

import io.flinklora.annotation.Internal;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.sampling.SamplingParams;
import io.flinklora.gpu.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

/**
 * Training and evaluation data for the three demo adapters, made by the project itself and
 * reproducible from a seed: story openers from templates (split into training and held-out sets),
 * the base model's sampled stories for the training openers, rewritten by {@link StoryRules}
 * ("max", "happy") and {@link MoodRule} ("mood"). Held-out openers and held-out mood stories never
 * appear in training.
 */
@Internal
public final class TrainingData {
    public static final String MAX = "max";
    public static final String HAPPY = "happy";
    public static final String MOOD = "mood";

    /** Story sampling: temperature 0.8 over the base model, up to this many new tokens. */
    static final int STORY_TOKENS = 90;

    private static final List<String> PLACES =
            List.of(
                    "park",
                    "forest",
                    "garden",
                    "beach",
                    "big house",
                    "small town",
                    "zoo",
                    "school",
                    "farm",
                    "lake",
                    "jungle",
                    "castle");
    private static final List<String> THINGS =
            List.of(
                    "ball", "box", "kite", "car", "toy", "hat", "book", "cake", "tree", "flower",
                    "doll", "boat");
    private static final List<String> ADJ =
            List.of("big", "red", "small", "shiny", "blue", "soft", "new", "old");
    private static final List<String> PEOPLE =
            List.of(
                    "Lily", "Tom", "Ben", "Sue", "Mia", "Sam", "Tim", "Anna", "Lucy", "Jack", "Amy",
                    "Bob");

    /** A held-out story for the labeller with its mood by the rule. */
    public record MoodItem(String story, String label) {}

    /**
     * @param train per adapter, its training examples
     * @param heldOutPrompts openers never trained on, for the story adapters' evaluation
     * @param heldOutMood labelled stories never trained on, for the labeller's evaluation
     * @param baseStories how many base-model stories the examples were made from
     */
    public record Data(
            Map<String, List<TrainingExample>> train,
            List<String> heldOutPrompts,
            List<MoodItem> heldOutMood,
            int baseStories) {}

    private TrainingData() {}

    /** Every opener the templates make, in a fixed order. */
    static List<String> allOpeners() {
        List<String> out = new ArrayList<>();
        for (String place : PLACES) {
            out.add("Once upon a time, in a " + place + ", there was a");
            out.add("One day, a little girl went to the " + place + ".");
            out.add("One day, a little boy went to the " + place + ".");
            for (String name : PEOPLE) {
                out.add(
                        name
                                + " and "
                                + PEOPLE.get((PEOPLE.indexOf(name) + 3) % PEOPLE.size())
                                + " went to the "
                                + place
                                + " to");
            }
        }
        for (String thing : THINGS) {
            for (String adj : ADJ) {
                out.add("Once upon a time, there was a " + adj + " " + thing + ".");
                out.add(
                        PEOPLE.get(Math.floorMod((thing + adj).hashCode(), PEOPLE.size()))
                                + " had a "
                                + adj
                                + " "
                                + thing
                                + ".");
                out.add("One morning, a little child found a " + adj + " " + thing + ".");
            }
        }
        out.add("Once upon a time, there was a little");
        out.add("Once upon a time");
        out.add("One day,");
        return out;
    }

    /**
     * The openers split by a seeded shuffle: {@code heldOut} of them for evaluation, the rest for
     * training.
     */
    public static List<List<String>> splitOpeners(long seed, int heldOut) {
        List<String> all = new ArrayList<>(allOpeners());
        Collections.shuffle(all, new Random(seed));
        return List.of(
                List.copyOf(all.subList(heldOut, all.size())),
                List.copyOf(all.subList(0, heldOut)));
    }

    /**
     * Samples {@code stories} base-model stories from training openers and {@code heldOutMood} more
     * from held-out openers, and builds the three adapters' data from them.
     */
    public static Data build(
            Engine base,
            long seed,
            int stories,
            int heldOutPrompts,
            int heldOutMood,
            Consumer<String> log) {
        List<List<String>> split = splitOpeners(seed, heldOutPrompts);
        List<String> trainOpeners = split.get(0);
        List<String> evalOpeners = split.get(1);
        Random random = new Random(seed);
        List<String> prompts = new ArrayList<>(stories);
        for (int i = 0; i < stories; i++) {
            prompts.add(trainOpeners.get(random.nextInt(trainOpeners.size())));
        }
        List<String> moodPrompts = new ArrayList<>();
        for (int i = 0; i < heldOutMood; i++) {
            moodPrompts.add(evalOpeners.get(i % evalOpeners.size()));
        }
        List<String> all = new ArrayList<>(prompts);
        all.addAll(moodPrompts);
        SamplingParams sampling =
                new SamplingParams(0.8, 0, 1.0, null, STORY_TOKENS, List.of(), List.of(), false);
        long t0 = System.nanoTime();
        List<String> sampled = Generations.run(base, all, null, sampling, seed * 7919);
        List<String> texts = sampled.subList(0, stories);
        List<String> moodTexts = sampled.subList(stories, all.size());
        log.accept(
                String.format(
                        "sampled %d base-model stories (%d from %d training openers, %d from held-out ones)"
                                + " in %.1f s",
                        all.size(),
                        stories,
                        trainOpeners.size(),
                        heldOutMood,
                        (System.nanoTime() - t0) / 1e9));
        Tokenizer tok = base.tokenizer();
        List<TrainingExample> max = new ArrayList<>();
        List<TrainingExample> happy = new ArrayList<>();
        List<TrainingExample> mood = new ArrayList<>();
        for (int i = 0; i < stories; i++) {
            String prompt = prompts.get(i);
            String story = wholeSentences(texts.get(i));
            String m = StoryRules.toMax(prompt, story);
            if (m != null) {
                max.add(example(tok, prompt, m, -1));
            }
            String h = StoryRules.toHappy(story, random);
            if (h != null) {
                happy.add(example(tok, prompt, h, -1));
            }
            String label = MoodRule.LABELS.get(i % MoodRule.LABELS.size());
            String s = MoodRule.story(prompt, texts.get(i), label, random);
            if (s != null) {
                mood.add(
                        example(
                                tok,
                                MoodRule.prompt(s),
                                MoodRule.answer(label) + MoodRule.END,
                                -1));
            }
        }
        List<MoodItem> moodEval = new ArrayList<>();
        for (int i = 0; i < heldOutMood; i++) {
            String label = MoodRule.LABELS.get(i % MoodRule.LABELS.size());
            String s = MoodRule.story(moodPrompts.get(i), moodTexts.get(i), label, random);
            if (s != null) {
                moodEval.add(new MoodItem(s, label));
            }
        }
        Map<String, List<TrainingExample>> train = new LinkedHashMap<>();
        train.put(MAX, max);
        train.put(HAPPY, happy);
        train.put(MOOD, mood);
        log.accept(
                String.format(
                        "examples: max %d, happy %d, mood %d; held out: %d openers, %d mood stories",
                        max.size(),
                        happy.size(),
                        mood.size(),
                        evalOpeners.size(),
                        moodEval.size()));
        return new Data(train, evalOpeners, moodEval, stories);
    }

    /**
     * The text up to its last whole sentence (sampled stories stop mid-sentence at the token
     * limit).
     */
    static String wholeSentences(String text) {
        return String.join("", StoryRules.sentences(text));
    }

    /**
     * Tokens of {@code prompt + target} (+ {@code eos} when not negative) with the loss starting
     * where they stop agreeing with the prompt's own tokens, as the served prompt would be
     * tokenized.
     */
    public static TrainingExample example(Tokenizer tok, String prompt, String target, int eos) {
        int[] p = tok.encode(prompt);
        int[] full = tok.encode(prompt + target);
        int common = 0;
        while (common < p.length && common < full.length && p[common] == full[common]) {
            common++;
        }
        int[] ids = full;
        if (eos >= 0) {
            ids = java.util.Arrays.copyOf(full, full.length + 1);
            ids[full.length] = eos;
        }
        return new TrainingExample(ids, Math.max(1, common));
    }
}
