package io.flinklora.operators.label;

import io.flinklora.annotation.Internal;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The folder of committed part files of a bulk run. A part is written under a hidden in-progress
 * name, forced to disk and then renamed to {@code part-*.jsonl} (an atomic rename in one folder),
 * so a part file that exists is complete and one that is not renamed yet never counts.
 */
@Internal
public final class PartFiles {
    static final String PREFIX = "part-";
    static final String SUFFIX = ".jsonl";
    static final String IN_PROGRESS = ".inprogress-";

    private PartFiles() {}

    /** Committed part files, in name order (run, subtask, sequence). */
    public static List<Path> committed(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(
                            p -> {
                                String n = p.getFileName().toString();
                                return n.startsWith(PREFIX) && n.endsWith(SUFFIX);
                            })
                    .sorted()
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Record keys of every committed line. */
    public static Set<String> committedKeys(Path dir) {
        Set<String> keys = new HashSet<>();
        for (Path p : committed(dir)) {
            for (String line : lines(p)) {
                keys.add(LabelRows.parse(line).key());
            }
        }
        return keys;
    }

    public static List<String> lines(Path part) {
        List<String> out = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(part, StandardCharsets.UTF_8)) {
            for (String l = r.readLine(); l != null; l = r.readLine()) {
                if (!l.isEmpty()) {
                    out.add(l);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /** Removes what a killed run left half-written; returns how many files. */
    public static int removeInProgress(Path dir) {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        int n = 0;
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                if (p.getFileName().toString().startsWith(IN_PROGRESS)) {
                    Files.delete(p);
                    n++;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return n;
    }

    static String partName(String run, int subtask, int seq) {
        return String.format("%s%s-%03d-%06d%s", PREFIX, run, subtask, seq, SUFFIX);
    }
}
