package io.flinklora.gpu.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.flinklora.annotation.Internal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;

/**
 * Where the rows of groups that share one weight each (the adapters of a LoRA projection, the
 * experts of a sparse layer) go in one padded batch {@code [slots, depth, in]} run through one
 * batched product over a contiguous range of stacked weights, and which groups run alone because
 * padding every slot to their depth would cost more than their own products.
 *
 * <p>{@code members} are the groups in row order with their row counts and slots; a light group's
 * rows sit at {@code (slot - first) * depth + k} ({@code positions}; null when that is the rows'
 * own order with no gap and nothing heavy); {@code heavy} holds {start, end, member} row ranges of
 * the groups that run alone, their positions pointing one row past the cells, and {@code back}
 * reads every row's output from the cells followed by the heavy groups' outputs (null when none is
 * heavy). {@code slots == 0}: every group is heavy.
 *
 * @param first the first slot of the range
 * @param slots slots in the range (holes included)
 * @param depth rows per slot
 */
@Internal
public record SlotPlan(
        int first, int slots, int depth, long[] positions, List<long[]> heavy, long[] back) {

    /**
     * The plan whose depth minimises padded cells plus {@code heavyCost} and the rows of each group
     * deeper than it.
     *
     * @param heavyCost what running a group alone costs beyond its rows, in padded rows
     */
    public static SlotPlan of(int[] members, int[] counts, int[] slotOf, int heavyCost) {
        int bestDepth = 0;
        long bestCost = Long.MAX_VALUE;
        TreeSet<Integer> depths = new TreeSet<>();
        depths.add(0);
        for (int c : counts) {
            depths.add(c);
        }
        for (int depth : depths) {
            int first = Integer.MAX_VALUE;
            int last = -1;
            long cost = 0;
            for (int k = 0; k < members.length; k++) {
                if (counts[k] <= depth) {
                    first = Math.min(first, slotOf[k]);
                    last = Math.max(last, slotOf[k]);
                } else {
                    cost += heavyCost + counts[k];
                }
            }
            cost += (long) (last < 0 ? 0 : last - first + 1) * depth;
            if (cost < bestCost) {
                bestCost = cost;
                bestDepth = depth;
            }
        }
        int first = Integer.MAX_VALUE;
        int last = -1;
        int rows = 0;
        for (int k = 0; k < members.length; k++) {
            rows += counts[k];
            if (counts[k] <= bestDepth) {
                first = Math.min(first, slotOf[k]);
                last = Math.max(last, slotOf[k]);
            }
        }
        if (last < 0) {
            List<long[]> heavy = new ArrayList<>();
            int at = 0;
            for (int k = 0; k < members.length; k++) {
                heavy.add(new long[] {at, at + counts[k], members[k]});
                at += counts[k];
            }
            return new SlotPlan(0, 0, 0, null, heavy, null);
        }
        int slots = last - first + 1;
        long cells = (long) slots * bestDepth;
        long[] pos = new long[rows];
        long[] back = new long[rows];
        List<long[]> heavy = new ArrayList<>();
        long heavyAt = cells;
        int at = 0;
        boolean identity = true;
        for (int k = 0; k < members.length; k++) {
            if (counts[k] > bestDepth) {
                heavy.add(new long[] {at, at + counts[k], members[k]});
            }
            for (int j = 0; j < counts[k]; j++, at++) {
                if (counts[k] > bestDepth) {
                    pos[at] = cells;
                    back[at] = heavyAt++;
                } else {
                    pos[at] = (long) (slotOf[k] - first) * bestDepth + j;
                    back[at] = pos[at];
                }
                identity &= pos[at] == at;
            }
        }
        identity &= rows == cells;
        return new SlotPlan(
                first,
                slots,
                bestDepth,
                identity ? null : pos,
                heavy,
                heavy.isEmpty() ? null : back);
    }

    /**
     * {@code [slots * depth, in]}: the light groups' rows (of {@code rows}, in plan order) at their
     * cells, zero in the cells no row fills; one gather.
     */
    public NDArray padded(NDArray rows) {
        if (positions == null) {
            return rows; // the rows fill the cells in order
        }
        int n = (int) rows.getShape().get(0);
        long cells = (long) slots * depth;
        long[] source = new long[(int) cells];
        Arrays.fill(source, n); // the zero row appended after the rows
        for (int r = 0; r < n; r++) {
            if (positions[r] < cells) {
                source[(int) positions[r]] = r;
            }
        }
        NDManager m = rows.getManager();
        NDArray withZero =
                NDArrays.concat(
                        new NDList(
                                rows,
                                m.zeros(new Shape(1, rows.getShape().get(1)), rows.getDataType())));
        return Rows.of(withZero, m.create(source));
    }

    /**
     * Every row's output in row order, from {@code parts}: the cells' outputs {@code [slots *
     * depth, out]} (when {@code slots > 0}) followed by each heavy group's, in plan order.
     */
    public NDArray back(NDList parts) {
        NDArray all = parts.size() == 1 ? parts.singletonOrThrow() : NDArrays.concat(parts);
        NDManager m = all.getManager();
        if (back != null) {
            return Rows.of(all, m.create(back));
        }
        return positions != null ? Rows.of(all, m.create(positions)) : all;
    }
}
