package io.flinklora.gpu.compose;

import io.flinklora.annotation.Internal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import org.apache.commons.math3.optim.InitialGuess;
import org.apache.commons.math3.optim.MaxEval;
import org.apache.commons.math3.optim.PointValuePair;
import org.apache.commons.math3.optim.SimpleBounds;
import org.apache.commons.math3.optim.nonlinear.scalar.GoalType;
import org.apache.commons.math3.optim.nonlinear.scalar.ObjectiveFunction;
import org.apache.commons.math3.optim.nonlinear.scalar.noderiv.CMAESOptimizer;
import org.apache.commons.math3.random.MersenneTwister;

/**
 * Commons Math's {@link CMAESOptimizer}, driven one whole generation at a time so that a caller can
 * score all of a generation's candidates together (one mixed batch) instead of one per call.
 *
 * <p>{@code CMAESOptimizer} asks for one value at a time through its objective function and has no
 * ask/tell interface. But it draws a generation's samples before it evaluates any of them, and uses
 * their values only after the last one (commons-math3 3.6.1, {@code doOptimize}: {@code randn1} for
 * the whole generation, then {@code fitfun.value} per column, then the update); the start point is
 * evaluated alone first. So each round runs the optimizer from the start with the same seed,
 * answering every point already scored from the record; the points of the first unscored generation
 * are collected (the answers given for them meanwhile are never used: the round is aborted at that
 * generation's last point, before the update reads them), scored together, and recorded. A replayed
 * point that differs from the recorded one fails loudly instead of mixing up values. Rounds cost
 * only the optimizer's own arithmetic again (tiny next to model calls); the search itself is
 * exactly the library's CMA-ES, with its step-size and covariance adaptation and stopping rules.
 */
@Internal
public final class BatchedCmaes {
    /**
     * One generation as scored: its points (in the optimizer's order) and their objective values.
     */
    public record Generation(int index, double[][] points, double[] values) {}

    /** What the search found: the library's optimum and every generation scored. */
    public record Result(double[] point, double value, List<Generation> generations) {}

    private final double[] start;
    private final double sigma;
    private final double lower;
    private final double upper;
    private final int population;
    private final int generations;
    private final long seed;

    /**
     * @param start the first point (evaluated alone, as the library does)
     * @param sigma initial step size in every coordinate
     * @param lower bound of every coordinate (the library repairs points outside, with a penalty)
     * @param population candidates per generation (lambda)
     * @param generations generations at most (the library may stop earlier on its tolerances)
     */
    public BatchedCmaes(
            double[] start,
            double sigma,
            double lower,
            double upper,
            int population,
            int generations,
            long seed) {
        if (population < 2 || generations < 1 || !(sigma > 0) || !(lower < upper)) {
            throw new IllegalArgumentException(
                    "population >= 2, generations >= 1, sigma > 0 and lower < upper needed");
        }
        this.start = start.clone();
        this.sigma = sigma;
        this.lower = lower;
        this.upper = upper;
        this.population = population;
        this.generations = generations;
        this.seed = seed;
    }

    /** CMA-ES's default population for {@code n} dimensions: 4 + floor(3 ln n). */
    public static int defaultPopulation(int n) {
        return 4 + (int) Math.floor(3 * Math.log(n));
    }

    /**
     * Runs the search; {@code scoreGeneration} gets each generation's points at once and returns
     * their values (generation 0 is the start point alone); {@code progress} sees each generation
     * as scored.
     */
    public Result run(
            Function<double[][], double[]> scoreGeneration,
            java.util.function.Consumer<Generation> progress) {
        List<Generation> scored = new ArrayList<>();
        while (true) {
            Replay replay = new Replay(scored);
            PointValuePair best;
            try {
                best =
                        optimizer()
                                .optimize(
                                        new MaxEval(1 + population * generations),
                                        new ObjectiveFunction(replay::value),
                                        GoalType.MINIMIZE,
                                        new InitialGuess(start),
                                        new SimpleBounds(filled(lower), filled(upper)),
                                        new CMAESOptimizer.Sigma(filled(sigma)),
                                        new CMAESOptimizer.PopulationSize(population));
            } catch (GenerationReady ready) {
                double[] values = scoreGeneration.apply(ready.points);
                if (values.length != ready.points.length) {
                    throw new IllegalStateException(
                            values.length + " values for " + ready.points.length + " points");
                }
                Generation g = new Generation(scored.size(), ready.points, values.clone());
                scored.add(g);
                progress.accept(g);
                continue;
            }
            return new Result(best.getPoint(), best.getValue(), List.copyOf(scored));
        }
    }

    private CMAESOptimizer optimizer() {
        // stopFitness 0 disables that criterion; active CMA (the library's usual setting), full
        // covariance, no
        // feasibility resampling (it would redraw points after some were evaluated).
        return new CMAESOptimizer(
                generations, 0, true, 0, 0, new MersenneTwister(seed), false, null);
    }

    private double[] filled(double v) {
        double[] a = new double[start.length];
        Arrays.fill(a, v);
        return a;
    }

    /** Thrown at the last point of the first generation not scored yet, carrying its points. */
    private static final class GenerationReady extends RuntimeException {
        final double[][] points;

        GenerationReady(double[][] points) {
            super(null, null, false, false);
            this.points = points;
        }
    }

    /** Answers an optimizer run's calls from the generations scored so far. */
    private final class Replay {
        private final List<Generation> scored;
        private int call;
        private double[][] pending;

        Replay(List<Generation> scored) {
            this.scored = scored;
        }

        double value(double[] x) {
            int c = call++;
            int g = c == 0 ? 0 : 1 + (c - 1) / population;
            int k = c == 0 ? 0 : (c - 1) % population;
            int size = g == 0 ? 1 : population;
            if (g < scored.size()) {
                Generation done = scored.get(g);
                if (!Arrays.equals(done.points()[k], x)) {
                    throw new IllegalStateException(
                            "CMA-ES replay diverged at generation "
                                    + g
                                    + " point "
                                    + k
                                    + ": "
                                    + Arrays.toString(x)
                                    + " instead of "
                                    + Arrays.toString(done.points()[k]));
                }
                return done.values()[k];
            }
            if (pending == null) {
                pending = new double[size][];
            }
            pending[k] = x.clone();
            if (k == size - 1) {
                throw new GenerationReady(pending);
            }
            return 0; // never read: the round ends at this generation's last point, before the
            // update
        }
    }
}
