package io.flinklora.gpu.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.model.ProjectionDelta;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Autograd through {@link LlamaModel#logitsCausal} gives the gradient the loss really has: on every
 * conformance architecture (Gemma's GELU, norms and soft-caps, Qwen3's q/k norms, sliding windows,
 * biases, ...) the gradient of a next-token loss with respect to a LoRA B in the first layer, taken
 * with the garbage collector run between the forward and the backward pass (which frees arrays DJL
 * made from Java numbers), equals the central finite difference of the loss.
 */
class CausalForwardGradientTest {
    /** q, and the MLP's gate (its up where it has none: Starcoder2's c_fc). */
    private static Projection[] checked(LlamaModel model) {
        return new Projection[] {
            Projection.Q, model.config().gatedMlp() ? Projection.GATE : Projection.UP
        };
    }

    @BeforeAll
    static void oneThread() {
        io.flinklora.gpu.OneTorchThread.set();
    }

    @AfterAll
    static void restoreThreads() {
        io.flinklora.gpu.OneTorchThread.restore();
    }

    @TestFactory
    Stream<DynamicTest> gradientsEqualFiniteDifferencesOnEveryArchitecture() throws Exception {
        List<DynamicTest> tests = new ArrayList<>();
        tests.add(DynamicTest.dynamicTest("stories260k", () -> check(TestModels.stories260k())));
        Path cases = TestModels.projectRoot().resolve("gpu/src/test/resources/conformance");
        try (Stream<Path> dirs = Files.list(cases)) {
            for (Path dir :
                    dirs.filter(d -> Files.isRegularFile(d.resolve("config.json")))
                            .sorted()
                            .toList()) {
                if (io.flinklora.gpu.model.ModelConfig.read(dir).experts() != null) {
                    // Training on a mixture of experts is refused (JointTrainer): its loss is
                    // piecewise in the routing, and a finite difference that crosses a switch of
                    // experts is no derivative (measured: 0.47 against autograd's -0.06).
                    continue;
                }
                tests.add(DynamicTest.dynamicTest(dir.getFileName().toString(), () -> check(dir)));
            }
        }
        return tests.stream();
    }

    private static void check(Path dir) {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                LlamaModel model =
                        LlamaModel.load(dir, manager, Device.cpu(), DataType.FLOAT32, 64)) {
            Random random = new Random(11);
            int rows = 2;
            int len = 10;
            long[] ids = new long[rows * len];
            long[] targets = new long[rows * len];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = 1 + random.nextInt(model.config().vocabSize() - 1);
                targets[i] = random.nextInt(model.config().vocabSize());
            }
            NDArray tokens = Tensors.create(manager, ids, new Shape(rows, len));
            NDArray target = Tensors.create(manager, targets, new Shape(targets.length, 1));
            int r = 4;
            Projection[] checked = checked(model);
            float[][] a = new float[checked.length][];
            float[][] b = new float[checked.length][];
            for (int k = 0; k < checked.length; k++) {
                a[k] = uniform(random, r * checked[k].inFeatures(model.config()), 0.5);
                b[k] = uniform(random, checked[k].outFeatures(model.config()) * r, 0.5);
            }
            for (int k = 0; k < checked.length; k++) {
                Projection p = checked[k];
                float[] grad;
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    NDArray[] params = arrays(manager, model, a, b, checked);
                    params[checked.length + k].setRequiresGradient(true);
                    try (GradientCollector gc =
                            ai.djl.engine.Engine.getInstance().newGradientCollector()) {
                        NDArray loss = loss(model, tokens, target, params, checked);
                        for (int i = 0; i < 3; i++) {
                            System.gc();
                            // Garbage of the size a freed scalar would be reused by.
                            manager.create(new float[] {1e9f, -1e9f}).close();
                        }
                        gc.backward(loss);
                    }
                    grad = params[checked.length + k].getGradient().toFloatArray();
                }
                int worst = 0;
                for (int i = 1; i < grad.length; i++) {
                    worst = Math.abs(grad[i]) > Math.abs(grad[worst]) ? i : worst;
                }
                for (int i : new int[] {worst, (worst + grad.length / 2) % grad.length}) {
                    float eps = 1e-2f;
                    float saved = b[k][i];
                    b[k][i] = saved + eps;
                    double up = lossValue(manager, model, tokens, target, a, b, checked);
                    b[k][i] = saved - eps;
                    double down = lossValue(manager, model, tokens, target, a, b, checked);
                    b[k][i] = saved;
                    double numeric = (up - down) / (2 * eps);
                    double tolerance = 0.02 * Math.abs(grad[worst]) + 1e-3;
                    assertTrue(
                            Math.abs(numeric - grad[i]) <= tolerance,
                            dir.getFileName()
                                    + " "
                                    + p
                                    + " B["
                                    + i
                                    + "]: autograd "
                                    + grad[i]
                                    + " vs finite difference "
                                    + numeric);
                }
            }
        }
    }

    private static double lossValue(
            NDManager manager,
            LlamaModel model,
            NDArray tokens,
            NDArray target,
            float[][] a,
            float[][] b,
            Projection[] checked) {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            return loss(model, tokens, target, arrays(manager, model, a, b, checked), checked)
                    .getFloat();
        }
    }

    /** Mean next-token cross-entropy with LoRA (A, B) on the checked projections of layer 0. */
    private static NDArray loss(
            LlamaModel model,
            NDArray tokens,
            NDArray target,
            NDArray[] params,
            Projection[] checked) {
        ProjectionDelta delta =
                (layer, p, in, out, bias) -> {
                    for (int k = 0; k < checked.length; k++) {
                        if (layer == 0 && p == checked[k]) {
                            return out.add(
                                    in.matMul(params[k].transpose())
                                            .matMul(params[checked.length + k].transpose()));
                        }
                    }
                    return out;
                };
        NDArray logits = model.logitsCausal(tokens, null, delta);
        return logits.logSoftmax(-1).gather(target, 1).mean().neg();
    }

    private static NDArray[] arrays(
            NDManager manager, LlamaModel model, float[][] a, float[][] b, Projection[] checked) {
        NDArray[] out = new NDArray[2 * checked.length];
        for (int k = 0; k < checked.length; k++) {
            int in = checked[k].inFeatures(model.config());
            int o = checked[k].outFeatures(model.config());
            out[k] = Tensors.create(manager, a[k], new Shape(a[k].length / in, in));
            out[checked.length + k] = Tensors.create(manager, b[k], new Shape(o, b[k].length / o));
        }
        return out;
    }

    private static float[] uniform(Random random, int n, double bound) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
        }
        return v;
    }
}
