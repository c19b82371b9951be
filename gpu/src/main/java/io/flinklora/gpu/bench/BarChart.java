package io.flinklora.gpu.bench;

import io.flinklora.annotation.Internal;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.CategoryLabelPositions;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.category.DefaultCategoryDataset;

/** Grouped bar charts of benchmark results as PNG, drawn by JFreeChart. */
@Internal
public final class BarChart {
    private BarChart() {}

    /**
     * @param categories one group per entry (e.g. model, workload, threads)
     * @param values per category, one value per series, in {@code series} order
     */
    public static void write(
            Path png,
            String title,
            List<String> categories,
            List<double[]> values,
            List<String> series)
            throws IOException {
        System.setProperty("java.awt.headless", "true");
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        for (int c = 0; c < categories.size(); c++) {
            for (int s = 0; s < series.size(); s++) {
                data.addValue(values.get(c)[s], series.get(s), categories.get(c));
            }
        }
        JFreeChart chart =
                ChartFactory.createBarChart(
                        title,
                        null,
                        "tokens/s",
                        data,
                        PlotOrientation.VERTICAL,
                        true,
                        false,
                        false);
        chart.getCategoryPlot()
                .getDomainAxis()
                .setCategoryLabelPositions(CategoryLabelPositions.UP_45);
        ChartUtils.saveChartAsPNG(png.toFile(), chart, Math.max(900, 70 * categories.size()), 700);
    }
}
