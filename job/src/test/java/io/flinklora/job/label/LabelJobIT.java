package io.flinklora.job.label;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.gpu.engine.ChoiceScore;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.engine.TokenEvent;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.lora.PeftWriter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.sampling.SamplingParams;
import io.flinklora.operators.label.LabelInput;
import io.flinklora.operators.label.LabelTasks;
import io.flinklora.operators.label.PartFiles;
import io.flinklora.schemas.AdapterWeight;
import io.flinklora.schemas.GenerationRequest;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bulk labelling end to end on a local Flink environment in BATCH mode with models/stories260k and
 * three random PEFT adapters: 2,000 records plus bad lines, checked against the engine's direct
 * scoring; and a run killed with SIGKILL midway, then run again.
 */
class LabelJobIT {
    static final ObjectMapper JSON = new ObjectMapper();
    static final int RECORDS = 2000;
    static final String[] WORDS =
            ("Lily Tom the a dog cat ball tree park sun happy sad big little red blue ran jumped "
                            + "played saw found lost cried laughed with in and was very friend mom bird car toy box")
                    .split(" ");

    @TempDir static Path work;
    static Path model;
    static Path adapters;
    static Path tasks;
    static Path input;
    static Set<String> inputIds = new LinkedHashSet<>();
    static int badLinesWithoutOutputRow;

    /** The uninterrupted run, shared by the tests. */
    static LabelJob.Summary reference;

    static Map<String, JsonNode> referenceRows;
    static String referenceLog;

