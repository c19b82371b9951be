package io.flinklora.gpu.model;

import ai.djl.ndarray.NDScope;
import io.flinklora.annotation.Internal;
import java.lang.reflect.Field;
import java.util.Map;

/**
 * Counts the native arrays an {@link NDScope} holds: each one a native call (on a GPU, roughly one
 * kernel launch).
 */
@Internal
public final class NativeArrays {
    // DJL keeps an NDScope's arrays in a private map and offers no count; read it for the step
    // statistic.
    private static final Field RESOURCES = resources();

    private NativeArrays() {}

    private static Field resources() {
        try {
            Field f = NDScope.class.getDeclaredField("resources");
            f.setAccessible(true);
            return f;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    /** Arrays registered in {@code scope} so far, or -1 when this DJL version hides them. */
    public static int inScope(NDScope scope) {
        try {
            return RESOURCES == null ? -1 : ((Map<?, ?>) RESOURCES.get(scope)).size();
        } catch (ReflectiveOperationException e) {
            return -1;
        }
    }
}
