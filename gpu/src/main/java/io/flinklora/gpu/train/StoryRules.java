package io.flinklora.gpu.train;

import io.flinklora.annotation.Internal;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The rewriting rules that turn the base model's own stories into training targets: "max" (the
 * protagonist becomes a dog named Max), "happy" (the story is cut short and ends happily ever
 * after) and the sentence splitting both use. Pure functions of the text (and a seeded random
 * draw).
 */
@Internal
public final class StoryRules {
    /** What the "happy" adapter's stories end with; evaluation looks for {@link #HAPPY_MARKER}. */
    public static final String HAPPY_ENDING =
            " In the end, everyone was happy, and they all lived happily ever after.";

    public static final String HAPPY_MARKER = "happily ever after";
    public static final String MAX_NAME = "Max";

    /** Names the base model gives its characters (TinyStories' common names). */
    static final List<String> NAMES =
            List.of(
                    "Lily", "Tom", "Ben", "Sue", "Mia", "Sam", "Tim", "Timmy", "Anna", "Lucy",
                    "Jack", "Amy", "Bob", "Sara", "Sarah", "Jill", "Jane", "Billy", "Emma", "Mary",
                    "Kitty", "Zoe", "Joe", "Bobo", "Mark", "Jake", "Jen", "Molly", "Daisy", "Spot",
                    "Tommy", "Ellie", "Lola", "Mimi");

    private static final String KINDS =
            "girl|boy|cat|bird|dog|bunny|rabbit|bear|mouse|puppy|kitten|frog|duck|fish|"
                    + "lion|monkey|squirrel|fox|man|woman|lady|kid|child";
    private static final Pattern NAMED =
            Pattern.compile("\\b(?:little |small |big )?(" + KINDS + ") named ([A-Z][a-z]+)");
    private static final Pattern UNNAMED = Pattern.compile("\\b([Aa]) (little )?(boy|girl)\\b");

    private StoryRules() {}

    /**
     * The "max" rule: the protagonist (the first "&lt;someone&gt; named X" of prompt and story,
     * else the first known name) becomes a dog named Max in the continuation; every later mention
     * of X becomes Max. When nobody is named, the first "a (little) boy/girl" becomes "a (little)
     * dog named Max" and later "the boy/girl" Max. Returns null when the story has nobody to
     * rewrite.
     */
    public static String toMax(String prompt, String continuation) {
        String all = prompt + continuation;
        Matcher named = NAMED.matcher(all);
        String who = null;
        if (named.find()) {
            who = named.group(2);
        } else {
            Matcher word = Pattern.compile("\\b[A-Z][a-z]+\\b").matcher(all);
            while (word.find() && who == null) {
                if (NAMES.contains(word.group())) {
                    who = word.group();
                }
            }
        }
        if (MAX_NAME.equals(who)) {
            return null;
        }
        String out = continuation;
        if (who != null) {
            // "a little girl named Lily" -> "a little dog named Max": the kind changes, any
            // adjective stays.
            out =
                    out.replaceAll(
                            "\\b(?:" + KINDS + ") named " + Pattern.quote(who) + "\\b",
                            "dog named " + MAX_NAME);
            out = out.replaceAll("\\b" + Pattern.quote(who) + "\\b", MAX_NAME);
        } else {
            // Nobody named: the first "a (little) boy/girl" becomes a dog named Max, and "the
            // boy/girl" is Max.
            Matcher first = UNNAMED.matcher(out);
            if (first.find()) {
                out =
                        out.substring(0, first.start())
                                + first.group(1)
                                + " "
                                + (first.group(2) == null ? "" : first.group(2))
                                + "dog named "
                                + MAX_NAME
                                + out.substring(first.end());
                out = out.replaceAll("\\b[Tt]he (?:little )?" + first.group(3) + "\\b", MAX_NAME);
            }
        }
        return Pattern.compile("\\b" + MAX_NAME + "\\b").matcher(out).find() ? out : null;
    }

    /** Whether a text names Max (the "max" adapter's measured effect). */
    public static boolean namesMax(String text) {
        return Pattern.compile("\\b" + MAX_NAME + "\\b").matcher(text).find();
    }

    /**
     * The "happy" rule: keep the first 2 to 4 sentences of the continuation (drawn from {@code
     * random}) and end the story with {@link #HAPPY_ENDING}. Returns null when fewer than two whole
     * sentences exist.
     */
    public static String toHappy(String continuation, Random random) {
        List<String> sentences = sentences(continuation);
        if (sentences.size() < 2) {
            return null;
        }
        int keep = Math.min(sentences.size(), 2 + random.nextInt(3));
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < keep; i++) {
            out.append(sentences.get(i));
        }
        String kept = out.toString().replace(HAPPY_MARKER, "happy");
        return kept + HAPPY_ENDING;
    }

    /**
     * Whole sentences of a text, each with its leading whitespace: a sentence ends at '.', '!' or
     * '?' (plus a closing quote) outside an open quotation; an unfinished tail is dropped.
     */
    public static List<String> sentences(String text) {
        List<String> out = new ArrayList<>();
        int start = 0;
        boolean inQuote = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '"') {
                inQuote = !inQuote;
                if (!inQuote && i > 0 && ".!?".indexOf(text.charAt(i - 1)) >= 0) {
                    out.add(text.substring(start, i + 1));
                    start = i + 1;
                }
            } else if (!inQuote
                    && ".!?".indexOf(c) >= 0
                    && (i + 1 == text.length() || text.charAt(i + 1) != '"')) {
                out.add(text.substring(start, i + 1));
                start = i + 1;
            }
        }
        return out;
    }
}
