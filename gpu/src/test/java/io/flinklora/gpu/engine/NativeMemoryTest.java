package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.sampling.SamplingParams;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class NativeMemoryTest {

    @Test
    void fiveThousandDecodeStepsLeaveNativeMemoryFlat() throws IOException {
        try (Engine engine =
                Engine.open(EngineConfig.builder(TestModels.stories260k()).maxRunning(4).build())) {
            int[] prompt = engine.tokenizer().encode("Once upon a time");
            int submitted = 0;
            int steps = 0;
            long rssAfterWarmup = 0;
            int arraysAfterWarmup = 0;
            long peak = 0;
            // The first 1000 steps let the JVM heap and PyTorch's allocator reach their working
            // size;
            // from then on RSS and the count of live native arrays must stay flat.
            while (steps < 5000) {
                while (engine.stats().running() + engine.stats().waiting() < 4) {
                    // Sequences of varying length keep joining and leaving the batch.
                    engine.submit(
                            EngineHarness.request(
                                    "m" + submitted,
                                    prompt,
                                    SamplingParams.greedy(50 + (submitted * 37) % 400)
                                            .withIgnoreEos(true)));
                    submitted++;
                }
                engine.step();
                steps++;
                if (steps == 1000) {
                    rssAfterWarmup = rssBytes();
                    arraysAfterWarmup = engine.liveArrays();
                }
                if (steps > 1000 && steps % 250 == 0) {
                    peak = Math.max(peak, rssBytes());
                    if (steps % 1000 == 0) {
                        Runtime rt = Runtime.getRuntime();
                        System.err.printf(
                                "step %d: RSS %.1f MiB, heap committed %.1f MiB, used %.1f MiB%n",
                                steps,
                                rssBytes() / 1048576.0,
                                rt.totalMemory() / 1048576.0,
                                (rt.totalMemory() - rt.freeMemory()) / 1048576.0);
                    }
                    assertEquals(
                            arraysAfterWarmup,
                            engine.liveArrays(),
                            "live native arrays at step " + steps);
                }
            }
            long growth = peak - rssAfterWarmup;
            System.err.printf(
                    "native memory: RSS %.1f MiB after warm-up, peak %.1f MiB over 5000 steps (%d sequences)%n",
                    rssAfterWarmup / 1048576.0, peak / 1048576.0, submitted);
            assertTrue(
                    growth < 48L << 20, "RSS grew by " + (growth >> 20) + " MiB over 4000 steps");
        }
    }

    static long rssBytes() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }
}
