package io.flinklora.job.label;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.engine.TokenEvent;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.route.Router;
import io.flinklora.gpu.route.RouterFile;
import io.flinklora.gpu.sampling.SamplingParams;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code "route": "auto"} in bulk labelling, with models/stories260k, the shipped adapters and
 * models/adapters/router.json: records of a routed task (and routed records of another task) get
 * the adapters the router chooses for their prompt, their rows report the route, and the output
 * equals the engine run directly with those adapters; records naming adapters are not routed;
 * refusals are coded rows.
 */
class LabelRouteIT {
    private static final int NEW_TOKENS = 8;

    @TempDir Path work;

    static Path router() {
        return LabelJobIT.root().resolve("models/adapters/router.json");
    }

    private Path tasks() throws Exception {
        Path tasks = work.resolve("tasks.json");
        Files.writeString(
                tasks,
                """
                {"tasks": [
                  {"name": "story", "template": "{text}", "route": "auto", "max_new_tokens": %d},
                  {"name": "feel", "template": "{text}\\nMood:", "labels": ["happy", "sad"], "route": "auto"},
                  {"name": "plain", "template": "{text}", "max_new_tokens": %d}
                ]}"""
                        .formatted(NEW_TOKENS, NEW_TOKENS));
        return tasks;
    }

    private static String line(String id, String task, String text, String... more) {
        ObjectNode r =
                LabelJobIT.JSON
                        .createObjectNode()
                        .put("id", id)
                        .put("task", task)
                        .put("text", text);
        for (int i = 0; i < more.length; i += 2) {
            r.put(more[i], more[i + 1]);
        }
        return r.toString();
    }

    private LabelOptions options(Path input, Path output, String... more) throws Exception {
        Path root = LabelJobIT.root();
        List<String> args =
                new ArrayList<>(
                        List.of(
                                "--input",
                                input.toString(),
                                "--output",
                                output.toString(),
                                "--model",
                                root.resolve("models/stories260k").toString(),
                                "--adapters",
                                root.resolve("models/adapters").toString(),
                                "--task",
                                tasks().toString(),
                                "--device",
                                "cpu",
                                "--batch",
                                "8",
                                "--progress-interval-ms",
                                "1000"));
        args.addAll(List.of(more));
        return LabelOptions.parse(args.toArray(String[]::new));
    }

