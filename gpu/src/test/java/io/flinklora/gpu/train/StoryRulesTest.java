package io.flinklora.gpu.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class StoryRulesTest {
    @Test
    void maxRuleTurnsTheProtagonistIntoADogNamedMax() {
        String out =
                StoryRules.toMax(
                        "Once upon a time, there was a little",
                        " girl named Lily. Lily liked to play. Lily's mom was kind.");
        assertEquals(" dog named Max. Max liked to play. Max's mom was kind.", out);
        assertEquals(
                " One day, a little dog named Max came.",
                StoryRules.toMax("Hi.", " One day, a little boy named Ben came."));
        assertEquals(
                " Max ran to the park.",
                StoryRules.toMax("Tom had a ball.", " Tom ran to the park."));
        assertNull(StoryRules.toMax("The sun was hot.", " It was a nice day."), "nobody to rename");
    }

    @Test
    void happyRuleKeepsTheStartAndEndsHappilyEverAfter() {
        String story =
                " One day, Tom saw a cat. The cat said hello. The cat ran away. Tom went home. Tom was sad. Then";
        for (int seed = 0; seed < 20; seed++) {
            String h = StoryRules.toHappy(story, new Random(seed));
            assertTrue(h.endsWith(StoryRules.HAPPY_ENDING), h);
            String kept = h.substring(0, h.length() - StoryRules.HAPPY_ENDING.length());
            int sentences = StoryRules.sentences(kept).size();
            assertTrue(
                    story.startsWith(kept) && sentences >= 2 && sentences <= 4,
                    "2 to 4 whole sentences kept: " + h);
        }
        assertNull(StoryRules.toHappy(" Just one sentence.", new Random(1)));
    }

    @Test
    void sentencesEndOutsideQuotesAndDropTheUnfinishedTail() {
        assertEquals(
                List.of(" A b.", " \"C d!\"", " He said, \"e. f.\"", " Then g?"),
                StoryRules.sentences(" A b. \"C d!\" He said, \"e. f.\" Then g? unfinished"));
    }

    @Test
    void moodIsTheOneLabelWhoseCuesTheStoryHolds() {
        assertEquals("scared", MoodRule.label("Tom saw a dog. Tom felt afraid."));
        assertEquals("happy", MoodRule.label("It made Sue glad. She was HAPPY."));
        assertNull(MoodRule.label("Tom was sad. Then he was happy."), "two moods: no label");
        assertNull(MoodRule.label("Tom ran."));
        assertEquals(
                "sad", MoodRule.label("Sue was unhappy."), "unhappy is a sad cue, not a happy one");
        String s =
                MoodRule.story(
                        "Once upon a time,",
                        " there was a cat. The cat was happy. It ran home. It slept.",
                        "angry",
                        new Random(3));
        assertEquals("angry", MoodRule.label(s), s);
        assertTrue(!s.contains("happy"), "sentences with other moods are left out: " + s);
    }
}
