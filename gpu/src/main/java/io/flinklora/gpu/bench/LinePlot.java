package io.flinklora.gpu.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;

/** A small headless line chart written as PNG, so benchmarks can plot without any extra dependency. */
public final class LinePlot {
    private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c),
        new Color(0xff7f0e), new Color(0x9467bd), new Color(0x8c564b)};

    private final String title;
    private final String xLabel;
    private final String yLabel;
    private boolean logX;
    private boolean logY;
    private final List<String> names = new ArrayList<>();
    private final List<double[][]> series = new ArrayList<>();

    public LinePlot(String title, String xLabel, String yLabel) {
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
    }

    public LinePlot logX() {
        this.logX = true;
        return this;
    }

    public LinePlot logY() {
        this.logY = true;
        return this;
    }

    /** Adds a named series of (x, y) points. */
    public LinePlot series(String name, double[] xs, double[] ys) {
        names.add(name);
        series.add(new double[][] {xs.clone(), ys.clone()});
        return this;
    }

    public void write(Path file) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int w = 900;
        int h = 560;
        int left = 90;
        int right = 30;
        int top = 50;
        int bottom = 70;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        double minX = Double.MAX_VALUE;
        double maxX = -Double.MAX_VALUE;
        double minY = Double.MAX_VALUE;
        double maxY = -Double.MAX_VALUE;
        for (double[][] s : series) {
            for (int i = 0; i < s[0].length; i++) {
                if (!Double.isFinite(s[1][i])) {
                    continue;
                }
                minX = Math.min(minX, tx(s[0][i]));
                maxX = Math.max(maxX, tx(s[0][i]));
                minY = Math.min(minY, ty(s[1][i]));
                maxY = Math.max(maxY, ty(s[1][i]));
            }
        }
        if (!logY) {
            minY = Math.min(0, minY);
        }
        if (maxX == minX) {
            maxX = minX + 1;
        }
        if (maxY == minY) {
            maxY = minY + 1;
        }
        maxY += (maxY - minY) * 0.05;
        int pw = w - left - right;
        int ph = h - top - bottom;
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
        g.drawString(title, left, 30);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        g.drawRect(left, top, pw, ph);
        // Ticks: at the data's x values, and five even steps on y.
        java.util.TreeSet<Double> xTicks = new java.util.TreeSet<>();
        for (double[][] s : series) {
            for (double x : s[0]) {
                xTicks.add(x);
            }
        }
        for (double x : xTicks) {
            int px = left + (int) ((tx(x) - minX) / (maxX - minX) * pw);
            g.setColor(new Color(0xdddddd));
            g.drawLine(px, top, px, top + ph);
            g.setColor(Color.BLACK);
            String label = x == Math.rint(x) ? Long.toString((long) x) : String.format("%.2g", x);
            g.drawString(label, px - g.getFontMetrics().stringWidth(label) / 2, top + ph + 18);
        }
        for (int i = 0; i <= 5; i++) {
            double v = minY + (maxY - minY) * i / 5;
            int py = top + ph - (int) ((v - minY) / (maxY - minY) * ph);
            g.setColor(new Color(0xdddddd));
            g.drawLine(left, py, left + pw, py);
            g.setColor(Color.BLACK);
            double real = logY ? Math.pow(10, v) : v;
            String label = Math.abs(real) >= 100 ? String.format("%.0f", real) : String.format("%.3g", real);
            g.drawString(label, left - 8 - g.getFontMetrics().stringWidth(label), py + 4);
        }
        g.drawString(xLabel, left + pw / 2 - g.getFontMetrics().stringWidth(xLabel) / 2, h - 25);
        Graphics2D gy = (Graphics2D) g.create();
        gy.rotate(-Math.PI / 2);
        gy.drawString(yLabel, -(top + ph / 2) - g.getFontMetrics().stringWidth(yLabel) / 2, 22);
        gy.dispose();
        for (int k = 0; k < series.size(); k++) {
            double[][] s = series.get(k);
            g.setColor(PALETTE[k % PALETTE.length]);
            g.setStroke(new BasicStroke(2.2f));
            int prevX = -1;
            int prevY = -1;
            for (int i = 0; i < s[0].length; i++) {
                if (!Double.isFinite(s[1][i])) {
                    prevX = -1;
                    continue;
                }
                int px = left + (int) ((tx(s[0][i]) - minX) / (maxX - minX) * pw);
                int py = top + ph - (int) ((ty(s[1][i]) - minY) / (maxY - minY) * ph);
                g.fillOval(px - 4, py - 4, 8, 8);
                if (prevX >= 0) {
                    g.drawLine(prevX, prevY, px, py);
                }
                prevX = px;
                prevY = py;
            }
            int ly = top + 18 + k * 18;
            g.fillRect(left + 14, ly - 9, 18, 4);
            g.setColor(Color.BLACK);
            g.drawString(names.get(k), left + 38, ly - 3);
        }
        g.dispose();
        ImageIO.write(img, "png", file.toFile());
    }

    private double tx(double x) {
        return logX ? Math.log(x) / Math.log(2) : x;
    }

    private double ty(double y) {
        return logY ? Math.log10(y) : y;
    }
}
