package io.flinklora.operators.label;

import io.flinklora.annotation.Internal;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;

/**
 * Writes part lines ({@link LabelRows}) into committed part files: every {@code commitEvery} rows
 * or {@code commitMillis}, and at the end of input, the current part is forced to disk and renamed
 * to its final name. A run killed at any point leaves only complete parts behind; a re-run skips
 * their record keys. Counts rows by status as metrics ({@code labelledRecords}, {@code
 * records.<status>}).
 */
@Internal
public final class PartFileSink implements Sink<String> {
    private static final long serialVersionUID = 1L;
    private final String dir;
    private final String run;
    private final int commitEvery;
    private final long commitMillis;

    public PartFileSink(String dir, String run, int commitEvery, long commitMillis) {
        this.dir = dir;
        this.run = run;
        this.commitEvery = commitEvery;
        this.commitMillis = commitMillis;
    }

    @Override
    public SinkWriter<String> createWriter(WriterInitContext context) throws IOException {
        // The attempt is part of the name so that a restarted writer never renames onto a committed
        // part.
        String name = run + "-a" + context.getTaskInfo().getAttemptNumber();
        return new Writer(
                Path.of(dir),
                name,
                context.getTaskInfo().getIndexOfThisSubtask(),
                commitEvery,
                commitMillis,
                context.metricGroup());
    }

    static final class Writer implements SinkWriter<String> {
        private final Path dir;
        private final String run;
        private final int subtask;
        private final int commitEvery;
        private final long commitMillis;
        private final MetricGroup metrics;
        private final Counter labelled;
        private final Map<String, Counter> byStatus = new HashMap<>();
        private Path current;
        private FileChannel channel;
        private BufferedWriter out;
        private int rows;
        private int seq;
        private long openedAt;

        Writer(
                Path dir,
                String run,
                int subtask,
                int commitEvery,
                long commitMillis,
                MetricGroup metrics)
                throws IOException {
            this.dir = Files.createDirectories(dir);
            this.run = run;
            this.subtask = subtask;
            this.commitEvery = commitEvery;
            this.commitMillis = commitMillis;
            this.metrics = metrics;
            this.labelled = metrics.counter("labelledRecords");
        }

        @Override
        public void write(String line, Context context) throws IOException {
            if (out == null) {
                current =
                        dir.resolve(PartFiles.IN_PROGRESS + PartFiles.partName(run, subtask, seq));
                channel =
                        FileChannel.open(
                                current, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                out =
                        new BufferedWriter(
                                new OutputStreamWriter(
                                        java.nio.channels.Channels.newOutputStream(channel),
                                        StandardCharsets.UTF_8),
                                1 << 16);
                openedAt = System.currentTimeMillis();
            }
            out.write(line);
            out.write('\n');
            rows++;
            labelled.inc();
            String status = LabelRows.parse(line).status();
            byStatus.computeIfAbsent(status, s -> metrics.addGroup("records").counter(s)).inc();
            if (rows >= commitEvery || System.currentTimeMillis() - openedAt >= commitMillis) {
                commit();
            }
        }

        /** Forces the part to disk, then renames it: it either exists complete or not at all. */
        private void commit() throws IOException {
            if (out == null) {
                return;
            }
            out.flush();
            channel.force(true);
            out.close();
            Files.move(
                    current,
                    dir.resolve(PartFiles.partName(run, subtask, seq)),
                    StandardCopyOption.ATOMIC_MOVE);
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);
            } catch (IOException e) {
                // Some file systems cannot sync a folder; the rename itself is still atomic.
            }
            out = null;
            channel = null;
            rows = 0;
            seq++;
        }

        @Override
        public void flush(boolean endOfInput) throws IOException {
            if (endOfInput) {
                commit();
            }
        }

        @Override
        public void close() throws IOException {
            // Every line written is complete, so what is open can be committed; a crash skips this
            // and leaves an in-progress file that the next run deletes and redoes.
            commit();
        }
    }
}
