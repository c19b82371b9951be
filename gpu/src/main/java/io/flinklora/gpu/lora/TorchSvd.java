package io.flinklora.gpu.lora;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import io.flinklora.annotation.Internal;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * {@code torch.linalg.svd(w, full_matrices=False)} in float64, the routine PEFT's {@code
 * pissa_init} calls. DJL's PyTorch JNI exposes no SVD, so it runs through a TorchScript module
 * ({@code svd.pt}, written by {@code gpu/src/main/torchscript/make_svd.py}) that libtorch executes;
 * a hand-written SVD in Java was 50 times slower (8 s against 0.16 s for 768 x 768).
 */
@Internal
final class TorchSvd {
    /** {@code w = u diag(s) vt}: u [out, k] and vt [k, in] row-major, s descending. */
    record Result(double[] u, double[] s, double[] vt, int k) {}

    private static Model module;

    private TorchSvd() {}

    private static synchronized Model module() {
        if (module == null) {
            Model m = Model.newInstance("svd", Device.cpu(), "PyTorch");
            try (InputStream in = TorchSvd.class.getResourceAsStream("svd.pt")) {
                if (in == null) {
                    throw new IllegalStateException("svd.pt is missing from the classpath");
                }
                m.load(in, null);
            } catch (IOException e) {
                m.close();
                throw new UncheckedIOException(e);
            } catch (MalformedModelException e) {
                m.close();
                throw new IllegalStateException("svd.pt cannot be loaded: " + e.getMessage(), e);
            }
            module = m;
        }
        return module;
    }

    /** The thin SVD of {@code w} [out, in], row-major. */
    static Result svd(float[] w, int out, int in) {
        double[] values = new double[w.length];
        for (int i = 0; i < w.length; i++) {
            values[i] = w[i];
        }
        Model m = module();
        synchronized (TorchSvd.class) {
            try (NDManager nd = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
                NDArray matrix = nd.create(values, new Shape(out, in));
                NDList usv =
                        m.getBlock()
                                .forward(new ParameterStore(nd, false), new NDList(matrix), false);
                for (NDArray a : usv) {
                    a.attach(nd);
                }
                double[] s = usv.get(1).toDoubleArray();
                return new Result(
                        usv.get(0).toDoubleArray(), s, usv.get(2).toDoubleArray(), s.length);
            }
        }
    }
}
