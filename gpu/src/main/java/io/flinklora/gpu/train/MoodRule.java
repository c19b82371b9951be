package io.flinklora.gpu.train;

import io.flinklora.annotation.Internal;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The "mood" labelling task: a short story, then {@code "\nMood:"}, answered by one label of a
 * fixed set. The rule: a story's mood is the one label whose cue words it contains (a story with
 * cues of two labels, or none, has no mood and is never used). Stories are the base model's own
 * sentences with every mood word removed, plus one cue sentence inserted at a random place.
 */
@Internal
public final class MoodRule {
    public static final List<String> LABELS = List.of("happy", "sad", "scared", "angry");
    public static final String QUESTION = "\nMood:";

    /**
     * What the labeller writes after its label: a line break, so a served request ends with the
     * stop string "\n". (Not EOS: this base model's tied embedding rows of EOS and the byte tokens
     * are alike, so no LoRA on its projections can make EOS stand out; the trainer measured it.)
     */
    public static final String END = "\n";

    static final Map<String, List<String>> CUES =
            Map.of(
                    "happy", List.of("happy", "glad", "cheerful", "joyful"),
                    "sad", List.of("sad", "upset", "gloomy", "unhappy"),
                    "scared", List.of("scared", "afraid", "frightened", "terrified"),
                    "angry", List.of("angry", "mad", "grumpy", "furious"));

    private static final List<String> TEMPLATES =
            List.of(
                    "%s was very %s.",
                    "%s felt %s.",
                    "Then %s got %s.",
                    "%s was %s all day.",
                    "It made %s %s.",
                    "%s felt so %s.");
    private static final Pattern WORD = Pattern.compile("[A-Za-z]+");

    private MoodRule() {}

    /** The story's mood by the rule, or null when it has cues of no label or of several. */
    public static String label(String story) {
        String found = null;
        Matcher m = WORD.matcher(story.toLowerCase(Locale.ROOT));
        while (m.find()) {
            for (String label : LABELS) {
                if (CUES.get(label).contains(m.group())) {
                    if (found != null && !found.equals(label)) {
                        return null;
                    }
                    found = label;
                }
            }
        }
        return found;
    }

    /** The prompt the labeller answers: the story, then the question. */
    public static String prompt(String story) {
        return story + QUESTION;
    }

    /** The answer as the labeller writes it after the prompt. */
    public static String answer(String label) {
        return " " + label;
    }

    /**
     * A labelled story from a base-model story: two or three of its sentences without any mood
     * word, and one cue sentence for {@code label} (cue word and template drawn from {@code
     * random}) inserted before, between or after them. Returns null when the story has too few
     * clean sentences.
     */
    public static String story(String prompt, String continuation, String label, Random random) {
        List<String> clean = new ArrayList<>();
        List<String> all = StoryRules.sentences(prompt + continuation);
        for (String s : all) {
            if (label(s) == null && !s.isBlank() && s.length() < 160) {
                clean.add(s.strip());
            }
        }
        int take = 2 + random.nextInt(2);
        if (clean.size() < take) {
            return null;
        }
        List<String> parts = new ArrayList<>(clean.subList(0, take));
        List<String> cues = CUES.get(label);
        String who = StoryRules.NAMES.get(random.nextInt(StoryRules.NAMES.size()));
        String cue =
                String.format(
                        TEMPLATES.get(random.nextInt(TEMPLATES.size())),
                        who,
                        cues.get(random.nextInt(cues.size())));
        parts.add(random.nextInt(parts.size() + 1), cue);
        String story = String.join(" ", parts).replace("\n", " ");
        return label.equals(label(story)) ? story : null;
    }
}
