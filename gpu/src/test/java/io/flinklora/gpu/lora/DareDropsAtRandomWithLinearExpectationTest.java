package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * DARE cannot reproduce torch.bernoulli's random stream, so its distribution is checked instead:
 * each entry is kept with probability density and divided by it, the drops follow the seed, and the
 * combination averages to the linear one.
 */
class DareDropsAtRandomWithLinearExpectationTest {
    private static final Path INPUTS = AdapterCombinerMatchesPeftTest.FIXTURES.resolve("inputs");

    @Test
    void keepsAboutDensityOfTheEntriesRescaledByOneOverDensity() {
        int n = 200_000;
        float[] x = new float[n];
        SplittableRandom values = new SplittableRandom(5);
        for (int i = 0; i < n; i++) {
            x[i] = (float) values.nextGaussian();
        }
        for (double density : new double[] {0.1, 0.5, 0.9}) {
            float[] y = TaskMerge.randomPrune(x, density, new SplittableRandom(11));
            int kept = 0;
            for (int i = 0; i < n; i++) {
                if (y[i] != 0) {
                    kept++;
                    assertEquals(
                            x[i] / (float) density,
                            y[i],
                            0f,
                            "kept entries are divided by density");
                }
            }
            double sigma = Math.sqrt(n * density * (1 - density));
            assertTrue(
                    Math.abs(kept - n * density) < 5 * sigma,
                    density + ": kept " + kept + " of " + n);
        }
        assertArrayEquals(
                x,
                TaskMerge.randomPrune(x, 1.0, new SplittableRandom(1)),
                "density 1 keeps everything");
    }

    @Test
    void theSeedFixesTheDrops(@TempDir Path tmp) throws IOException {
        Map<String, float[]> s1 = dare(tmp.resolve("s1"), 1);
        Map<String, float[]> s1again = dare(tmp.resolve("s1again"), 1);
        Map<String, float[]> s2 = dare(tmp.resolve("s2"), 2);
        for (String t : s1.keySet()) {
            assertArrayEquals(s1.get(t), s1again.get(t), t);
        }
        assertFalse(
                s1.keySet().stream().allMatch(t -> Arrays.equals(s1.get(t), s2.get(t))),
                "another seed drops others");
    }

    @Test
    void averagedOverSeedsDareLinearIsLinear(@TempDir Path tmp) throws IOException {
        List<AdapterCombiner.Input> in =
                List.of(
                        new AdapterCombiner.Input(INPUTS.resolve("a"), 0.6),
                        new AdapterCombiner.Input(INPUTS.resolve("b"), -0.4));
        AdapterCombiner.combine(
                in, AdapterCombiner.Options.of(CombineMethod.LINEAR), tmp.resolve("linear"));
        Map<String, float[]> linear =
                AdapterCombinerMatchesPeftTest.tensors(tmp.resolve("linear"), null);
        int runs = 300;
        double density = 0.5;
        Map<String, double[]> mean = new java.util.TreeMap<>();
        for (int seed = 0; seed < runs; seed++) {
            Path out = tmp.resolve("dare");
            AdapterCombiner.combine(
                    in,
                    AdapterCombiner.Options.of(CombineMethod.DARE_LINEAR)
                            .density(density)
                            .seed(seed),
                    out);
            AdapterCombinerMatchesPeftTest.tensors(out, null)
                    .forEach(
                            (k, v) -> {
                                double[] m = mean.computeIfAbsent(k, x -> new double[v.length]);
                                for (int i = 0; i < v.length; i++) {
                                    m[i] += v[i] / (double) runs;
                                }
                            });
        }
        // Each entry's mean has variance x^2 (1 - d) / (d runs): relative error about 0.058 here.
        // Without
        // the 1/density rescale the mean would be half the linear value (error 0.5).
        double expected = Math.sqrt((1 - density) / (density * runs));
        for (String t : linear.keySet()) {
            double err = 0;
            double norm = 0;
            for (int i = 0; i < linear.get(t).length; i++) {
                double l = linear.get(t)[i];
                err += (mean.get(t)[i] - l) * (mean.get(t)[i] - l);
                norm += l * l;
            }
            double rel = Math.sqrt(err / norm);
            assertTrue(
                    rel < 2 * expected,
                    t
                            + ": mean over seeds is off linear by "
                            + rel
                            + " (expected ~"
                            + expected
                            + ")");
        }
    }

    private static Map<String, float[]> dare(Path out, long seed) throws IOException {
        List<AdapterCombiner.Input> in =
                List.of(
                        new AdapterCombiner.Input(INPUTS.resolve("a"), 0.6),
                        new AdapterCombiner.Input(INPUTS.resolve("b"), 0.4),
                        new AdapterCombiner.Input(INPUTS.resolve("d"), 0.8));
        AdapterCombiner.combine(
                in,
                AdapterCombiner.Options.of(CombineMethod.DARE_TIES).density(0.4).seed(seed),
                out);
        return AdapterCombinerMatchesPeftTest.tensors(out, null);
    }
}
