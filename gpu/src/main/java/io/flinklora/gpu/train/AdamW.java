package io.flinklora.gpu.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.List;

/**
 * AdamW (Loshchilov and Hutter) over a fixed list of parameters: first and second moments with bias
 * correction, weight decay decoupled from the gradient ({@code p -= lr * wd * p}), and clipping by
 * the global gradient norm of these parameters. Moments live in one flat vector, so an update is a
 * handful of operations on it whatever the number of parameter arrays. Updates are in place,
 * outside any gradient recording.
 */
final class AdamW implements AutoCloseable {
    private final List<NDArray> params;
    private final long[] splits;
    private final NDManager manager;
    private final NDArray m;
    private final NDArray v;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private int t;

    AdamW(
            List<NDArray> params,
            NDManager parent,
            double beta1,
            double beta2,
            double eps,
            double weightDecay) {
        this.params = List.copyOf(params);
        this.manager = parent.newSubManager();
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        long total = 0;
        this.splits = new long[Math.max(0, params.size() - 1)];
        for (int i = 0; i < params.size(); i++) {
            total += params.get(i).size();
            if (i < splits.length) {
                splits[i] = total;
            }
        }
        this.m = manager.zeros(new Shape(total));
        this.v = manager.zeros(new Shape(total));
    }

    /** Updates made so far. */
    int updates() {
        return t;
    }

    /**
     * One update with the given gradients (same order as the parameters), scaled down first so
     * their global norm is at most {@code clipNorm}. Returns the norm before clipping.
     */
    double step(List<NDArray> grads, double lr, double clipNorm) {
        NDList flat = new NDList(grads.size());
        for (NDArray g : grads) {
            flat.add(g.reshape(-1));
        }
        NDArray g = flat.size() == 1 ? flat.get(0) : NDArrays.concat(flat, 0);
        double norm = Math.sqrt(g.square().sum().getFloat());
        if (norm > clipNorm) {
            g = g.mul(clipNorm / (norm + 1e-6));
        }
        t++;
        double c1 = 1 - Math.pow(beta1, t);
        double c2 = 1 - Math.pow(beta2, t);
        m.muli(beta1).addi(g.mul(1 - beta1));
        v.muli(beta2).addi(g.square().muli(1 - beta2));
        NDArray update = m.div(c1).divi(v.div(c2).sqrt().addi(eps)).muli(lr);
        NDList parts = params.size() == 1 ? new NDList(update) : update.split(splits);
        for (int i = 0; i < params.size(); i++) {
            NDArray p = params.get(i);
            if (weightDecay > 0) {
                p.muli(1 - lr * weightDecay);
            }
            p.subi(parts.get(i).reshape(p.getShape()));
        }
        return norm;
    }

    @Override
    public void close() {
        manager.close();
    }
}
