package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flinklora.gpu.model.ExpertParameter;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The device pool of LoRA on experts: each resident adapter's experts in their own cells, read back
 * as loaded; slots reused after eviction, and the stacks never grown past the most adapters
 * resident at once.
 */
class ParameterPoolTest {
    private static final int EXPERTS = 4;
    private static final int RANK = 2;
    private static final int IN = 6;
    private static final int OUT = 5;

    @Test
    void cellsHoldEachAdaptersExpertsAndSlotsAreReused() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu());
                ParameterPool pool = new ParameterPool(m, DataType.FLOAT32, 3)) {
            ParameterLora[] loras = new ParameterLora[3];
            for (int i = 0; i < loras.length; i++) {
                loras[i] = lora(i);
                pool.place(0, ExpertParameter.GATE_UP, loras[i]);
            }
            ParameterPool.Slots slots = loras[0].slots();
            // three adapters in three slots, the stacks grown to the capacity and no further
            assertEquals(3L * EXPERTS, slots.a().getShape().get(0));
            assertNotEquals(loras[0].slot(), loras[2].slot());
            for (ParameterLora l : loras) {
                for (int e = 0; e < EXPERTS; e++) {
                    assertArrayEquals(expertA(l, e), l.a(e).toFloatArray(), "A of expert " + e);
                    assertArrayEquals(expertBT(l, e), l.bT(e).toFloatArray(), "B of expert " + e);
                }
            }
            int freed = loras[1].slot();
            pool.free(loras[1]);
            assertFalse(loras[1].resident());
            ParameterLora next = lora(7);
            pool.place(0, ExpertParameter.GATE_UP, next);
            assertEquals(freed, next.slot());
            assertEquals(3L * EXPERTS, next.slots().a().getShape().get(0));
            assertArrayEquals(expertA(next, 3), next.a(3).toFloatArray());
            // the others kept their cells through the growth and the reuse
            assertArrayEquals(expertA(loras[0], 2), loras[0].a(2).toFloatArray());
            assertTrue(loras[2].resident());
        }
    }

    private static ParameterLora lora(long seed) {
        Random r = new Random(seed);
        float[] a = new float[RANK * EXPERTS * IN];
        float[] b = new float[OUT * RANK * EXPERTS];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) r.nextGaussian();
        }
        return ParameterLora.fromPeft(EXPERTS, RANK, IN, OUT, a, b, 0.5f);
    }

    /** Expert e's A as PEFT saves it: rows e * r .. e * r + r - 1 of lora_A. */
    private static float[] expertA(ParameterLora l, int e) {
        return java.util.Arrays.copyOfRange(l.hostA, e * RANK * IN, (e + 1) * RANK * IN);
    }

    private static float[] expertBT(ParameterLora l, int e) {
        return java.util.Arrays.copyOfRange(l.hostBT, e * RANK * OUT, (e + 1) * RANK * OUT);
    }
}