    static Path root() {
        String r = System.getProperty("project.root");
        if (r != null && Files.isDirectory(Path.of(r, "models"))) {
            return Path.of(r);
        }
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            if (Files.isDirectory(d.resolve("models/stories260k"))) {
                return d;
            }
        }
        throw new IllegalStateException("models/stories260k not found");
    }

    @BeforeAll
    static void writeInputsAndRunOnce() throws Exception {
        model = root().resolve("models/stories260k");
        ModelConfig c = ModelConfig.read(model);
        adapters = work.resolve("adapters");
        new PeftWriter(c)
                .rank(4)
                .alpha(8)
                .targets(EnumSet.allOf(Projection.class))
                .write(adapters.resolve("mood"), 21, 0.3, 0.3);
        new PeftWriter(c)
                .rank(8)
                .alpha(8)
                .targets(EnumSet.of(Projection.Q, Projection.V))
                .write(adapters.resolve("topic"), 22, 0.3, 0.3);
        new PeftWriter(c)
                .rank(2)
                .alpha(4)
                .targets(EnumSet.of(Projection.O, Projection.DOWN))
                .write(adapters.resolve("yesno"), 23, 0.4, 0.4);
        tasks = work.resolve("tasks.json");
        Files.writeString(
                tasks,
                """
                {"tasks": [
                  {"name": "mood", "template": "Story: {text}\\nThe child feels", "labels": ["happy", "sad", "scared", "angry"], "adapter": "mood"},
                  {"name": "topic", "template": "Story: {text}\\nThis story is about a", "labels": ["dog", "cat", "ball", "tree", "bird"], "adapter": "topic"},
                  {"name": "yesno", "template": "Story: {text}\\nIs it a happy story? Answer:", "labels": ["yes", "no"], "adapter": "yesno"}
                ]}""");
        Random rnd = new Random(42);
        List<String> lines = new ArrayList<>();
        String[] taskNames = {"mood", "topic", "yesno"};
        String[] adapterNames = {"mood", "topic", "yesno"};
        for (int i = 0; i < RECORDS; i++) {
            ObjectNode r = JSON.createObjectNode();
            String id = "rec-" + i;
            r.put("id", id);
            r.put("task", taskNames[i % 3]);
            StringBuilder text = new StringBuilder();
            int words = 4 + rnd.nextInt(20);
            for (int w = 0; w < words; w++) {
                text.append(w == 0 ? "" : " ").append(WORDS[rnd.nextInt(WORDS.length)]);
            }
            r.put("text", text.append('.').toString());
            if (i % 7 == 0) {
                r.put("adapter", adapterNames[(i / 7) % 3]); // another task's adapter
            } else if (i % 11 == 0) {
                r.putArray("adapters"); // the base model
            }
            lines.add(r.toString());
            inputIds.add(id);
        }
        // Bad lines: each must come out with a code, none may be dropped.
        lines.add(300, "this is not JSON");
        lines.add(600, "{\"id\": \"bad-json\", \"task\": ");
        lines.add(900, "[1, 2, 3]");
        lines.add(1200, "{\"id\": \"bad-task\", \"task\": \"weather\", \"text\": \"x\"}");
        lines.add(
                1300,
                "{\"id\": \"bad-adapter\", \"task\": \"mood\", \"adapter\": \"nope\", \"text\": \"x\"}");
        lines.add(1400, "{\"id\": \"bad-field\", \"task\": \"mood\", \"txt\": \"x\"}");
        lines.add(
                1500,
                "{\"id\": \"too-long\", \"task\": \"mood\", \"text\": \""
                        + "the dog ran. ".repeat(200)
                        + "\"}");
        lines.add(
                1600,
                "{\"id\": \"rec-5\", \"task\": \"mood\", \"text\": \"a second line for rec-5\"}");
        lines.add(
                1700,
                "{\"id\": \"rec-6\", \"task\": \"mood\", \"text\": \"a second line for rec-6\"}");
        lines.add(1750, "");
        inputIds.addAll(List.of("bad-task", "bad-adapter", "bad-field", "too-long"));
        badLinesWithoutOutputRow = 5; // three unparseable lines and two duplicates
        input = work.resolve("input.jsonl");
        Files.write(input, lines, StandardCharsets.UTF_8);

        ByteArrayOutputStream log = new ByteArrayOutputStream();
        reference =
                LabelJob.run(
                        options(work.resolve("reference.jsonl"), 32),
                        new PrintStream(log, true, StandardCharsets.UTF_8));
        referenceLog = log.toString(StandardCharsets.UTF_8);
        System.out.println(referenceLog);
        referenceRows = rowsById(work.resolve("reference.jsonl"));
    }

    static LabelOptions options(Path output, int batch, String... more) {
        List<String> args =
                new ArrayList<>(
                        List.of(
                                "--input",
                                input.toString(),
                                "--output",
                                output.toString(),
                                "--model",
                                model.toString(),
                                "--adapters",
                                adapters.toString(),
                                "--task",
                                tasks.toString(),
                                "--batch",
                                String.valueOf(batch),
                                "--device",
                                "cpu",
                                "--max-prompt-tokens",
                                "400",
                                "--progress-interval-ms",
                                "1000"));
        args.addAll(List.of(more));
        return LabelOptions.parse(args.toArray(String[]::new));
    }

    static Map<String, JsonNode> rowsById(Path file) throws Exception {
        Map<String, JsonNode> rows = new HashMap<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            JsonNode n = JSON.readTree(line);
            JsonNode before = rows.put(n.get("id").asText(), n);
            assertEquals(null, before, "id " + n.get("id") + " appears once in the output");
        }
        return rows;
    }

    @Test
    void twoThousandRecordsAcrossThreeAdaptersGetExactlyTheirIdsWithLabelsEqualToDirectScoring()
            throws Exception {
        assertTrue(reference.succeeded(), referenceLog);
        assertEquals(RECORDS + 9, reference.inputRecords(), "the blank line is not a record");
        assertEquals(inputIds, referenceRows.keySet(), "the output holds exactly the input ids");
        assertTrue(reference.accountedFor());
        assertEquals(RECORDS + 4, reference.outputRows());
        assertEquals(badLinesWithoutOutputRow, reference.errorOnlyRows());

        LabelTasks taskDefs = LabelTasks.read(tasks);
        // Of the lines sharing an id, the job labels the first in content order (the same in every
        // run).
        Map<String, String> lineById = new HashMap<>();
        for (String line : Files.readAllLines(input, StandardCharsets.UTF_8)) {
            if (line.matches("\\{\"id\": ?\"rec-.*")) {
                lineById.merge(
                        JSON.readTree(line).get("id").asText(),
                        line,
                        (a, b) -> a.compareTo(b) <= 0 ? a : b);
            }
        }
        Map<String, Integer> expectedPerTask = new HashMap<>();
        for (String line : lineById.values()) {
            expectedPerTask.merge(JSON.readTree(line).get("task").asText(), 1, Integer::sum);
        }
        // The engine's direct scoring of every record, in one engine outside Flink.
        Map<String, TokenEvent> direct = new HashMap<>();
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(model).maxRunning(16).adapterRoot(adapters).build())) {
            List<String> ids = new ArrayList<>(lineById.keySet());
            int next = 0;
            while (next < ids.size() || e.hasWork()) {
                while (next < ids.size() && e.stats().waiting() < 32) {
                    GenerationRequest r =
                            LabelInput.parse(lineById.get(ids.get(next++)), taskDefs, 1 << 20);
                    List<AdapterRef> mix = new ArrayList<>();
                    for (AdapterWeight a : r.getAdapters()) {
                        mix.add(new AdapterRef(a.getName(), a.getWeight()));
                    }
                    io.flinklora.gpu.frontend.RequestProcessor.submit(
                            e,
                            new io.flinklora.gpu.frontend.PromptRequest(
                                    r.getRequestId(),
                                    e.tokenizer().encode(r.getPrompt()),
                                    mix,
                                    SamplingParams.greedy(1),
                                    null,
                                    r.getChoices()));
                }
                for (TokenEvent ev : e.step().events()) {
                    direct.put(ev.requestId(), ev);
                }
            }
        }
        Map<String, Integer> perTask = new HashMap<>();
        Set<String> adaptersSeen = new HashSet<>();
        double worst = 0;
        for (var id : lineById.keySet()) {
            JsonNode row = referenceRows.get(id);
            assertEquals("ok", row.get("status").asText(), row.toString());
            LabelTasks.Task task = taskDefs.get(row.get("task").asText());
            String label = row.get("label").asText();
            assertTrue(
                    task.labels().contains(label),
                    id + ": '" + label + "' is one of " + task.labels());
            TokenEvent d = direct.get(id);
            assertNotNull(d, id);
            assertEquals(d.choice().label(), label, id + " equals the engine's direct scoring");
            double sum = 0;
            for (ChoiceScore s : d.choice().scores()) {
                double p = row.get("probabilities").get(s.label()).asDouble();
                worst = Math.max(worst, Math.abs(p - s.probability()));
                assertEquals(s.probability(), p, 1e-4, id + " p(" + s.label() + ")");
                sum += p;
            }
            assertEquals(1.0, sum, 1e-9);
            perTask.merge(task.name(), 1, Integer::sum);
            adaptersSeen.add(row.get("adapters").asText());
        }
        assertEquals(expectedPerTask, perTask);
        assertEquals(RECORDS, lineById.size());
        assertEquals(
                Set.of("mood", "topic", "yesno", ""),
                adaptersSeen,
                "three adapters and the base model");
        System.out.println(
                "labelling: worst |probability difference| against direct scoring " + worst);

        Map<String, String> codes = new HashMap<>();
        for (String line : Files.readAllLines(work.resolve("reference.errors.jsonl"))) {
            JsonNode n = JSON.readTree(line);
            codes.merge(
                    n.get("id").isNull() ? "(no id)" : n.get("id").asText(),
                    n.get("code").asText(),
                    (a, b) -> a + "," + b);
        }
        assertEquals(
                Map.of(
                        "(no id)",
                        "MALFORMED_INPUT,MALFORMED_INPUT,MALFORMED_INPUT",
                        "bad-task",
                        "UNKNOWN_TASK",
                        "bad-adapter",
                        "UNKNOWN_ADAPTER",
                        "bad-field",
                        "INVALID_REQUEST",
                        "too-long",
                        "LIMIT_EXCEEDED",
                        "rec-5",
                        "DUPLICATE_ID",
                        "rec-6",
                        "DUPLICATE_ID"),
                codes);
        assertEquals("UNKNOWN_TASK", referenceRows.get("bad-task").get("status").asText());
        assertTrue(
                referenceLog.contains(
                        "check: 2,009 input records = 2,004 output rows + 5 error rows"),
                referenceLog);
        assertTrue(
                referenceLog.matches(
                        "(?s).*label: \\d[\\d,]*/2,009 records \\(.*records/s, .*tokens/s, ETA .*"),
                referenceLog);
        assertTrue(referenceLog.contains("labels of mood: "), referenceLog);
    }

    @Test
    void aRunKilledMidwayThenRunAgainGivesTheSameCompleteOutput() throws Exception {
        Path output = work.resolve("killed.jsonl");
        Path parts = output.resolveSibling("killed.jsonl.parts");
        // A separate JVM, a smaller batch (so it is still running when killed) and small parts.
        List<String> cmd =
                new ArrayList<>(
                        List.of(
                                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                                "-Xmx1g",
                                "-Dai.djl.offline=true",
                                "-Dai.djl.pytorch.num_threads=1",
                                "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"),
                                "-Dlog4j2.configurationFile="
                                        + root().resolve("scripts/log4j2-cli.xml"),
                                "-Dlog.level=WARN",
                                "-cp",
                                System.getProperty("java.class.path"),
                                LabelJob.class.getName(),
                                "--input",
                                input.toString(),
                                "--output",
                                output.toString(),
                                "--model",
                                model.toString(),
                                "--adapters",
                                adapters.toString(),
                                "--task",
                                tasks.toString(),
                                "--batch",
                                "4",
                                "--device",
                                "cpu",
                                "--max-prompt-tokens",
                                "400",
                                "--commit-every",
                                "50",
                                "--commit-interval-ms",
                                "300"));
        Process p =
                new ProcessBuilder(cmd)
                        .redirectErrorStream(true)
                        .redirectOutput(work.resolve("killed.log").toFile())
                        .start();
        long committed = 0;
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (p.isAlive() && System.nanoTime() < deadline) {
            committed = committedLines(parts);
            if (committed >= 400) {
                break;
            }
            Thread.sleep(20);
        }
        assertTrue(
                p.isAlive(),
                "the run was still going when killed:\n"
                        + Files.readString(work.resolve("killed.log")));
        p.destroyForcibly(); // SIGKILL: no shutdown hook, no close(), half-written parts
        // stay behind
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        committed = committedLines(parts);
        assertTrue(
                committed >= 400 && committed < RECORDS,
                "killed midway with " + committed + " records committed");
        assertFalse(Files.exists(output), "no merged output from a killed run");

        ByteArrayOutputStream log = new ByteArrayOutputStream();
        LabelJob.Summary again =
                LabelJob.run(
                        options(output, 32), new PrintStream(log, true, StandardCharsets.UTF_8));
        String text = log.toString(StandardCharsets.UTF_8);
        System.out.println(text);
        assertTrue(again.succeeded(), text);
        assertEquals(
                committed, again.resumedFrom(), "the second run skipped what the first committed");
        assertTrue(text.contains("resuming"), text);
        assertFalse(Files.exists(parts), "parts are removed after the merge");

        Map<String, JsonNode> rows = rowsById(output);
        assertEquals(referenceRows.keySet(), rows.keySet(), "every id exactly once");
        for (var e : referenceRows.entrySet()) {
            JsonNode got = rows.get(e.getKey());
            JsonNode want = e.getValue();
            assertEquals(want.get("status"), got.get("status"), e.getKey());
            assertEquals(want.get("label"), got.get("label"), e.getKey());
            if (want.has("probabilities")) {
                for (var it = want.get("probabilities").fields(); it.hasNext(); ) {
                    var f = it.next();
                    assertEquals(
                            f.getValue().asDouble(),
                            got.get("probabilities").get(f.getKey()).asDouble(),
                            1e-4,
                            e.getKey() + " " + f.getKey());
                }
            }
        }
        assertEquals(
                sortedLines(work.resolve("reference.errors.jsonl")),
                sortedLines(work.resolve("killed.errors.jsonl")));
    }

    static long committedLines(Path parts) {
        long n = 0;
        for (Path p : PartFiles.committed(parts)) {
            n += PartFiles.lines(p).size();
        }
        return n;
    }

    static List<String> sortedLines(Path p) throws Exception {
        List<String> l = new ArrayList<>(Files.readAllLines(p));
        l.sort(null);
        return l;
    }
}
