package io.flinklora.gpu.bench;

import io.flinklora.annotation.Internal;
import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.text.FieldPosition;
import java.text.NumberFormat;
import java.text.ParsePosition;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.axis.ValueAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/** Line charts of benchmark results as PNG, drawn by JFreeChart. */
@Internal
public final class LinePlot {
    static final int WIDTH = 900;
    static final int HEIGHT = 560;

    private final String title;
    private final String xLabel;
    private final String yLabel;
    private boolean logX;
    private boolean logY;
    private final XYSeriesCollection data = new XYSeriesCollection();

    public LinePlot(String title, String xLabel, String yLabel) {
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
    }

    /** A base-2 x axis: the benchmarks sweep batch sizes in powers of two. */
    public LinePlot logX() {
        this.logX = true;
        return this;
    }

    public LinePlot logY() {
        this.logY = true;
        return this;
    }

    /** Adds a named series of (x, y) points; a non-finite y leaves a gap in the line. */
    public LinePlot series(String name, double[] xs, double[] ys) {
        // Points keep their order (no auto-sort) and may repeat an x, as the caller measured them.
        XYSeries s = new XYSeries(name, false, true);
        for (int i = 0; i < xs.length; i++) {
            s.add(xs[i], Double.isFinite(ys[i]) ? ys[i] : null);
        }
        data.addSeries(s);
        return this;
    }

    public void write(Path file) throws IOException {
        System.setProperty("java.awt.headless", "true");
        ValueAxis x = logX ? logAxis(xLabel, 2) : new NumberAxis(xLabel);
        if (logX) {
            // Ticks at the powers of two themselves, written as plain integers.
            ((LogAxis) x).setTickUnit(new NumberTickUnit(1));
        }
        ValueAxis y = logY ? logAxis(yLabel, 10) : new NumberAxis(yLabel);
        if (!logY) {
            ((NumberAxis) y).setAutoRangeIncludesZero(true);
        }
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, true);
        for (int i = 0; i < data.getSeriesCount(); i++) {
            renderer.setSeriesStroke(i, new BasicStroke(2.2f));
        }
        XYPlot plot = new XYPlot(data, x, y, renderer);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        ChartUtils.saveChartAsPNG(file.toFile(), chart, WIDTH, HEIGHT);
    }

    private static LogAxis logAxis(String label, double base) {
        LogAxis axis = new LogAxis(label);
        axis.setBase(base);
        axis.setSmallestValue(1e-9);
        // Tick labels as plain numbers to three digits (JFreeChart's default writes powers,
        // "10^2.3").
        axis.setNumberFormatOverride(new ThreeDigits());
        return axis;
    }

    /** Formats a tick value to three significant digits, as {@code %.3g} without an exponent. */
    private static final class ThreeDigits extends NumberFormat {
        @Override
        public StringBuffer format(double v, StringBuffer to, FieldPosition pos) {
            return to.append(
                    new java.math.BigDecimal(v)
                            .round(new java.math.MathContext(3))
                            .stripTrailingZeros()
                            .toPlainString());
        }

        @Override
        public StringBuffer format(long v, StringBuffer to, FieldPosition pos) {
            return format((double) v, to, pos);
        }

        @Override
        public Number parse(String source, ParsePosition pos) {
            throw new UnsupportedOperationException("tick labels are only written");
        }
    }
}
