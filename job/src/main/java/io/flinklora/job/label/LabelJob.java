package io.flinklora.job.label;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.operators.GenerationOperatorFactory;
import io.flinklora.operators.Outputs;
import io.flinklora.operators.label.LabelInput;
import io.flinklora.operators.label.LabelRows;
import io.flinklora.operators.label.LabelTasks;
import io.flinklora.operators.label.PartFileSink;
import io.flinklora.operators.label.PartFiles;
import io.flinklora.operators.label.PrepareRecords;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExecutionOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.reader.TextLineInputFormat;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * Offline bulk labelling in Flink's BATCH mode: JSON Lines records -> prepare (task, template,
 * adapters; bad lines become coded error rows) -> the same multi-LoRA generation operator as the
 * streaming job (labels scored with shared prompt caches) -> committed part files. The driver
 * prints a progress line from the committed parts, merges them into one output file and one errors
 * file at the end, and checks that every input line is accounted for. A killed run is resumed by
 * running the same command again: committed record keys are skipped.
 */
@PublicEvolving
public final class LabelJob {
    private LabelJob() {}

    public static void main(String[] args) throws Exception {
        LabelOptions o;
        try {
            o = args.length == 0 ? null : LabelOptions.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("label: " + e.getMessage());
            System.err.println(LabelOptions.usage());
            System.exit(2);
            return;
        }
        if (o == null) {
            System.out.println(LabelOptions.usage());
            return;
        }
        Summary s;
        try {
            s = run(o, System.err);
        } catch (IllegalArgumentException e) {
            System.err.println("label: " + e.getMessage());
            System.exit(2);
            return;
        }
        System.exit(s.succeeded() ? 0 : 1);
    }

    /** What a run did. */
    public record Summary(
            boolean jobSucceeded,
            long inputRecords,
            long outputRows,
            long errorRows,
            long errorOnlyRows,
            Map<String, Long> byStatus,
            Map<String, Map<String, Long>> byLabel,
            long resumedFrom,
            double seconds) {
        /** Every input line has exactly one committed row: an output row, or an error row only. */
        public boolean accountedFor() {
            return inputRecords == outputRows + errorOnlyRows;
        }

        public boolean succeeded() {
            return jobSucceeded && accountedFor();
        }
    }

