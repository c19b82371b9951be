package io.flinklora.gpu.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;

/**
 * AdamW (Loshchilov and Hutter) over a fixed list of parameters: first and second moment per
 * parameter with bias correction, weight decay decoupled from the gradient ({@code p -= lr * wd * p}).
 * Updates are in place, outside any gradient recording.
 */
final class AdamW implements AutoCloseable {
    private final List<NDArray> params;
    private final List<NDArray> m = new ArrayList<>();
    private final List<NDArray> v = new ArrayList<>();
    private final NDManager manager;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private int t;

    AdamW(List<NDArray> params, NDManager parent, double beta1, double beta2, double eps, double weightDecay) {
        this.params = List.copyOf(params);
        this.manager = parent.newSubManager();
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        for (NDArray p : params) {
            m.add(manager.zeros(p.getShape(), p.getDataType(), p.getDevice()));
            v.add(manager.zeros(p.getShape(), p.getDataType(), p.getDevice()));
        }
    }

    /** Updates made so far. */
    int updates() {
        return t;
    }

    /**
     * One update with the given gradients (same order as the parameters), each multiplied by
     * {@code gradScale} first (gradient clipping).
     */
    void step(List<NDArray> grads, double lr, double gradScale) {
        t++;
        double c1 = 1 - Math.pow(beta1, t);
        double c2 = 1 - Math.pow(beta2, t);
        for (int i = 0; i < params.size(); i++) {
            NDArray g = grads.get(i).mul(gradScale);
            NDArray mi = m.get(i).muli(beta1).addi(g.mul(1 - beta1));
            NDArray vi = v.get(i).muli(beta2).addi(g.square().muli(1 - beta2));
            NDArray p = params.get(i);
            if (weightDecay > 0) {
                p.muli(1 - lr * weightDecay);
            }
            p.subi(mi.div(c1).divi(vi.div(c2).sqrt().addi(eps)).muli(lr));
        }
    }

    @Override
    public void close() {
        manager.close();
    }
}
