package io.flinklora.job.label;

import com.fasterxml.jackson.databind.JsonNode;
import io.flinklora.operators.label.LabelRows;
import io.flinklora.operators.label.PartFiles;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Counts what the committed part files hold, reading each new part once: the progress line polls it
 * while the job runs, and the summary and the final check read it at the end.
 */
final class Tally {
    private final Path dir;
    private final Set<Path> read = new HashSet<>();
    private final Set<String> keys = new HashSet<>();
    long lines;
    long outputRows;
    long errorRows;
    long errorOnly;
    long tokens;
    long repeated;
    final Map<String, Long> byStatus = new TreeMap<>();
    final Map<String, Map<String, Long>> byLabel = new TreeMap<>();

    Tally(Path dir) {
        this.dir = dir;
    }

    /** Reads the parts committed since the last call. */
    Tally refresh() {
        for (Path p : PartFiles.committed(dir)) {
            if (read.add(p)) {
                for (String line : PartFiles.lines(p)) {
                    add(LabelRows.parse(line));
                }
            }
        }
        return this;
    }

    private void add(LabelRows.Parsed r) {
        if (!keys.add(r.key())) {
            repeated++;
            return;
        }
        lines++;
        tokens += r.tokens();
        byStatus.merge(r.status(), 1L, Long::sum);
        if (r.row() != null) {
            outputRows++;
            JsonNode label = r.row().get("label");
            if (label != null) {
                String task = r.row().path("task").asText();
                byLabel.computeIfAbsent(task.isEmpty() ? "(template)" : task, t -> new TreeMap<>())
                        .merge(label.asText(), 1L, Long::sum);
            }
        }
        if (r.error() != null) {
            errorRows++;
            if (r.row() == null) {
                errorOnly++;
            }
        }
    }

    long ok() {
        return byStatus.getOrDefault("ok", 0L);
    }
}