    /**
     * Runs (or resumes) a labelling to the end and merges its output; progress goes to {@code log}.
     */
    public static Summary run(LabelOptions o, PrintStream log) throws Exception {
        LabelTasks tasks = o.taskFile == null ? LabelTasks.none() : LabelTasks.read(o.taskFile);
        if (o.router == null && !tasks.routed().isEmpty()) {
            // Every record of such a task would fail: refuse the run instead.
            throw new IllegalArgumentException(
                    "task(s) "
                            + String.join(", ", tasks.routed())
                            + " route their records"
                            + " (\"route\": \"auto\"): give a router file with --router FILE");
        }
        Path parts = o.partsDir();
        if (Files.exists(o.output) && !Files.isDirectory(parts)) {
            if (!o.overwrite) {
                throw new IllegalArgumentException(
                        "output "
                                + o.output
                                + " exists from a finished run; delete it or "
                                + "pass --overwrite true");
            }
            Files.delete(o.output);
        }
        for (Path in : o.inputs) {
            if (!Files.exists(in)) {
                throw new IllegalArgumentException("input " + in + " does not exist");
            }
        }
        int stale = PartFiles.removeInProgress(parts);
        Files.createDirectories(parts);
        Tally tally = new Tally(parts).refresh();
        long resumed = tally.lines;
        long total = countRecords(o.inputs);
        if (resumed > 0 || stale > 0) {
            log.printf(
                    Locale.ROOT,
                    "label: resuming: %,d of %,d records already committed by an earlier run "
                            + "(%d unfinished part file(s) dropped; their records are redone)%n",
                    resumed,
                    total,
                    stale);
        }
        log.printf(
                Locale.ROOT,
                "label: %,d input records, %,d to do%n",
                total,
                Math.max(0, total - resumed));

        Configuration conf = new Configuration();
        conf.set(ExecutionOptions.RUNTIME_MODE, RuntimeExecutionMode.BATCH);
        // No restarts inside a run: a failed run stops, and running it again resumes from its
        // committed parts.
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        String run = "r" + System.currentTimeMillis();
        build(env, o, tasks, parts, run);
        long t0 = System.nanoTime();
        JobClient client = env.executeAsync("flink-lora bulk labelling");
        CompletableFuture<JobExecutionResult> result = client.getJobExecutionResult();
        Progress progress = new Progress(total, resumed, tally.tokens, log);
        boolean ok;
        String failure = null;
        while (true) {
            try {
                result.get(o.progressIntervalMs, TimeUnit.MILLISECONDS);
                ok = true;
                break;
            } catch (TimeoutException e) {
                progress.print(tally.refresh(), System.nanoTime() - t0);
            } catch (ExecutionException e) {
                ok = false;
                failure = rootMessage(e);
                break;
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        tally.refresh();
        progress.print(tally, System.nanoTime() - t0);
        Summary s =
                new Summary(
                        ok,
                        total,
                        tally.outputRows,
                        tally.errorRows,
                        tally.errorOnly,
                        tally.byStatus,
                        tally.byLabel,
                        resumed,
                        seconds);
        if (!ok) {
            log.println("label: the job failed: " + failure);
            log.printf(
                    Locale.ROOT,
                    "label: %,d of %,d records are committed in %s; run the same command again to "
                            + "resume%n",
                    tally.lines,
                    total,
                    parts);
            return s;
        }
        if (s.accountedFor()) {
            merge(parts, o.output, o.errors);
            if (!o.keepParts) {
                deleteTree(parts);
            }
        }
        summarize(s, tally, o, log);
        return s;
    }

    /** The job graph: lines -> prepare -> generation (choices) -> rows -> committed part files. */
    static void build(
            StreamExecutionEnvironment env,
            LabelOptions o,
            LabelTasks tasks,
            Path parts,
            String run) {
        org.apache.flink.core.fs.Path[] paths =
                o.inputs.stream()
                        .map(p -> new org.apache.flink.core.fs.Path(p.toAbsolutePath().toUri()))
                        .toArray(org.apache.flink.core.fs.Path[]::new);
        FileSource<String> source =
                FileSource.forRecordStreamFormat(new TextLineInputFormat(), paths).build();
        int maxBytes = o.maxRecordBytes;
        DataStream<String> lines =
                env.fromSource(source, WatermarkStrategy.noWatermarks(), "input lines")
                        .filter(l -> !l.isBlank())
                        .name("non-blank lines");
        SingleOutputStreamOperator<GenerationRequest> requests =
                lines.keyBy(l -> LabelInput.keyOf(l, maxBytes), Types.STRING)
                        .process(
                                new PrepareRecords(
                                        tasks, parts.toAbsolutePath().toString(), maxBytes),
                                new AvroTypeInfo<>(GenerationRequest.class))
                        .name("prepare records");
        SingleOutputStreamOperator<TokenEvent> generation =
                requests.keyBy(GenerationRequest::getRequestId, Types.STRING)
                        .transform(
                                "multi-LoRA labelling",
                                new AvroTypeInfo<>(TokenEvent.class),
                                new GenerationOperatorFactory(o.generationSettings()))
                        .setParallelism(o.parallelism);
        // Each row stream has its own part writer chained to its producer: in BATCH mode every
        // network
        // exchange is blocking, so a sink behind one (or behind a union, which cannot chain) would
        // get no
        // row before the last record is labelled, and nothing could be committed, or shown, on the
        // way.
        String dir = parts.toAbsolutePath().toString();
        generation
                .getSideOutput(Outputs.COMPLETIONS)
                .map(LabelRows::ok, Types.STRING)
                .setParallelism(o.parallelism)
                .name("label rows")
                .sinkTo(new PartFileSink(dir, run + "-ok", o.commitEvery, o.commitIntervalMs))
                .setParallelism(o.parallelism)
                .name("committed parts (labels)");
        generation
                .getSideOutput(Outputs.ERRORS)
                .map(LabelRows::engineError, Types.STRING)
                .setParallelism(o.parallelism)
                .name("engine error rows")
                .sinkTo(
                        new PartFileSink(
                                dir, run + "-engine-errors", o.commitEvery, o.commitIntervalMs))
                .setParallelism(o.parallelism)
                .name("committed parts (engine errors)");
        requests.getSideOutput(PrepareRecords.ROWS)
                .sinkTo(
                        new PartFileSink(
                                dir, run + "-input-errors", o.commitEvery, o.commitIntervalMs))
                .setParallelism(requests.getParallelism())
                .name("committed parts (input errors)");
    }

    /**
     * Non-blank lines of the input files (folders: every file not starting with '.' or '_', as
     * FileSource reads).
     */
    static long countRecords(List<Path> inputs) throws IOException {
        long n = 0;
        for (Path in : inputs) {
            List<Path> files;
            if (Files.isDirectory(in)) {
                try (Stream<Path> s = Files.walk(in)) {
                    files =
                            s.filter(Files::isRegularFile)
                                    .filter(
                                            p -> {
                                                for (Path part : in.relativize(p)) {
                                                    String name = part.toString();
                                                    if (name.startsWith(".")
                                                            || name.startsWith("_")) {
                                                        return false;
                                                    }
                                                }
                                                return true;
                                            })
                                    .toList();
                }
            } else {
                files = List.of(in);
            }
            for (Path f : files) {
                try (BufferedReader r = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
                    for (String l = r.readLine(); l != null; l = r.readLine()) {
                        if (!l.isBlank()) {
                            n++;
                        }
                    }
                }
            }
        }
        return n;
    }

    /**
     * Writes every committed row once (by record key) into the output and errors files, each
     * replaced atomically.
     */
    static void merge(Path parts, Path output, Path errors) throws IOException {
        Path outTmp = output.resolveSibling("." + output.getFileName() + ".tmp");
        Path errTmp = errors.resolveSibling("." + errors.getFileName() + ".tmp");
        Set<String> keys = new HashSet<>();
        try (BufferedWriter out = Files.newBufferedWriter(outTmp, StandardCharsets.UTF_8);
                BufferedWriter err = Files.newBufferedWriter(errTmp, StandardCharsets.UTF_8)) {
            for (Path p : PartFiles.committed(parts)) {
                for (String line : PartFiles.lines(p)) {
                    LabelRows.Parsed r = LabelRows.parse(line);
                    if (!keys.add(r.key())) {
                        continue;
                    }
                    if (r.row() != null) {
                        out.write(r.row().toString());
                        out.write('\n');
                    }
                    if (r.error() != null) {
                        err.write(r.error().toString());
                        err.write('\n');
                    }
                }
            }
        }
        Files.move(
                errTmp,
                errors,
                StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
        Files.move(
                outTmp,
                output,
                StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
    }

    private static void summarize(Summary s, Tally t, LabelOptions o, PrintStream log) {
        long thisRun = t.lines - s.resumedFrom();
        log.printf(
                Locale.ROOT,
                "label: done in %.1f s: %,d records, %,d ok, %,d failed%n",
                s.seconds(),
                s.inputRecords(),
                t.ok(),
                t.lines - t.ok());
        log.println(
                "label: by status: "
                        + s.byStatus().entrySet().stream()
                                .map(e -> e.getKey() + " " + e.getValue())
                                .collect(Collectors.joining(", ")));
        for (var task : s.byLabel().entrySet()) {
            log.println(
                    "label: labels of "
                            + task.getKey()
                            + ": "
                            + task.getValue().entrySet().stream()
                                    .map(e -> e.getKey() + " " + e.getValue())
                                    .collect(Collectors.joining(", ")));
        }
        log.printf(
                Locale.ROOT,
                "label: throughput %.1f records/s, %.0f tokens/s (this run: %,d records%s)%n",
                thisRun / s.seconds(),
                (t.tokens) / s.seconds(),
                thisRun,
                s.resumedFrom() > 0
                        ? String.format(
                                Locale.ROOT, "; %,d committed by earlier runs", s.resumedFrom())
                        : "");
        log.printf(
                Locale.ROOT,
                "label: check: %,d input records = %,d output rows + %,d error rows without an output "
                        + "row (duplicate ids, no readable id): %s%n",
                s.inputRecords(),
                s.outputRows(),
                s.errorOnlyRows(),
                s.accountedFor() ? "OK" : "MISMATCH");
        if (s.accountedFor()) {
            log.printf(
                    Locale.ROOT,
                    "label: wrote %s (%,d rows) and %s (%,d rows)%n",
                    o.output,
                    s.outputRows(),
                    o.errors,
                    s.errorRows());
        } else {
            log.println(
                    "label: the committed parts in " + o.partsDir() + " were kept for inspection");
        }
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.toString();
    }

    static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /**
     * The console progress line: records done of total, records/s and tokens/s of this run, ETA.
     */
    static final class Progress {
        private final long total;
        private final long resumed;
        private final long tokensBefore;
        private final PrintStream log;

        Progress(long total, long resumed, long tokensBefore, PrintStream log) {
            this.total = total;
            this.resumed = resumed;
            this.tokensBefore = tokensBefore;
            this.log = log;
        }

        void print(Tally t, long nanos) {
            double secs = nanos / 1e9;
            long done = t.lines;
            double rate = (done - resumed) / secs;
            double tokens = (t.tokens - tokensBefore) / secs;
            String eta = rate <= 0 ? "?" : duration((total - done) / rate);
            log.printf(
                    Locale.ROOT,
                    "label: %,d/%,d records (%.1f%%), %.1f records/s, %.0f tokens/s, ETA %s "
                            + "[ok %,d, failed %,d]%n",
                    done,
                    total,
                    total == 0 ? 100.0 : 100.0 * done / total,
                    rate,
                    tokens,
                    eta,
                    t.ok(),
                    done - t.ok());
        }

        private static String duration(double seconds) {
            long s = Math.round(seconds);
            return s >= 3600
                    ? String.format("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60)
                    : String.format("%d:%02d", s / 60, s % 60);
        }
    }
}
