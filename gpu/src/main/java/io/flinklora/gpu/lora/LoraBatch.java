package io.flinklora.gpu.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.model.ProjectionDelta;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The adapter deltas of one engine step: for every projection, {@code sum_a w_a * B_a (A_a x)}
 * over the adapters each token row uses, computed for all rows together (no model call per
 * adapter). Built on the engine thread inside the step's scope; every array dies with the step.
 */
public final class LoraBatch implements ProjectionDelta {
    private final NDManager manager;
    private final DataType dtype;
    private final LoraStrategy strategy;
    private final int tokens;
    private final List<LoraAdapter> adapters = new ArrayList<>();
    private final List<long[]> rowsOf = new ArrayList<>();
    private final List<float[]> weightsOf = new ArrayList<>();
    private final Map<Long, Plan> plans = new HashMap<>();
    private final List<AdapterMix> rowMix;

    /** Which adapters (by index in the step) take part in one projection, with their device tensors. */
    private record Plan(int[] members, NDArray pairRows, NDArray combine, long[] splits) {
    }

    /**
     * @param rowMix the adapter mix of each token row of the step (null or empty for base rows)
     */
    public LoraBatch(List<AdapterMix> rowMix, NDManager manager, DataType dtype, LoraStrategy strategy) {
        this.manager = manager;
        this.dtype = dtype;
        this.strategy = strategy;
        this.tokens = rowMix.size();
        this.rowMix = rowMix;
        Map<LoraAdapter, Integer> index = new LinkedHashMap<>();
        Map<Integer, List<long[]>> pairs = new HashMap<>();
        for (int t = 0; t < rowMix.size(); t++) {
            AdapterMix mix = rowMix.get(t);
            if (mix == null) {
                continue;
            }
            for (AdapterMix.Part part : mix.parts()) {
                int i = index.computeIfAbsent(part.adapter(), a -> {
                    adapters.add(a);
                    return adapters.size() - 1;
                });
                pairs.computeIfAbsent(i, k -> new ArrayList<>())
                        .add(new long[] {t, Double.doubleToRawLongBits(part.weight())});
            }
        }
        for (int i = 0; i < adapters.size(); i++) {
            List<long[]> p = pairs.get(i);
            long[] rows = new long[p.size()];
            float[] w = new float[p.size()];
            for (int j = 0; j < rows.length; j++) {
                rows[j] = p.get(j)[0];
                w[j] = (float) Double.longBitsToDouble(p.get(j)[1]);
            }
            rowsOf.add(rows);
            weightsOf.add(w);
        }
    }

    /** Whether any row of the step uses an adapter; a base-only step skips LoRA entirely. */
    public boolean isEmpty() {
        return adapters.isEmpty();
    }

    @Override
    public NDArray apply(int layer, Projection p, NDArray input, NDArray output) {
        if (adapters.isEmpty()) {
            return output;
        }
        long mask = 0;
        int[] members = new int[adapters.size()];
        int n = 0;
        for (int i = 0; i < adapters.size(); i++) {
            if (adapters.get(i).module(layer, p) != null) {
                members[n++] = i;
                mask |= 1L << Math.min(i, 63);
            }
        }
        if (n == 0) {
            return output;
        }
        if (strategy == LoraStrategy.LOOP) {
            return loop(layer, p, input, output);
        }
        Plan plan = plan(mask, java.util.Arrays.copyOf(members, n));
        NDArray x = input.get(plan.pairRows());
        NDArray deltas = strategy == LoraStrategy.GATHERED
                ? gathered(layer, p, x, plan)
                : segmented(layer, p, x, plan);
        return output.add(plan.combine().matMul(deltas));
    }

    private NDArray segmented(int layer, Projection p, NDArray x, Plan plan) {
        NDList segments = plan.splits().length == 0 ? new NDList(x) : x.split(plan.splits());
        NDList parts = new NDList(plan.members().length);
        for (int k = 0; k < plan.members().length; k++) {
            LoraAdapter.Module m = adapters.get(plan.members()[k]).module(layer, p);
            parts.add(linear(linear(segments.get(k), m.a), m.b));
        }
        return parts.size() == 1 ? parts.singletonOrThrow() : NDArrays.concat(parts);
    }

