package io.flinklora.gpu.safetensors;

import ai.djl.engine.Engine;
import ai.djl.ndarray.types.DataType;
import io.flinklora.annotation.Internal;

/** Which data types an engine's native bindings can create without aborting the JVM. */
@Internal
public final class NativeDtypes {
    /**
     * Feature a PyTorch JNI built by {@code scripts/build-jni.sh} reports (its patch maps BFLOAT16
     * and INT16): DJL's released JNI has no case for them and calls {@code std::terminate}, so only
     * the feature, never a trial creation, can tell the two apart.
     */
    public static final String BFLOAT16_FEATURE = "BFLOAT16";

    /** What to do when bfloat16 is wanted from a JNI that cannot create it. */
    public static final String BFLOAT16_HINT =
            "DJL 0.35.1's released PyTorch JNI cannot create bfloat16 tensors (it aborts the JVM);"
                    + " build one that can with scripts/build-jni.sh and run on it (README, \"Running on your own"
                    + " libtorch / CUDA\"), or use float16/float32";

    private NativeDtypes() {}

    /** Whether arrays of {@code type} can be created on {@code engine}. */
    public static boolean canCreate(Engine engine, DataType type) {
        if (!"PyTorch".equals(engine.getEngineName())) {
            return true;
        }
        return switch (type) {
            case FLOAT32, FLOAT64, FLOAT16, UINT8, INT8, INT32, INT64, BOOLEAN -> true;
            case BFLOAT16, INT16 -> engine.hasCapability(BFLOAT16_FEATURE);
            default -> false;
        };
    }
}
