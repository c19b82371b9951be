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
 * <p>When the caller can gather a scattered set of weights ({@code packable}) and the light groups'
 * slot range is at least twice their number, the cells are the light groups themselves in member
 * order ({@code cellSlots} names each cell's slot): a batch naming 30 of 141 resident adapters then
 * reads 30 adapters' weights, not 141 slots' worth.
 *
 * @param first the first slot of the range (0 when packed)
 * @param slots cells: slots in the range (holes included), or the packed light groups
 * @param depth rows per slot
 * @param cellSlots each cell's slot when packed; null when the cells are the range's slots
 */
@Internal
public record SlotPlan(
        int first,
        int slots,
        int depth,
        long[] positions,
        List<long[]> heavy,
        long[] back,
        long[] cellSlots) {

    /**
     * The plan whose depth minimises padded cells plus {@code heavyCost} and the rows of each group
     * deeper than it.
     *
     * @param heavyCost what running a group alone costs beyond its rows, in padded rows
     */
    public static SlotPlan of(int[] members, int[] counts, int[] slotOf, int heavyCost) {
        return of(members, counts, slotOf, heavyCost, false);
    }

    /**
     * As {@link #of(int[], int[], int[], int)}; with {@code packable} the light groups' cells may
     * be packed (see the class comment), a choice the padded-cell cost counts.
     */
    public static SlotPlan of(
            int[] members, int[] counts, int[] slotOf, int heavyCost, boolean packable) {
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
            int light = 0;
            for (int k = 0; k < members.length; k++) {
                if (counts[k] <= depth) {
                    first = Math.min(first, slotOf[k]);
                    last = Math.max(last, slotOf[k]);
                    light++;
                } else {
                    cost += heavyCost + counts[k];
                }
            }
            cost += (long) cells(first, last, light, packable) * depth;
            if (cost < bestCost) {
                bestCost = cost;
                bestDepth = depth;
            }
        }
        int first = Integer.MAX_VALUE;
        int last = -1;
        int rows = 0;
        int light = 0;
        for (int k = 0; k < members.length; k++) {
            rows += counts[k];
            if (counts[k] <= bestDepth) {
                first = Math.min(first, slotOf[k]);
                last = Math.max(last, slotOf[k]);
                light++;
            }
        }
        if (last < 0) {
            List<long[]> heavy = new ArrayList<>();
            int at = 0;
            for (int k = 0; k < members.length; k++) {
                heavy.add(new long[] {at, at + counts[k], members[k]});
                at += counts[k];
            }
            return new SlotPlan(0, 0, 0, null, heavy, null, null);
        }
        int slots = cells(first, last, light, packable);
        boolean packed = slots < last - first + 1;
        long[] cellSlots = packed ? new long[slots] : null;
        int cell = 0;
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
                    int c = packed ? cell : slotOf[k] - first;
                    pos[at] = (long) c * bestDepth + j;
                    back[at] = pos[at];
                }
                identity &= pos[at] == at;
            }
            if (packed && counts[k] <= bestDepth) {
                cellSlots[cell++] = slotOf[k];
            }
        }
        identity &= rows == cells;
        return new SlotPlan(
                packed ? 0 : first,
                slots,
                bestDepth,
                identity ? null : pos,
                heavy,
                heavy.isEmpty() ? null : back,
                cellSlots);
    }

    /**
     * Cells for light groups in slots {@code first..last}: the range, or the groups alone when
     * packable and the range is at least twice their number (gathering their weights then reads
     * less than the range's, even counting the copy).
     */
    private static int cells(int first, int last, int light, boolean packable) {
        if (last < 0) {
            return 0;
        }
        int range = last - first + 1;
        return packable && range >= 2 * light ? light : range;
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
