package io.flinklora.gpu.compose;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.train.StoryRules;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Judges a learned mix on the Max-happily-ever-after task ({@link MaxHappyTask}) against each
 * adapter alone, the equal-weight mixes and the base model, and the fused adapter against the mix
 * (identical stories expected): greedy 96-token stories of the 40 held-out openers, served by the
 * engine.
 *
 * <p>{@code MODEL ADAPTER_ROOT COMPOSE_OUT [OUT.json]}: COMPOSE_OUT is what compose-adapters.sh
 * wrote.
 */
@Internal
public final class ComposeEvaluation {
    private ComposeEvaluation() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        Path model = Path.of(args[0]);
        Path root = Path.of(args[1]);
        Path composed = Path.of(args[2]);
        Path report = args.length > 3 ? Path.of(args[3]) : composed.resolve("evaluation.json");
        ObjectMapper om = new ObjectMapper();
        List<AdapterRef> learned = new ArrayList<>();
        for (JsonNode n : om.readTree(composed.resolve("weights.json").toFile())) {
            learned.add(new AdapterRef(n.get("name").asText(), n.get("weight").asDouble()));
        }
        Map<String, List<AdapterRef>> variants = new LinkedHashMap<>();
        variants.put("base", List.of());
        List<AdapterRef> third = new ArrayList<>();
        List<AdapterRef> ones = new ArrayList<>();
        for (AdapterRef a : learned) {
            variants.put(a.name() + " alone", List.of(new AdapterRef(a.name(), 1.0)));
            third.add(new AdapterRef(a.name(), 1.0 / learned.size()));
            ones.add(new AdapterRef(a.name(), 1.0));
        }
        variants.put("equal mix (1/" + learned.size() + " each)", third);
        variants.put("equal mix (1 each)", ones);
        variants.put("learned mix", learned);
        List<String> prompts = MaxHappyTask.heldOutPrompts();
        Map<String, List<String>> stories = new LinkedHashMap<>();
        try (Engine e = engine(model, root)) {
            for (var v : variants.entrySet()) {
                stories.put(v.getKey(), MaxHappyTask.stories(e, prompts, v.getValue()));
            }
        }
        try (Engine e = engine(model, composed)) {
            stories.put(
                    "fused adapter",
                    MaxHappyTask.stories(e, prompts, List.of(new AdapterRef("fused", 1.0))));
        }
        ObjectNode out = om.createObjectNode();
        out.put(
                "task",
                "greedy "
                        + io.flinklora.gpu.train.AdapterEvaluation.STORY_TOKENS
                        + "-token stories that name Max and contain \""
                        + StoryRules.HAPPY_MARKER
                        + "\"");
        out.put("held_out_prompts", prompts.size());
        ArrayNode rows = out.putArray("variants");
        System.out.printf(Locale.ROOT, "%-28s %8s %8s %8s%n", "variant", "task", "Max", "happy");
        for (var s : stories.entrySet()) {
            double task = fraction(s.getValue(), MaxHappyTask::hit);
            double max = fraction(s.getValue(), StoryRules::namesMax);
            double happy = fraction(s.getValue(), t -> t.contains(StoryRules.HAPPY_MARKER));
            System.out.printf(
                    Locale.ROOT,
                    "%-28s %7.1f%% %7.1f%% %7.1f%%%n",
                    s.getKey(),
                    100 * task,
                    100 * max,
                    100 * happy);
            ObjectNode r =
                    rows.addObject()
                            .put("variant", s.getKey())
                            .put("task", task)
                            .put("names_max", max)
                            .put("happily_ever_after", happy);
            List<AdapterRef> mix = variants.get(s.getKey());
            if (mix != null) {
                ArrayNode m = r.putArray("adapters");
                mix.forEach(a -> m.addObject().put("name", a.name()).put("weight", a.weight()));
            }
            r.put("example", prompts.get(0) + s.getValue().get(0));
        }
        int same = 0;
        for (int i = 0; i < prompts.size(); i++) {
            same +=
                    stories.get("fused adapter").get(i).equals(stories.get("learned mix").get(i))
                            ? 1
                            : 0;
        }
        out.put("fused_identical_to_mix", same);
        System.out.printf(
                "fused adapter: %d of %d stories identical to the learned mix%n",
                same, prompts.size());
        Files.writeString(
                report, om.writerWithDefaultPrettyPrinter().writeValueAsString(out) + "\n");
        System.out.println("wrote " + report);
    }

    private static Engine engine(Path model, Path root) {
        return Engine.open(
                EngineConfig.builder(model)
                        .maxRunning(64)
                        .maxTokensPerStep(2048)
                        .maxSequenceLength(256)
                        .adapterRoot(root)
                        .build());
    }

    private static double fraction(List<String> texts, java.util.function.Predicate<String> hit) {
        return texts.stream().filter(hit).count() / (double) texts.size();
    }
}
