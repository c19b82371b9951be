package io.flinklora.gpu.train;

import io.flinklora.annotation.Internal;

/**
 * Learning rate by update number: linear warmup from {@code peak / warmup} to {@code peak} over
 * {@code warmup} updates, then cosine decay to {@code peak * minRatio} at {@code total}.
 */
@Internal
public record LrSchedule(double peak, int warmup, int total, double minRatio) {
    public LrSchedule {
        if (!(peak > 0) || warmup < 0 || total < 1 || minRatio < 0 || minRatio > 1) {
            throw new IllegalArgumentException(
                    "bad schedule: peak " + peak + ", warmup " + warmup + ", total " + total);
        }
    }

    /** Rate of the update numbered {@code t} (0-based). */
    public double at(int t) {
        if (t < warmup) {
            return peak * (t + 1) / warmup;
        }
        double progress = Math.min(1.0, (t - warmup) / (double) Math.max(1, total - warmup));
        return peak * (minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
    }
}
