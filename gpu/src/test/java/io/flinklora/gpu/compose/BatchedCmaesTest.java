package io.flinklora.gpu.compose;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.apache.commons.math3.optim.InitialGuess;
import org.apache.commons.math3.optim.MaxEval;
import org.apache.commons.math3.optim.PointValuePair;
import org.apache.commons.math3.optim.SimpleBounds;
import org.apache.commons.math3.optim.nonlinear.scalar.GoalType;
import org.apache.commons.math3.optim.nonlinear.scalar.ObjectiveFunction;
import org.apache.commons.math3.optim.nonlinear.scalar.noderiv.CMAESOptimizer;
import org.apache.commons.math3.random.MersenneTwister;
import org.junit.jupiter.api.Test;

/**
 * Driving CMAESOptimizer a generation at a time evaluates exactly the points the library does
 * alone.
 */
class BatchedCmaesTest {
    static final double[] TARGET = {0.8, -0.3, 1.1};

    static double f(double[] x) {
        double s = 0;
        for (int i = 0; i < x.length; i++) {
            s += (i + 1) * (x[i] - TARGET[i]) * (x[i] - TARGET[i]);
        }
        return s + 0.05 * (Math.abs(x[0]) + Math.abs(x[1]) + Math.abs(x[2]));
    }

    @Test
    void generationsAtOnceVisitTheLibrarysOwnPointsAndOptimum() {
        int population = BatchedCmaes.defaultPopulation(3);
        int generations = 40;
        long seed = 42;
        List<double[]> plain = new ArrayList<>();
        PointValuePair alone =
                new CMAESOptimizer(
                                generations, 0, true, 0, 0, new MersenneTwister(seed), false, null)
                        .optimize(
                                new MaxEval(1 + population * generations),
                                new ObjectiveFunction(
                                        x -> {
                                            plain.add(x.clone());
                                            return f(x);
                                        }),
                                GoalType.MINIMIZE,
                                new InitialGuess(new double[3]),
                                new SimpleBounds(
                                        new double[] {-1.5, -1.5, -1.5},
                                        new double[] {1.5, 1.5, 1.5}),
                                new CMAESOptimizer.Sigma(new double[] {0.5, 0.5, 0.5}),
                                new CMAESOptimizer.PopulationSize(population));

        List<double[]> batched = new ArrayList<>();
        List<Integer> sizes = new ArrayList<>();
        BatchedCmaes.Result r =
                new BatchedCmaes(new double[3], 0.5, -1.5, 1.5, population, generations, seed)
                        .run(
                                points -> {
                                    sizes.add(points.length);
                                    double[] v = new double[points.length];
                                    for (int i = 0; i < points.length; i++) {
                                        batched.add(points[i].clone());
                                        v[i] = f(points[i]);
                                    }
                                    return v;
                                },
                                g -> {});

        assertEquals(1, sizes.get(0), "the start point is scored alone");
        assertTrue(
                sizes.subList(1, sizes.size()).stream().allMatch(s -> s == population),
                sizes.toString());
        assertEquals(plain.size(), batched.size());
        for (int i = 0; i < plain.size(); i++) {
            assertArrayEquals(plain.get(i), batched.get(i), 0.0, "point " + i);
        }
        assertArrayEquals(alone.getPoint(), r.point(), 0.0);
        assertEquals(alone.getValue(), r.value(), 0.0);
        // And it optimizes: near the target (the L1 term pulls slightly toward 0).
        assertArrayEquals(TARGET, r.point(), 0.05);
        assertEquals(sizes.size(), r.generations().size());
    }
}
