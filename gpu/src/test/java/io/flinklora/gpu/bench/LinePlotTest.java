package io.flinklora.gpu.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The benchmark charts come out as PNGs a reader can open, with something drawn on them. */
class LinePlotTest {
    @TempDir Path dir;

    @Test
    void logLogLinePlotIsAReadablePngOfItsSize() throws Exception {
        Path png = dir.resolve("line.png");
        double[] xs = {1, 2, 4, 8};
        new LinePlot("throughput", "batch size", "tokens/s")
                .logX()
                .logY()
                .series("on", xs, new double[] {10, 19, 37, 70})
                .series("off", xs, new double[] {9, Double.NaN, 20, 25})
                .write(png);
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(LinePlot.WIDTH, img.getWidth());
        assertEquals(LinePlot.HEIGHT, img.getHeight());
        assertTrue(colours(img) > 5, "more than a blank canvas: " + colours(img) + " colours");
    }

    @Test
    void linearPlotAndBarChartAreReadablePngs() throws Exception {
        Path line = dir.resolve("linear.png");
        new LinePlot("latency", "batch size", "ms")
                .logX()
                .series("base", new double[] {1, 2}, new double[] {3, 4})
                .write(line);
        assertTrue(colours(ImageIO.read(line.toFile())) > 5);
        Path bars = dir.resolve("bars.png");
        BarChart.write(
                bars,
                "engine vs peer",
                List.of("a", "b"),
                List.of(new double[] {1, 2}, new double[] {3, 4}),
                List.of("engine", "peer"));
        BufferedImage img = ImageIO.read(bars.toFile());
        assertEquals(900, img.getWidth());
        assertEquals(700, img.getHeight());
        assertTrue(colours(img) > 5);
    }

    private static int colours(BufferedImage img) {
        Set<Integer> seen = new HashSet<>();
        for (int y = 0; y < img.getHeight(); y += 3) {
            for (int x = 0; x < img.getWidth(); x += 3) {
                seen.add(img.getRGB(x, y));
            }
        }
        return seen.size();
    }
}