    private NDArray gathered(int layer, Projection p, NDArray x, Plan plan) {
        int maxRank = 0;
        for (int i : plan.members()) {
            maxRank = Math.max(maxRank, adapters.get(i).module(layer, p).rank);
        }
        NDList as = new NDList();
        NDList bs = new NDList();
        long[] which = new long[(int) x.getShape().get(0)];
        int at = 0;
        for (int k = 0; k < plan.members().length; k++) {
            LoraAdapter.Module m = adapters.get(plan.members()[k]).module(layer, p);
            NDArray a = m.a;
            NDArray b = m.b;
            if (m.rank < maxRank) {
                a = a.concat(manager.zeros(new Shape(maxRank - m.rank, m.in), dtype), 0);
                b = b.concat(manager.zeros(new Shape(m.out, maxRank - m.rank), dtype), 1);
            }
            as.add(a);
            bs.add(b);
            for (int j = 0; j < rowsOf.get(plan.members()[k]).length; j++) {
                which[at++] = k;
            }
        }
        NDArray idx = manager.create(which);
        NDArray aRows = NDArrays.stack(as).get(idx);            // [P, r, in]
        NDArray bRows = NDArrays.stack(bs).get(idx);            // [P, out, r]
        NDArray t = aRows.matMul(x.expandDims(2));              // [P, r, 1]
        return bRows.matMul(t).squeeze(2);                      // [P, out]
    }

    private NDArray loop(int layer, Projection p, NDArray input, NDArray output) {
        NDList rows = new NDList(tokens);
        NDArray zero = null;
        for (int t = 0; t < tokens; t++) {
            AdapterMix mix = rowMix.get(t);
            NDArray acc = null;
            if (mix != null) {
                NDArray xt = input.get(t).expandDims(0);
                for (AdapterMix.Part part : mix.parts()) {
                    LoraAdapter.Module m = part.adapter().module(layer, p);
                    if (m == null) {
                        continue;
                    }
                    NDArray d = linear(linear(xt, m.a), m.b);
                    if (part.weight() != 1.0) {
                        d = d.mul(part.weight());
                    }
                    acc = acc == null ? d : acc.add(d);
                }
            }
            if (acc == null) {
                if (zero == null) {
                    zero = manager.zeros(new Shape(1, output.getShape().get(1)), dtype);
                }
                acc = zero;
            }
            rows.add(acc);
        }
        return output.add(NDArrays.concat(rows));
    }

    /** Gather index and combine matrix for a set of adapters; shared by every projection with that set. */
    private Plan plan(long mask, int[] members) {
        Plan cached = plans.get(mask);
        if (cached != null && java.util.Arrays.equals(cached.members(), members)) {
            return cached;
        }
        int pairs = 0;
        for (int i : members) {
            pairs += rowsOf.get(i).length;
        }
        long[] rows = new long[pairs];
        float[] combine = new float[tokens * pairs];
        long[] splits = new long[members.length - 1];
        int at = 0;
        for (int k = 0; k < members.length; k++) {
            long[] r = rowsOf.get(members[k]);
            float[] w = weightsOf.get(members[k]);
            for (int j = 0; j < r.length; j++, at++) {
                rows[at] = r[j];
                combine[(int) r[j] * pairs + at] = w[j];
            }
            if (k < splits.length) {
                splits[k] = at;
            }
        }
        Plan plan = new Plan(members, manager.create(rows),
                manager.create(combine, new Shape(tokens, pairs)).toType(dtype, false), splits);
        plans.put(mask, plan);
        return plan;
    }

    private static NDArray linear(NDArray x, NDArray w) {
        return Linear.linear(x, w, null).singletonOrThrow();
    }
}