    @Test
    void routedRecordsGetTheRoutersAdaptersAndTheirRowsReportTheRoute() throws Exception {
        String max = "Max the dog went to the lake with his boat.";
        String happy = "Once upon a time, there was a little girl named Sue who had a red hat.";
        String mood = "Ben dropped his ice cream on the ground. Ben cried.";
        Path input = work.resolve("input.jsonl");
        Files.write(
                input,
                List.of(
                        line("s-max", "story", max),
                        line("s-happy", "story", happy),
                        line("s-mood", "story", mood + "\nMood:"),
                        line("f-mood", "feel", mood),
                        line("p-routed", "plain", max, "route", "auto"), // a record routes itself
                        line(
                                "s-named", "story", max, "adapter",
                                "mood"), // a record naming its adapter is not routed
                        line("bad-route", "story", max, "route", "nearest"),
                        line("bad-both", "plain", max, "route", "auto", "adapter", "max")),
                StandardCharsets.UTF_8);
        Path output = work.resolve("out.jsonl");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        LabelJob.Summary s =
                LabelJob.run(
                        options(input, output, "--router", router().toString()),
                        new PrintStream(log, true, StandardCharsets.UTF_8));
        assertTrue(s.succeeded(), log.toString(StandardCharsets.UTF_8));
        Map<String, JsonNode> rows = LabelJobIT.rowsById(output);

        // What the router and the engine give for the same prompts, outside Flink.
        Map<String, String> prompts = new LinkedHashMap<>();
        prompts.put("s-max", max);
        prompts.put("s-happy", happy);
        prompts.put("s-mood", mood + "\nMood:");
        prompts.put("f-mood", mood + "\nMood:");
        prompts.put("p-routed", max);
        Map<String, Router.Route> routes = new HashMap<>();
        Map<String, TokenEvent> last = new HashMap<>();
        Map<String, StringBuilder> text = new HashMap<>();
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(LabelJobIT.root().resolve("models/stories260k"))
                                .adapterRoot(LabelJobIT.root().resolve("models/adapters"))
                                .build())) {
            Router router = Router.open(RouterFile.read(router()), e);
            for (var p : prompts.entrySet()) {
                int[] ids = e.tokenizer().encode(p.getValue());
                Router.Route route = router.route(ids);
                routes.put(p.getKey(), route);
                boolean choice = p.getKey().startsWith("f-");
                io.flinklora.gpu.frontend.RequestProcessor.submit(
                        e,
                        new io.flinklora.gpu.frontend.PromptRequest(
                                p.getKey(),
                                ids,
                                route.adapters(),
                                SamplingParams.greedy(choice ? 32 : NEW_TOKENS),
                                null,
                                choice ? List.of("happy", "sad") : List.of()));
            }
            while (e.hasWork()) {
                for (TokenEvent ev : e.step().events()) {
                    text.computeIfAbsent(ev.requestId(), k -> new StringBuilder())
                            .append(ev.text());
                    last.put(ev.requestId(), ev);
                }
            }
        }
        assertEquals("max", routes.get("s-max").task());
        assertEquals("happy", routes.get("s-happy").task());
        assertEquals("mood", routes.get("s-mood").task());
        for (String id : prompts.keySet()) {
            JsonNode row = rows.get(id);
            assertEquals("ok", row.get("status").asText(), row.toString());
            Router.Route want = routes.get(id);
            JsonNode route = row.get("route");
            assertEquals(
                    want.task(), route.get("task").asText(), id + ": the routed task is reported");
            assertEquals(want.adapters().size(), route.get("adapters").size(), id);
            for (int i = 0; i < want.adapters().size(); i++) {
                AdapterRef a = want.adapters().get(i);
                assertEquals(a.name(), route.get("adapters").get(i).get("name").asText(), id);
                assertEquals(
                        a.weight(),
                        route.get("adapters").get(i).get("weight").asDouble(),
                        1e-12,
                        id);
            }
            for (Router.Score sc : want.scores()) {
                assertEquals(
                        sc.similarity(),
                        route.get("similarity").get(sc.task()).asDouble(),
                        1e-9,
                        id + " " + sc.task());
            }
            assertEquals(
                    want.scores().get(0).task(),
                    route.get("similarity").fieldNames().next(),
                    "best first");
            if (id.startsWith("f-")) {
                assertEquals(
                        last.get(id).choice().label(),
                        row.get("label").asText(),
                        id + ": the direct scoring's label");
            } else {
                assertEquals(
                        text.get(id).toString(),
                        row.get("completion").asText(),
                        id + ": the direct generation's text");
            }
        }
        assertEquals(
                "story",
                rows.get("s-max").get("task").asText(),
                "the row's task stays the record's task");
        assertFalse(rows.get("s-named").has("route"), "a record naming its adapter is not routed");
        assertEquals("mood", rows.get("s-named").get("adapters").asText());
        assertEquals("INVALID_PARAMETER", rows.get("bad-route").get("status").asText());
        assertEquals("INVALID_REQUEST", rows.get("bad-both").get("status").asText());
    }

    @Test
    void aTaskFileWithARoutedTaskNeedsARouter() throws Exception {
        Path input = work.resolve("input.jsonl");
        Files.writeString(input, line("a", "story", "Max the dog.") + "\n");
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> LabelJob.run(options(input, work.resolve("out.jsonl")), System.err));
        assertTrue(
                e.getMessage().contains("--router") && e.getMessage().contains("story"),
                e.getMessage());
    }
}
