package io.flinklora.gpu.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.annotation.Internal;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Runs a Python peer script ({@code scripts/peer/*.py}) on a workload file: {@code SCRIPT
 * --workload W --threads N --out RESULT}, its output to a log beside the result.
 */
@Internal
final class PeerProcess {
    private static final ObjectMapper JSON = new ObjectMapper();

    private PeerProcess() {}

    /**
     * The peer's result JSON, or null (with the log's last line printed) when it exited non-zero or
     * wrote no result: Python or its libraries missing, which the script explains.
     */
    static JsonNode run(
            String python,
            String script,
            Path workload,
            Path result,
            Path log,
            int threads,
            long timeoutHours)
            throws IOException, InterruptedException {
        Files.deleteIfExists(result);
        Process p =
                new ProcessBuilder(
                                python,
                                script,
                                "--workload",
                                workload.toString(),
                                "--threads",
                                String.valueOf(threads),
                                "--out",
                                result.toString())
                        .redirectErrorStream(true)
                        .redirectOutput(log.toFile())
                        .start();
        if (!p.waitFor(timeoutHours, TimeUnit.HOURS)) {
            p.destroyForcibly();
            throw new IllegalStateException(
                    script + " did not finish in " + timeoutHours + " hour(s)");
        }
        if (p.exitValue() != 0 || !Files.isRegularFile(result)) {
            System.out.println(
                    "peer skipped (exit "
                            + p.exitValue()
                            + "): "
                            + Files.readString(log).strip().lines().reduce((x, y) -> y).orElse(""));
            return null;
        }
        return JSON.readTree(result.toFile());
    }
}
