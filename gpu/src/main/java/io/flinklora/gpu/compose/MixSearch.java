package io.flinklora.gpu.compose;

import io.flinklora.annotation.Internal;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * LoRAHub-style search of adapter mix weights: CMA-ES ({@link BatchedCmaes}) minimizing the
 * examples' mean token cross-entropy ({@link MixScorer}) plus {@code l1 * sum |w|}, each generation
 * scored as one mixed batch.
 */
@Internal
public final class MixSearch {
    /**
     * @param generations CMA-ES generations at most
     * @param l1 weight of the L1 term
     * @param population candidates per generation; 0 for CMA-ES's default
     * @param sigma initial step size; LoRAHub starts at 0 within [-1.5, 1.5]
     */
    public record Settings(
            int generations, double l1, int population, double sigma, double bound, long seed) {
        public static Settings defaults() {
            return new Settings(100, 0.05, 0, 0.5, 1.5, 1);
        }
    }

    /**
     * One generation: best and mean objective, the best candidate's weights and cross-entropy, time
     * so far.
     */
    public record Progress(
            int generation,
            int candidates,
            double bestObjective,
            double meanObjective,
            double[] bestWeights,
            double bestLoss,
            double elapsedSeconds) {}

    /**
     * The best weights found, their cross-entropy and objective, and every generation's progress.
     */
    public record Result(
            double[] weights,
            double loss,
            double objective,
            List<Progress> history,
            long scoredRows,
            double seconds) {}

    private MixSearch() {}

    public static double objective(double loss, double[] w, double l1) {
        double s = 0;
        for (double v : w) {
            s += Math.abs(v);
        }
        return loss + l1 * s;
    }

    public static Result run(MixScorer scorer, Settings settings, Consumer<Progress> progress) {
        int n = scorer.adapters().size();
        int population =
                settings.population() > 0
                        ? settings.population()
                        : BatchedCmaes.defaultPopulation(n);
        BatchedCmaes cmaes =
                new BatchedCmaes(
                        new double[n],
                        settings.sigma(),
                        -settings.bound(),
                        settings.bound(),
                        population,
                        settings.generations(),
                        settings.seed());
        List<Progress> history = new ArrayList<>();
        long t0 = System.nanoTime();
        long[] rows = {0};
        // Cross-entropy per scored point, to report the best weights' loss without the L1 term.
        java.util.Map<String, Double> losses = new java.util.HashMap<>();
        BatchedCmaes.Result r =
                cmaes.run(
                        points -> {
                            double[] loss = scorer.losses(List.of(points));
                            rows[0] += (long) points.length * scorer.examples().size();
                            double[] obj = new double[points.length];
                            for (int i = 0; i < points.length; i++) {
                                obj[i] = objective(loss[i], points[i], settings.l1());
                                losses.put(java.util.Arrays.toString(points[i]), loss[i]);
                            }
                            return obj;
                        },
                        g -> {
                            int best = 0;
                            double mean = 0;
                            for (int i = 0; i < g.values().length; i++) {
                                best = g.values()[i] < g.values()[best] ? i : best;
                                mean += g.values()[i] / g.values().length;
                            }
                            Progress p =
                                    new Progress(
                                            g.index(),
                                            g.values().length,
                                            g.values()[best],
                                            mean,
                                            g.points()[best].clone(),
                                            losses.get(java.util.Arrays.toString(g.points()[best])),
                                            (System.nanoTime() - t0) / 1e9);
                            history.add(p);
                            progress.accept(p);
                        });
        Double loss = losses.get(java.util.Arrays.toString(r.point()));
        if (loss == null) {
            throw new IllegalStateException(
                    "the optimum " + java.util.Arrays.toString(r.point()) + " was never scored");
        }
        return new Result(
                r.point(),
                loss,
                objective(loss, r.point(), settings.l1()),
                List.copyOf(history),
                rows[0],
                (System.nanoTime() - t0) / 1e9);
    }
}
