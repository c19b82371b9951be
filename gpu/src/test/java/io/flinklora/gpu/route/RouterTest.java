package io.flinklora.gpu.route;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.train.TrainingData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The shipped router file ({@code models/adapters/router.json}) on held-out prompts of each shipped
 * adapter's kind, none of them among the router's examples: story openers about the dog Max (max),
 * other story openers (happy) and stories asked for their mood (mood).
 */
class RouterTest {
    static final List<String> PLACES =
            List.of("park", "forest", "garden", "beach", "farm", "lake", "zoo", "school");
    static final List<String> THINGS =
            List.of("ball", "kite", "toy", "hat", "book", "cake", "boat", "flower");
    static final List<String> NAMES =
            List.of("Tom", "Lily", "Ben", "Sue", "Mia", "Sam", "Tim", "Anna", "Lucy", "Jack");

    static Path routerFile() {
        return TestModels.model("adapters").resolve("router.json");
    }

    /** Held-out prompts per kind, from templates and openers the router file does not hold. */
    static Map<String, List<String>> heldOut() {
        return prompts(5, TrainingData.splitOpeners(1, 40).get(1));
    }

    /**
     * Prompts of each kind from a seed and story openers; the router's layer and similarity were
     * chosen on {@code prompts(11, first 40 training openers)}, not on the held-out set.
     */
    static Map<String, List<String>> prompts(long seed, List<String> openers) {
        Random r = new Random(seed);
        List<String> max = new ArrayList<>();
        String[] maxTemplates = {
            "Max the dog went to the %s with his %s.",
            "One day, a dog named Max saw a %2$s at the %1$s.",
            "Max ran to the %s to find his %s.",
            "There was a happy dog called Max. He had a %2$s."
        };
        for (int i = 0; i < 40; i++) {
            max.add(
                    String.format(
                            maxTemplates[i % maxTemplates.length],
                            PLACES.get(r.nextInt(PLACES.size())),
                            THINGS.get(r.nextInt(THINGS.size()))));
        }
        List<String> happy = new ArrayList<>(openers);
        List<String> mood = new ArrayList<>();
        String[] cues = {
            "%s was very happy.",
            "%s felt sad.",
            "%s was scared.",
            "Then %s got angry.",
            "It made %s glad.",
            "%s was afraid.",
            "%s felt so grumpy.",
            "%s was upset all day."
        };
        String[] scenes = {
            "%s went to the %s.", "%s had a %s.", "%s looked at the %s.", "%s played near the %s."
        };
        for (int i = 0; i < 40; i++) {
            String who = NAMES.get(r.nextInt(NAMES.size()));
            String scene =
                    String.format(
                            scenes[r.nextInt(scenes.length)],
                            who,
                            i % 2 == 0
                                    ? PLACES.get(r.nextInt(PLACES.size()))
                                    : THINGS.get(r.nextInt(THINGS.size())));
            mood.add(scene + " " + String.format(cues[i % cues.length], who) + "\nMood:");
        }
        Map<String, List<String>> out = new LinkedHashMap<>();
        out.put("max", max);
        out.put("happy", happy);
        out.put("mood", mood);
        return out;
    }

    @Test
    void heldOutPromptsOfEachAdaptersKindRouteToIt() throws Exception {
        RouterFile file = RouterFile.read(routerFile());
        try (Engine e =
                Engine.open(EngineConfig.builder(TestModels.stories260k()).maxRunning(1).build())) {
            Router router = Router.open(file, e);
            List<String> examples =
                    file.tasks().stream().flatMap(t -> t.examples().stream()).toList();
            for (var kind : heldOut().entrySet()) {
                int hits = 0;
                for (String p : kind.getValue()) {
                    assertTrue(!examples.contains(p), "held out: " + p);
                    Router.Route route = router.route(e.tokenizer().encode(p));
                    hits += route.task().equals(kind.getKey()) ? 1 : 0;
                    assertEquals(file.topK(), route.weights().size());
                }
                double accuracy = hits / (double) kind.getValue().size();
                System.out.printf(
                        "routing: %s prompts routed to %s: %d/%d (%.1f%%)%n",
                        kind.getKey(), kind.getKey(), hits, kind.getValue().size(), 100 * accuracy);
                assertTrue(accuracy >= 0.9, kind.getKey() + ": " + accuracy);
            }
        }
    }

    @Test
    void topKMixesTheNearestTasksBySoftmaxOfTheirSimilarity() throws Exception {
        RouterFile one = RouterFile.read(routerFile());
        RouterFile two = new RouterFile(one.tasks(), 2, 0.05, one.layer());
        try (Engine e =
                Engine.open(EngineConfig.builder(TestModels.stories260k()).maxRunning(1).build())) {
            PromptEmbedder embedder = PromptEmbedder.of(e, one.layer());
            float[] v = embedder.embed("Max the dog went to the lake with his boat.");
            Router.Route r = new Router(two, embedder).route(v);
            List<Router.Score> s = r.scores();
            double w0 = 1 / (1 + Math.exp((s.get(1).similarity() - s.get(0).similarity()) / 0.05));
            assertEquals(w0, r.weights().get(s.get(0).task()), 1e-9);
            assertEquals(1 - w0, r.weights().get(s.get(1).task()), 1e-9);
            Map<String, Double> used = new LinkedHashMap<>();
            for (AdapterRef a : r.adapters()) {
                used.put(a.name(), a.weight());
            }
            // Each shipped task is one adapter at weight 1: the mix is the tasks' softmax weights.
            assertEquals(w0, used.get(s.get(0).task()), 1e-9);
            assertEquals(1 - w0, used.get(s.get(1).task()), 1e-9);
            assertEquals(2, used.size());
            // The embedding is the mean of per-token hidden states: a different prompt moves it.
            float[] w = embedder.embed("Lily felt sad.\nMood:");
            double dot = 0;
            for (int i = 0; i < v.length; i++) {
                dot += v[i] * w[i];
            }
            assertTrue(dot < 0.999, "distinct prompts embed apart: cosine " + dot);
        }
    }
}
