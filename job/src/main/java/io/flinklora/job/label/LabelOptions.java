package io.flinklora.job.label;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.gpu.cli.CliOptions;
import io.flinklora.gpu.cli.EngineOptions;
import io.flinklora.job.JobOptions;
import io.flinklora.operators.GenerationSettings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Options of the bulk labelling job ({@code scripts/label.sh}), from {@code --name value} pairs.
 */
@Command(
        name = "label",
        sortOptions = false,
        synopsisHeading = "",
        customSynopsis =
                "usage: scripts/label.sh --input F --output F --model DIR [--adapters DIR] [--task FILE] [options]")
@PublicEvolving
public final class LabelOptions implements CliOptions.Renames {
    List<Path> inputs = new ArrayList<>();

    @Option(
            names = "--output",
            order = 1,
            paramLabel = "F",
            description =
                    "labels, one JSON line per id; committed parts go to F.parts/ while running")
    Path output;

    @Option(
            names = "--errors",
            order = 2,
            paramLabel = "F",
            description = "every line that failed, with its code (default: F with .errors.jsonl)")
    Path errors;

    @Option(
            names = "--task",
            order = 3,
            paramLabel = "FILE",
            description =
                    "task file: {\"tasks\": "
                            + "[{\"name\", \"template\" with {text},"
                            + " \"labels\", \"adapter\" | \"route\": \"auto\", \"max_new_tokens\"}]}")
    Path taskFile;

    Path router;

    /**
     * The engine's options, shared with the streaming job and generate.sh; --max-batch is --batch
     * here.
     */
    @Mixin EngineOptions engine = new EngineOptions();

    @Option(
            names = "--parallelism",
            order = 31,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description = "labelling subtasks, one engine each (default ${DEFAULT-VALUE})")
    int parallelism = 1;

    // Deeper than the streaming job's queue: a file's lines are all there, and batches fill from
    // the queue.
    @Option(
            names = "--max-queued",
            order = 32,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description = "requests waiting per subtask (default ${DEFAULT-VALUE})")
    int maxQueued = 256;

    @Option(
            names = "--commit-every",
            order = 33,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description = "rows per committed part at most (default ${DEFAULT-VALUE})")
    int commitEvery = 1000;

    @Option(
            names = "--commit-interval-ms",
            order = 34,
            paramLabel = "MS",
            converter = CliOptions.PositiveLong.class,
            description =
                    "a part is committed at least this often while rows arrive (default ${DEFAULT-VALUE})")
    long commitIntervalMs = 2000;

    @Option(
            names = "--progress-interval-ms",
            order = 35,
            paramLabel = "MS",
            converter = CliOptions.PositiveLong.class,
            description = "console progress line period (default ${DEFAULT-VALUE})")
    long progressIntervalMs = 2000;

    @Option(
            names = "--max-record-bytes",
            order = 36,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description = "input line size at most (default ${DEFAULT-VALUE})")
    int maxRecordBytes = 1 << 20;

    @Option(
            names = "--keep-parts",
            order = 37,
            paramLabel = "true|false",
            arity = "1",
            description = "keep F.parts/ after the merge (default ${DEFAULT-VALUE})")
    boolean keepParts;

    @Option(
            names = "--overwrite",
            order = 38,
            paramLabel = "true|false",
            arity = "1",
            description = "replace an existing complete output (default ${DEFAULT-VALUE})")
    boolean overwrite;

    @Option(
            names = {"-h", "--help"},
            order = 39,
            usageHelp = true,
            description = "this text")
    boolean help;

    @Option(
            names = "--input",
            order = 0,
            paramLabel = "F[,F2]",
            description =
                    "JSON Lines files or folders "
                            + "of them: {\"id\", \"text\", \"task\" | \"template\" (+ \"labels\"), "
                            + "\"adapter\" | \"adapters\" | \"route\": \"auto\"}")
    void input(String v) {
        for (String p : v.split(",")) {
            inputs.add(Path.of(p));
        }
    }

    @Option(
            names = "--router",
            order = 30,
            paramLabel = "FILE",
            description =
                    "router file: records of tasks "
                            + "(or records) with \"route\": \"auto\" get the adapters of the router task nearest to their prompt; "
                            + "rows report it in \"route\"")
    void router(String v) {
        if (!Files.isReadable(Path.of(v))) {
            throw new IllegalArgumentException("--router " + v + " does not exist");
        }
        router = Path.of(JobOptions.routerFile(v));
    }

    /**
     * Parses {@code --name value} and {@code --name=value}; null when {@code --help} was asked for.
     */
    public static LabelOptions parse(String[] args) {
        LabelOptions o = new LabelOptions();
        if (!CliOptions.parse(o, args)) {
            return null;
        }
        if (o.inputs.isEmpty() || o.output == null || o.engine.model == null) {
            throw new IllegalArgumentException("--input, --output and --model are required");
        }
        o.engine.checkModelFiles();
        // The job runs here, in a local environment: paths are this process's, made absolute once.
        o.engine.model = Path.of(o.engine.model).toAbsolutePath().toString();
        if (o.engine.adapters != null) {
            o.engine.adapters = Path.of(o.engine.adapters).toAbsolutePath().toString();
        }
        if (o.errors == null) {
            String f = o.output.getFileName().toString();
            String base = f.endsWith(".jsonl") ? f.substring(0, f.length() - 6) : f;
            o.errors = o.output.resolveSibling(base + ".errors.jsonl");
        }
        return o;
    }

    /** The options with their defaults, generated from the annotations above. */
    public static String usage() {
        return CliOptions.usage(new LabelOptions());
    }

    /** Where committed parts live while a run (or a series of killed runs) is in progress. */
    public Path partsDir() {
        return output.resolveSibling(output.getFileName() + ".parts");
    }

    GenerationSettings generationSettings() {
        return GenerationSettings.builder(engine.engineConfig())
                .device(engine.device)
                .maxQueued(maxQueued)
                .router(router == null ? null : router.toAbsolutePath().toString())
                .build();
    }

    @Override
    public Map<String, String> renamedOptions() {
        return Map.of("--max-batch", "--batch");
    }
}
