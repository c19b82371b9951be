package io.flinklora.gpu.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Where a padded batch puts each group's rows, and how every row's output comes back in order. */
class SlotPlanTest {
    @Test
    void groupsOfEqualRowsFillTheCellsInOrder() {
        SlotPlan plan =
                SlotPlan.of(new int[] {0, 1, 2}, new int[] {2, 2, 2}, new int[] {0, 1, 2}, 4);
        assertEquals(3, plan.slots());
        assertEquals(2, plan.depth());
        assertNull(plan.positions());
        assertEquals(List.of(), plan.heavy());
    }

    @Test
    void aDeepGroupRunsAloneAndTheRowsComeBackInOrder() {
        // one row each in slots 0 and 2 (slot 1 a hole), 40 rows in slot 3: padding all to 40
        // would cost 160 cells
        SlotPlan plan =
                SlotPlan.of(new int[] {7, 8, 9}, new int[] {1, 1, 40}, new int[] {0, 2, 3}, 4);
        assertEquals(0, plan.first());
        assertEquals(3, plan.slots());
        assertEquals(1, plan.depth());
        assertEquals(1, plan.heavy().size());
        assertArrayEquals(new long[] {2, 42, 9}, plan.heavy().get(0));
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            float[] x = new float[42];
            for (int i = 0; i < x.length; i++) {
                x[i] = i + 1;
            }
            NDArray rows = m.create(x, new Shape(42, 1));
            // the two light rows at cells 0 and 2, the hole's cell zero
            assertArrayEquals(new float[] {1, 0, 2}, plan.padded(rows).toFloatArray());
            NDArray cells = plan.padded(rows).mul(10);
            NDArray heavy = rows.get("2:42").mul(10);
            float[] out = plan.back(new NDList(cells, heavy)).toFloatArray();
            for (int i = 0; i < out.length; i++) {
                assertEquals(10f * (i + 1), out[i], "row " + i);
            }
        }
    }

    @Test
    void everyGroupRunsAloneWhenTheirSlotsAreFarApart() {
        // three rows each, slots 0 and 1000: one padded batch would span 1,001 slots
        SlotPlan plan = SlotPlan.of(new int[] {0, 1}, new int[] {3, 3}, new int[] {0, 1000}, 4);
        assertEquals(0, plan.slots());
        assertEquals(2, plan.heavy().size());
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray a = m.create(new float[] {1, 2, 3}, new Shape(3, 1));
            NDArray b = m.create(new float[] {4, 5, 6}, new Shape(3, 1));
            assertArrayEquals(
                    new float[] {1, 2, 3, 4, 5, 6}, plan.back(new NDList(a, b)).toFloatArray());
        }
    }

    @Test
    void groupsFarApartArePackedInMemberOrderWhenTheCallerCanGatherTheirWeights() {
        // one row each in slots 90, 3 and 40 (member order), then two rows in slot 7: the range
        // 3..90 would be 88 cells of depth 2
        int[] members = {0, 1, 2, 3};
        int[] counts = {1, 1, 1, 2};
        int[] slots = {90, 3, 40, 7};
        SlotPlan plan = SlotPlan.of(members, counts, slots, 64, true);
        assertEquals(4, plan.slots());
        assertArrayEquals(new long[] {90, 3, 40, 7}, plan.cellSlots());
        assertEquals(0, plan.first());
        assertEquals(List.of(), plan.heavy());
        // depth 1 with the two-row group alone would cost 3 cells + 64 + 2; depth 2 costs 8
        assertEquals(2, plan.depth());
        assertArrayEquals(new long[] {0, 2, 4, 6, 7}, plan.positions());
        // without the gather, the range's 88 slots
        SlotPlan range = SlotPlan.of(members, counts, slots, 64);
        assertEquals(null, range.cellSlots());
        assertEquals(3, range.first());
        assertEquals(88, range.slots());
    }

    @Test
    void groupsInDecodeOrderArePackedWithNoScatterOfTheirRows() {
        SlotPlan plan =
                SlotPlan.of(
                        new int[] {0, 1, 2}, new int[] {1, 1, 1}, new int[] {5, 0, 30}, 64, true);
        assertArrayEquals(new long[] {5, 0, 30}, plan.cellSlots());
        assertNull(plan.positions()); // row k is cell k
    }

    @Test
    void aRangeLessThanHalfHolesStaysARange() {
        // slots 0, 2, 4 and 5 of a 6-slot range: gathering four adapters' weights would copy
        // them to save reading two empty slots
        SlotPlan plan =
                SlotPlan.of(
                        new int[] {0, 1, 2, 3},
                        new int[] {1, 1, 1, 1},
                        new int[] {0, 2, 4, 5},
                        64,
                        true);
        assertNull(plan.cellSlots());
        assertEquals(6, plan.slots());
    }
}
